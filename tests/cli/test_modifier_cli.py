"""``crystaloop train modifier`` and ``crystaloop modify`` end to end, on a tiny model."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import cif_of, perovskite

from crystaloop.cli import main

SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
TINY = ["--epochs", "1", "--batch-size", "16", "--minutes", "0.2"]


def _carbon_subset(shared: Path, out, n: int = 80):
    """The first ``n`` Carbon-24 validation rows, as CDVAE's CSV (with their energies)."""
    csv.field_size_limit(sys.maxsize)
    with open(shared / "carbon_24" / "val.csv", newline="") as fh:
        reader = csv.DictReader(fh)
        rows = [row for _, row in zip(range(n), reader, strict=False)]
        header = reader.fieldnames
    with open(out, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
    return out


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    if not SHARED_DATA.exists():
        pytest.skip("../shared/data is not beside the checkout")
    tmp = tmp_path_factory.mktemp("modifier")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CRYSTALOOP_HOME", str(tmp / "home"))
        data = _carbon_subset(SHARED_DATA, tmp / "carbon.csv")
        args = ["train", "modifier", "--data", str(data), "--out", str(tmp / "mod"), *TINY]
        args += ["--val-fraction", "0.2", "--test-fraction", "0.2", "--json"]
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.output
        card = json.loads(result.output[result.output.index("{") :])
        yield tmp, data, card


def test_the_card_is_a_modifier_with_groups_split_whole(trained):
    _, _, card = trained
    assert card["kind"] == "modifier" and card["generator"] == "flow"
    assert card["prior"] == "source"
    groups = card["training"]["groups"]
    assert groups["train"]
    assert not set(groups["train"]) & (set(groups["val"]) | set(groups["test"]))
    assert card["training"]["split"]["by"].startswith("polymorph group")
    assert card["config"]["generator"]["elements"] == [6]


def test_modify_writes_json_lines_and_the_match_rate(trained, monkeypatch):
    tmp, data, _ = trained
    monkeypatch.setenv("CRYSTALOOP_HOME", str(tmp / "home"))
    out = tmp / "modified.jsonl"
    args = ["modify", str(data), "--model", str(tmp / "mod"), "--samples", "2", "--out", str(out)]
    result = CliRunner().invoke(main, [*args, "--metrics", "--steps", "3", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output[result.output.index("{") :])
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == 2 * summary["sources"]
    assert set(lines[0]) == {"source_id", "sample", "structure"}
    assert [line["sample"] for line in lines[:2]] == [0, 1]
    rates = summary["match_to_most_stable"]
    assert set(rates) == {"k1", "k2"} and rates["k1"]["n"] == summary["sources"]
    assert 0.0 <= rates["k1"]["match_rate"] <= rates["k2"]["match_rate"] <= 1.0
    # without --metrics every structure is a source, with the given energy drop
    result = CliRunner().invoke(main, [*args, "--delta-e", "0.2", "--steps", "2"])
    assert result.exit_code == 0, result.output
    assert len(out.read_text().splitlines()) == 2 * 80


def test_bad_input_gets_a_clear_error(trained, monkeypatch):
    tmp, data, _ = trained
    monkeypatch.setenv("CRYSTALOOP_HOME", str(tmp / "home"))
    model = ["--model", str(tmp / "mod"), "--out", str(tmp / "x.jsonl")]
    empty = tmp / "empty.csv"
    empty.write_text(",material_id,cif,energy_per_atom\n")
    result = CliRunner().invoke(main, ["modify", str(empty), *model])
    assert result.exit_code != 0 and "empty.csv: no records" in result.output
    perov = tmp / "perov.csv"
    with open(perov, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["", "material_id", "cif"])
        writer.writerow([0, "sto", cif_of(perovskite())])
    result = CliRunner().invoke(main, ["modify", str(perov), *model])
    assert result.exit_code != 0
    assert "sto: element(s) O, Ti, Sr the modifier never saw (it was trained on C)" in (
        result.output
    )
    result = CliRunner().invoke(main, ["modify", str(perov), *model, "--metrics"])
    assert result.exit_code != 0 and "sto: no energy per atom" in result.output
    result = CliRunner().invoke(main, ["modify", str(data), "--model", "nope", "--out", "y"])
    assert result.exit_code != 0 and "unknown modifier 'nope'" in result.output
