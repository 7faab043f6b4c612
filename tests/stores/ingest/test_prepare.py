from __future__ import annotations

import pytest
from helpers import nacl, perovskite
from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

from crystaloop.stores.ingest.prepare import PrepareOptions, prepare_record
from crystaloop.stores.ingest.readers import RawRecord


def _options() -> PrepareOptions:
    return PrepareOptions(source="test", file="test-input", max_sites=500)


def _record(index: int, source_id: str, structure) -> RawRecord:
    return RawRecord(
        index=index, source_id=source_id, kind="structure", payload=structure.as_dict()
    )


@pytest.fixture
def spglib_fails_for_srtio3(monkeypatch):
    from spglib import SpglibError

    real = SpacegroupAnalyzer.get_symmetry_dataset

    def dataset(self):
        if self._structure.composition.reduced_formula == "SrTiO3":
            raise SpglibError("spglib gave up")
        return real(self)

    monkeypatch.setattr(SpacegroupAnalyzer, "get_symmetry_dataset", dataset)


def test_a_good_record_is_described():
    prepared = prepare_record(_record(0, "p", perovskite()), _options())
    assert prepared.reason is None
    assert prepared.entry.spacegroup_number == 221


def test_a_record_spglib_cannot_analyse_is_rejected_not_stored_as_p1(spglib_fails_for_srtio3):
    prepared = prepare_record(_record(3, "p", perovskite()), _options())
    assert prepared.entry is None
    assert prepared.reason == "spglib failed: SpglibError: spglib gave up (symprec=0.1 Å)"
    assert (prepared.index, prepared.source_id) == (3, "p")


def test_ingest_reports_the_spglib_failure_with_the_record(spglib_fails_for_srtio3, corpus_store):
    records = [_record(0, "salt", nacl()), _record(1, "perov", perovskite())]
    summary = corpus_store.ingest(records, _options())
    assert (summary.read, summary.stored, summary.rejected) == (2, 1, 1)
    (error,) = summary.errors
    assert error["source_id"] == "perov" and error["record"] == 1
    assert error["reason"].startswith("spglib failed: SpglibError: spglib gave up")
    assert corpus_store.count() == 1
