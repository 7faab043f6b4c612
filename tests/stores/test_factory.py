from __future__ import annotations

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
