from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading

from crystaloop.stores.embedded_client import EmbeddedClient

WRITER = textwrap.dedent(
    """
    import os, signal, sys
    from crystaloop.stores.embedded_client import EmbeddedClient
    coll = EmbeddedClient(sys.argv[1])["db"]["docs"]
    for i in range(int(sys.argv[2])):
        coll.insert_one({"i": i})
    os.kill(os.getpid(), signal.SIGKILL)
    """
)

COUNTER = textwrap.dedent(
    """
    import sys
    from crystaloop.stores.embedded_client import EmbeddedClient
    coll = EmbeddedClient(sys.argv[1])["db"]["counters"]
    for _ in range(int(sys.argv[2])):
        coll.find_one_and_update({"_id": "n"}, {"$inc": {"value": 1}})
    """
)


OPENER = textwrap.dedent(
    """
    import sys
    from crystaloop.stores.embedded_client import EmbeddedClient
    db = EmbeddedClient(sys.argv[1])["db"]
    for i in range(25):
        db[f"fresh{i}"].insert_one({"by": sys.argv[2]})
    """
)


def test_processes_creating_the_same_collections_at_once(tmp_path):
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", OPENER, str(tmp_path), str(k)], stderr=subprocess.PIPE
        )
        for k in range(3)
    ]
    outputs = [p.communicate(timeout=300)[1].decode() for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    db = EmbeddedClient(tmp_path)["db"]
    assert all(db[f"fresh{i}"].count_documents({}) == 3 for i in range(25))


def test_threads_creating_collections_at_once(tmp_path):
    db = EmbeddedClient(tmp_path)["db"]
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            for i in range(15):
                db[f"c{i}"].insert_one({"k": k})
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert all(db[f"c{i}"].count_documents({}) == 6 for i in range(15))


def test_committed_writes_survive_a_killed_process(tmp_path):
    proc = subprocess.run([sys.executable, "-c", WRITER, str(tmp_path), "50"], check=False)
    assert proc.returncode == -signal.SIGKILL
    coll = EmbeddedClient(tmp_path)["db"]["docs"]
    assert coll.count_documents({}) == 50
    assert sorted(d["i"] for d in coll.find({})) == list(range(50))


def test_read_modify_write_is_atomic_across_processes(tmp_path):
    coll = EmbeddedClient(tmp_path)["db"]["counters"]
    coll.insert_one({"_id": "n", "value": 0})
    procs = [
        subprocess.Popen([sys.executable, "-c", COUNTER, str(tmp_path), "150"]) for _ in range(3)
    ]
    assert all(p.wait(timeout=300) == 0 for p in procs)
    assert coll.find_one({"_id": "n"})["value"] == 450


def test_usable_from_several_threads(tmp_path):
    coll = EmbeddedClient(tmp_path)["db"]["threads"]
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            for i in range(40):
                coll.insert_one({"k": k, "i": i})
                assert coll.count_documents({"k": k}) == i + 1
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert coll.count_documents({}) == 160


def test_pymongo_api_used_by_fireworks_and_maggma(tmp_path):
    coll = EmbeddedClient(tmp_path)["db"]["api"]
    coll.create_index("key", unique=True)
    coll.insert_many([{"key": i, "group": i % 3} for i in range(9)])
    assert "key_1" in coll.index_information()
    assert coll.distinct("group") == [0, 1, 2]
    grouped = list(coll.aggregate([{"$group": {"_id": "$group", "n": {"$sum": 1}}}]))
    assert sorted(g["n"] for g in grouped) == [3, 3, 3]
    doc = coll.find_one_and_update({"group": 1}, {"$set": {"seen": True}}, sort=[("key", -1)])
    assert doc["key"] == 7
    assert [d["key"] for d in coll.find({"seen": True})] == [7]
    assert os.path.exists(tmp_path / "db" / ".write.lock")
