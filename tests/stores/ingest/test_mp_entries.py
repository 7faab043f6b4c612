"""Ingest of Materials Project ComputedStructureEntry JSON: MP2020 corrections, corpus, hull."""

from __future__ import annotations

import json
import sys
import warnings

import pytest
from helpers import li_o_entries


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pymatgen warns on oxidation-state guesses
        yield


@pytest.fixture
def hull_store(settings):
    from crystaloop.stores.factory import open_store
    from crystaloop.stores.hull_entries import HullEntryStore

    return HullEntryStore(open_store(settings, "hull_entries"))


def _options(path, source="mp"):
    from crystaloop.stores.ingest.prepare import PrepareOptions

    return PrepareOptions(source=source, file=str(path), max_sites=50)


def _write_with_dumpfn(tmp_path):
    """Write the entries as MP's client hands them over: objects, through monty's dumpfn."""
    from monty.serialization import dumpfn
    from pymatgen.entries.computed_entries import ComputedStructureEntry

    path = tmp_path / "li_o_entries.json.gz"
    dumpfn([ComputedStructureEntry.from_dict(d) for d in li_o_entries()], path)
    return path


def test_entries_are_corrected_and_stored_in_the_corpus_and_the_hull(
    corpus_store, hull_store, tmp_path
):
    from crystaloop.stores.ingest.mp_entries import ingest_entries, read_entry_dicts

    path = _write_with_dumpfn(tmp_path)
    items = read_entry_dicts(path)
    assert len(items) == 5 and items[0]["@class"] == "ComputedStructureEntry"
    summary = ingest_entries(corpus_store, hull_store, items, _options(path))
    assert summary.as_dict() | {"errors": []} == {
        "read": 5,
        "stored": 5,
        "duplicates": 0,
        "unchanged": 0,
        "rejected": 0,
        "errors": [],
        "hull_entries": 5,
    }
    li2o = next(corpus_store.query(formula="Li2O"))
    props = {k: v["value"] for k, v in li2o["properties"].items()}
    assert props["correction"] == pytest.approx(-0.687)
    assert props["energy"] == pytest.approx(props["uncorrected_energy"] - 0.687)
    assert props["energy_per_atom"] == pytest.approx(-4.992)
    assert li2o["properties"]["energy_per_atom"]["unit"] == "eV/atom"
    # the hull store keeps the corrected entry, linked to the corpus entry of its structure
    (doc,) = hull_store.query({"entry_id": "mp-1960-GGA"})
    assert doc["hull_id"] == "mp:mp-1960-GGA" and doc["material_id"] == "mp:mp-1960-GGA"
    assert doc["compatibility"] == "MaterialsProject2020Compatibility"
    assert doc["chemsys"] == "Li-O" and doc["correction"] == pytest.approx(-0.687)
    assert doc["entry"]["parameters"]["run_type"] == "GGA"
    assert doc["entry"]["energy_adjustments"]  # the corrections travel with the entry
    assert hull_store.covered(["Li", "O", "Li-O", "Na"]) == {"Li", "O", "Li-O"}
    assert hull_store.references(["Li", "O"]) == pytest.approx({"Li": -1.9089, "O": -4.948})
    # re-ingesting changes nothing
    again = ingest_entries(corpus_store, hull_store, items, _options(path))
    assert again.unchanged == 5 and again.stored == 0
    assert hull_store.count() == 5 and corpus_store.count() == 5


def test_the_hull_from_the_store_has_the_stable_phases_at_zero(corpus_store, hull_store, tmp_path):
    from pymatgen.analysis.phase_diagram import PhaseDiagram

    from crystaloop.chem.energies import energies_above_hull
    from crystaloop.stores.ingest.mp_entries import ingest_entries

    ingest_entries(corpus_store, hull_store, li_o_entries(), _options(tmp_path / "x.json"))
    entries = hull_store.entries(["Li-O"])
    diagram = PhaseDiagram(entries)
    e_hull = {e.entry_id: diagram.get_e_above_hull(e) for e in entries}
    assert {k for k, v in e_hull.items() if v < 1e-9} == {
        "mp:mp-135-GGA",
        "mp:mp-12957-GGA",
        "mp:mp-1960-GGA",
        "mp:mp-841-GGA",
    }
    assert e_hull["mp:mp-1235059-GGA"] == pytest.approx(0.2, abs=1e-3)
    phases = hull_store.phases(["Li-O"])
    ours = energies_above_hull(phases, [], hull_store.references(["Li", "O"]))
    assert ours == pytest.approx(e_hull, abs=1e-9)
    # formation energies for the selection's hull, against MP's own elemental entries
    (system,) = hull_store.formation_energies(["Li-O"]).values()
    assert {c.reduced_formula for c, _ in system} == {"Li2O", "Li2O2", "LiO2"}
    # a system the store holds only part of gets the phases of that part
    assert [p.phase_id for p in hull_store.phases(["Na-O"])] == ["mp:mp-12957-GGA"]
    assert hull_store.covered(["Na-O", "Na", "O"]) == {"O"}


