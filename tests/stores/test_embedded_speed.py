"""The embedded client's fast paths return what mongomock itself returns."""

from __future__ import annotations

import datetime
import random

import mongomock
import pytest

from crystaloop.stores.embedded_client import EmbeddedClient
from crystaloop.stores.embedded_speed import document_deepcopy

QUERIES = [
    ({}, None),
    ({"state": "READY"}, [("priority", -1), ("created", 1)]),
    ({"state": {"$in": ["READY", "RESERVED"]}}, [("priority", -1)]),
    ({"state": "READY", "$or": [{"worker": None}, {"worker": "w1"}]}, [("created", -1)]),
    ({"tags": "a"}, [("priority", 1), ("n", -1)]),
    ({"n": {"$gt": 40}}, [("missing", 1), ("n", 1)]),
]


def _documents(seed: int) -> list[dict]:
    rng = random.Random(seed)
    start = datetime.datetime(2026, 1, 1)
    return [
        {
            "n": i,
            "state": rng.choice(["READY", "RESERVED", "COMPLETED"]),
            "priority": rng.randint(0, 2),
            "created": start + datetime.timedelta(seconds=rng.randint(0, 30)),
            "worker": rng.choice([None, "w1", "w2"]),
            "tags": rng.sample(["a", "b", "c"], rng.randint(0, 2)),
            "spec": {"nested": {"list": [rng.random() for _ in range(3)]}},
        }
        for i in range(120)
    ]


@pytest.fixture
def pair(tmp_path):
    """The same collection in the embedded client and in plain mongomock."""
    docs = _documents(0)
    embedded = EmbeddedClient(tmp_path / "db")["test"]["fireworks"]
    plain = mongomock.MongoClient()["test"]["fireworks"]
    for coll in (embedded, plain):
        coll.create_index("state")
        coll.create_index("n", unique=True)
        coll.insert_many([dict(d) for d in docs])
    return embedded, plain


def _strip(docs):
    return [{k: v for k, v in d.items() if k != "_id"} for d in docs]


@pytest.mark.parametrize(("query", "sort"), QUERIES)
def test_find_sort_limit_and_skip_agree_with_mongomock(pair, query, sort):
    embedded, plain = pair
    for skip, limit in ((0, 0), (0, 1), (3, 5), (0, -2)):
        got = list(embedded.find(query, sort=sort, skip=skip, limit=limit))
        want = list(plain.find(query, sort=sort, skip=skip, limit=limit))
        assert _strip(got) == _strip(want), (query, sort, skip, limit)
    got_one = embedded.find_one(query, {"n": 1, "_id": 0}, sort=sort)
    assert got_one == plain.find_one(query, {"n": 1, "_id": 0}, sort=sort)


def test_find_one_and_update_reserves_in_sort_order_as_writes_go_on(pair):
    embedded, plain = pair
    sort = [("priority", -1), ("created", 1)]
    reserved = []
    for _ in range(200):
        got = embedded.find_one_and_update(
            {"state": "READY"}, {"$set": {"state": "RESERVED"}}, sort=sort
        )
        want = plain.find_one_and_update(
            {"state": "READY"}, {"$set": {"state": "RESERVED"}}, sort=sort
        )
        assert (got or {}).get("n") == (want or {}).get("n")
        if got is None:
            break
        reserved.append(got["n"])
        # a write that changes a sort key is seen by the next query
        embedded.update_one({"n": (got["n"] + 7) % 120}, {"$inc": {"priority": 1}})
        plain.update_one({"n": (got["n"] + 7) % 120}, {"$inc": {"priority": 1}})
    assert reserved and len(reserved) == len(set(reserved))


def test_a_write_by_another_connection_is_seen_by_a_sorted_query(tmp_path):
    first = EmbeddedClient(tmp_path / "db")["test"]["c"]
    first.create_index("state")
    first.insert_many([{"n": i, "state": "READY", "p": 0} for i in range(10)])
    assert first.find_one({"state": "READY"}, sort=[("p", -1)])["n"] == 0
    other = EmbeddedClient(tmp_path / "db")
    other["test"]["c"].update_one({"n": 5}, {"$set": {"p": 9}})
    assert first.find_one({"state": "READY"}, sort=[("p", -1)])["n"] == 5


def test_documents_handed_out_are_not_the_stored_ones(pair):
    embedded, _ = pair
    doc = embedded.find_one({"n": 3})
    doc["spec"]["nested"]["list"].append("changed")
    doc["state"] = "changed"
    again = embedded.find_one({"n": 3})
    assert again["state"] != "changed"
    assert "changed" not in again["spec"]["nested"]["list"]


