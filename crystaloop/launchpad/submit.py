"""Submit flows to the LaunchPad, run workers in this process, find and rerun lost runs."""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

from jobflow.utils.log import initialize_logger as _initialize_logger

from crystaloop.settings import CrystaloopSettings


def submit_flow(settings: CrystaloopSettings, flow: Any, metadata: dict[str, Any]) -> list[int]:
    """Add ``flow`` to the LaunchPad as one workflow (with ``metadata``); return its Firework ids.

    The JobStore is not passed to ``flow_to_workflow``: workers find it through
    ``JOBFLOW_CONFIG_FILE``, so no connection string lands in a Firework spec.
    """
    from jobflow.managers.fireworks import flow_to_workflow

    from crystaloop.launchpad.config import get_launchpad
    from crystaloop.launchpad.worker import use_job_store

    use_job_store(settings)
    workflow = flow_to_workflow(flow)
    workflow.metadata.update(metadata)
    mapping = get_launchpad(settings).add_wf(workflow)
    return sorted(mapping.values())


def run_in_process(
    settings: CrystaloopSettings,
    launch_dir: str | None = None,
    quiet: bool = True,
    log_file: str | os.PathLike[str] | None = None,
    on_launch: Callable[[], None] | None = None,
    poll_seconds: float = 2.0,
) -> int:
    """Run every ready Firework in this process until none is left; return how many ran.

    Fireworks added by running ones (the campaign adding its next iteration) are picked up too.
    Each Firework runs in its own ``launcher_*`` folder under ``launch_dir`` (default
    ``<home>/launches``). ``quiet`` keeps jobflow's and FireWorks' per-job INFO lines off the
    terminal; with ``log_file`` everything the jobs print (the oracle's messages, library
    warnings, the traceback of a failed run) goes to that file instead of the terminal.
    ``on_launch`` is called after every Firework (e.g. to print progress). As FireWorks'
    ``rapidfire``, it waits (polling every ``poll_seconds``) while other workers run Fireworks
    whose children are waiting, and returns when no Firework is ready or will be.
    """
    import contextlib

    from fireworks.core.fworker import FWorker
    from fireworks.core.rocket_launcher import launch_rocket
    from fireworks.utilities.fw_utilities import create_datestamp_dir, get_fw_logger

    from crystaloop.launchpad.config import get_launchpad
    from crystaloop.launchpad.worker import use_job_store

    use_job_store(settings)
    if quiet:
        import functools

        import jobflow

        # jobflow's Firetask re-initialises the root logger at INFO for every job it runs
        jobflow.initialize_logger = functools.partial(_initialize_logger, level=logging.WARNING)
        import fireworks.core.rocket

        fireworks.core.rocket.ROCKET_STREAM_LOGLEVEL = "WARNING"
    directory = os.path.abspath(launch_dir or str(settings.launches_dir))
    os.makedirs(directory, exist_ok=True)
    launchpad = get_launchpad(settings)
    fworker = FWorker(name="crystaloop-run")
    level = "CRITICAL" if log_file else "ERROR"
    l_logger = get_fw_logger("rocket.launcher", l_dir=launchpad.get_logdir(), stream_level=level)
    cwd = os.getcwd()
    ran = 0
    with contextlib.ExitStack() as stack:
        if log_file is not None:
            os.makedirs(os.path.dirname(os.path.abspath(log_file)), exist_ok=True)
            log = stack.enter_context(open(log_file, "a", encoding="utf-8"))  # noqa: SIM115
            stack.enter_context(contextlib.redirect_stdout(log))
            stack.enter_context(contextlib.redirect_stderr(log))
            stack.enter_context(_warnings_to(log))
        while True:
            if not launchpad.run_exists(fworker):
                time.sleep(0.15)  # as rapidfire: let a dynamic workflow's additions land
                if not launchpad.run_exists(fworker):
                    if not launchpad.future_run_exists(fworker):
                        break
                    time.sleep(poll_seconds)  # other workers run what the rest waits on
                    continue
            launcher = create_datestamp_dir(directory, l_logger, prefix="launcher_")
            os.chdir(launcher)
            try:
                launched = launch_rocket(launchpad, fworker, strm_lvl=level)
            finally:
                os.chdir(cwd)
            if not launched:
                if not os.listdir(launcher):
                    os.rmdir(launcher)
                continue
            ran += 1
            if on_launch is not None:
                on_launch()
    return ran


@contextlib.contextmanager
def _warnings_to(stream: Any) -> Iterator[None]:
    """Send Python warnings (and the records of FireWorks' and jobflow's loggers) to ``stream``."""
    import warnings

    original = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
        stream.write(warnings.formatwarning(message, category, filename, lineno, line))

    warnings.showwarning = show
    handler = logging.StreamHandler(stream)
    loggers = [logging.getLogger(name) for name in ("", "jobflow", "fireworks")]
    saved = [(lg, lg.handlers[:]) for lg in loggers]
    for lg in loggers:
        lg.handlers = [h for h in lg.handlers if not _is_terminal_handler(h)] + [handler]
    try:
        yield
    finally:
        warnings.showwarning = original
        for lg, handlers in saved:
            lg.handlers = handlers


