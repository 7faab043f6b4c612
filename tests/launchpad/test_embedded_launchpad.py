from __future__ import annotations

import subprocess
import sys
import textwrap

from fireworks import Firework, ScriptTask, Workflow
from fireworks.core.fworker import FWorker
from fireworks.core.rocket_launcher import rapidfire

from crystaloop.launchpad.config import get_launchpad, launchpad_from_file, write_configuration
from crystaloop.launchpad.embedded import EmbeddedLaunchPad

WORKER = textwrap.dedent(
    """
    import sys
    from fireworks.core.fworker import FWorker
    from fireworks.core.rocket_launcher import rapidfire
    from crystaloop.launchpad.embedded import EmbeddedLaunchPad
    lp = EmbeddedLaunchPad(sys.argv[1], strm_lvl="ERROR")
    rapidfire(lp, FWorker(), strm_lvl="ERROR")
    """
)


def _script_workflow(n: int, log) -> Workflow:
    fws = [
        Firework(ScriptTask.from_str(f"echo {i} >> {log}"), name=f"fw{i}", fw_id=i + 1)
        for i in range(n)
    ]
    return Workflow(fws, name="echo")


def test_rapidfire_in_process(settings):
    launchpad = get_launchpad(settings)
    launchpad.reset("", require_password=False)
    log = settings.home / "log.txt"
    launchpad.add_wf(_script_workflow(5, log))
    rapidfire(launchpad, FWorker(), strm_lvl="ERROR")
    assert len(launchpad.get_fw_ids({"state": "COMPLETED"})) == 5
    # a new LaunchPad object on the same folder sees the same state
    again = EmbeddedLaunchPad(settings.embedded_dir, name=settings.launchpad_database)
    assert len(again.get_fw_ids({"state": "COMPLETED"})) == 5


def test_two_worker_processes_never_run_the_same_firework(tmp_path):
    launchpad = EmbeddedLaunchPad(tmp_path / "db", strm_lvl="ERROR")
    launchpad.reset("", require_password=False)
    log = tmp_path / "log.txt"
    n = 24
    launchpad.add_wf(_script_workflow(n, log))
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(tmp_path / "db")],
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(2)
    ]
    assert all(w.wait(timeout=600) == 0 for w in workers)
    lines = log.read_text().split()
    assert sorted(int(x) for x in lines) == list(range(n))  # each exactly once
    assert len(launchpad.get_fw_ids({"state": "COMPLETED"})) == n
    assert launchpad.launches.count_documents({}) == n


def test_launchpad_file_roundtrip(settings):
    write_configuration(settings)
    launchpad = launchpad_from_file(settings.launchpad_file)
    assert isinstance(launchpad, EmbeddedLaunchPad)
    assert launchpad.path == str(settings.embedded_dir.resolve())
    assert launchpad.name == settings.launchpad_database


def test_jobflow_flow_through_fireworks_with_the_embedded_jobstore(settings, monkeypatch):
    import jobflow
    from jobflow import Flow
    from jobflow.managers.fireworks import flow_to_workflow
    from jobs_for_tests import add, big_array

    from crystaloop.launchpad.worker import use_job_store
    from crystaloop.stores.jobstore import job_store

    write_configuration(settings)
    monkeypatch.setattr(jobflow.SETTINGS, "JOB_STORE", jobflow.SETTINGS.JOB_STORE)
    use_job_store(settings)
    first = add(1, 2)
    second = add(first.output, 10)
    blob = big_array(1000)
    flow = Flow([first, second, blob])
    wf = flow_to_workflow(flow)
    task = wf.to_dict()["fws"][0]["spec"]["_tasks"][0]
    assert task["store"] is None  # the store (and any credentials) never goes into a spec
    launchpad = get_launchpad(settings)
    launchpad.reset("", require_password=False)
    launchpad.add_wf(wf)
    rapidfire(launchpad, FWorker(), strm_lvl="ERROR")
    assert len(launchpad.get_fw_ids({"state": "COMPLETED"})) == 3

    store = job_store(settings)
    store.connect()
    assert store.get_output(second.uuid) == 13
    assert store.get_output(blob.uuid, load=True)["values"][-1] == 999
    # the big output went to the additional 'data' store, referenced from the docs store
    assert store.additional_stores["data"].count() == 1


def test_a_lock_left_by_a_killed_worker_does_not_block_recovery(settings):
    from crystaloop.launchpad.submit import recover_lost_runs

    launchpad = get_launchpad(settings)
    launchpad.reset("", require_password=False)
    launchpad.add_wf(_script_workflow(2, settings.home / "log.txt"))
    # a worker checks out fw 1, takes the workflow's lock and dies holding both
    launchpad.checkout_fw(FWorker(), str(settings.home))
    running = launchpad.get_fw_ids({"state": "RUNNING"})
    assert running == [1]
    launchpad.workflows.update_one({"nodes": 1}, {"$set": {"locked": True}})
    found = recover_lost_runs(settings, expiration_secs=0, lock_grace_secs=0.2)
    assert found["rerun_fireworks"] == [1]
    assert found["unlocked_workflows"] == [1]
    assert launchpad.get_fw_by_id(1).state == "READY"
    assert launchpad.workflows.count_documents({"locked": {"$exists": True}}) == 0
    rapidfire(launchpad, FWorker(), strm_lvl="ERROR")
    assert len(launchpad.get_fw_ids({"state": "COMPLETED"})) == 2


def test_a_live_lock_is_left_alone_when_nothing_is_lost(settings):
    from crystaloop.launchpad.submit import release_stale_locks

    launchpad = get_launchpad(settings)
    launchpad.reset("", require_password=False)
    launchpad.add_wf(_script_workflow(1, settings.home / "log.txt"))
    launchpad.workflows.update_one({"nodes": 1}, {"$set": {"locked": True}})
    assert release_stale_locks(launchpad, [], grace_secs=0.1) == []
    assert launchpad.workflows.count_documents({"locked": True}) == 1
