from __future__ import annotations

import sqlite3

import pymongo.errors
import pytest
from monty.json import MontyDecoder

from crystaloop.stores.embedded_store import EmbeddedStore
from crystaloop.stores.factory import COLLECTIONS, open_store


@pytest.mark.parametrize("collection", sorted(COLLECTIONS))
def test_indexes_are_created_on_first_use(settings, collection):
    store = open_store(settings, collection)
    key, fields = COLLECTIONS[collection]
    indexed = {k for info in store._collection.index_information().values() for k, _ in info["key"]}
    assert {key, *fields} <= indexed
    assert store.key == key


def test_unknown_collection(settings):
    with pytest.raises(KeyError, match="unknown collection 'nope'"):
        open_store(settings, "nope")


def test_unreachable_mongodb_is_a_connection_error(settings):
    from crystaloop.settings import load_settings

    mongo = load_settings(backend="mongodb", mongo_uri="mongodb://user:secret@127.0.0.1:9/db")
    with pytest.raises(ConnectionError) as info:
        open_store(mongo, "corpus")
    assert "secret" not in str(info.value)


def test_embedded_store_is_a_persistent_msonable_maggma_store(tmp_path):
    store = EmbeddedStore(str(tmp_path), "db", "things", key="tid")
    store.connect()
    store.update([{"tid": i, "x": i * i, "g": i % 2} for i in range(10)])
    store.update({"tid": 3, "x": -1, "g": 1})  # upsert by key
    assert store.count() == 10
    assert store.query_one({"tid": 3})["x"] == -1
    assert sorted(store.distinct("g")) == [0, 1]
    assert [len(docs) for _, docs in store.groupby("g")] == [5, 5]
    store.close()

    clone = MontyDecoder().process_decoded(store.as_dict())
    assert clone == store
    clone.connect()
    assert clone.count({"g": 0}) == 5
    assert "secret" not in clone.name


def test_mongo_client_is_pymongos_or_the_embedded_twin(settings, monkeypatch):
    import pymongo

    from crystaloop.settings import load_settings
    from crystaloop.stores.embedded_client import EmbeddedClient
    from crystaloop.stores.factory import mongo_client

    embedded = mongo_client(settings)
    assert isinstance(embedded, EmbeddedClient)
    open_store(settings, "labels").update([{"label_id": "x", "energy": -1.0}])
    assert embedded[settings.database].labels.find_one({"label_id": "x"})["energy"] == -1.0
    monkeypatch.setenv("CRYSTALOOP_BACKEND", "mongodb")
    monkeypatch.setenv("CRYSTALOOP_MONGO_URI", "mongodb://user:secret@127.0.0.1:9/x")
    client = mongo_client(load_settings())  # pymongo connects lazily: no server needed here
    assert isinstance(client, pymongo.MongoClient)
    client.close()


# --------------------------------------------------------------------------- errors tell the truth


def _connect_raises(monkeypatch, error: BaseException) -> None:
    def connect(self, force_reset=False):
        raise error

    monkeypatch.setattr(EmbeddedStore, "connect", connect)


def test_a_bug_while_opening_propagates_unchanged(settings, monkeypatch):
    _connect_raises(monkeypatch, TypeError("a bug"))
    with pytest.raises(TypeError, match="a bug"):
        open_store(settings, "labels")


@pytest.mark.parametrize("error", [AttributeError("a bug"), KeyError("a bug")])
def test_other_bugs_propagate_unchanged(settings, monkeypatch, error):
    _connect_raises(monkeypatch, error)
    with pytest.raises(type(error)):
        open_store(settings, "labels")


def test_a_value_error_of_our_own_is_not_a_connection_error(settings, monkeypatch):
    _connect_raises(monkeypatch, ValueError("a bug"))
    with pytest.raises(ValueError, match="a bug"):
        open_store(settings, "labels")


@pytest.mark.parametrize(
    "error",
    [
        OSError("disk gone"),
        PermissionError("no access"),
        sqlite3.OperationalError("database is locked"),
        pymongo.errors.ServerSelectionTimeoutError("no server"),
        pymongo.errors.OperationFailure("auth failed"),
    ],
)
def test_an_unreachable_database_is_a_connection_error_naming_the_store(
    settings, monkeypatch, error
):
    _connect_raises(monkeypatch, error)
    with pytest.raises(ConnectionError, match="cannot open store embedded://") as info:
        open_store(settings, "labels")
    assert "/labels" in str(info.value) and type(error).__name__ in str(info.value)
    assert info.value.__cause__ is error


def test_a_corrupt_collection_file_is_a_connection_error(settings):
    folder = settings.embedded_dir / settings.database
    folder.mkdir(parents=True)
    (folder / "labels").write_bytes(b"not a database" * 100)
    with pytest.raises(ConnectionError, match="DatabaseError: file is not a database"):
        open_store(settings, "labels")


def test_a_file_where_the_database_folder_should_be_is_a_connection_error(settings):
    settings.embedded_dir.mkdir(parents=True)
    (settings.embedded_dir / settings.database).write_text("a file")
    with pytest.raises(ConnectionError, match="not a directory"):
        open_store(settings, "labels")


def test_a_bad_mongodb_port_is_a_connection_error(settings):
    from crystaloop.settings import load_settings

    mongo = load_settings(backend="mongodb", mongo_uri="mongodb://user:secret@127.0.0.1:99999/db")
    with pytest.raises(ConnectionError, match="Port must be an integer") as info:
        open_store(mongo, "corpus")
    assert "secret" not in str(info.value)
