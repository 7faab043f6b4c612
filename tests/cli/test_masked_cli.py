"""``train generator --kind masked``, ``reconstruct`` and ``generate --prototypes`` end to end."""

from __future__ import annotations

import csv
import json

import pytest
from click.testing import CliRunner
from helpers import cif_of, nacl, perovskite

from crystaloop.cli import main


def _csv(path, structures):
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["", "material_id", "cif"])
        for i, (mid, s) in enumerate(structures):
            writer.writerow([i, mid, cif_of(s)])
    return path


def _training_set():
    out = []
    for i, (a, b) in enumerate(
        [("Sr", "Ti"), ("Ba", "Ti"), ("Ca", "Zr"), ("Sr", "Zr"), ("Ba", "Zr")]
    ):
        for j in range(4):
            s = perovskite(3.8 + 0.05 * i + 0.02 * j)
            s.replace_species({"Sr": a, "Ti": b})
            out.append((f"p{i}-{j}", s))
    return out


@pytest.fixture(scope="module")
def masked_model(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("masked")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CRYSTALOOP_HOME", str(tmp / "home"))
        data = _csv(tmp / "train.csv", _training_set())
        args = [
            "train",
            "generator",
            "--kind",
            "masked",
            "--data",
            str(data),
            "--out",
            str(tmp / "m"),
        ]
        args += ["--epochs", "2", "--batch-size", "8", "--hidden", "16", "--layers", "1"]
        args += ["--noise", "0.2", "--val-fraction", "0.2", "--test-fraction", "0.0", "--json"]
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.output
        card = json.loads(result.output[result.output.index("{") :])
        yield tmp, card


def _run(tmp, args):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CRYSTALOOP_HOME", str(tmp / "home"))
        return CliRunner().invoke(main, args)


def test_the_card_is_a_masked_generator_with_its_options(masked_model):
    _, card = masked_model
    assert card["kind"] == "masked" and card["generator"] == "masked"
    assert card["config"]["noise"] == 0.2 and card["config"]["w_position"] == 200.0
    assert card["config"]["backbone"]["scalar_channels"] == 16
    assert card["config"]["elements"] == [8, 20, 22, 38, 40, 56]
    assert card["training"]["epochs_run"] == 2


def test_reconstruct_writes_the_input_then_k_reconstructions(masked_model):
    tmp, _ = masked_model
    data = _csv(tmp / "in.csv", [("sto", perovskite()), ("bzo", _training_set()[-1][1])])
    out = tmp / "rec.jsonl"
    args = ["reconstruct", str(data), "--model", str(tmp / "m"), "--samples", "3"]
    result = _run(tmp, [*args, "--species", "O", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert (
        report["records"] == 2 and report["written"] == 8 and 0 <= report["species_recovery"] <= 1
    )
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["source_id"], r["sample"], r["role"]) for r in rows[:4]] == [
        ("sto", 0, "input"),
        ("sto", 1, "reconstruction"),
        ("sto", 2, "reconstruction"),
        ("sto", 3, "reconstruction"),
    ]
    assert rows[0]["masked_species"] == ["O"] and len(rows[0]["masked_sites"]) == 3


def test_generate_from_prototypes_proposes_substitutions(masked_model):
    tmp, _ = masked_model
    data = _csv(tmp / "protos.csv", [("sto", perovskite())])
    out = tmp / "props.jsonl"
    args = ["generate", "--model", str(tmp / "m"), "--prototypes", str(data), "--n", "5"]
    result = _run(tmp, [*args, "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 5
    for row in rows:
        sub = row["substitution"]
        assert sub["from"] in {"Sr", "Ti", "O"} and sub["to"] not in {"Sr", "Ti", "O"}


def test_bad_input_gets_one_clear_line(masked_model):
    tmp, _ = masked_model
    empty = tmp / "empty.csv"
    empty.write_text(",material_id,cif\n")
    salt = _csv(tmp / "salt.csv", [("nacl", nacl())])
    sto = _csv(tmp / "sto.csv", [("sto", perovskite())])
    model = ["--model", str(tmp / "m"), "--out", str(tmp / "x.jsonl")]
    result = _run(tmp, ["reconstruct", str(empty), *model])
    assert result.exit_code != 0 and "no records" in result.output
    result = _run(tmp, ["reconstruct", str(salt), *model])
    assert (
        result.exit_code != 0
        and "nacl: element(s) Na, Cl the masked generator never saw" in result.output
    )
    result = _run(tmp, ["reconstruct", str(sto), *model, "--species", "Xe"])
    assert "sto: no Xe site to mask" in result.output and "nothing to predict" in result.output
    result = _run(tmp, ["reconstruct", str(sto), *model, "--mask", "random", "--fraction", "0"])
    assert result.exit_code != 0 and "leaves nothing to predict" in result.output
    result = _run(tmp, ["generate", "--n", "2", *model, "--prototypes", str(salt)])
    assert result.exit_code != 0 and "nacl: element(s) Na, Cl" in result.output
    result = _run(tmp, ["generate", "--n", "2", *model])
    assert result.exit_code != 0 and "a masked generator" in result.output
    result = _run(
        tmp, ["generate", "--n", "2", "--model", "perov5", "--prototypes", str(sto), "--out", "x"]
    )
    assert result.exit_code != 0 and "not a masked one" in result.output
    result = _run(tmp, ["train", "generator", "--data", str(sto), "--out", "y", "--noise", "0.1"])
    assert (
        result.exit_code != 0
        and "--noise, --mask-fraction and --w-position go with --kind masked" in result.output
    )


def _labelled(path, structures):
    with open(path, "w") as handle:
        for i, (sid, s) in enumerate(structures):
            e_hull = 0.0 if i % 3 == 0 else 0.3
            handle.write(json.dumps({"source_id": sid, "structure": s.as_dict(), "e_hull": e_hull}))
            handle.write("\n")
    return path


def test_a_stability_classifier_from_the_backbone_then_a_gan(masked_model):
    tmp, _ = masked_model
    data = _labelled(tmp / "stab.jsonl", _training_set())
    common = ["--data", str(data), "--label", "e_hull", "--at-most", "0.1", "--epochs", "1"]
    common += ["--val-fraction", "0.25", "--test-fraction", "0.0"]
    args = [
        "train",
        "classifier",
        *common,
        "--from-masked",
        str(tmp / "m"),
        "--out",
        str(tmp / "c"),
    ]
    result = _run(tmp, [*args, "--json"])
    assert result.exit_code == 0, result.output
    card = json.loads(result.output[result.output.index("{") :])
    assert card["kind"] == "classifier" and card["task"] == "stability"
    assert card["target"] == "e_hull<=0.1" and card["training"]["from_masked"] == str(tmp / "m")
    args = ["train", "masked-gan", "--generator", str(tmp / "m"), "--critic", str(tmp / "c")]
    result = _run(tmp, [*args, *common, "--batch-size", "4", "--out", str(tmp / "g"), "--json"])
    assert result.exit_code == 0, result.output
    card = json.loads(result.output[result.output.index("{") :])
    assert card["kind"] == "masked" and card["training"]["gan"]["generator_steps"] >= 3
    assert card["training"]["gan"]["lr_critic"] == 1e-5
    assert (tmp / "g" / "critic" / "model.json").exists()
    result = _run(
        tmp, ["reconstruct", str(data), "--model", str(tmp / "g"), "--out", str(tmp / "r")]
    )
    assert result.exit_code == 0, result.output


def test_classifier_and_gan_errors(masked_model):
    tmp, _ = masked_model
    data = _labelled(tmp / "stab.jsonl", _training_set())
    args = ["train", "classifier", "--data", str(data), "--label", "e_hull", "--out", "x"]
    result = _run(tmp, args)
    assert (
        result.exit_code != 0
        and "label 'e_hull' is 0.3, not 0 or 1 (give --at-most)" in result.output
    )
    result = _run(tmp, [*args, "--at-most", "0.1", "--freeze-backbone"])
    assert result.exit_code != 0 and "--freeze-backbone goes with --from-masked" in result.output
    gan = ["train", "masked-gan", "--generator", str(tmp / "m"), "--data", str(data), "--out", "y"]
    result = _run(tmp, [*gan, "--critic", "nope"])
    assert result.exit_code != 0 and "unknown classifier 'nope'" in result.output
    salt = _labelled(tmp / "salt.jsonl", [("nacl", nacl())])
    result = _run(tmp, [*gan[:4], "--data", str(salt), "--out", "y", "--critic", "nope"])
    assert (
        result.exit_code != 0
        and "nacl: element(s) Na, Cl the masked generator never saw" in result.output
    )
