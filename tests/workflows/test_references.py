"""Which phases the oracle labels for a candidate's hull: per composition, capped, cached."""

from __future__ import annotations

import json

from helpers import nacl


def _ingest(settings, tmp_path, records):
    from crystaloop.stores.corpus import CorpusStore
    from crystaloop.stores.factory import open_store
    from crystaloop.stores.ingest import read_records
    from crystaloop.stores.ingest.prepare import PrepareOptions

    path = tmp_path / "corpus.json"
    path.write_text(json.dumps(records))
    corpus = CorpusStore(open_store(settings, "corpus"), open_store(settings, "corpus_aliases"))
    corpus.ingest(read_records(path)[1], PrepareOptions(source="t", file=str(path), max_sites=50))
    return corpus


def test_each_composition_gets_its_lowest_energy_phase_and_the_cap_counts_new_calls(
    settings, tmp_path
):
    from pymatgen.core import Lattice, Structure

    from crystaloop.stores.factory import open_store
    from crystaloop.stores.labels import LabelStore
    from crystaloop.workflows.references import reference_subjects

    def rocksalt(a):
        return nacl(a).as_dict()

    cscl = Structure(Lattice.cubic(3.4), ["Na", "Cl"], [[0, 0, 0], [0.5] * 3]).as_dict()
    na2cl = Structure(
        Lattice.cubic(5.0), ["Na", "Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0.5, 0.5]]
    ).as_dict()
    corpus = _ingest(
        settings,
        tmp_path,
        [
            {"material_id": "rs", "structure": rocksalt(5.64), "formation_energy_per_atom": -2.0},
            {"material_id": "cs", "structure": cscl, "formation_energy_per_atom": -1.8},
            {"material_id": "n2", "structure": na2cl, "formation_energy_per_atom": -0.5},
        ],
    )
    labels = LabelStore(open_store(settings, "labels"))
    subjects = reference_subjects({"Cl-Na"}, corpus, labels, "chgnet", "c", 0)
    ids = sorted(s.subject_id for s in subjects)
    # NaCl's lowest-energy polymorph only, and Na2Cl; no element (CHGNet ships its references)
    assert ids == ["t:n2", "t:rs"]
    assert [s.subject_id for s in subjects] and all(s.kind == "corpus" for s in subjects)
    both = reference_subjects({"Cl-Na"}, corpus, labels, "chgnet", "c", 0, per_composition=2)
    assert sorted(s.subject_id for s in both) == ["t:cs", "t:n2", "t:rs"]
    capped = reference_subjects({"Cl-Na"}, corpus, labels, "chgnet", "c", 0, max_compounds=1)
    assert len(capped) == 1
    # VASP has no shipped table: its elements' prototypes are asked for too
    vasp = reference_subjects({"Cl-Na"}, corpus, labels, "vasp", "c", 0)
    assert {"element:Cl", "element:Na"} <= {s.subject_id for s in vasp}
    # a phase labelled before is not asked for again, and does not use up the cap
    from crystaloop.schemas import LabelDoc
    from crystaloop.stores.labels import label_id

    labels.upsert(
        [
            LabelDoc(
                label_id=label_id("t:rs", "chgnet", "x"), subject_id="t:rs", kind="corpus",
                oracle="chgnet", calc_id="x", structure=rocksalt(5.64), formula="NaCl",
                chemsys="Cl-Na", elements=["Cl", "Na"], nsites=8, energy=-30.0,
                energy_per_atom=-3.75,
            )
        ]
    )  # fmt: skip
    again = reference_subjects({"Cl-Na"}, corpus, labels, "chgnet", "c", 0, max_compounds=1)
    assert [s.subject_id for s in again] == ["t:n2"]


def test_the_mp2020_hull_asks_no_reference_calculation_for_a_system_mp_entries_cover(
    settings, tmp_path
):
    import warnings

    from helpers import li_o_entries

    from crystaloop.stores.corpus import CorpusStore
    from crystaloop.stores.factory import open_store
    from crystaloop.stores.hull_entries import HullEntryStore
    from crystaloop.stores.ingest.mp_entries import ingest_entries
    from crystaloop.stores.ingest.prepare import PrepareOptions
    from crystaloop.stores.labels import LabelStore
    from crystaloop.workflows.references import reference_subjects

    corpus = CorpusStore(open_store(settings, "corpus"), open_store(settings, "corpus_aliases"))
    hull = HullEntryStore(open_store(settings, "hull_entries"))
    labels = LabelStore(open_store(settings, "labels"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ingest_entries(
            corpus, hull, li_o_entries(), PrepareOptions("mp", str(tmp_path), max_sites=50)
        )
    # the oracle hull would label both elements' prototypes and phases and the Li-O compounds
    oracle = reference_subjects({"Li-O"}, corpus, labels, "vasp", "c", 0)
    assert {"element:Li", "element:O", "mp:mp-1960-GGA", "mp:mp-841-GGA"} <= {
        s.subject_id for s in oracle
    }
    # MP's corrected entries give the whole Li-O hull: no new calculation
    assert reference_subjects({"Li-O"}, corpus, labels, "vasp", "c", 0, hull_entries=hull) == []
    # only what MP's entries leave out is asked for: here sodium's prototype
    partial = reference_subjects({"Li-Na-O"}, corpus, labels, "vasp", "c", 0, hull_entries=hull)
    assert [s.subject_id for s in partial] == ["element:Na"]
