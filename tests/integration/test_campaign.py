"""A 2-iteration campaign through FireWorks on the embedded profile with the CHGNet oracle.

Runs once per module (it takes about a minute) and is then inspected by several tests.
"""

from __future__ import annotations

import pytest
from campaign_helpers import (
    TINY_STABLE_THRESHOLD,
    fresh_profile,
    ingest_small_corpus,
    isolated_home,
    tiny_campaign,
)
from readme_checks import check_readme_pymongo, check_readme_shell

from crystaloop.launchpad.submit import firework_states, run_in_process, submit_flow
from crystaloop.stores.campaigns import campaign_status
from crystaloop.stores.factory import open_store
from crystaloop.stores.labels import LabelStore

pytestmark = pytest.mark.slow

CAMPAIGN = "it"


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """Run the tiny campaign to its end; return the settings."""
    home = tmp_path_factory.mktemp("campaign") / "home"
    with isolated_home(home) as settings:
        fresh_profile(settings)
        ingest_small_corpus(settings)
        from dataclasses import replace

        from atomate2.forcefields.jobs import ForceFieldStaticMaker

        # an atomate2 Maker composed after the campaign, on each stable discovery
        after = ForceFieldStaticMaker(force_field_name="CHGNet")
        flow = replace(tiny_campaign(), discovery_maker=after).make(CAMPAIGN)
        submit_flow(settings, flow, {"crystaloop_campaign": CAMPAIGN})
        run_in_process(settings)
        yield settings


def test_every_firework_completed_and_the_campaign_finished(finished):
    states = firework_states(finished, CAMPAIGN)
    assert {"-1", "0", "1"} <= set(states) <= {"-2", "-1", "0", "1"}
    totals: dict[str, int] = {}
    for per_iteration in states.values():
        for state, n in per_iteration.items():
            totals[state] = totals.get(state, 0) + n
    # a generated candidate may make its oracle relaxation fail (a collapsing cell): that
    # sub-flow fizzles by design, everything else completes
    assert set(totals) <= {"COMPLETED", "FIZZLED"}
    status = campaign_status(finished, CAMPAIGN).model_dump()
    assert status["state"] == "finished"
    assert "iteration cap" in status["stop_reason"]
    assert [row["iteration"] for row in status["iterations"]] == [0, 1]


def test_each_iteration_sent_one_candidate_to_the_oracle(finished):
    status = campaign_status(finished, CAMPAIGN).model_dump()
    assert [row["iteration"] for row in status["iterations"]] == [0, 1]
    for row in status["iterations"]:
        assert row["generated"] == 8
        # the budget of 1: a routed candidate, or an audit of the accepted predictions
        assert row["selected"] + row["audited"] == 1
        assert row["dft_done"] + row["dft_failed"] == 1


def test_labels_are_written_once_with_formation_energies(finished):
    labels = LabelStore(open_store(finished, "labels"))
    assert labels.duplicate_keys() == 0
    docs = labels.query({"campaign": CAMPAIGN})
    assert len({d["subject_id"] for d in docs}) == len(docs)
    assert labels.count({"kind": "corpus"}) == 2
    # the checks below cover both the bootstrap's corpus labels and the candidates' labels
    assert {d["kind"] for d in docs} == {"corpus", "candidate"}
    for doc in docs:
        assert doc["oracle"] == "chgnet"
        assert doc["e_form"] is not None, doc["subject_id"]
        if doc["kind"] != "element":
            assert doc["e_hull"] is not None and doc["e_hull"] >= -1e-8
    # CHGNet ships its elemental references: no prototype is labelled, and every formation
    # energy is against that table (the one the eform surrogate learnt)
    from pymatgen.core import Composition

    from crystaloop.chem.energies import formation_energy_per_atom, shipped_references

    assert labels.count({"kind": "element"}) == 0
    refs = shipped_references("chgnet")
    for doc in docs:
        comp = Composition(doc["formula"]) * (doc["nsites"] / Composition(doc["formula"]).num_atoms)
        expected = formation_energy_per_atom(comp, doc["energy"], refs)
        assert doc["e_form"] == pytest.approx(expected, abs=1e-6)


