from __future__ import annotations

import csv

import pytest
from helpers import cif_of, nacl, perovskite

from crystaloop.stores.ingest import read_records
from crystaloop.stores.ingest.prepare import PrepareOptions


def _options(source="test", max_sites=500):
    return PrepareOptions(source=source, file="test-input", max_sites=max_sites)


def _write_csv(path, rows):
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["", "material_id", "cif", "heat_ref"])
        for i, (mid, cif, value) in enumerate(rows):
            writer.writerow([i, mid, cif, value])
    return path


def _ingest(store, path, source="test"):
    _, records = read_records(path)
    return store.ingest(records, _options(source))


def _bad_cifs() -> dict[str, tuple[str, str]]:
    good = cif_of(perovskite())
    nan = good.replace("0.50000000  0.50000000  0.50000000", "nan  0.50000000  0.50000000", 1)
    overlap = cif_of(perovskite()).replace(
        "0.50000000  0.50000000  0.50000000", "0.01000000  0.00000000  0.00000000", 1
    )
    unknown = good.replace("Sr", "Xx")
    return {
        "malformed": ("data_broken\n_cell_length_a 4\nloop_\n_atom_site_label\n", "cannot parse"),
        "nan": (nan, "non-finite|cannot parse"),
        "overlap": (overlap, "overlap"),
        "unknown": (unknown, "unknown element|cannot parse"),
    }


def test_each_bad_record_is_reported_and_the_rest_are_stored(tmp_path, corpus_store):
    bad = _bad_cifs()
    rows = [("good-1", cif_of(nacl()), 1.0)]
    rows += [(name, text, 2.0) for name, (text, _) in bad.items()]
    rows += [("good-2", cif_of(perovskite()), 3.0), ("good-1", cif_of(nacl(6.0)), 4.0)]
    summary = _ingest(corpus_store, _write_csv(tmp_path / "mixed.csv", rows))

    assert summary.read == 7
    assert summary.stored == 2
    assert summary.rejected == 5
    reasons = {e["source_id"]: e["reason"] for e in summary.errors if e["record"] != 6}
    for name, (_, pattern) in bad.items():
        assert reasons[name] is not None
        assert __import__("re").search(pattern, reasons[name]), (name, reasons[name])
    dup = [e for e in summary.errors if e["record"] == 6][0]
    assert dup["source_id"] == "good-1" and "duplicate id" in dup["reason"]
    # the first good-1 is the one kept
    doc = corpus_store.corpus.query_one({"material_id": "test:good-1"})
    assert doc["properties"]["heat_ref"] == {"value": 1.0, "unit": "eV"}
    assert corpus_store.count() == 2


def test_specific_reasons(tmp_path, corpus_store):
    bad = _bad_cifs()
    for name in ("overlap", "malformed"):
        path = tmp_path / f"{name}.cif"
        path.write_text(bad[name][0])
        summary = _ingest(corpus_store, path)
        assert summary.rejected == 1, name
    overlap_reason = _ingest(corpus_store, tmp_path / "overlap.cif").errors[0]["reason"]
    assert "Å apart" in overlap_reason


def test_nan_coordinates_and_unknown_element_in_structure_json(tmp_path, corpus_store):
    import json

    doc = nacl().as_dict()
    doc["sites"][0]["abc"] = [float("nan"), 0.0, 0.0]
    weird = nacl().as_dict()
    weird["sites"][1]["species"] = [{"element": "Qq", "occu": 1}]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps([doc, weird]).replace("NaN", "NaN"))
    summary = _ingest(corpus_store, path)
    assert summary.rejected == 2
    reasons = [e["reason"] for e in summary.errors]
    assert "non-finite" in reasons[0]
    assert "unknown element" in reasons[1] and "Qq" in reasons[1]


def test_site_cap(tmp_path, corpus_store):
    path = tmp_path / "big.cif"
    path.write_text(cif_of(nacl() * (3, 3, 3)))
    _, records = read_records(path)
    summary = corpus_store.ingest(records, _options(max_sites=100))
    assert summary.rejected == 1
    assert "more than the cap of 100" in summary.errors[0]["reason"]


