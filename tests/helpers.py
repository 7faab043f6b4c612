"""Small structures and files for tests."""

from __future__ import annotations


def nacl(a: float = 5.64):
    from pymatgen.core import Lattice, Structure

    return Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(a), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )


def perovskite(a: float = 3.9):
    from pymatgen.core import Lattice, Structure

    return Structure(
        Lattice.cubic(a),
        ["Sr", "Ti", "O", "O", "O"],
        [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]],
    )


def cif_of(structure) -> str:
    from pymatgen.io.cif import CifWriter

    return str(CifWriter(structure))


#: MP's POTCAR titles (MPRelaxSet) of the entries below.
POTCAR_TITEL = {
    "Li": "PAW_PBE Li_sv 10Sep2004",
    "O": "PAW_PBE O 08Apr2002",
    "Fe": "PAW_PBE Fe_pv 06Sep2000",
}


def mp_entry(entry_id: str, structure, energy_per_atom: float, **data) -> dict:
    """Return a Materials Project-style GGA ``ComputedStructureEntry`` dict (uncorrected).

    ``energy_per_atom`` is the uncorrected DFT energy per atom; parameters as MP's thermo
    entries carry them (run type, Hubbard values, POTCAR spec); ``data`` (e.g. ``oxide_type``)
    goes into the entry's data.
    """
    from pymatgen.entries.computed_entries import ComputedStructureEntry

    elements = sorted({el.symbol for el in structure.composition.elements})
    entry = ComputedStructureEntry(
        structure,
        energy_per_atom * len(structure),
        parameters={
            "run_type": "GGA",
            "is_hubbard": False,
            "hubbards": {},
            "potcar_spec": [{"titel": POTCAR_TITEL[el], "hash": None} for el in elements],
        },
        data=dict(data),
        entry_id=entry_id,
    )
    return entry.as_dict()


def li_o_entries() -> list[dict]:
    """Return the MP-style GGA entries of a small Li–O system (uncorrected energies).

    Li (bcc), O2 (a lattice of dimers), Li2O (antifluorite), Li2O2 (peroxide) and a LiO2
    superoxide that lies about 0.2 eV/atom above the Li2O2–O2 tie line once corrected; energies
    close to MP's, so that the corrected formation energies are about -2.07 (Li2O) and -1.65
    (Li2O2) eV/atom.
    """
    from pymatgen.core import Lattice, Structure

    li = Structure.from_spacegroup("Im-3m", Lattice.cubic(3.44), ["Li"], [[0, 0, 0]])
    o2 = Structure(Lattice.cubic(3.81), ["O", "O"], [[0, 0, 0], [1.21 / 3.81, 0, 0]])
    li2o = Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(4.63), ["O", "Li"], [[0, 0, 0], [0.25, 0.25, 0.25]]
    ).get_primitive_structure()
    li2o2 = Structure.from_spacegroup(
        "P6_3/mmc",
        Lattice.hexagonal(3.14, 7.65),
        ["Li", "Li", "O"],
        [[0, 0, 0], [1 / 3, 2 / 3, 0.25], [1 / 3, 2 / 3, 0.85]],
    )
    lio2 = Structure(
        Lattice.cubic(3.6),
        ["Li", "O", "O"],
        [[0, 0, 0], [0.5, 0.5, 0.5 - 0.665 / 3.6], [0.5, 0.5, 0.5 + 0.665 / 3.6]],
    )
    return [
        mp_entry("mp-135-GGA", li, -1.9089),
        mp_entry("mp-12957-GGA", o2, -4.9480),
        mp_entry("mp-1960-GGA", li2o, -4.7630, oxide_type="oxide"),
        mp_entry("mp-841-GGA", li2o2, -4.8460, oxide_type="peroxide"),
        mp_entry("mp-1235059-GGA", lio2, -4.7276, oxide_type="superoxide"),
    ]


def ingest_corpus(tmp_path, corpus_store, structures):
    """Ingest ``(material_id, structure)`` pairs into the corpus store (heat_ref 0)."""
    import csv

    from crystaloop.stores.ingest import read_records
    from crystaloop.stores.ingest.prepare import PrepareOptions

    path = tmp_path / "protos.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["", "material_id", "cif", "heat_ref"])
        for i, (mid, s) in enumerate(structures):
            writer.writerow([i, mid, cif_of(s), 0.0])
    _, records = read_records(path)
    corpus_store.ingest(records, PrepareOptions(source="test", file=str(path), max_sites=500))


def batch_rows(settings, out):
    """Return the candidate ids and structures of a GenerateOutput's batch."""
    from pymatgen.core import Structure

    from crystaloop.stores.artifacts import artifact_store
    from crystaloop.stores.candidates import get_batch

    rows = get_batch(artifact_store(settings), out.batch)
    return [r["candidate_id"] for r in rows], [Structure.from_dict(r["structure"]) for r in rows]


def stable_labels(settings, structures):
    """Store one stable CHGNet label (campaign ``c``, iteration 0) per structure."""
    from crystaloop.schemas import LabelDoc
    from crystaloop.stores.factory import open_store
    from crystaloop.stores.labels import LabelStore, label_id

    docs = [
        LabelDoc(
            label_id=label_id(f"c:0:{k}", "chgnet", f"calc-{k}"),
            subject_id=f"c:0:{k}",
            kind="candidate",
            campaign="c",
            iteration=0,
            oracle="chgnet",
            calc_id=f"calc-{k}",
            structure=s.as_dict(),
            formula=s.composition.reduced_formula,
            chemsys="-".join(sorted({str(e) for e in s.composition.elements})),
            elements=sorted({str(e) for e in s.composition.elements}),
            nsites=len(s),
            energy=-30.0,
            energy_per_atom=-30.0 / len(s),
            e_form=-1.0,
            e_hull=0.0,
        )
        for k, s in enumerate(structures)
    ]
    LabelStore(open_store(settings, "labels")).upsert(docs)


def tiny_structures():
    """Perovskites ABO3 and rock salts of a few elements (8 crystals): the masked tests' data."""
    out = []
    for i, (a, b) in enumerate([("Sr", "Ti"), ("Ba", "Ti"), ("Ca", "Zr"), ("Sr", "Zr")]):
        s = perovskite(3.9 + 0.05 * i)
        s.replace_species({"Sr": a, "Ti": b})
        out.append((f"p{i}", s))
    for i, (a, b) in enumerate([("Na", "Cl"), ("K", "Cl"), ("Mg", "O"), ("Ca", "O")]):
        s = nacl(4.5 + 0.3 * i)
        s.replace_species({"Na": a, "Cl": b})
        out.append((f"r{i}", s))
    return out


def graphs_of(structures):
    """Return the Crysformer graphs of ``(id, structure)`` pairs."""
    from crystaloop.ml.data.graph import knn_graph

    return [knn_graph(s) for _, s in structures]
