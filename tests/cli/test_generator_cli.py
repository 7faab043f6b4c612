"""``crystaloop train generator``, ``generate`` and ``csp`` end to end, on tiny models."""

from __future__ import annotations

import csv
import json
import os
from collections import Counter

import pytest
from click.testing import CliRunner
from helpers import cif_of, nacl, perovskite

from crystaloop.cli import main

TINY = [
    "--epochs",
    "2",
    "--hidden",
    "16",
    "--layers",
    "1",
    "--timesteps",
    "20",
    "--batch-size",
    "8",
]


def _write(path, structures, labels=None):
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["", "material_id", "cif", "heat_ref"])
        for i, structure in enumerate(structures):
            writer.writerow([i, f"m{i}", cif_of(structure), (labels or [0.0] * 99)[i % 99]])
    return path


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("generators")
    previous = os.environ.get("CRYSTALOOP_HOME")
    os.environ["CRYSTALOOP_HOME"] = str(tmp / "home")
    structures = [perovskite(3.7 + 0.02 * i) for i in range(20)]
    structures += [nacl(5.4 + 0.03 * i).get_primitive_structure() for i in range(20)]
    data = _write(tmp / "train.csv", structures, [0.1 * i for i in range(40)])
    runner = CliRunner()
    for mode, extra in (
        ("abinitio", []),
        ("csp", ["--cond-spacegroup", "--cond-eform", "heat_ref"]),
    ):
        kind = "diffusion" if mode == "abinitio" else "flow"
        result = runner.invoke(
            main,
            [
                "train",
                "generator",
                "--data",
                str(data),
                "--kind",
                kind,
                "--mode",
                mode,
                "--out",
                str(tmp / "bundle" / mode),
                *TINY,
                *extra,
            ],
        )
        assert result.exit_code == 0, result.output
    yield tmp
    if previous is None:
        os.environ.pop("CRYSTALOOP_HOME", None)
    else:
        os.environ["CRYSTALOOP_HOME"] = previous


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_training_writes_a_loadable_card_with_the_training_record(workdir):
    card = json.loads((workdir / "bundle" / "csp" / "model.json").read_text())
    assert card["kind"] == "generator" and card["generator"] == "flow" and card["mode"] == "csp"
    assert card["config"]["cond_spacegroup"] and card["config"]["cond_eform"]
    assert card["training"]["sizes"]["train"] > 20 and card["training"]["epochs_run"] == 2
    assert (workdir / "bundle" / "csp" / "history.json").exists()
    # no --lambda-type: each kind's weight comes from the generator configuration
    from crystaloop.ml.generative.config import GeneratorConfig

    ab = json.loads((workdir / "bundle" / "abinitio" / "model.json").read_text())["config"]
    assert card["config"]["lambda_type"] == GeneratorConfig(kind="flow").lambda_type == 1.0
    assert ab["lambda_type"] == GeneratorConfig(kind="diffusion").lambda_type == 20.0


@pytest.mark.parametrize(
    "request_",
    [
        {"n": 7, "batch_size": 3},
        {
            "n": 5,
            "batch_size": 2,
            "composition": "SrTiO3",
            "spacegroup": 221,
            "target_eform": 0.4,
            "guidance": 2.0,
        },
    ],
    ids=["abinitio", "csp"],
)
def test_the_command_and_a_campaign_sample_the_same_crystals(workdir, request_):
    """One seeded request gives the same crystals through ``generate`` and ``GenerateMaker``."""
    import numpy as np
    from pymatgen.core import Structure

    from crystaloop.makers import GenerateMaker
    from crystaloop.settings import load_settings
    from crystaloop.stores.artifacts import artifact_store
    from crystaloop.stores.candidates import get_batch

    bundle, seed, steps = workdir / "bundle", 11, 3
    maker = GenerateMaker(model=str(bundle), steps=steps, seed=seed, **request_)
    output = maker.make.original(maker, "same", 0)  # iteration 0: the seed as given
    campaign = [
        row["structure"] for row in get_batch(artifact_store(load_settings()), output.batch)
    ]
    flags = {k.replace("_", "-"): v for k, v in request_.items() if k != "target_eform"}
    if "target_eform" in request_:
        flags["target-eform"] = request_["target_eform"]
    args = [x for k, v in flags.items() for x in (f"--{k}", v)]
    out = workdir / "same.jsonl"
    result = run(
        "generate", "--model", bundle, "--steps", steps, "--seed", seed, "--out", out, *args
    )
    assert result.exit_code == 0, result.output
    command = [row["structure"] for row in lines(out)]
    assert len(command) == len(campaign) == request_["n"] > request_["batch_size"]
    for a, b in zip(command, campaign, strict=True):
        sa, sb = Structure.from_dict(a), Structure.from_dict(b)
        assert [s.specie.Z for s in sa] == [s.specie.Z for s in sb]
        assert np.array_equal(sa.lattice.matrix, sb.lattice.matrix)
        assert np.array_equal(sa.frac_coords, sb.frac_coords)