def test_reingest_is_idempotent_and_duplicates_are_linked(tmp_path, corpus_store):
    rows = [("a", cif_of(nacl()), 1.0), ("b", cif_of(perovskite()), 2.0)]
    path = _write_csv(tmp_path / "first.csv", rows)
    first = _ingest(corpus_store, path)
    assert (first.stored, first.duplicates, first.rejected) == (2, 0, 0)
    before = list(corpus_store.corpus.query({}, sort={"material_id": 1}))

    again = _ingest(corpus_store, path)
    assert (again.stored, again.unchanged) == (0, 2)
    after = list(corpus_store.corpus.query({}, sort={"material_id": 1}))
    assert [d["material_id"] for d in after] == [d["material_id"] for d in before]

    # the same crystals from another source, one as a supercell and slightly strained
    supercell = nacl(5.66) * (2, 1, 1)
    other = _write_csv(tmp_path / "other.csv", [("x", cif_of(supercell), 9.0)])
    linked = _ingest(corpus_store, other, source="other")
    assert (linked.stored, linked.duplicates) == (0, 1)
    doc = corpus_store.corpus.query_one({"material_id": "test:a"})
    assert doc["aliases"][0]["source"] == "other"
    assert doc["aliases"][0]["properties"]["heat_ref"]["value"] == 9.0
    assert corpus_store.count() == 2
    # re-ingesting the alias changes nothing either
    assert _ingest(corpus_store, other, source="other").unchanged == 1
    assert len(corpus_store.corpus.query_one({"material_id": "test:a"})["aliases"]) == 1


def test_stats_and_queries(tmp_path, corpus_store):
    rows = [("a", cif_of(nacl()), 1.0), ("b", cif_of(perovskite()), 2.0)]
    _ingest(corpus_store, _write_csv(tmp_path / "x.csv", rows))
    stats = corpus_store.stats()
    assert stats["total"] == 2
    assert stats["by_nelements"] == {"2": 1, "3": 1}
    assert stats["by_spacegroup"] == {"225": 1, "221": 1}
    assert [d["material_id"] for d in corpus_store.query(formula="Na2Cl2")] == ["test:a"]
    assert [d["material_id"] for d in corpus_store.query(chemsys="Ti-O-Sr")] == ["test:b"]
    assert [d["material_id"] for d in corpus_store.query(elements=["O"])] == ["test:b"]
    doc = corpus_store.corpus.query_one({"material_id": "test:b"})
    assert doc["chemsys"] == "O-Sr-Ti" and doc["nsites"] == 5 and doc["formula"] == "SrTiO3"
    assert doc["provenance"]["file"] == "test-input"


@pytest.mark.parametrize("workers", [2])
def test_parallel_ingest_matches_serial(tmp_path, corpus_store, workers):
    rows = [(f"m{i}", cif_of(nacl(5.0 + 0.3 * i)), float(i)) for i in range(4)]
    _, records = read_records(_write_csv(tmp_path / "p.csv", rows))
    summary = corpus_store.ingest(records, _options(), workers=workers)
    assert summary.read == 4 and summary.rejected == 0
    assert summary.stored + summary.duplicates == 4


def test_dedup_lookup_finds_same_formula_cells_of_whole_primitive_cells(tmp_path, corpus_store):
    conventional = nacl()  # 8 sites: four primitive cells of 2
    rows = [("p1", cif_of(perovskite()), 0.1), ("n1", cif_of(conventional), 0.2)]
    _ingest(corpus_store, _write_csv(tmp_path / "x.csv", rows))
    found = corpus_store.dedup_lookup([("SrTiO3", 5), ("NaCl", 2), ("NaCl", 3), ("KCl", 2)])
    assert [mid for mid, _ in found[("SrTiO3", 5)]] == ["test:p1"]
    assert [mid for mid, _ in found[("NaCl", 2)]] == ["test:n1"]
    assert found[("NaCl", 2)][0][1].composition.reduced_formula == "NaCl"
    assert found[("NaCl", 3)] == [] and found[("KCl", 2)] == []