def test_models_were_retrained_and_registered(finished):
    from crystaloop.ml.checkpoint import load_ensemble

    status = campaign_status(finished, CAMPAIGN).model_dump()
    kinds = [(m["kind"], m["iteration"]) for m in status["models"]]
    assert ("surrogate", -1) in kinds  # the bootstrap fine-tune to CHGNet energies
    surrogate = [m for m in status["models"] if m["kind"] == "surrogate"][-1]
    ensemble = load_ensemble(surrogate["path"])
    assert ensemble.config.targets == ["e_form"]
    # iteration 0 labelled its candidate (stable at the tiny campaign's threshold): both models
    # were retrained after it
    assert status["iterations"][0]["dft_done"] == 1
    assert status["iterations"][0]["new_stable"] == 1
    assert ("surrogate", 0) in kinds and ("generator", 0) in kinds
    records = open_store(finished, "campaigns").query_one({"campaign": CAMPAIGN})["iterations"]
    latest = [m for m in status["models"] if m["kind"] == "surrogate" and m["iteration"] <= 0]
    assert records["0"]["surrogate"] == latest[-1]["path"]  # iteration 1 used the newest model


def test_fireworks_carry_campaign_metadata_and_categories(finished):
    from crystaloop.launchpad.config import get_launchpad

    launchpad = get_launchpad(finished)
    oracle = launchpad.get_fw_ids(
        {"spec.crystaloop.campaign": CAMPAIGN, "spec.crystaloop.stage": "oracle"}
    )
    assert oracle
    fw = launchpad.get_fw_by_id(oracle[0])
    assert fw.spec["_category"] == "cpu"
    generate = launchpad.get_fw_ids({"spec.crystaloop.stage": "generate"})
    assert launchpad.get_fw_by_id(generate[0]).spec["_category"] == "gpu"
    assert len(generate) == 2


def test_an_atomate2_maker_runs_on_each_stable_discovery(finished):
    from crystaloop.launchpad.config import get_launchpad

    labels = LabelStore(open_store(finished, "labels"))
    stable = labels.query(
        {
            "campaign": CAMPAIGN,
            "kind": "candidate",
            "e_hull": {"$lte": TINY_STABLE_THRESHOLD},
        }
    )
    assert stable, "the tiny campaign found no stable discovery to follow up"
    launchpad = get_launchpad(finished)
    follow = [
        launchpad.get_fw_by_id(i)
        for i in launchpad.get_fw_ids({"spec.crystaloop.stage": "discovery"})
    ]
    # one follow-up per stable discovery, named after it, and each one ran
    assert sorted(fw.name for fw in follow) == sorted(
        f"Force field static {d['subject_id']}" for d in stable
    )
    assert [fw.state for fw in follow] == ["COMPLETED"] * len(stable)


def test_status_json_and_recover_on_a_finished_campaign(finished, monkeypatch):
    import json

    from click.testing import CliRunner

    from crystaloop.cli import main

    monkeypatch.setenv("CRYSTALOOP_HOME", str(finished.home))
    result = CliRunner().invoke(main, ["status", "--json", "--campaign", CAMPAIGN])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert {"campaign", "state", "labels", "duplicate_labels", "iterations"} <= set(data)
    assert data["campaign"] == CAMPAIGN and data["duplicate_labels"] == 0 and data["labels"] > 0
    keys = {"iteration", "generated", "valid", "selected", "dft_done", "dft_failed", "accepted"}
    assert [row["iteration"] for row in data["iterations"]] == [0, 1]
    assert all(keys | {"new_stable"} <= set(row) for row in data["iterations"])
    text = CliRunner().invoke(main, ["status"])
    assert text.exit_code == 0 and "iteration 0:" in text.output  # the latest campaign
    recovered = CliRunner().invoke(main, ["recover", "--expiration", "0"])
    assert recovered.exit_code == 0, recovered.output
    assert "lost runs: 0" in recovered.output and "duplicated label keys: 0" in recovered.output


# --- reading the campaign back: report, export, the README's queries, S.U.N. ----------------