def test_document_deepcopy_copies_containers_and_keeps_other_types_exact():
    when = datetime.datetime(2026, 1, 1)
    doc = {"a": [1, {"b": when}], "t": (1, [2]), "s": {1, 2}}
    out = document_deepcopy(doc)
    assert out == doc
    assert out["a"] is not doc["a"] and out["a"][1] is not doc["a"][1]
    assert out["t"][1] is not doc["t"][1]  # a tuple goes through copy.deepcopy
    assert type(out["t"]) is tuple and type(out["s"]) is set


def test_a_rewritten_array_field_is_found_by_its_new_elements_only(tmp_path):
    coll = EmbeddedClient(tmp_path / "db")["test"]["workflows"]
    coll.create_index("nodes")
    coll.insert_one({"name": "wf", "nodes": list(range(1, 500))})
    coll.find_one_and_replace({"nodes": 3}, {"name": "wf", "nodes": list(range(1, 500)) + [777]})
    assert coll.find_one({"nodes": 777})["name"] == "wf"
    coll.update_one({"nodes": 5}, {"$pull": {"nodes": 5}})
    assert coll.find_one({"nodes": 5}) is None and coll.find_one({"nodes": 6}) is not None
    assert coll.count_documents({"nodes": {"$in": [1, 2]}}) == 1


def test_datetimes_are_normalised_as_mongomock_does(tmp_path):
    aware = datetime.datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=datetime.UTC)
    coll = EmbeddedClient(tmp_path / "db")["test"]["c"]
    plain = mongomock.MongoClient()["test"]["c"]
    for c in (coll, plain):
        c.insert_one(
            {"n": 1, "t": aware, "nested": [{"t": aware.replace(tzinfo=None)}], "k": (1, 2)}
        )
        c.update_one({"n": 1}, {"$set": {"u": aware}})
    assert _strip([coll.find_one({"n": 1})]) == _strip([plain.find_one({"n": 1})])
    assert coll.find_one({"t": aware})["u"] == datetime.datetime(2026, 1, 1, 12, 0, 0, 123000)


def test_document_deepcopy_through_bson_only_when_nothing_changes():
    doc = {"a": [1, {"b": "x"}], "when": datetime.datetime(2026, 1, 1, 0, 0, 0, 1)}
    out = document_deepcopy(doc)
    assert out == doc and out["when"].microsecond == 1  # BSON would have dropped it: plain copy
    assert out["a"][1] is not doc["a"][1]


def test_sorted_queries_find_documents_whose_id_is_a_document(tmp_path):
    coll = EmbeddedClient(tmp_path / "db")["test"]["ids"]
    coll.insert_many([{"_id": {"x": 1}, "a": 3}, {"_id": 2, "a": 1}, {"_id": "s", "a": 2}])
    assert [d["a"] for d in coll.find({}, sort=[("a", 1)])] == [1, 2, 3]
    got = coll.find_one_and_update({"a": 3}, {"$set": {"b": 1}}, sort=[("a", -1)])
    assert got["_id"] == {"x": 1}


def test_a_cursor_follows_later_changes_of_skip_and_limit(pair):
    embedded, plain = pair
    for coll in (embedded, plain):
        cursor = coll.find({}, sort=[("n", 1)]).limit(2)
        assert cursor[0]["n"] == 0
        assert [d["n"] for d in cursor[3:5]] == [3, 4]
    for coll in (embedded, plain):
        cursor = coll.find({}, sort=[("n", 1)]).limit(1)
        assert next(cursor)["n"] == 0
    assert [d["n"] for d in embedded.find({}, sort=[("n", 1)]).skip(2).limit(3)] == [2, 3, 4]


def test_an_unorderable_sort_value_takes_mongomocks_own_path(tmp_path):
    from bson.timestamp import Timestamp

    coll = EmbeddedClient(tmp_path / "db")["test"]["t"]
    coll.insert_many([{"n": 1, "t": 5}, {"n": 2, "t": Timestamp(1, 1)}])
    plain = mongomock.MongoClient()["test"]["t"]
    plain.insert_many([{"n": 1, "t": 5}, {"n": 2, "t": Timestamp(1, 1)}])
    try:
        want = [d["n"] for d in plain.find({"n": 1}, sort=[("t", 1)])]
    except NotImplementedError:
        want = None
    try:
        got = [d["n"] for d in coll.find({"n": 1}, sort=[("t", 1)])]
    except NotImplementedError:
        got = None
    assert got == want
