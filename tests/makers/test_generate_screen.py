"""GenerateMaker and ScreenMaker: run with jobflow alone, then through FireWorks."""

from __future__ import annotations

import jobflow
import pytest
from jobflow import Flow, run_locally

from crystaloop.makers import GenerateMaker, ScreenMaker
from crystaloop.schemas import CandidateDoc
from crystaloop.stores.artifacts import artifact_store
from crystaloop.stores.candidates import CandidateStore, get_batch
from crystaloop.stores.factory import open_store
from crystaloop.stores.jobstore import job_store

SMALL = {"model": "perov5", "n": 6, "steps": 3}


def _iteration(iteration: int) -> tuple[Flow, object, object]:
    generate = GenerateMaker(**SMALL).make("camp", iteration)
    screen = ScreenMaker(allow_p1=True).make(generate.output)
    return Flow([generate, screen]), generate, screen


def test_generate_and_screen_record_every_candidate(settings):
    flow, generate, screen = _iteration(0)
    assert generate.config.manager_config == {"_category": "gpu"}
    assert screen.config.manager_config == {"_category": "cpu"}
    store = job_store(settings)
    responses = run_locally(flow, store=store, ensure_success=True)
    generated = responses[generate.uuid][1].output
    screened = responses[screen.uuid][1].output
    assert generated.n == 6 and generated.generator.startswith("abinitio@")
    r = generated.resampling  # redraws of crystals with overlapping atoms (3 rounds by default)
    assert r["rounds"] == 3 and r["drawn"] == 6 + r["redraws"]
    assert r["invalid_first"] == r["replaced"] + r["still_invalid"]
    rows = get_batch(artifact_store(settings), generated.batch)
    assert [r["candidate_id"] for r in rows] == [f"camp:0:{k}" for k in range(6)]
    survivors = get_batch(artifact_store(settings), screened.survivors)
    assert screened.total == 6 and 0 < screened.passed == len(survivors)
    candidates = CandidateStore(open_store(settings, "candidates"))
    docs = [
        CandidateDoc(**{k: v for k, v in d.items() if k != "_id"})
        for d in candidates.store.query({"campaign": "camp"})
    ]
    assert len(docs) == 6
    for doc in docs:
        assert doc.status in ("passed", "screened_out")
        assert (doc.status == "screened_out") == (doc.reason is not None)


def test_a_later_iteration_drops_copies_of_earlier_candidates(settings):
    store = job_store(settings)
    first, _, screen = _iteration(0)
    passed = run_locally(first, store=store, ensure_success=True)[screen.uuid][1].output.passed
    assert passed > 0
    # iteration 1 with seed -1 draws exactly iteration 0's samples (the seed is seed + iteration)
    again = GenerateMaker(**SMALL, seed=-1).make("camp", 1)
    rerun = ScreenMaker(allow_p1=True).make(again.output)
    output = run_locally(Flow([again, rerun]), store=store, ensure_success=True)[rerun.uuid][
        1
    ].output
    assert output.passed == 0 and output.dropped["duplicate_of_corpus"] == passed
    docs = list(
        open_store(settings, "candidates").query({"iteration": 1, "status": "screened_out"})
    )
    copies = [d["duplicate_of"] for d in docs if d["stage"] == "duplicate_of_corpus"]
    assert len(copies) == passed and all(c.startswith("camp:0:") for c in copies)


def test_bad_maker_input_fails_the_job_with_the_reason(settings):
    from crystaloop.ml.checkpoint import CheckpointError

    maker = GenerateMaker(model="no-such-model", n=2)
    with pytest.raises(CheckpointError, match="unknown generator 'no-such-model'"):
        maker.make.original(maker, "camp", 0)
    with pytest.raises(RuntimeError):
        run_locally(maker.make("camp", 0), store=job_store(settings), ensure_success=True)


@pytest.mark.usefixtures("settings")
def test_generate_and_screen_through_fireworks(settings, monkeypatch):
    from fireworks import FWorker
    from fireworks.core.rocket_launcher import rapidfire
    from jobflow.managers.fireworks import flow_to_workflow

    from crystaloop.launchpad.config import get_launchpad, write_configuration
    from crystaloop.launchpad.worker import use_job_store

    write_configuration(settings)
    monkeypatch.setattr(jobflow.SETTINGS, "JOB_STORE", jobflow.SETTINGS.JOB_STORE)
    use_job_store(settings)
    flow, _, screen = _iteration(0)
    launchpad = get_launchpad(settings)
    launchpad.reset("", require_password=False)
    launchpad.add_wf(flow_to_workflow(flow))
    rapidfire(launchpad, FWorker(), strm_lvl="ERROR")
    assert len(launchpad.get_fw_ids({"state": "COMPLETED"})) == 2
    store = job_store(settings)
    store.connect()
    assert store.get_output(screen.uuid)["total"] == 6


def test_survivors_are_scored_by_the_surrogate_with_uncertainty(settings):
    from crystaloop.makers import ScoreMaker

    flow, _, screen = _iteration(0)
    score = ScoreMaker(model="perov5").make(screen.output)
    flow = Flow([flow, score])
    responses = run_locally(flow, store=job_store(settings), ensure_success=True)
    screened = responses[screen.uuid][1].output
    output = responses[score.uuid][1].output
    assert output.scored + len(output.unscorable) == screened.passed
    assert output.scored > 0
    assert output.surrogate.startswith("perov5@")
    scored = list(open_store(settings, "candidates").query({"scores": {"$ne": None}}))
    assert len(scored) == output.scored
    for doc in scored:
        assert set(doc["scores"]) == {"heat_ref", "dir_gap", "ind_gap"}
        heat = doc["scores"]["heat_ref"]
        assert heat["std"] > 0 and 0 <= heat["confidence"] <= 1


def test_a_condition_the_generator_was_not_trained_with_is_refused(settings):
    maker = GenerateMaker(model="perov5", n=2, steps=2, spacegroup=221)
    with pytest.raises(ValueError, match="not trained with a space-group condition"):
        maker.make.original(maker, "camp", 0)