def test_report_of_the_campaign_has_every_figure(finished, monkeypatch, tmp_path):
    import re

    from click.testing import CliRunner

    from crystaloop.analysis.figures import FIGURES
    from crystaloop.cli import main

    monkeypatch.setenv("CRYSTALOOP_HOME", str(finished.home))
    out = tmp_path / "report"
    result = CliRunner().invoke(main, ["report", "--campaign", CAMPAIGN, "--out", str(out)])
    assert result.exit_code == 0, result.output
    page = (out / "index.html").read_text()
    assert len(re.findall(r'src="data:image/png;base64,', page)) == len(FIGURES)
    for name, _, _ in FIGURES:
        assert (out / name).stat().st_size > 5000, name
    import json

    summary = json.loads((out / "report.json").read_text())
    status = campaign_status(finished, CAMPAIGN).model_dump()
    assert [r["iteration"] for r in summary["iterations"]] == [0, 1]
    for row, base in zip(summary["iterations"], status["iterations"], strict=True):
        assert row["generated"] == base["generated"] == 8
        assert row["passed"]["duplicate_of_corpus"] == base["valid"]  # the last screen
        assert row["selected"] == base["selected"] and row["audited"] == base["audited"]
        assert row["selected"] + row["audited"] == 1 and row["stable"] == base["new_stable"]
    # every labelled candidate is stable at the tiny campaign's threshold: the counts compared
    # above are not all zero
    assert [row["stable"] for row in summary["iterations"]] == [
        base["dft_done"] for base in status["iterations"]
    ]
    assert sum(row["stable"] for row in summary["iterations"]) > 0
    assert summary["header"]["hull"] == "stored" and "(the stored E_hull)" in page
    # a hull plot is drawn only for a 2- or 3-element system: which ones the tiny campaign
    # labelled varies with the platform's arithmetic, so name one (CHGNet ships every element's
    # reference, so any subsystem of a labelled candidate has a hull)
    labelled = LabelStore(open_store(finished, "labels")).query(
        {"campaign": CAMPAIGN, "kind": "candidate"}, ["chemsys"]
    )
    elements = sorted(labelled[0]["chemsys"].split("-"))[:3]
    system = "-".join(sorted(set(elements) | ({"O", "Si"} if len(elements) < 2 else set())))
    current = CliRunner().invoke(
        main,
        ["report", "--campaign", CAMPAIGN, "--out", str(out), "--hull", "current"]
        + ["--chemsys", system],
    )
    assert current.exit_code == 0, current.output
    current_page = (out / "index.html").read_text()
    assert "(the current hull)" in current_page
    assert "The tables use the same current hull" in current_page
    bad = CliRunner().invoke(main, ["report", "--campaign", "nope", "--out", str(tmp_path / "x")])
    assert bad.exit_code != 0 and "no campaign 'nope'" in bad.output
    quaternary = CliRunner().invoke(main, ["report", "--chemsys", "Ba-O-Sr-Ti"])
    assert quaternary.exit_code != 0 and "2 or 3 different elements" in quaternary.output
    unknown = CliRunner().invoke(
        main, ["report", "--chemsys", "He-Xe", "--out", str(tmp_path / "y")]
    )
    assert unknown.exit_code != 0 and "no phase of" in unknown.output


def test_export_in_every_format(finished, monkeypatch, tmp_path):
    import csv
    import json

    from click.testing import CliRunner
    from pymatgen.core import Structure

    from crystaloop.cli import main

    monkeypatch.setenv("CRYSTALOOP_HOME", str(finished.home))
    labelled = LabelStore(open_store(finished, "labels")).query(
        {"campaign": CAMPAIGN, "kind": "candidate"}
    )
    assert labelled
    runner = CliRunner()
    common = ["export", "--campaign", CAMPAIGN, "--max-ehull", "100"]
    result = runner.invoke(main, [*common, "--format", "json", "--out", str(tmp_path / "d.json")])
    assert result.exit_code == 0, result.output
    records = json.loads((tmp_path / "d.json").read_text())
    assert {r["candidate_id"] for r in records} == {d["subject_id"] for d in labelled}
    for record in records:
        label = next(d for d in labelled if d["subject_id"] == record["candidate_id"])
        assert record["e_hull"] == pytest.approx(label["e_hull"])
        assert record["calc_id"] == label["calc_id"] and record["oracle"] == "chgnet"
        assert "@" in record["generator"] and "@" in record["surrogate"]
        assert Structure.from_dict(record["structure"]) == Structure.from_dict(label["structure"])
    # against the current hull: every phase labelled since can only raise a label's E_hull
    result = runner.invoke(
        main, [*common, "--format", "json", "--hull", "current", "--out", str(tmp_path / "c.json")]
    )
    assert result.exit_code == 0 and "E_hull (current, hull source oracle)" in result.output, (
        result.output
    )
    current = {
        r["candidate_id"]: r["e_hull"] for r in json.loads((tmp_path / "c.json").read_text())
    }
    assert current.keys() == {r["candidate_id"] for r in records}
    assert all(current[r["candidate_id"]] >= r["e_hull"] - 1e-6 for r in records)
    result = runner.invoke(main, [*common, "--format", "csv", "--out", str(tmp_path / "d.csv")])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader((tmp_path / "d.csv").open()))
    assert [r["candidate_id"] for r in rows] == [r["candidate_id"] for r in records]
    result = runner.invoke(main, [*common, "--format", "cif", "--out", str(tmp_path / "cifs")])
    assert result.exit_code == 0, result.output
    cifs = sorted((tmp_path / "cifs").glob("*.cif"))
    assert len(cifs) == len(records)
    index = list(csv.DictReader((tmp_path / "cifs" / "index.csv").open()))
    assert sorted(r["file"] for r in index) == [c.name for c in cifs]
    back = Structure.from_file(cifs[0])
    record = next(r for r in records if cifs[0].stem == r["candidate_id"].replace(":", "_"))
    assert back.composition.reduced_formula == record["formula"]
    none = runner.invoke(
        main,
        [
            "export",
            "--campaign",
            CAMPAIGN,
            "--format",
            "json",
            "--max-ehull",
            "-100",
            "--out",
            str(tmp_path / "none.json"),
        ],
    )
    assert none.exit_code == 0 and json.loads((tmp_path / "none.json").read_text()) == []
    bad = runner.invoke(main, ["export", "--campaign", "nope", "--format", "csv"])
    assert bad.exit_code != 0 and "no campaign 'nope'" in bad.output


