"""Reading generator data: a record spglib cannot analyse is a record error, not P1."""

from __future__ import annotations

import csv

import pytest
from helpers import cif_of, nacl, perovskite
from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

from crystaloop.stores.ingest.training_sets import read_crystals


def _write(path, structures):
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["", "material_id", "cif", "heat_ref"])
        for i, structure in enumerate(structures):
            writer.writerow([i, f"m{i}", cif_of(structure), 0.0])
    return path


@pytest.fixture
def spglib_fails_for_srtio3(monkeypatch):
    from spglib import SpglibError

    real = SpacegroupAnalyzer.get_symmetry_dataset

    def dataset(self):
        if self._structure.composition.reduced_formula == "SrTiO3":
            raise SpglibError("spglib gave up")
        return real(self)

    monkeypatch.setattr(SpacegroupAnalyzer, "get_symmetry_dataset", dataset)


def test_read_crystals_with_space_groups(tmp_path):
    path = _write(tmp_path / "data.csv", [nacl(), perovskite()])
    crystals, structures, errors = read_crystals(path, max_sites=500, spacegroups=True)
    assert errors == [] and len(crystals) == len(structures) == 2


def test_a_record_spglib_cannot_analyse_is_a_record_error(tmp_path, spglib_fails_for_srtio3):
    path = _write(tmp_path / "data.csv", [nacl(), perovskite()])
    crystals, structures, errors = read_crystals(path, max_sites=500, spacegroups=True)
    assert [c.source_id for c in crystals] == ["m0"] and len(structures) == 1
    assert errors == [
        {"source_id": "m1", "reason": "spglib failed: SpglibError: spglib gave up (symprec=0.1 Å)"}
    ]


def test_without_space_groups_spglib_is_not_asked(tmp_path, spglib_fails_for_srtio3):
    path = _write(tmp_path / "data.csv", [nacl(), perovskite()])
    crystals, _, errors = read_crystals(path, max_sites=500, spacegroups=False)
    assert errors == [] and len(crystals) == 2
