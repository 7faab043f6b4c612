"""The label step on the mp2020 hull: VASP labels corrected like MP's entries, placed on them."""

from __future__ import annotations

import json
import warnings

import pytest
from helpers import POTCAR_TITEL, li_o_entries


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pymatgen warns on oxidation-state guesses
        yield


@pytest.fixture
def stores(settings, tmp_path):
    from crystaloop.stores.corpus import CorpusStore
    from crystaloop.stores.factory import open_store
    from crystaloop.stores.hull_entries import HullEntryStore
    from crystaloop.stores.ingest.mp_entries import ingest_entries
    from crystaloop.stores.ingest.prepare import PrepareOptions
    from crystaloop.stores.labels import LabelStore

    corpus = CorpusStore(open_store(settings, "corpus"), open_store(settings, "corpus_aliases"))
    hull = HullEntryStore(open_store(settings, "hull_entries"))
    ingest_entries(corpus, hull, li_o_entries(), PrepareOptions("mp", str(tmp_path), 50))
    return LabelStore(open_store(settings, "labels")), hull


def _li2o_polymorph():
    from pymatgen.core import Lattice, Structure

    # a layered Li2O: not MP's antifluorite
    return Structure(
        Lattice.hexagonal(3.2, 5.0),
        ["Li", "Li", "O"],
        [[1 / 3, 2 / 3, 0.2], [2 / 3, 1 / 3, 0.8], [0, 0, 0]],
    )


def vasp_result(subject_id, structure, energy_per_atom, run_type="GGA"):
    """An oracle sub-flow output as the vasp oracle gives it: atomate2's TaskDoc.entry."""
    from pymatgen.entries.computed_entries import ComputedEntry

    elements = sorted({el.symbol for el in structure.composition.elements})
    energy = energy_per_atom * len(structure)
    entry = ComputedEntry(
        structure.composition,
        energy,
        parameters={
            "potcar_spec": [{"titel": POTCAR_TITEL[el], "hash": "0" * 32} for el in elements],
            "run_type": run_type,
            "is_hubbard": False,
            "hubbards": {},
        },
        data={"oxide_type": "oxide", "aspherical": True},
        entry_id=f"task-{subject_id}-{run_type}",
    )
    return {
        "subject_id": subject_id,
        "oracle": "vasp",
        "calc_id": f"uuid-{subject_id}",
        "energy": energy,  # uncorrected, as the task document's output.energy
        "structure": structure.as_dict(),
        "band_gap": 4.5,
        "entry": json.loads(json.dumps(entry.as_dict())),  # as it arrives through the store
    }


def test_a_vasp_label_is_corrected_and_placed_on_the_mp_hull(stores):
    from crystaloop.makers.label import LabelMaker

    labels, hull = stores
    structure = _li2o_polymorph()
    # uncorrected -4.663 eV/atom: corrected (-0.687 eV for one O) -4.892, 0.1 above Li2O
    results = [
        vasp_result("cand-1", structure, -4.663),
        vasp_result("cand-2", structure, -4.0, "R2SCAN"),
    ]
    subjects = [
        {"subject_id": "cand-1", "kind": "candidate"},
        {"subject_id": "cand-2", "kind": "candidate"},
    ]
    maker = LabelMaker(oracle="vasp", hull="mp2020", stable_threshold=0.05)
    out, docs = maker.label(results, subjects, "c", 0, labels, hull)
    (doc,) = docs
    assert doc.energy == pytest.approx(-4.663 * 3 - 0.687)
    # E_form against MP's elemental entries: (-4.892 * 3 - 2 * -1.9089 - -4.948) / 3
    assert doc.e_form == pytest.approx(-4.892 + (2 * 1.9089 + 4.948) / 3, abs=1e-9)
    assert doc.e_hull == pytest.approx(0.1, abs=1e-3)  # above MP's Li2O (-4.992 eV/atom)
    assert out.new_stable == []
    # an entry MP2020 rejects is a failed label with the reason, never a plausible energy
    assert out.failed == ["cand-2"]
    assert "MP2020 compatibility rejected it" in out.failures["cand-2"]
    assert "R2SCAN" in out.failures["cand-2"]


def test_a_label_below_the_mp_hull_is_stable_and_the_oracle_hull_has_no_references(stores):
    from crystaloop.makers.label import LabelMaker

    labels, hull = stores
    results = [vasp_result("cand-3", _li2o_polymorph(), -4.80)]  # corrected -5.029 < -4.992
    subjects = [{"subject_id": "cand-3", "kind": "candidate"}]
    out, (doc,) = LabelMaker(oracle="vasp", hull="mp2020").label(
        results, subjects, "c", 0, labels, hull
    )
    assert doc.e_hull == pytest.approx(0.0) and out.new_stable == ["cand-3"]
    # on the oracle's own hull the same label has no references yet: no E_hull at all
    out, (doc,) = LabelMaker(oracle="vasp").label(results, subjects, "c", 0, labels)
    assert doc.e_hull is None and doc.e_form is None


def test_the_mp2020_hull_needs_vasp_and_the_entries(stores):
    from crystaloop.makers.label import LabelMaker

    labels, hull = stores
    with pytest.raises(ValueError, match="needs the vasp oracle"):
        LabelMaker(oracle="chgnet", hull="mp2020").label([], [], "c", 0, labels, hull)
    with pytest.raises(ValueError, match="hull_entries"):
        LabelMaker(oracle="vasp", hull="mp2020").label([], [], "c", 0, labels)
