"""A 2-iteration campaign through FireWorks on the embedded profile with the CHGNet oracle.

Runs once per module (it takes about a minute) and is then inspected by several tests.
"""

from __future__ import annotations

import jobflow
import pytest
from campaign_helpers import fresh_profile, ingest_small_corpus, tiny_campaign

from crystaloop.launchpad.submit import firework_states, run_in_process, submit_flow
from crystaloop.stores.factory import open_store
from crystaloop.stores.labels import LabelStore
from crystaloop.workflows.status import campaign_status

CAMPAIGN = "it"


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """Run the tiny campaign to its end; return the settings."""
    import os

    from crystaloop.settings import load_settings

    home = tmp_path_factory.mktemp("campaign") / "home"
    with pytest.MonkeyPatch.context() as mp:
        for key in list(os.environ):
            if key.startswith("CRYSTALOOP_"):
                mp.delenv(key)
        mp.setenv("CRYSTALOOP_HOME", str(home))
        mp.setattr(jobflow.SETTINGS, "JOB_STORE", jobflow.SETTINGS.JOB_STORE)
        mp.chdir(home.parent)
        settings = load_settings()
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
    status = campaign_status(finished, CAMPAIGN)
    assert status["state"] == "finished"
    assert "iteration cap" in status["stop_reason"]
    assert [row["iteration"] for row in status["iterations"]] == [0, 1]


def test_each_iteration_sent_one_candidate_to_the_oracle(finished):
    status = campaign_status(finished, CAMPAIGN)
    for row in status["iterations"]:
        assert row["generated"] == 8
        assert row["selected"] == 1
        assert row["dft_done"] + row["dft_failed"] == 1


def test_labels_are_written_once_with_formation_energies(finished):
    labels = LabelStore(open_store(finished, "labels"))
    assert labels.duplicate_keys() == 0
    docs = labels.query({"campaign": CAMPAIGN})
    assert len({d["subject_id"] for d in docs}) == len(docs)
    assert labels.count({"kind": "corpus"}) == 2
    for doc in docs:
        assert doc["oracle"] == "chgnet"
        assert doc["e_form"] is not None, doc["subject_id"]
        if doc["kind"] != "element":
            assert doc["e_hull"] is not None and doc["e_hull"] >= -1e-8
    elements = labels.query({"kind": "element"})
    assert min(d["e_form"] for d in elements) == pytest.approx(0.0, abs=1e-8)


def test_models_were_retrained_and_registered(finished):
    from crystaloop.ml.checkpoint import load_ensemble

    status = campaign_status(finished, CAMPAIGN)
    kinds = [(m["kind"], m["iteration"]) for m in status["models"]]
    assert ("surrogate", -1) in kinds  # the bootstrap fine-tune to CHGNet energies
    surrogate = [m for m in status["models"] if m["kind"] == "surrogate"][-1]
    ensemble = load_ensemble(surrogate["path"])
    assert ensemble.config.targets == ["e_form"]
    if status["iterations"][0]["dft_done"]:  # a new label: retrained after iteration 0
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
    stable = labels.count({"campaign": CAMPAIGN, "kind": "candidate", "e_hull": {"$lte": 0.1}})
    launchpad = get_launchpad(finished)
    follow = launchpad.get_fw_ids({"spec.crystaloop.stage": "discovery"})
    assert len(follow) == stable
    assert all(launchpad.get_fw_by_id(i).state == "COMPLETED" for i in follow)


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
    assert all(keys | {"new_stable"} <= set(row) for row in data["iterations"])
    text = CliRunner().invoke(main, ["status"])
    assert text.exit_code == 0 and "iteration 0:" in text.output  # the latest campaign
    recovered = CliRunner().invoke(main, ["recover", "--expiration", "0"])
    assert recovered.exit_code == 0, recovered.output
    assert "lost runs: 0" in recovered.output and "duplicated label keys: 0" in recovered.output