def test_the_readme_pymongo_queries_work_on_the_embedded_store(finished, monkeypatch):
    check_readme_pymongo(finished, CAMPAIGN, monkeypatch)


def test_the_readme_shell_queries_run_through_pymongo(finished):
    check_readme_shell(finished, CAMPAIGN)


def test_sun_and_efficiency_rows_of_the_campaign(finished):
    from crystaloop.analysis.discovery import discoveries, efficiency_table

    rows = discoveries(finished, CAMPAIGN, hull="current")
    labels = LabelStore(open_store(finished, "labels"))
    assert len(rows) == labels.count({"campaign": CAMPAIGN, "kind": "candidate"}) > 0
    # every labelled candidate is stable at the tiny campaign's threshold: unique and novel
    # were judged for each
    assert all(row["stable"] for row in rows)
    for row in rows:
        assert row["unique"] is not None and row["novel"] is not None
        assert row["sun"] == bool(row["stable"] and row["unique"] and row["novel"])
    # a lower phase of one composition labelled elsewhere puts that candidate above the
    # threshold: an unstable row is judged neither unique nor novel, and is no S.U.N.
    label = labels.query({"campaign": CAMPAIGN, "kind": "candidate"})[0]
    shift = TINY_STABLE_THRESHOLD + 1.0  # eV/atom
    lower = {k: label[k] for k in ("oracle", "chemsys", "formula", "nsites")} | {
        "label_id": "elsewhere|chgnet|far",
        "energy": label["energy"] - shift * label["nsites"],
        "energy_per_atom": label["energy_per_atom"] - shift,
    }
    above = {
        r["label_id"]: r for r in discoveries(finished, CAMPAIGN, hull="current", extra=[lower])
    }
    row = above[label["label_id"]]
    assert row["e_hull"] == pytest.approx(shift, abs=1e-6)
    assert not row["stable"] and row["unique"] is None and row["novel"] is None
    assert row["sun"] is False
    table = efficiency_table({CAMPAIGN: finished})
    assert [r["iteration"] for r in table] == [0, 1, "all"]
    total = table[-1]
    assert total["oracle_calls"] == 2 and total["sun"] == sum(r["sun"] for r in rows)
    # the campaign found at least one S.U.N. discovery: the ratio below is a number
    assert total["sun"] > 0
    assert total["calls_per_sun"] == 2 / total["sun"]


def test_labels_from_another_home_join_the_common_hull(finished):
    from crystaloop.analysis.discovery import discoveries

    labels = LabelStore(open_store(finished, "labels"))
    label = labels.query({"campaign": CAMPAIGN, "kind": "candidate"})[0]
    before = {r["label_id"]: r["e_hull"] for r in discoveries(finished, CAMPAIGN, "current")}
    lower = {  # the same composition, 1 eV/atom lower, labelled in another home
        k: label[k] for k in ("oracle", "chemsys", "formula", "nsites")
    } | {
        "label_id": "elsewhere|chgnet|x",
        "energy": label["energy"] - label["nsites"],
        "energy_per_atom": label["energy_per_atom"] - 1.0,
    }
    after = {
        r["label_id"]: r["e_hull"] for r in discoveries(finished, CAMPAIGN, "current", [lower])
    }
    assert after[label["label_id"]] == pytest.approx(1.0, abs=1e-6)
    assert before[label["label_id"]] < after[label["label_id"]]
