"""Many workers on one LaunchPad: a campaign worked by W processes, and workers killed mid-run.

Part 1 (``campaign``): the default campaign (``CampaignOptions`` with ``--iterations``,
``--per-iteration``; the CHGNet oracle) is submitted once per worker count in ``--workers`` (a
fresh home each, the sample corpus copied in) and worked by that many worker processes started
together. Reported: wall time, Fireworks launched more than once (must be 0), labels per subject
(must be 1), whether the labels equal those of the first worker count's run (same subjects,
energies within 1e-4 eV), and the workflow-lock waits: every worker times each acquisition of
FireWorks' workflow lock (``WFLock.__enter__``).

Part 2 (``kills``): ``--noop`` no-op Fireworks in one workflow, ``--kill-workers`` workers, of
which ``--killed`` are killed with SIGKILL after ``--kill-after`` seconds (a walltime kill). With
the home's lock expiry (``--lock-expiration`` s, ``FW_config.yaml``), the survivors must break a
lock a killed worker left and finish every Firework that was not running in a killed worker;
those (RUNNING, lost) are then rerun by ``recover_lost_runs`` and one worker. Reported: time
until the survivors stopped, Fireworks left READY (must be 0), lost runs, lock waits.

    python benchmarks/many_workers.py [--workers 1,8] [--iterations 1] [--per-iteration 4]
        [--noop 600] [--kill-workers 8] [--killed 3] [--kill-after 6] [--lock-expiration 30]
        [--parts campaign,kills] [--out benchmarks/results/many_workers.json]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_common import copy_corpus, hardware  # noqa: E402


def child(home: str, waits_file: str) -> None:
    """Worker process: time every workflow-lock acquisition, then pull Fireworks."""
    os.environ["CRYSTALOOP_HOME"] = home
    from crystaloop.launchpad.fw_env import use_fw_config

    # as `crystaloop worker` does, before FireWorks reads its settings (at import)
    if not use_fw_config(Path(home)):
        raise RuntimeError(f"the lock expiry of {home}/FW_config.yaml would not take effect")
    from fireworks.core import launchpad as fw_launchpad

    from crystaloop.launchpad.worker import run_worker
    from crystaloop.settings import load_settings

    original = fw_launchpad.WFLock.__enter__

    def timed(self):
        t0 = time.perf_counter()
        try:
            return original(self)
        finally:
            with open(waits_file, "a") as out:
                out.write(f"{time.perf_counter() - t0:.6f}\n")

    fw_launchpad.WFLock.__enter__ = timed
    run_worker(load_settings(), timeout=3600)


def spawn(home: Path, n: int, tag: str) -> list[tuple[subprocess.Popen, Path]]:
    env = {
        **os.environ,
        "CRYSTALOOP_HOME": str(home),
        "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
    }
    out = []
    for i in range(n):
        waits = home / f"waits-{tag}-{i}.txt"
        log = open(home / f"worker-{tag}-{i}.log", "wb")  # noqa: SIM115 - closed by the child's end
        proc = subprocess.Popen(
            [sys.executable, __file__, "--child", str(home), str(waits)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        out.append((proc, waits))
    return out


def lock_waits(files: list[Path]) -> dict[str, float]:
    values = []
    for path in files:
        if path.exists():
            values += [float(v) for v in path.read_text().split()]
    if not values:
        return {"acquisitions": 0}
    return {
        "acquisitions": len(values),
        "total_s": sum(values),
        "mean_ms": 1000 * statistics.mean(values),
        "max_s": max(values),
        "over_1s": sum(v > 1 for v in values),
    }


def _settings(home: Path, lock_expiration: int | None = None):
    os.environ["CRYSTALOOP_HOME"] = str(home)
    if lock_expiration is not None:
        os.environ["CRYSTALOOP_LOCK_EXPIRATION_S"] = str(lock_expiration)
    from crystaloop.settings import load_settings

    return load_settings()


def campaign_run(base: Path, workers: int, options: dict, corpus_home: Path | None) -> dict:
    from crystaloop.launchpad.runner import prepare_home
    from crystaloop.launchpad.status import runs_per_firework
    from crystaloop.launchpad.submit import submit_flow
    from crystaloop.stores.campaigns import campaign_status
    from crystaloop.stores.factory import open_store
    from crystaloop.stores.labels import LabelStore
    from crystaloop.workflows.plan import CampaignOptions, build_campaign

    home = base / f"w{workers}"
    settings = _settings(home)
    from crystaloop.launchpad.config import write_configuration

    write_configuration(settings)
    if corpus_home is not None:
        copy_corpus(corpus_home, home)
    prepare_home(settings, workers=2)
    campaign, maker = build_campaign(settings, CampaignOptions(**options))
    submit_flow(settings, maker.make(campaign), {"crystaloop_campaign": campaign})
    t0 = time.perf_counter()
    procs = spawn(home, workers, "campaign")
    codes = [p.wait() for p, _ in procs]
    wall = time.perf_counter() - t0
    runs = runs_per_firework(settings, campaign)
    labels = LabelStore(open_store(settings, "labels"))
    docs = labels.query({"campaign": campaign}, ["subject_id", "energy"])
    per_subject: dict[str, int] = {}
    for d in docs:
        per_subject[d["subject_id"]] = per_subject.get(d["subject_id"], 0) + 1
    status = campaign_status(settings, campaign)
    return {
        "workers": workers,
        "exit_codes": codes,
        "wall_s": wall,
        "state": status.state,
        "fireworks": len(runs),
        "run_more_than_once": sum(v > 1 for v in runs.values()),
        "never_run": sum(v == 0 for v in runs.values()),
        "labels": len(docs),
        "labels_duplicated": sum(v > 1 for v in per_subject.values()),
        # candidate ids carry the campaign's name, which differs between the runs
        "energies": {d["subject_id"].replace(campaign, "CAMPAIGN"): d["energy"] for d in docs},
        "lock_waits": lock_waits([w for _, w in procs]),
        "home": str(home),
    }


def kills_run(base: Path, args: argparse.Namespace) -> dict:
    import noop_jobs
    from jobflow import Flow

    from crystaloop.launchpad.config import get_launchpad, initialize_launchpad, write_configuration
    from crystaloop.launchpad.submit import recover_lost_runs, run_in_process, submit_flow

    home = base / "kills"
    settings = _settings(home, args.lock_expiration)
    write_configuration(settings)
    initialize_launchpad(settings)
    flow = Flow([noop_jobs.noop(i) for i in range(args.noop)], name=f"flat-{args.noop}")
    submit_flow(settings, flow, {"benchmark": "kills"})
    t0 = time.perf_counter()
    procs = spawn(home, args.kill_workers, "kills")
    time.sleep(args.kill_after)
    for proc, _ in procs[: args.killed]:
        proc.send_signal(signal.SIGKILL)
    survivors_codes = [p.wait() for p, _ in procs[args.killed :]]
    for proc, _ in procs[: args.killed]:
        proc.wait()
    survivors_s = time.perf_counter() - t0
    launchpad = get_launchpad(settings)
    states: dict[str, int] = {}
    for fw in launchpad.fireworks.find({}, {"state": 1}):
        states[fw["state"]] = states.get(fw["state"], 0) + 1
    waits = lock_waits([w for _, w in procs])
    t1 = time.perf_counter()
    rerun = recover_lost_runs(settings, expiration_secs=0, lock_grace_secs=0)
    run_in_process(settings)
    recover_s = time.perf_counter() - t1
    after: dict[str, int] = {}
    for fw in launchpad.fireworks.find({}, {"state": 1}):
        after[fw["state"]] = after.get(fw["state"], 0) + 1
    return {
        "fireworks": args.noop,
        "workers": args.kill_workers,
        "killed": args.killed,
        "kill_after_s": args.kill_after,
        "lock_expiration_s": args.lock_expiration,
        "survivors_exit_codes": survivors_codes,
        "survivors_done_s": survivors_s,
        "states_when_survivors_stopped": states,
        "lock_waits": waits,
        "recovered": rerun,
        "recover_and_finish_s": recover_s,
        "states_after_recover": after,
    }


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="1,8")
    parser.add_argument("--iterations", type=int, default=1)
    parser.add_argument("--per-iteration", type=int, default=4)
    parser.add_argument("--noop", type=int, default=600)
    parser.add_argument("--kill-workers", type=int, default=8)
    parser.add_argument("--killed", type=int, default=3)
    parser.add_argument("--kill-after", type=float, default=6.0)
    parser.add_argument("--lock-expiration", type=int, default=30)
    parser.add_argument("--parts", default="campaign,kills")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/many_workers.json"))
    args = parser.parse_args()
    parts = {p.strip() for p in args.parts.split(",")}
    counts = [int(w) for w in args.workers.split(",") if w.strip()]
    options = {
        "iterations": args.iterations,
        "per_iteration": args.per_iteration,
        "dft_budget": args.iterations * args.per_iteration,
    }
    report: dict = {"meta": {**hardware(), **{k: str(v) for k, v in vars(args).items()}}}
    with tempfile.TemporaryDirectory(prefix="crystaloop-workers-") as tmp:
        base = Path(tmp)
        if "campaign" in parts:
            runs = []
            corpus_home = None
            for w in counts:
                runs.append(campaign_run(base, w, options, corpus_home))
                corpus_home = Path(runs[0]["home"])
                r = runs[-1]
                print(f"  {w} workers: {r['wall_s']:.0f} s, {r['state']}", flush=True)
            first = runs[0]["energies"]
            for r in runs:
                mine = r["energies"]
                common = set(mine) & set(first)
                diffs = [abs(mine[k] - first[k]) for k in common]
                r["labels_only_here"] = sorted(set(mine) - set(first))
                r["labels_only_in_first"] = sorted(set(first) - set(mine))
                r["max_energy_difference_ev"] = max(diffs) if diffs else None
                r["same_labels_as_first"] = (
                    not r["labels_only_here"]
                    and not r["labels_only_in_first"]
                    and all(d < 1e-4 for d in diffs)
                )
            report["campaign"] = [{k: v for k, v in r.items() if k != "energies"} for r in runs]
        if "kills" in parts:
            report["kills"] = kills_run(base, args)

    hw = hardware()
    print(f"\n{hw['cpu_model'] or hw['machine']}, {hw['cpus']} cores")
    for r in report.get("campaign", []):
        lw = r["lock_waits"]
        print(
            f"campaign, {r['workers']} workers: {r['wall_s']:.0f} s, {r['state']}, "
            f"{r['fireworks']} Fireworks, run twice {r['run_more_than_once']}, labels "
            f"{r['labels']} (duplicated {r['labels_duplicated']}), same labels as "
            f"{counts[0]} worker(s): {r['same_labels_as_first']} (max |ΔE| "
            f"{r['max_energy_difference_ev']}, only here {r['labels_only_here']}, only there "
            f"{r['labels_only_in_first']}); lock acquisitions "
            f"{lw['acquisitions']}, mean {lw.get('mean_ms', 0):.1f} ms, "
            f"max {lw.get('max_s', 0):.2f} s"
        )
    if "kills" in report:
        k = report["kills"]
        lw = k["lock_waits"]
        print(
            f"kills: {k['fireworks']} no-op Fireworks, {k['workers']} workers, {k['killed']} "
            f"killed after {k['kill_after_s']} s, lock expiry {k['lock_expiration_s']} s: "
            f"survivors stopped after {k['survivors_done_s']:.0f} s with states "
            f"{k['states_when_survivors_stopped']}; longest lock wait {lw.get('max_s', 0):.1f} s; "
            f"recovered {k['recovered']} and finished in {k['recover_and_finish_s']:.0f} s: "
            f"{k['states_after_recover']}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, default=str))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
