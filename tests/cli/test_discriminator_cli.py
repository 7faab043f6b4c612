"""``crystaloop train discriminator`` on a shipped CSP generator's held-out compositions."""

from __future__ import annotations

import csv
import json

from click.testing import CliRunner
from helpers import cif_of, perovskite

from crystaloop.cli import main


def test_a_discriminator_trains_on_held_out_compositions_only(tmp_path, monkeypatch):
    monkeypatch.setenv("CRYSTALOOP_HOME", str(tmp_path / "home"))
    path = tmp_path / "perovskites.csv"
    pairs = [(a, b) for a in ("Sr", "Ba", "Ca", "K", "Na") for b in ("Ti", "Zr", "Nb", "Ta", "Hf")]
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["", "material_id", "cif"])
        for i, (a, b) in enumerate(pairs * 2):
            s = perovskite(3.8 + 0.01 * i)
            s.replace_species({"Sr": a, "Ti": b})
            writer.writerow([i, f"x{i}", cif_of(s)])
    args = ["train", "discriminator", "--generator", "perov5", "--data", str(path)]
    args += ["--samples", "3", "--steps", "50", "--epochs", "1", "--val-fraction", "0.4"]
    args += ["--test-fraction", "0.2", "--out", str(tmp_path / "d"), "--json"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    card = json.loads(result.output[result.output.index("{") :])
    assert card["kind"] == "classifier" and card["task"] == "match" and card["rmsd"] == 0.15
    examples = card["training"]["examples"]
    # held out of perov5's own split (seed 0, 10 % val + 10 % test): a fraction of the 50 ids
    assert (
        0 < examples["records"] < 50
        and examples["samples"] + examples["matcher_errors"] == 3 * examples["records"]
    )
    assert sum(card["training"]["sizes"].values()) == examples["samples"]
    missing = ["--out", "x", "--data", str(tmp_path / "none.csv")]
    result = CliRunner().invoke(main, [*args[:4], *missing])
    assert result.exit_code != 0 and "is not here" in result.output
