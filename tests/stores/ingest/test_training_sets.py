"""Training sets from files: graph splits (in memory and cached) and generator crystals."""

from __future__ import annotations

import csv
import json
import math

import pytest
from helpers import cif_of, nacl, perovskite

from crystaloop.ml.crysformer.config import CrysformerConfig
from crystaloop.ml.data.graph_sets import sample_ids
from crystaloop.ml.data.split import SplitPlan
from crystaloop.stores.ingest.labelled import InvalidRecordsError
from crystaloop.stores.ingest.training_sets import (
    cached_graph_splits,
    graph_splits,
    read_crystals,
    too_large,
)

LIMITS = {"max_sites": 500}
PLAN = SplitPlan(0.2, 0.2, 0)


def write_csv(path, rows):
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["", "material_id", "cif", "heat_ref"])
        for i, row in enumerate(rows):
            writer.writerow([i, *row])
    return path


@pytest.fixture
def data(tmp_path):
    rows = [(f"p{i}", cif_of(perovskite(3.7 + 0.02 * i)), f"{0.1 * i}") for i in range(20)]
    return write_csv(tmp_path / "data.csv", rows)


def config(*targets):
    return CrysformerConfig(targets=list(targets or ["heat_ref"]))


def test_graph_splits_follow_the_plan(data):
    splits = graph_splits(data, config(), PLAN, **LIMITS)
    assert sum(len(s) for s in splits.values()) == 20
    for name, source in splits.items():
        assert all(PLAN.of(i) == name for i in sample_ids(source))


def test_a_bad_record_fails_the_graph_splits_naming_it(tmp_path):
    rows = [(f"p{i}", cif_of(perovskite(3.7 + 0.02 * i)), "0.1") for i in range(10)]
    path = write_csv(tmp_path / "bad.csv", [*rows, ("broken", "data_x\n", "0.2")])
    with pytest.raises(InvalidRecordsError, match=r"1 invalid record\(s\) in .*record 'broken'"):
        graph_splits(path, config(), PLAN, **LIMITS)
    with pytest.raises(InvalidRecordsError, match="record 'broken'"):
        cached_graph_splits(path, config(), PLAN, tmp_path / "cache", **LIMITS)
    assert not (tmp_path / "cache" / "cache.json").exists()  # a failed build is not reused


def test_a_missing_target_or_a_tiny_data_set_is_a_value_error(data, tmp_path):
    with pytest.raises(
        ValueError, match=r"target\(s\) gap not found in .*labels present: heat_ref"
    ):
        graph_splits(data, config("heat_ref", "gap"), PLAN, **LIMITS)
    tiny = write_csv(tmp_path / "tiny.csv", [("p0", cif_of(perovskite()), "0.1")])
    with pytest.raises(ValueError, match="too few records"):
        graph_splits(tiny, config(), PLAN, **LIMITS)


def test_the_graph_cache_is_built_once_and_reused(data, tmp_path):
    lines = []
    cache = tmp_path / "cache"
    built = cached_graph_splits(data, config(), PLAN, cache, log=lines.append, **LIMITS)
    marker = json.loads((cache / "cache.json").read_text())
    assert sum(marker["sizes"].values()) == 20 and lines == []
    again = cached_graph_splits(data, config(), PLAN, cache, log=lines.append, **LIMITS)
    assert lines == [f"reusing graph cache {cache}"]
    memory = graph_splits(data, config(), PLAN, **LIMITS)
    for name in ("train", "val", "test"):
        assert sample_ids(again[name]) == sample_ids(built[name]) == sample_ids(memory[name])
    cached_graph_splits(data, config(), SplitPlan(0.2, 0.2, 1), cache, log=lines.append, **LIMITS)
    assert len(lines) == 1  # another plan: built anew


def test_read_crystals_names_records_it_cannot_use(tmp_path):
    path = write_csv(
        tmp_path / "data.csv",
        [
            ("ok", cif_of(perovskite()), "-1.5"),
            ("nolabel", cif_of(nacl()), ""),
            ("broken", "data_x\n", "0.1"),
        ],
    )
    crystals, structures, errors = read_crystals(path, eform_label="heat_ref", **LIMITS)
    assert [c.source_id for c in crystals] == ["ok", "nolabel"] and len(structures) == 2
    assert crystals[0].eform == -1.5 and math.isnan(crystals[1].eform)  # no label: NaN
    assert [e["source_id"] for e in errors] == ["broken"]
    assert errors[0]["reason"].startswith("cannot parse structure")
    assert too_large(crystals, 4) == [
        {
            "source_id": "ok",
            "reason": "5 atoms in its primitive cell, more than the model's maximum 4",
        }
    ]
