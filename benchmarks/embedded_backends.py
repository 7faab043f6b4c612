"""Measure the candidate embedded (server-less) backends on the requirements of the foundation.

Candidates:

* ``crystaloop``: litemongo (mongomock on SQLite) with crystaloop's inter-process lock;
* ``litemongo``: the same without the lock;
* ``montydb``: montydb's SQLite storage (what maggma's ``MontyStore`` uses);
* ``mongomock-persistence``: FireWorks' ``MONGOMOCK_SERVERSTORE_FILE`` route.

For each: upsert rate (documents/s) into an indexed collection of ``--n`` documents, indexed
query latency, whether committed writes survive ``kill -9``, lost updates when three processes
run ``find_one_and_update`` ``$inc`` on one counter 150 times each (FireWorks reserves Fireworks
this way), and whether FireWorks' LaunchPad runs on it (with ms per no-op Firework).

    python benchmarks/embedded_backends.py [--n 5000] [--fireworks 100]
        [--out benchmarks/results/embedded_backends.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

CLIENTS = {
    "crystaloop": textwrap.dedent(
        """
        from crystaloop.stores.embedded_client import EmbeddedClient
        def client(path):
            return EmbeddedClient(path)
        """
    ),
    "litemongo": textwrap.dedent(
        """
        import litemongo
        def client(path):
            return litemongo.MongoClient(path)
        """
    ),
    "montydb": textwrap.dedent(
        """
        from montydb import MontyClient, set_storage
        def client(path):
            import os
            if not os.path.exists(os.path.join(path, "monty.storage.cfg")):
                set_storage(path, storage="sqlite")
            return MontyClient(path)
        """
    ),
    "mongomock-persistence": textwrap.dedent(
        """
        import os
        def client(path):
            os.environ["MONGOMOCK_SERVERSTORE_FILE"] = os.path.join(path, "store.json")
            if not os.path.exists(os.environ["MONGOMOCK_SERVERSTORE_FILE"]):
                with open(os.environ["MONGOMOCK_SERVERSTORE_FILE"], "w") as fh:
                    fh.write("{}")
            import mongomock_persistence
            return mongomock_persistence.MongoClient()
        """
    ),
}

UPSERTS = textwrap.dedent(
    """
    import json, sys, time
    path, n = sys.argv[1], int(sys.argv[2])
    coll = client(path)["db"]["corpus"]
    try:
        coll.create_index("material_id", unique=True)
        coll.create_index("formula")
        indexed = True
    except Exception:
        indexed = False
    t0 = time.perf_counter()
    written = 0
    for i in range(n):
        doc = {"material_id": f"m{i}", "formula": f"F{i % 500}", "sites": list(range(40))}
        coll.replace_one({"material_id": doc["material_id"]}, doc, upsert=True)
        written += 1
        if time.perf_counter() - t0 > 120:  # a slow backend is measured on what it managed
            break
    t_write = time.perf_counter() - t0
    t0 = time.perf_counter()
    for i in range(200):
        list(coll.find({"formula": f"F{i}"}))
    t_query = (time.perf_counter() - t0) / 200
    print(json.dumps({"upserts_per_s": written / t_write, "query_ms": 1000 * t_query,
                      "indexes": indexed, "count": coll.count_documents({})}))
    """
)

KILLED = textwrap.dedent(
    """
    import os, signal, sys
    coll = client(sys.argv[1])["db"]["killed"]
    for i in range(100):
        coll.insert_one({"i": i})
    os.kill(os.getpid(), signal.SIGKILL)
    """
)

COUNT = textwrap.dedent(
    """
    import sys
    print(client(sys.argv[1])["db"][sys.argv[2]].count_documents({}))
    """
)

COUNTER_INIT = textwrap.dedent(
    """
    import sys
    client(sys.argv[1])["db"]["counter"].insert_one({"_id": "n", "value": 0})
    """
)

COUNTER = textwrap.dedent(
    """
    import sys, time
    coll = client(sys.argv[1])["db"]["counter"]
    coll.find_one({"_id": "n"})
    time.sleep(max(0.0, float(sys.argv[2]) - time.time()))  # all three start together
    for _ in range(150):
        coll.find_one_and_update({"_id": "n"}, {"$inc": {"value": 1}})
    """
)

COUNTER_READ = textwrap.dedent(
    """
    import sys
    print(client(sys.argv[1])["db"]["counter"].find_one({"_id": "n"})["value"])
    """
)

LAUNCHPAD = textwrap.dedent(
    """
    import json, sys, time
    import fireworks.core.launchpad as lpm
    from fireworks import Firework, Workflow, LaunchPad
    from fireworks.core.fworker import FWorker
    from fireworks.core.rocket_launcher import rapidfire
    from fireworks.user_objects.firetasks.script_task import PyTask
    path, n = sys.argv[1], int(sys.argv[2])
    import os
    os.chdir(path)  # FireWorks writes a launcher_* folder per Firework into the cwd
    lpm.MongoClient = lambda *a, **k: client(path)
    lpm.GRIDFS_FALLBACK_COLLECTION = None
    lp = LaunchPad(name="fw", strm_lvl="ERROR")
    lp.reset("", require_password=False)
    fws = [Firework(PyTask(func="time.time"), name=f"f{i}") for i in range(n)]
    lp.add_wf(Workflow(fws))
    t0 = time.perf_counter()
    rapidfire(lp, FWorker(), strm_lvl="ERROR")
    dt = time.perf_counter() - t0
    done = len(lp.get_fw_ids({"state": "COMPLETED"}))
    print(json.dumps({"ms_per_fw": 1000 * dt / n, "completed": done}))
    """
)


def _run(backend: str, body: str, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    code = CLIENTS[backend] + body
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _last_json(proc: subprocess.CompletedProcess) -> dict | None:
    for line in reversed(proc.stdout.strip().splitlines()):
        try:
            return json.loads(line)
        except json.JSONDecodeError:
            continue
    return None


def _error(proc: subprocess.CompletedProcess) -> str:
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    return lines[-1][:120] if lines else f"exit {proc.returncode}"


def measure(backend: str, n: int, n_fireworks: int) -> dict:
    result: dict = {"backend": backend}
    with tempfile.TemporaryDirectory() as tmp:
        proc = _run(backend, UPSERTS, tmp, str(n))
        data = _last_json(proc)
        result.update(data or {"upserts_per_s": None, "query_ms": None, "error": _error(proc)})

    with tempfile.TemporaryDirectory() as tmp:
        proc = _run(backend, KILLED, tmp)
        killed = proc.returncode == -signal.SIGKILL
        count = _run(backend, COUNT, tmp, "killed")
        kept = int(count.stdout.strip().splitlines()[-1]) if count.returncode == 0 else 0
        result["kill9_kept"] = f"{kept}/100" if killed else "n/a"

    with tempfile.TemporaryDirectory() as tmp:
        _run(backend, COUNTER_INIT, tmp)
        start_at = str(time.time() + 8)
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", CLIENTS[backend] + COUNTER, tmp, start_at],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            for _ in range(3)
        ]
        codes = [p.wait(timeout=900) for p in procs]
        final = _run(backend, COUNTER_READ, tmp)
        if all(c == 0 for c in codes) and final.returncode == 0:
            value = int(final.stdout.strip().splitlines()[-1])
            result["concurrent_inc"] = f"{value}/450"
        else:
            result["concurrent_inc"] = "error"

    with tempfile.TemporaryDirectory() as tmp:
        proc = _run(backend, LAUNCHPAD, tmp, str(n_fireworks))
        data = _last_json(proc)
        if data and data["completed"] == n_fireworks:
            result["launchpad_ms_per_fw"] = data["ms_per_fw"]
        else:
            result["launchpad_ms_per_fw"] = None
            result["launchpad_error"] = _error(proc)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000, help="documents to upsert")
    parser.add_argument("--fireworks", type=int, default=100, help="no-op Fireworks to run")
    parser.add_argument("--backends", default=",".join(CLIENTS))
    parser.add_argument(
        "--out", type=Path, default=Path("benchmarks/results/embedded_backends.json")
    )
    args = parser.parse_args()

    rows = [measure(b, args.n, args.fireworks) for b in args.backends.split(",")]
    header = (
        f"{'backend':<24}{'upserts/s':>11}{'query ms':>10}{'kill -9 kept':>14}"
        f"{'3-proc $inc':>13}{'LaunchPad ms/FW':>17}"
    )
    print(
        f"n = {args.n} documents, {args.fireworks} no-op Fireworks; "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    )
    print(header)
    print("-" * len(header))

    def fmt(value: float | None, spec: str) -> str:
        return "error" if value is None else format(value, spec)

    for r in rows:
        print(
            f"{r['backend']:<24}{fmt(r['upserts_per_s'], '.0f'):>11}{fmt(r['query_ms'], '.2f'):>10}"
            f"{r['kill9_kept']:>14}{r['concurrent_inc']:>13}"
            f"{fmt(r['launchpad_ms_per_fw'], '.1f'):>17}"
        )
        for key in ("error", "launchpad_error"):
            if r.get(key):
                print(f"    {key}: {r[key]}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "n": args.n,
        "fireworks": args.fireworks,
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "python": platform.python_version(),
    }
    args.out.write_text(json.dumps({"meta": meta, "results": rows}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
