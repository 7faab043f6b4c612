"""The labels store: exactly-once upserts, references, phases and the duplicate check."""

from __future__ import annotations

from helpers import nacl

from crystaloop.schemas import LabelDoc
from crystaloop.stores.factory import open_store
from crystaloop.stores.labels import LabelStore, label_id


def _label(
    subject: str, calc: str, formula: str, chemsys: str, energy: float, structure, oracle="chgnet"
):
    return LabelDoc(
        label_id=label_id(subject, oracle, calc),
        subject_id=subject,
        kind="candidate",
        campaign="c",
        iteration=0,
        oracle=oracle,
        calc_id=calc,
        structure=structure.as_dict(),
        formula=formula,
        chemsys=chemsys,
        elements=chemsys.split("-"),
        nsites=len(structure),
        energy=energy,
        energy_per_atom=energy / len(structure),
    )


def test_upsert_twice_keeps_one_label(settings):
    store = LabelStore(open_store(settings, "labels"))
    doc = _label("c:0:1", "uuid-1", "NaCl", "Cl-Na", -27.0, nacl())
    store.upsert([doc])
    store.upsert([doc.model_copy(update={"e_form": -2.0})])
    assert store.count() == 1
    assert store.query({})[0]["e_form"] == -2.0
    assert store.duplicate_keys() == 0
    assert store.labelled("chgnet", ["c:0:1", "other"]) == {"c:0:1"}
    assert store.labelled("vasp", ["c:0:1"]) == set()


def test_references_and_phases_per_oracle(settings):
    from pymatgen.core import Lattice, Structure

    from crystaloop.chem.energies import shipped_references

    store = LabelStore(open_store(settings, "labels"))
    na = Structure(Lattice.cubic(4.2), ["Na", "Na"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    store.upsert(
        [
            _label("element:Na", "a", "Na", "Na", -2.6, na, "vasp"),
            _label("mp-na", "b", "Na", "Na", -2.8, na, "vasp"),
            _label("c:0:1", "c", "NaCl", "Cl-Na", -27.0, nacl(), "vasp"),
            _label("mp-na", "d", "Na", "Na", -9.0, na),  # a CHGNet label: another oracle
        ]
    )
    # an oracle without a shipped table: the lowest energy per atom of its own elemental labels
    assert store.references("vasp", ["Na", "Cl"]) == {"Na": -1.4}
    phases = store.phases("vasp", ["Cl-Na"], exclude=["c:0:1"])
    assert sorted(p.phase_id.split("|")[0] for p in phases) == ["element:Na", "mp-na"]
    # CHGNet ships its table: a labelled elemental phase never moves the reference
    table = shipped_references("chgnet")
    assert store.references("chgnet", ["Na", "Cl"]) == {"Na": table["Na"], "Cl": table["Cl"]}
    assert store.references("chgnet", ["He"]) == {}  # not in the table, not labelled


def test_duplicate_keys_are_counted_from_the_documents(settings):
    store = LabelStore(open_store(settings, "labels"))
    doc = _label("c:0:1", "uuid-1", "NaCl", "Cl-Na", -27.0, nacl()).model_dump()
    # two documents with the same (subject, oracle, calculation) under different ids
    store.store._collection.insert_many([{**doc, "label_id": "x"}, {**doc, "label_id": "y"}])
    assert store.duplicate_keys() == 1