def _is_terminal_handler(handler: logging.Handler) -> bool:
    import sys

    stream = getattr(handler, "stream", None)
    return stream in (sys.__stdout__, sys.__stderr__)


def firework_states(settings: CrystaloopSettings, campaign: str) -> dict[str, dict[str, int]]:
    """Return ``{iteration: {state: count}}`` of the campaign's Fireworks (``-1``: bootstrap)."""
    from crystaloop.launchpad.config import get_launchpad

    out: dict[str, dict[str, int]] = {}
    launchpad = get_launchpad(settings)
    for fw in launchpad.fireworks.find(
        {"spec.crystaloop.campaign": campaign}, {"state": 1, "spec.crystaloop": 1}
    ):
        key = str(fw["spec"]["crystaloop"]["iteration"])
        out.setdefault(key, {})
        out[key][fw["state"]] = out[key].get(fw["state"], 0) + 1
    return out


def recover_lost_runs(
    settings: CrystaloopSettings, expiration_secs: int, lock_grace_secs: float = 30.0
) -> dict[str, list[int]]:
    """Mark runs whose worker stopped reporting for ``expiration_secs`` as lost and rerun them.

    A worker killed while it held its workflow's lock (FireWorks takes it for a few milliseconds
    when it checks out or completes a Firework) leaves the workflow locked for good, and
    FireWorks' rerun would then wait for the lock. So a workflow holding a lost run that is still
    locked after ``lock_grace_secs`` is unlocked first (the lock's holder is the dead worker), and
    its id is returned in ``unlocked_workflows``.

    Returns the lost launch ids, the Fireworks rerun, inconsistent Fireworks (fixed) and the
    workflows unlocked (ids of their first Firework).
    """
    from crystaloop.launchpad.config import get_launchpad

    launchpad = get_launchpad(settings)
    _, lost, _ = launchpad.detect_lostruns(expiration_secs=expiration_secs)
    unlocked = release_stale_locks(launchpad, lost, lock_grace_secs)
    lost_launches, lost_fws, inconsistent = launchpad.detect_lostruns(
        expiration_secs=expiration_secs, rerun=True, refresh=True
    )
    return {
        "lost_launches": list(lost_launches),
        "rerun_fireworks": list(lost_fws),
        "inconsistent_fireworks": list(inconsistent),
        "unlocked_workflows": unlocked,
    }


def release_stale_locks(launchpad: Any, fw_ids: list[int], grace_secs: float) -> list[int]:
    """Unlock the workflows of ``fw_ids`` that stay locked for ``grace_secs``.

    Parameters
    ----------
    launchpad
        The FireWorks LaunchPad.
    fw_ids
        Fireworks whose worker is known to be lost.
    grace_secs
        How long a live worker may hold the lock before it counts as stale.

    Returns
    -------
    list of int
        The first Firework id of every workflow unlocked.
    """
    import time

    if not fw_ids:
        return []
    locked = {"nodes": {"$in": list(fw_ids)}, "locked": {"$exists": True}}
    deadline = time.monotonic() + grace_secs
    while launchpad.workflows.count_documents(locked) and time.monotonic() < deadline:
        time.sleep(min(0.5, grace_secs))
    unlocked = []
    for wf in launchpad.workflows.find(locked, {"nodes": 1}):
        launchpad.workflows.update_one({"_id": wf["_id"]}, {"$unset": {"locked": True}})
        unlocked.append(min(wf["nodes"]))
        launchpad.m_logger.warning(
            f"unlocked workflow {min(wf['nodes'])}: its lock outlived a lost run"
        )
    return unlocked


def stage_seconds(settings: CrystaloopSettings, campaign: str) -> list[dict[str, Any]]:
    """Return per (iteration, stage): Fireworks, summed run seconds and wall-clock span.

    Times come from the Fireworks' launches (``time_start`` → ``time_end``).
    """
    from datetime import datetime

    from crystaloop.launchpad.config import get_launchpad

    launchpad = get_launchpad(settings)
    rows: dict[tuple[int, str], dict[str, Any]] = {}
    for fw in launchpad.fireworks.find(
        {"spec.crystaloop.campaign": campaign}, {"fw_id": 1, "spec.crystaloop": 1, "state": 1}
    ):
        tag = fw["spec"]["crystaloop"]
        key = (int(tag["iteration"]), tag["stage"])
        row = rows.setdefault(
            key,
            {"iteration": key[0], "stage": key[1], "fireworks": 0, "seconds": 0.0, "failed": 0},
        )
        row["fireworks"] += 1
        row["failed"] += fw["state"] == "FIZZLED"
        for launch in launchpad.launches.find({"fw_id": fw["fw_id"]}):
            start, end = launch.get("time_start"), launch.get("time_end")
            if start and end:
                t0 = datetime.fromisoformat(str(start))
                t1 = datetime.fromisoformat(str(end))
                row["seconds"] += (t1 - t0).total_seconds()
                row["first"] = min(row.get("first", t0), t0)
                row["last"] = max(row.get("last", t1), t1)
    out = []
    for key in sorted(rows):
        row = rows[key]
        first, last = row.pop("first", None), row.pop("last", None)
        row["span"] = (last - first).total_seconds() if first and last else 0.0
        out.append(row)
    return out
