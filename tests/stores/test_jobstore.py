from __future__ import annotations

from crystaloop.launchpad.config import write_configuration
from crystaloop.settings import load_settings
from crystaloop.stores.embedded_store import EmbeddedStore
from crystaloop.stores.jobstore import jobflow_config


def test_jobflow_reads_the_written_config(settings, monkeypatch):
    from jobflow.settings import JobflowSettings

    write_configuration(settings)
    monkeypatch.setenv("JOBFLOW_CONFIG_FILE", str(settings.jobflow_config_file))
    store = JobflowSettings().JOB_STORE
    assert isinstance(store.docs_store, EmbeddedStore)
    assert isinstance(store.additional_stores["data"], EmbeddedStore)
    store.connect()
    assert store.docs_store.path == str(settings.embedded_dir)


def test_mongodb_config_uses_gridfs_for_data(home):
    settings = load_settings(backend="mongodb", mongo_uri="mongodb://u:pw@127.0.0.1:9/x")
    spec = jobflow_config(settings)["JOB_STORE"]
    assert spec["docs_store"]["@class"] == "SafeMongoStore"
    assert spec["additional_stores"]["data"]["@class"] == "SafeGridFSStore"
