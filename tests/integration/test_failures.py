"""Failures inside the campaign: an oracle run that raises, and a worker killed with SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from campaign_helpers import tiny_campaign

from crystaloop.launchpad.config import get_launchpad
from crystaloop.launchpad.submit import recover_lost_runs, run_in_process, submit_flow
from crystaloop.stores.campaigns import campaign_status
from crystaloop.stores.factory import open_store
from crystaloop.stores.labels import LabelStore

pytestmark = pytest.mark.slow


def test_a_failing_oracle_run_marks_its_candidate_failed_and_the_campaign_goes_on(profile):
    from dataclasses import replace

    from crystaloop.makers import DFTMaker
    from crystaloop.makers.guarded import GuardedForceFieldRelaxMaker

    # any change of volume raises inside the relaxation job
    failing = DFTMaker(
        relax_maker=GuardedForceFieldRelaxMaker(
            force_field_name="CHGNet", min_volume_ratio=0.999999, max_volume_ratio=1.000001
        )
    )
    maker = tiny_campaign(oracle_maker=failing)
    # no bootstrap (its labels would fail too): the shipped eform model scores as it is
    maker = replace(maker, bootstrap=0)
    submit_flow(profile, maker.make("fail"), {})
    run_in_process(profile)
    status = campaign_status(profile, "fail").model_dump()
    assert status["state"] == "finished"
    assert [r["iteration"] for r in status["iterations"]] == [0, 1]
    for row in status["iterations"]:
        # one oracle call: routed (uncertain) or auditing an accepted prediction
        assert row["selected"] + row["audited"] == 1
        assert row["dft_failed"] == 1 and row["dft_done"] == 0
    failed = list(open_store(profile, "candidates").query({"oracle": "failed"}))
    # the one selected candidate of each iteration, each with the reason
    assert sorted(d["iteration"] for d in failed) == [0, 1]
    assert all("oracle run failed" in d["oracle_error"] for d in failed)
    launchpad = get_launchpad(profile)
    assert launchpad.get_fw_ids({"state": "FIZZLED"})  # the relaxations
    nxt = launchpad.get_fw_ids({"spec.crystaloop.stage": "next"})
    assert len(nxt) == 2 and all(launchpad.get_fw_by_id(i).state == "COMPLETED" for i in nxt)


def _running_oracle(launchpad) -> list[int]:
    return launchpad.get_fw_ids({"state": "RUNNING", "spec.crystaloop.stage": "oracle"})


def test_a_killed_worker_is_recovered_with_no_lost_or_duplicated_label(profile):
    maker = tiny_campaign(iterations=1)
    submit_flow(profile, maker.make("kill"), {})
    env = {**os.environ, "CRYSTALOOP_HOME": str(profile.home)}
    worker = subprocess.Popen(
        [sys.executable, "-m", "crystaloop", "worker"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    launchpad = get_launchpad(profile)
    try:
        deadline = time.monotonic() + 300
        while not _running_oracle(launchpad):
            assert worker.poll() is None, "the worker ended before any oracle job ran"
            assert time.monotonic() < deadline, "no oracle job started in 5 minutes"
            time.sleep(0.2)
        killed = _running_oracle(launchpad)
        os.kill(worker.pid, signal.SIGKILL)
    finally:
        worker.wait(timeout=30)
    assert worker.returncode == -signal.SIGKILL
    assert set(killed) <= set(launchpad.get_fw_ids({"state": "RUNNING"}))  # lost, not failed
    recovered = recover_lost_runs(profile, expiration_secs=0)
    assert set(killed) <= set(recovered["rerun_fireworks"])
    run_in_process(profile)
    status = campaign_status(profile, "kill").model_dump()
    assert status["state"] == "finished"
    assert status["duplicate_labels"] == 0
    assert not launchpad.get_fw_ids({"state": {"$in": ["RUNNING", "READY", "WAITING"]}})
    row = status["iterations"][0]
    assert row["dft_done"] + row["dft_failed"] == row["selected"] + row["audited"] == 1
    labels = LabelStore(open_store(profile, "labels"))
    docs = labels.query({})
    assert len({(d["subject_id"], d["oracle"]) for d in docs}) == len(docs)
    # no lost label: every completed final (static) oracle job has exactly its label
    statics = launchpad.fireworks.find(
        {"spec.crystaloop.stage": "oracle", "name": "Force field static", "state": "COMPLETED"},
        {"spec._tasks.job.uuid": 1},
    )
    calc_ids = {fw["spec"]["_tasks"][0]["job"]["uuid"] for fw in statics}
    assert calc_ids and calc_ids == {d["calc_id"] for d in docs}
