from __future__ import annotations

import csv
import math

import pytest
from click.testing import CliRunner
from helpers import cif_of, nacl, perovskite

from crystaloop.cli import main

SMALL = [
    "--members",
    "2",
    "--epochs",
    "2",
    "--batch-size",
    "8",
    "--channels",
    "8,4",
    "--layers",
    "1",
    "--workers",
    "1",
]


def _write(path, rows, header=("", "material_id", "cif", "heat_ref", "dir_gap")):
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for i, row in enumerate(rows):
            writer.writerow([i, *row])
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    import os

    tmp = tmp_path_factory.mktemp("surrogate")
    previous = os.environ.get("CRYSTALOOP_HOME")
    os.environ["CRYSTALOOP_HOME"] = str(tmp / "home")
    rows = [
        (f"p{i}", cif_of(perovskite(3.7 + 0.015 * i)), 0.05 * i, 1.0 + 0.02 * i) for i in range(40)
    ]
    data = _write(tmp / "train.csv", rows)
    out = tmp / "model"
    result = CliRunner().invoke(
        main,
        [
            "train",
            "surrogate",
            "--data",
            str(data),
            "--target",
            "heat_ref,dir_gap",
            "--out",
            str(out),
            *SMALL,
        ],
    )
    assert result.exit_code == 0, result.output
    yield tmp, out
    if previous is None:
        os.environ.pop("CRYSTALOOP_HOME", None)
    else:
        os.environ["CRYSTALOOP_HOME"] = previous


def test_train_writes_model_card_and_split(trained):
    import json

    _, out = trained
    card = json.loads((out / "model.json").read_text())
    assert card["targets"] == ["heat_ref", "dir_gap"] and card["members"] == 2
    split = json.loads((out / "split.json").read_text())
    assert split["split_method"] == "sha256(seed:id)" and split["seed"] == 0
    data = card["metrics"]["data"]
    assert data["n_train"] + data["n_val"] + data["n_test"] == 40
    assert len(split["val"]) == data["n_val"] >= 1 and len(split["test"]) == data["n_test"]
    assert "calibration" in card["metrics"]


def test_predict_writes_mean_std_per_target(trained):
    tmp, out = trained
    data = _write(
        tmp / "new.csv",
        [("n1", cif_of(perovskite(3.8)), "", ""), ("n2", cif_of(perovskite(4.0)), "", "")],
    )
    result = CliRunner().invoke(
        main, ["predict", str(data), "--model", str(out), "--out", str(tmp / "pred.csv")]
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader((tmp / "pred.csv").read_text().splitlines()))
    assert [r["material_id"] for r in rows] == ["n1", "n2"]
    for row in rows:
        for key in ("heat_ref_mean", "heat_ref_std", "dir_gap_mean", "dir_gap_std"):
            assert math.isfinite(float(row[key])), (row["material_id"], key, row[key])
        assert float(row["heat_ref_std"]) > 0 and float(row["dir_gap_std"]) > 0


def test_predict_names_bad_records(trained):
    tmp, out = trained
    data = _write(
        tmp / "bad.csv",
        [
            ("ok", cif_of(perovskite(3.8)), "", ""),
            ("broken", "data_x\n_cell_length_a 3\n", "", ""),
            ("salt", cif_of(nacl()), "", ""),
        ],
    )
    result = CliRunner().invoke(
        main, ["predict", str(data), "--model", str(out), "--out", str(tmp / "p.csv")]
    )
    assert result.exit_code == 1
    assert "record 'broken'" in result.output and "cannot parse" in result.output
    assert "record 'salt'" in result.output and "never seen" in result.output
    skipped = CliRunner().invoke(
        main,
        ["predict", str(data), "--model", str(out), "--out", str(tmp / "p.csv"), "--skip-invalid"],
    )
    assert skipped.exit_code == 0
    ids = [r["material_id"] for r in csv.DictReader((tmp / "p.csv").read_text().splitlines())]
    assert ids == ["ok"]


def test_train_with_a_graph_cache_reuses_it(trained):
    import json

    tmp, _ = trained
    args = [
        "train",
        "surrogate",
        "--data",
        str(tmp / "train.csv"),
        "--target",
        "heat_ref",
        "--cache",
        str(tmp / "cache"),
        *SMALL,
    ]
    first = CliRunner().invoke(main, [*args, "--out", str(tmp / "m1")])
    assert first.exit_code == 0, first.output
    assert (tmp / "cache" / "train" / "meta.json").exists()
    marker = json.loads((tmp / "cache" / "cache.json").read_text())
    assert sum(marker["sizes"].values()) == 40
    second = CliRunner().invoke(main, [*args, "--out", str(tmp / "m2")])
    assert second.exit_code == 0 and "reusing graph cache" in second.output
    split = json.loads((tmp / "m2" / "split.json").read_text())
    assert split["test"] == json.loads((tmp / "m1" / "split.json").read_text())["test"]


def test_finetune_from_a_model_with_replay(trained):
    import json

    tmp, base = trained
    new = _write(
        tmp / "new.csv",
        [(f"n{i}", cif_of(perovskite(4.3 + 0.01 * i)), 2.0, 0.5) for i in range(12)],
    )
    args = [
        "train",
        "surrogate",
        "--data",
        str(new),
        "--target",
        "heat_ref,dir_gap",
        "--out",
        str(tmp / "tuned"),
        "--from",
        str(base),
        "--replay",
        str(tmp / "train.csv"),
        "--replay-fraction",
        "0.5",
        "--epochs",
        "2",
        "--workers",
        "1",
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    card = json.loads((tmp / "tuned" / "model.json").read_text())
    base_card = json.loads((base / "model.json").read_text())
    assert card["config"] == base_card["config"] and card["members"] == 2
    assert card["metrics"]["finetuned_from"]["sha256"] == base_card["sha256"]
    wrong = CliRunner().invoke(main, [*args[:5], "heat_ref", *args[6:]])
    assert wrong.exit_code == 1 and "same --target list" in wrong.output


def test_train_missing_target_and_empty_file(trained):
    tmp, _ = trained
    data = tmp / "train.csv"
    result = CliRunner().invoke(
        main,
        [
            "train",
            "surrogate",
            "--data",
            str(data),
            "--target",
            "band_gap",
            "--out",
            str(tmp / "x"),
            *SMALL,
        ],
    )
    assert result.exit_code == 1
    assert "band_gap not found" in result.output and "heat_ref" in result.output
    empty = tmp / "empty.csv"
    empty.write_text("")
    result = CliRunner().invoke(
        main, ["predict", str(empty), "--model", "nope", "--out", str(tmp / "p.csv")]
    )
    assert result.exit_code == 1 and "unknown model 'nope'" in result.output
    result = CliRunner().invoke(
        main,
        [
            "train",
            "surrogate",
            "--data",
            str(empty),
            "--target",
            "heat_ref",
            "--out",
            str(tmp / "x"),
            *SMALL,
        ],
    )
    assert result.exit_code == 1 and "file is empty" in result.output
