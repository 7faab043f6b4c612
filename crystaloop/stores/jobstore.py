"""The jobflow ``JobStore`` of a profile: a docs store plus a ``data`` store for large outputs.

Workers find it through ``JOBFLOW_CONFIG_FILE`` (a YAML file with a top-level ``JOB_STORE``),
written by ``crystaloop init``. The store is never passed to ``flow_to_workflow``: that would copy
it, credentials included, into every Firework spec.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from crystaloop.settings import CrystaloopSettings

if TYPE_CHECKING:
    from jobflow import JobStore

DOCS_COLLECTION = "outputs"
DATA_COLLECTION = "outputs_blobs"
#: Fields of the job outputs that jobflow looks up on every job: it writes an output keyed by
#: ``(uuid, index)`` and resolves references by ``uuid``. Without an index each is a collection
#: scan, a cost per job that grows with the campaign (measured: the largest per-Firework cost
#: left on the embedded LaunchPad at 2,000 Fireworks).
OUTPUT_INDEXES = ("uuid", "index")


def job_store(settings: CrystaloopSettings) -> JobStore:
    """Return the (unconnected) JobStore of the configured profile."""
    from jobflow import JobStore

    if settings.backend == "embedded":
        from crystaloop.stores.embedded_store import EmbeddedStore

        path = str(settings.embedded_dir)
        docs = EmbeddedStore(path, settings.database, DOCS_COLLECTION)
        data = EmbeddedStore(path, settings.database, DATA_COLLECTION, key="blob_uuid")
    else:
        from crystaloop.stores.mongo import SafeGridFSStore, SafeMongoStore

        uri = settings.require_mongo_uri()
        docs = SafeMongoStore(settings.database, DOCS_COLLECTION, uri=uri)
        data = SafeGridFSStore(settings.database, DATA_COLLECTION, uri=uri)
    return JobStore(docs, additional_stores={"data": data})


def jobflow_config(settings: CrystaloopSettings) -> dict[str, Any]:
    """Return the contents of the jobflow config file (``JOB_STORE`` as a monty dict)."""
    return {"JOB_STORE": job_store(settings).as_dict()}


def ensure_output_indexes(settings: CrystaloopSettings) -> None:
    """Create the indexes jobflow's lookups of job outputs need (idempotent).

    Raises
    ------
    ConnectionError
        When the database cannot be reached or opened.
    """
    from crystaloop.stores.factory import cannot_open

    store = job_store(settings).docs_store
    try:
        store.connect()
        try:
            for field in OUTPUT_INDEXES:
                store.ensure_index(field)
        finally:
            store.close()
    except Exception as err:
        if cannot_open(err):
            raise ConnectionError(
                f"cannot index the job outputs: {type(err).__name__}: {err}"
            ) from err
        raise