def test_ab_initio_generation_with_screens(workdir):
    out = workdir / "gen.jsonl"
    result = run(
        "generate",
        "--model",
        workdir / "bundle",
        "--n",
        7,
        "--steps",
        5,
        "--screen",
        "--no-corpus",
        "--num-atoms",
        "hybrid",
        "--batch-size",
        3,
        "--out",
        out,
        "--json",
    )
    assert result.exit_code == 0, result.output
    rows = lines(out)
    assert [r["sample"] for r in rows] == list(range(7))
    assert all(r["source_id"] is None for r in rows)
    assert all("passed" in r["screen"] for r in rows)
    failed = [r["screen"] for r in rows if not r["screen"]["passed"]]
    # a 2-epoch model sampled in 5 steps: some samples fail a screen, each naming why
    assert failed
    assert all(f["stage"] and f["reason"] for f in failed)
    summary = json.loads(result.output)["screens"]
    assert summary["total"] == 7 and summary["passed"] == 7 - len(failed)
    redraws = json.loads(result.output)["resampling"]  # --resample-rounds 3 by default
    assert redraws["rounds"] == 3 and redraws["drawn"] == 7 + redraws["redraws"]
    assert redraws["invalid_first"] == redraws["replaced"] + redraws["still_invalid"]
    dropped = Counter(f["stage"] for f in failed)
    assert dropped == {stage: n for stage, n in summary["dropped"].items() if n}


def test_generation_of_one_composition_with_conditions(workdir):
    out = workdir / "sto.jsonl"
    result = run(
        "generate",
        "--model",
        workdir / "bundle",
        "--n",
        3,
        "--composition",
        "SrTiO3",
        "--spacegroup",
        221,
        "--target-eform",
        0.4,
        "--guidance",
        2.0,
        "--steps",
        4,
        "--out",
        out,
    )
    assert result.exit_code == 0, result.output
    from pymatgen.core import Structure

    rows = lines(out)
    assert len(rows) == 3
    for row in rows:
        assert row["source_id"] == "SrTiO3"
        assert Structure.from_dict(row["structure"]).composition.reduced_formula == "SrTiO3"
        assert len(row["structure"]["sites"]) == 5


def test_csp_of_every_record_with_metrics(workdir):
    data = _write(workdir / "targets.csv", [perovskite(3.9), nacl().get_primitive_structure()])
    out = workdir / "csp.jsonl"
    result = run(
        "csp",
        data,
        "--model",
        workdir / "bundle",
        "--samples",
        3,
        "--steps",
        4,
        "--out",
        out,
        "--metrics",
        "--json",
    )
    assert result.exit_code == 0, result.output
    rows = lines(out)
    assert [(r["source_id"], r["sample"]) for r in rows] == [
        ("m0", 0),
        ("m0", 1),
        ("m0", 2),
        ("m1", 0),
        ("m1", 1),
        ("m1", 2),
    ]
    report = json.loads(result.output)
    assert set(report["metrics"]) == {"k1", "k3"} and report["metrics"]["k1"]["n"] == 2


def test_fine_tuning_from_a_generator_with_replay(workdir):
    new = _write(workdir / "new.csv", [perovskite(4.1 + 0.01 * i) for i in range(12)])
    out = workdir / "tuned"
    result = run(
        "train",
        "generator",
        "--data",
        new,
        "--from",
        workdir / "bundle" / "abinitio",
        "--replay",
        workdir / "train.csv",
        "--out",
        out,
        "--epochs",
        1,
        "--json",
    )
    assert result.exit_code == 0, result.output
    card = json.loads((out / "model.json").read_text())
    assert card["training"]["fine_tuned_from"] == str(workdir / "bundle" / "abinitio")
    assert card["config"]["hidden"] == 16  # the base architecture is kept


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--composition", "Xx2O3"], "not a composition of known elements"),
        (["--composition", "Sr9Ti9O27"], "45 atoms, more than the model's maximum 5"),
        (["--composition", "SrTiO3", "--spacegroup", 231], "231 is not a space group"),
        (["--composition", "SrTiO3", "--spacegroup", 0], "0 is not a space group"),
        (["--batch-size", 0], "--batch-size"),
        (["--device", "bogus"], "'bogus' is not a torch device"),
    ],
)
def test_bad_generation_requests_fail_clearly(workdir, args, message):
    out = workdir / "never.jsonl"
    result = run("generate", "--model", workdir / "bundle", "--n", 2, "--out", out, *args)
    assert result.exit_code != 0 and message in result.output
    assert not out.exists()


