"""The MongoDB profile, against a real server: set CRYSTALOOP_TEST_MONGO_URI to run these.

Each test uses its own databases (named with a random suffix) and drops them afterwards.
"""

from __future__ import annotations

import os
import uuid

import pytest
from helpers import cif_of, nacl, perovskite

URI = os.environ.get("CRYSTALOOP_TEST_MONGO_URI")

pytestmark = [
    pytest.mark.mongo,
    pytest.mark.skipif(not URI, reason="CRYSTALOOP_TEST_MONGO_URI is not set"),
]


@pytest.fixture
def mongo_settings(home):
    import pymongo

    from crystaloop.settings import load_settings

    suffix = uuid.uuid4().hex[:8]
    settings = load_settings(
        backend="mongodb",
        mongo_uri=URI,
        database=f"crystaloop_test_{suffix}",
        launchpad_database=f"crystaloop_test_fw_{suffix}",
    )
    yield settings
    client = pymongo.MongoClient(URI)
    client.drop_database(settings.database)
    client.drop_database(settings.launchpad_database)


def test_corpus_ingest_is_idempotent_on_mongodb(mongo_settings, tmp_path):
    from crystaloop.stores.corpus import CorpusStore
    from crystaloop.stores.factory import open_store
    from crystaloop.stores.ingest import read_records
    from crystaloop.stores.ingest.prepare import PrepareOptions

    folder = tmp_path / "cifs"
    folder.mkdir()
    (folder / "NaCl.cif").write_text(cif_of(nacl()))
    (folder / "SrTiO3.cif").write_text(cif_of(perovskite()))
    store = CorpusStore(
        open_store(mongo_settings, "corpus"), open_store(mongo_settings, "corpus_aliases")
    )
    options = PrepareOptions(source="t", file=str(folder), max_sites=500)
    assert store.ingest(read_records(folder)[1], options).stored == 2
    assert store.ingest(read_records(folder)[1], options).unchanged == 2
    assert store.stats()["total"] == 2
    assert [d["material_id"] for d in store.query(elements=["O"])] == ["t:SrTiO3"]
    assert "password" not in store.corpus.name
    found = store.dedup_lookup([("NaCl", 2), ("SrTiO3", 5), ("KCl", 2)])
    assert [m for m, _ in found[("NaCl", 2)]] == ["t:NaCl"]
    assert [m for m, _ in found[("SrTiO3", 5)]] == ["t:SrTiO3"] and found[("KCl", 2)] == []


def test_gridfs_artifacts(mongo_settings):
    from crystaloop.stores.artifacts import artifact_store

    store = artifact_store(mongo_settings)
    ref = store.put(b"\x00\x01" * 100_000, kind="checkpoint")
    assert ref.uri.startswith("gridfs://")
    assert store.get(ref) == b"\x00\x01" * 100_000


def test_jobflow_flow_through_a_mongodb_launchpad(mongo_settings, monkeypatch):
    import sys
    from pathlib import Path

    import jobflow
    from fireworks.core.fworker import FWorker
    from fireworks.core.rocket_launcher import rapidfire
    from jobflow import Flow
    from jobflow.managers.fireworks import flow_to_workflow

    from crystaloop.launchpad.config import get_launchpad, initialize_launchpad, write_configuration
    from crystaloop.launchpad.worker import use_job_store
    from crystaloop.stores.jobstore import job_store

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "launchpad"))
    from jobs_for_tests import add, big_array

    write_configuration(mongo_settings)
    monkeypatch.setattr(jobflow.SETTINGS, "JOB_STORE", jobflow.SETTINGS.JOB_STORE)
    use_job_store(mongo_settings)
    assert initialize_launchpad(mongo_settings) is True
    assert initialize_launchpad(mongo_settings) is False
    first = add(2, 3)
    blob = big_array(10)
    launchpad = get_launchpad(mongo_settings)
    launchpad.add_wf(flow_to_workflow(Flow([first, blob])))
    rapidfire(launchpad, FWorker(), strm_lvl="ERROR")
    assert len(launchpad.get_fw_ids({"state": "COMPLETED"})) == 2
    store = job_store(mongo_settings)
    store.connect()
    assert store.get_output(first.uuid) == 5
    assert store.get_output(blob.uuid, load=True)["values"] == list(range(10))


def test_a_whole_campaign_and_the_readme_queries_on_mongodb(mongo_settings, monkeypatch):
    """The tiny integration campaign through a MongoDB LaunchPad and MongoDB stores."""
    import sys
    from pathlib import Path

    import jobflow

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
    from campaign_helpers import fresh_profile, ingest_small_corpus, tiny_campaign
    from readme_checks import check_readme_pymongo, check_readme_shell

    from crystaloop.launchpad.status import campaign_overview
    from crystaloop.launchpad.submit import run_in_process, submit_flow
    from crystaloop.stores.factory import open_store
    from crystaloop.stores.labels import LabelStore

    monkeypatch.setattr(jobflow.SETTINGS, "JOB_STORE", jobflow.SETTINGS.JOB_STORE)
    for key, value in (
        ("CRYSTALOOP_BACKEND", "mongodb"),
        ("CRYSTALOOP_MONGO_URI", URI),
        ("CRYSTALOOP_DATABASE", mongo_settings.database),
        ("CRYSTALOOP_LAUNCHPAD_DATABASE", mongo_settings.launchpad_database),
    ):
        monkeypatch.setenv(key, value)  # the jobs read the settings on the worker
    fresh_profile(mongo_settings)
    ingest_small_corpus(mongo_settings)
    submit_flow(mongo_settings, tiny_campaign().make("m"), {"crystaloop_campaign": "m"})
    run_in_process(mongo_settings)
    status = campaign_overview(mongo_settings, "m")
    assert status.state == "finished" and status.failed_steps == []
    assert [row.iteration for row in status.iterations] == [0, 1]
    assert status.duplicate_labels == 0
    assert LabelStore(open_store(mongo_settings, "labels")).count_campaign("m") > 0
    monkeypatch.setenv("CRYSTALOOP_HOME", str(mongo_settings.home))
    check_readme_pymongo(mongo_settings, "m", monkeypatch)
    check_readme_shell(mongo_settings, "m")