def _with_rejected():
    items = li_o_entries()
    bad = json.loads(json.dumps(items[2]))
    bad["entry_id"] = "mp-1960-r2SCAN"
    bad["parameters"]["run_type"] = "R2SCAN"
    nopotcar = json.loads(json.dumps(items[3]))
    nopotcar["entry_id"] = "task-7"
    nopotcar["parameters"]["potcar_spec"] = []
    return [*items, bad, nopotcar, "not an entry"]


def test_rejected_entries_are_named_and_nothing_is_stored(corpus_store, hull_store, tmp_path):
    from crystaloop.stores.ingest.mp_entries import EntriesRejected, ingest_entries

    before = ingest_entries(
        corpus_store, hull_store, li_o_entries()[:2], _options(tmp_path / "a.json", "old")
    )
    assert before.stored == 2
    with pytest.raises(EntriesRejected) as info:
        ingest_entries(corpus_store, hull_store, _with_rejected(), _options(tmp_path / "b.json"))
    message = str(info.value)
    assert "3 entries rejected, nothing stored" in message
    assert "mp-1960-r2SCAN (record 5): MP2020 compatibility rejected it" in message
    assert "invalid run type R2SCAN" in message
    assert "task-7 (record 6)" in message and "no POTCAR information" in message
    assert "7 (record 7): expected a ComputedStructureEntry dict, got str" in message
    assert [e["source_id"] for e in info.value.errors] == ["mp-1960-r2SCAN", "task-7", "7"]
    # nothing new was written and nothing stored before was lost
    assert corpus_store.count() == 2 and hull_store.count() == 2


def test_skip_rejected_stores_the_others_and_reports_the_rejected(
    corpus_store, hull_store, tmp_path
):
    from crystaloop.stores.ingest.mp_entries import ingest_entries

    summary = ingest_entries(
        corpus_store, hull_store, _with_rejected(), _options(tmp_path), skip_rejected=True
    )
    assert summary.read == 8 and summary.stored == 5 and summary.rejected == 3
    assert summary.hull_entries == 5
    assert [e["record"] for e in summary.errors] == [5, 6, 7]
    assert "invalid run type R2SCAN" in summary.errors[0]["reason"]


def test_a_duplicate_structure_keeps_its_hull_entry_linked_to_the_stored_crystal(
    corpus_store, hull_store, tmp_path
):
    from crystaloop.stores.ingest import read_records
    from crystaloop.stores.ingest.mp_entries import ingest_entries

    li2o = li_o_entries()[2]
    cif_like = tmp_path / "known.json"
    cif_like.write_text(json.dumps([{"material_id": "k1", "structure": li2o["structure"]}]))
    corpus_store.ingest(read_records(cif_like)[1], _options(cif_like, "known"))
    summary = ingest_entries(corpus_store, hull_store, li_o_entries(), _options(tmp_path))
    assert summary.duplicates == 1 and summary.hull_entries == 5
    (doc,) = hull_store.query({"entry_id": "mp-1960-GGA"})
    assert doc["material_id"] == "known:k1"


def test_the_cli_ingests_entries_and_names_rejected_ones(home, tmp_path):
    from click.testing import CliRunner

    from crystaloop.cli import main

    path = _write_with_dumpfn(tmp_path)
    runner = CliRunner()
    result = runner.invoke(main, ["corpus", "ingest-entries", str(path), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["stored"] == 5 and summary["hull_entries"] == 5
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(_with_rejected()))
    result = runner.invoke(main, ["corpus", "ingest-entries", str(bad)])
    assert result.exit_code == 1
    assert "mp-1960-r2SCAN" in result.output and "nothing stored" in result.output
    result = runner.invoke(main, ["corpus", "ingest-entries", str(bad), "--skip-rejected"])
    assert result.exit_code == 0 and "rejected 3" in result.output


def test_the_mp_api_path_needs_a_key_and_the_client(monkeypatch):
    from crystaloop.stores.ingest.mp_entries import MPAPIError, fetch_mp_entries

    monkeypatch.delenv("MP_API_KEY", raising=False)
    with pytest.raises(MPAPIError, match="no Materials Project API key"):
        fetch_mp_entries("Li-O")
    monkeypatch.setitem(sys.modules, "mp_api", None)  # as if not installed
    monkeypatch.setitem(sys.modules, "mp_api.client", None)
    with pytest.raises(MPAPIError, match="pip install mp-api"):
        fetch_mp_entries("Li-O", api_key="x" * 32)