def test_conditions_an_unconditional_model_cannot_take_are_refused(workdir):
    result = run(
        "generate",
        "--model",
        workdir / "bundle",
        "--n",
        2,
        "--spacegroup",
        225,
        "--out",
        workdir / "x.jsonl",
    )
    assert result.exit_code != 0 and "space-group condition" in result.output


def test_unknown_model_names_list_the_shipped_ones(workdir):
    result = run("generate", "--model", "no-such-model", "--n", 1, "--out", workdir / "x.jsonl")
    assert result.exit_code != 0 and "unknown generator 'no-such-model'" in result.output


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "file is empty"), (b"\x00\x01\x02\xff" * 64, "bad.csv")],
)
def test_csp_of_an_empty_or_unreadable_file_fails_and_keeps_the_old_output(
    workdir, content, message
):
    bad = workdir / "bad.csv"
    bad.write_bytes(content)
    out = workdir / "kept.jsonl"
    out.write_text("old\n")
    result = run("csp", bad, "--model", workdir / "bundle", "--out", out)
    assert result.exit_code != 0 and message in result.output
    assert result.output.startswith("Error") or "Usage" in result.output
    assert out.read_text() == "old\n"


def test_csp_names_a_record_too_large_for_the_model(workdir):
    big = _write(workdir / "big.csv", [perovskite() * (2, 1, 1)])
    big_cell = workdir / "big.csv"
    result = run("csp", big_cell, "--model", workdir / "bundle", "--out", workdir / "b.jsonl")
    # the 10-atom supercell reduces to its 5-atom primitive cell, which the model takes
    assert result.exit_code == 0, result.output
    from pymatgen.core import Lattice, Structure

    triclinic = Structure(
        Lattice.from_parameters(4, 5, 6, 80, 85, 95),
        ["Na"] * 4 + ["Cl"] * 4,
        [[0.1 * i, 0.13 * i, 0.17 * i] for i in range(8)],
    )
    big = _write(workdir / "big2.csv", [triclinic])
    result = run("csp", big, "--model", workdir / "bundle", "--out", workdir / "b.jsonl")
    assert result.exit_code != 0 and "record 'm0'" in result.output and "8 atoms" in result.output


def test_fine_tuning_a_bundle_takes_the_asked_mode(workdir):
    new = _write(workdir / "new2.csv", [perovskite(4.0 + 0.01 * i) for i in range(12)])
    out = workdir / "tuned_ab"
    result = run(
        "train",
        "generator",
        "--data",
        new,
        "--from",
        workdir / "bundle",
        "--mode",
        "abinitio",
        "--out",
        out,
        "--epochs",
        1,
    )
    assert result.exit_code == 0, result.output
    assert json.loads((out / "model.json").read_text())["mode"] == "abinitio"


def test_bad_training_flags_fail_clearly(workdir):
    result = run(
        "train", "generator", "--data", workdir / "train.csv", "--out", workdir / "x", "--hidden", 0
    )
    assert result.exit_code == 2 and "--hidden" in result.output


def test_training_on_several_files_splits_each_as_alone_and_caps_the_atoms(workdir):
    """``--data`` twice: each file's records keep their ids (and so their split); ``--max-atoms``
    leaves the larger cells out and the card counts them per file."""
    from crystaloop.ml.data.split import SplitPlan

    big = []  # 10-atom primitive cells: a doubled perovskite with one atom moved
    for i in range(9):
        cell = perovskite(3.8 + 0.01 * i).make_supercell([2, 1, 1], in_place=False)
        big.append(cell.translate_sites([0], [0.0, 0.0, 0.1], frac_coords=True))
    second = _write(workdir / "second.csv", [nacl(5.5).get_primitive_structure()] * 3 + big)
    out = workdir / "several"
    result = run(
        "train", "generator", "--data", workdir / "train.csv", "--data", second,
        "--max-atoms", 5, "--description", "two files", "--out", out, *TINY,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    training = json.loads((out / "model.json").read_text())["training"]
    assert training["data"] == [str(workdir / "train.csv"), str(second)]
    assert training["sources"][str(second)] == {"read": 12, "kept": 3, "over_max_atoms": 9}
    assert training["sources"][str(workdir / "train.csv")]["kept"] == 40
    assert training["max_atoms"] == 5 and training["description"] == "two files"
    ids = [f"m{i}" for i in range(40)] + [f"m{i}" for i in range(3)]
    expected = Counter(SplitPlan().of(i) for i in ids)
    assert training["sizes"] == {k: expected[k] for k in ("train", "val", "test")}
    # a bad record in either file is named with its file
    bad = workdir / "bad.csv"
    bad.write_text(',material_id,cif\n0,broken,"not a cif"\n')
    failed = run("train", "generator", "--data", second, "--data", bad, "--out", out, *TINY)
    assert failed.exit_code != 0 and f"{bad}: broken" in failed.output
