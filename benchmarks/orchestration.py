"""Orchestration overhead per Firework of no-op jobs through the embedded LaunchPad.

Goal: at most 50 ms per Firework. Three flow shapes, each at every size N of ``--sizes``:

- ``flat``: N independent no-op jobs;
- ``chain``: a linear chain of N jobs, each taking the previous job's output;
- ``dynamic``: one job that returns ``Response(addition=<next job>)``, N jobs in all -- how a
  campaign grows (the workflow starts with one Firework and gains one per step).

Each case gets a fresh ``CRYSTALOOP_HOME`` (embedded profile) in a temporary folder, configured
as ``crystaloop init`` does (``write_configuration``, ``initialize_launchpad``). The flow is then
submitted with ``submit_flow`` (``flow_to_workflow`` + ``add_wf``) and run with
``run_in_process`` (in-process ``rapidfire`` until nothing is ready, ``launcher_*`` folders in the
temporary folder; its final 0.15 s poll pause is included). Reported per case: submit and run
seconds, run milliseconds per Firework (run / N; the goal applies to this wall-clock figure), the
run's process CPU milliseconds per Firework (less sensitive to other load on a shared machine),
and as the baseline the milliseconds per job of ``jobflow.run_locally`` on the same flow with a
``MemoryStore`` JobStore (no LaunchPad, no database). A small run of every shape comes first,
untimed, so that imports and first-call costs stay out of the table.

    python benchmarks/orchestration.py [--sizes 10,50,200] [--shapes flat,chain,dynamic]
        [--repeats 1] [--goal-ms 50] [--out benchmarks/results/orchestration.json]
    python benchmarks/orchestration.py --shape flat --n 2000 --json

``--shape`` / ``--n`` name one case (``self-adding`` is another name of ``dynamic``); with
``--json`` the table goes to stderr and stdout gets one JSON object per case, one per line:
``{"shape": ..., "n": ..., "ms_per_firework": <run ms / N>, ...}``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # noop_jobs, for the worker too

import noop_jobs  # noqa: E402
from bench_common import hardware  # noqa: E402

SHAPES = ("flat", "chain", "dynamic")
ALIASES = {"self-adding": "dynamic"}
WARMUP_N = 3


def make_flow(shape: str, n: int):
    """Return a fresh jobflow ``Flow`` of the given shape with ``n`` jobs in the end.

    Parameters
    ----------
    shape
        ``"flat"``, ``"chain"`` or ``"dynamic"``.
    n
        Jobs (Fireworks) that will have run when the flow is done.

    Returns
    -------
    jobflow.Flow
        For ``dynamic`` a flow of one job, which adds the others as it runs.
    """
    from jobflow import Flow

    if shape == "flat":
        return Flow([noop_jobs.noop(i) for i in range(n)], name=f"flat-{n}")
    if shape == "chain":
        jobs = [noop_jobs.noop(0)]
        for _ in range(n - 1):
            jobs.append(noop_jobs.step(jobs[-1].output))
        return Flow(jobs, name=f"chain-{n}")
    if shape == "dynamic":
        return Flow([noop_jobs.grow(0, n)], name=f"dynamic-{n}")
    raise ValueError(f"unknown shape {shape!r}")


def _timed(func: Callable[[], object]) -> tuple[object, float]:
    t0 = time.perf_counter()
    result = func()
    return result, time.perf_counter() - t0


def through_launchpad(shape: str, n: int) -> dict[str, object]:
    """Submit and run one flow on a fresh embedded LaunchPad; return the timings and counts.

    Raises
    ------
    RuntimeError
        When not every Firework completed.
    """
    from crystaloop.launchpad.config import (
        get_launchpad,
        initialize_launchpad,
        write_configuration,
    )
    from crystaloop.launchpad.submit import run_in_process, submit_flow
    from crystaloop.settings import load_settings

    cwd = os.getcwd()  # rapidfire leaves the process in its launch folder
    previous_home = os.environ.get("CRYSTALOOP_HOME")
    with tempfile.TemporaryDirectory(prefix="crystaloop-orchestration-") as tmp:
        home = Path(tmp) / "home"
        os.environ["CRYSTALOOP_HOME"] = str(home)
        try:
            t0 = time.perf_counter()
            settings = load_settings(home=home, backend="embedded")
            write_configuration(settings)
            initialize_launchpad(settings)
            setup_s = time.perf_counter() - t0

            flow = make_flow(shape, n)
            submitted, submit_s = _timed(lambda: submit_flow(settings, flow, {"benchmark": shape}))
            cpu0 = time.process_time()
            _, run_s = _timed(lambda: run_in_process(settings, launch_dir=str(Path(tmp) / "runs")))
            run_cpu_s = time.process_time() - cpu0

            launchpad = get_launchpad(settings)
            states: dict[str, int] = {}
            for fw in launchpad.fireworks.find({}, {"state": 1}):
                states[fw["state"]] = states.get(fw["state"], 0) + 1
        finally:
            os.chdir(cwd)
            if previous_home is None:
                os.environ.pop("CRYSTALOOP_HOME", None)
            else:
                os.environ["CRYSTALOOP_HOME"] = previous_home
    if states.get("COMPLETED", 0) != n or sum(states.values()) != n:
        raise RuntimeError(f"{shape} N={n}: Firework states {states}, expected {n} COMPLETED")
    return {
        "setup_s": setup_s,
        "submitted_fireworks": len(submitted),
        "fireworks": n,
        "submit_s": submit_s,
        "run_s": run_s,
        "run_cpu_s": run_cpu_s,
    }


def with_jobflow_only(shape: str, n: int) -> dict[str, float]:
    """Run the same flow with ``jobflow.run_locally`` and a ``MemoryStore``; return its seconds.

    Raises
    ------
    RuntimeError
        When not every job ran successfully.
    """
    from jobflow import JobStore, run_locally
    from maggma.stores import MemoryStore

    flow = make_flow(shape, n)
    store = JobStore(MemoryStore())
    # run_locally follows each Response(addition=...) one call deeper: a self-adding flow of N
    # jobs needs a recursion depth of a few N
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10 * n + 1000))
    try:
        responses, seconds = _timed(lambda: run_locally(flow, log=False, store=store))
    finally:
        sys.setrecursionlimit(limit)
    if len(responses) != n:
        raise RuntimeError(f"{shape} N={n}: run_locally ran {len(responses)} jobs, expected {n}")
    return {"jobflow_s": seconds}


def measure(shape: str, n: int, repeats: int) -> dict[str, object]:
    """Measure one case ``repeats`` times; keep the median of each timing."""
    runs = [{**through_launchpad(shape, n), **with_jobflow_only(shape, n)} for _ in range(repeats)]
    row: dict[str, object] = {"shape": shape, "n": n, "repeats": repeats}
    for key in ("setup_s", "submit_s", "run_s", "run_cpu_s", "jobflow_s"):
        row[key] = statistics.median(float(r[key]) for r in runs)
        if repeats > 1:
            row[f"{key}_all"] = [float(r[key]) for r in runs]
    row["submitted_fireworks"] = runs[0]["submitted_fireworks"]
    row["fireworks"] = runs[0]["fireworks"]
    row["submit_ms_per_fw"] = 1000 * row["submit_s"] / n
    row["run_ms_per_fw"] = 1000 * row["run_s"] / n
    row["run_cpu_ms_per_fw"] = 1000 * row["run_cpu_s"] / n
    row["total_ms_per_fw"] = 1000 * (row["submit_s"] + row["run_s"]) / n
    row["jobflow_ms_per_job"] = 1000 * row["jobflow_s"] / n
    row["overhead_ms_per_fw"] = row["run_ms_per_fw"] - row["jobflow_ms_per_job"]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,50,200", help="comma-separated N")
    parser.add_argument("--shapes", default=",".join(SHAPES), help="comma-separated shapes")
    parser.add_argument("--repeats", type=int, default=1, help="runs per case (median kept)")
    parser.add_argument("--goal-ms", type=float, default=50.0, help="goal, ms per Firework")
    parser.add_argument("--shape", help="one shape (overrides --shapes)")
    parser.add_argument("--n", type=int, help="one size (overrides --sizes)")
    parser.add_argument("--json", action="store_true", help="JSON lines on stdout, table on stderr")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/orchestration.json"))
    args = parser.parse_args()
    sizes = [args.n] if args.n is not None else [int(s) for s in args.sizes.split(",") if s.strip()]
    named = args.shape if args.shape is not None else args.shapes
    shapes = [ALIASES.get(s.strip(), s.strip()) for s in named.split(",") if s.strip()]
    table = sys.stderr if args.json else sys.stdout

    def say(*parts: object, **kwargs: object) -> None:
        print(*parts, file=table, **kwargs)

    unknown = sorted(set(shapes) - set(SHAPES))
    if unknown or not sizes or min(sizes) < 1 or args.repeats < 1:
        parser.error(f"shapes must be among {SHAPES}, sizes and repeats positive")
    out = args.out.resolve()
    # jobflow's notes on unconnected jobs (the flat flow) and on its deprecated ``cd``
    warnings.filterwarnings("ignore", message="Some jobs are not connected")
    warnings.filterwarnings("ignore", message="cd is deprecated", category=FutureWarning)

    t0 = time.perf_counter()
    for shape in shapes:  # imports, first connections, first-call caches
        through_launchpad(shape, WARMUP_N)
        with_jobflow_only(shape, WARMUP_N)
    warmup_s = time.perf_counter() - t0

    rows = []
    for shape in shapes:
        for n in sizes:
            rows.append(measure(shape, n, args.repeats))
            r = rows[-1]
            say(
                f"  {shape} N={n}: submit {r['submit_s']:.2f} s, run {r['run_s']:.2f} s",
                flush=True,
            )
    hw = hardware()

    say(
        f"\nno-op Fireworks through the embedded LaunchPad (in-process rapidfire), median of "
        f"{args.repeats}; {hw['cpu_model'] or hw['machine']}, {hw['cpus']} cores, "
        f"Python {hw['python']}"
    )
    header = (
        f"{'shape':<9}{'N':>6}{'submit s':>10}{'run s':>9}{'submit ms/FW':>14}"
        f"{'run ms/FW':>11}{'CPU ms/FW':>11}{'jobflow ms/job':>16}{'overhead ms/FW':>16}"
        f"{f'<= {args.goal_ms:g} ms':>10}"
    )
    say(header)
    say("-" * len(header))
    for r in rows:
        ok = "yes" if r["run_ms_per_fw"] <= args.goal_ms else "NO"
        say(
            f"{r['shape']:<9}{r['n']:>6}{r['submit_s']:>10.2f}{r['run_s']:>9.2f}"
            f"{r['submit_ms_per_fw']:>14.1f}{r['run_ms_per_fw']:>11.1f}{r['run_cpu_ms_per_fw']:>11.1f}"
            f"{r['jobflow_ms_per_job']:>16.2f}{r['overhead_ms_per_fw']:>16.1f}{ok:>10}"
        )
    say("-" * len(header))
    missed = [f"{r['shape']} N={r['n']}" for r in rows if r["run_ms_per_fw"] > args.goal_ms]
    verdict = "met in every case" if not missed else "missed for " + ", ".join(missed)
    say(f"goal {args.goal_ms:g} ms per Firework (run / N): {verdict}")

    out.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "meta": {
            **hw,
            "sizes": sizes,
            "shapes": shapes,
            "repeats": args.repeats,
            "goal_ms_per_fw": args.goal_ms,
            "warmup_n": WARMUP_N,
            "warmup_s": warmup_s,
            "launchpad": "EmbeddedLaunchPad (crystaloop.launchpad.config.get_launchpad)",
            "baseline": "jobflow.run_locally, JobStore(MemoryStore())",
        },
        "results": rows,
        "goal_met": not missed,
        "goal_missed_for": missed,
    }
    out.write_text(json.dumps(report, indent=2))
    say(f"wrote {args.out}")
    if args.json:
        for r in rows:
            print(json.dumps({"ms_per_firework": r["run_ms_per_fw"], **r}))


if __name__ == "__main__":
    main()
