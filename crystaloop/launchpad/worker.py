"""Run FireWorks workers on the configured LaunchPad, and FireWorks' own CLIs on either profile."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from crystaloop.settings import CrystaloopSettings


def use_job_store(settings: CrystaloopSettings) -> None:
    """Point jobflow, in this process and in workers it starts, at the profile's JobStore."""
    os.environ["JOBFLOW_CONFIG_FILE"] = str(settings.jobflow_config_file)
    import jobflow

    from crystaloop.stores.jobstore import job_store

    jobflow.SETTINGS.JOB_STORE = job_store(settings)


def run_worker(
    settings: CrystaloopSettings,
    category: str | None = None,
    nlaunches: int = 0,
    sleep_time: int = 5,
    timeout: int | None = None,
    launch_dir: str | None = None,
) -> None:
    """Pull and run Fireworks of one category until none are left (``rapidfire``).

    Parameters
    ----------
    settings
        Where the LaunchPad and the JobStore are.
    category
        Worker category (``gpu``, ``cpu``, ...); ``None`` runs Fireworks of every category.
    nlaunches
        Stop after this many launches (0: until no Firework is ready).
    sleep_time
        Seconds to wait between polls when ``nlaunches`` is negative (run forever).
    timeout
        Stop after this many seconds.
    launch_dir
        Where the ``launcher_*`` folders go (default: ``settings.launches_dir``).
    """
    from fireworks.core.fworker import FWorker
    from fireworks.core.rocket_launcher import rapidfire

    from crystaloop.launchpad.config import get_launchpad

    use_job_store(settings)
    launchpad = get_launchpad(settings)
    fworker = FWorker(name=f"crystaloop-{category or 'any'}", category=category or "")
    directory = launch_dir or str(settings.launches_dir)
    os.makedirs(directory, exist_ok=True)
    rapidfire(
        launchpad,
        fworker,
        m_dir=directory,
        nlaunches=nlaunches,
        sleep_time=sleep_time,
        timeout=timeout,
        strm_lvl="ERROR",
    )


def run_fireworks_cli(program: str, argv: Sequence[str], settings: CrystaloopSettings) -> int:
    """Run FireWorks' ``lpad`` or ``rlaunch`` with crystaloop's LaunchPad file understood.

    ``-l my_launchpad.yaml`` is added when not given, and an embedded ``my_launchpad.yaml`` opens
    an :class:`~crystaloop.launchpad.embedded.EmbeddedLaunchPad`, so ``crystaloop lpad get_wflows``
    and ``crystaloop rlaunch -w my_fworker_cpu.yaml rapidfire`` work on both profiles.
    """
    from fireworks.core.launchpad import LaunchPad

    from crystaloop.launchpad.config import launchpad_from_file

    argv = list(argv)
    if "-l" not in argv and "--launchpad_file" not in argv:
        argv = ["-l", str(settings.launchpad_file), *argv]
    LaunchPad.from_file = classmethod(lambda cls, f, f_format=None: launchpad_from_file(f))
    use_job_store(settings)
    if program == "lpad":
        from fireworks.scripts.lpad_run import lpad

        return int(lpad(argv) or 0)
    from fireworks.scripts.rlaunch_run import rlaunch

    return int(rlaunch(argv) or 0)


def spawn_workers(
    settings: CrystaloopSettings,
    n: int,
    category: str | None = None,
    timeout: int | None = None,
    log_dir: str | os.PathLike[str] | None = None,
) -> list[subprocess.Popen]:
    """Start ``n`` ``crystaloop worker`` processes on this home; return them (not waited for).

    Each pulls Fireworks until none is ready or waiting (``rapidfire``, ``nlaunches=0``); the
    LaunchPad's reservation makes each Firework run once. Their output goes to
    ``<log_dir>/worker-<i>.log`` (default: ``<home>/logs``).
    """
    logs = Path(log_dir) if log_dir is not None else settings.home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "crystaloop", "worker"]
    if category:
        argv += ["--category", category]
    if timeout is not None:
        argv += ["--timeout", str(timeout)]
    env = {**os.environ, "CRYSTALOOP_HOME": str(settings.home)}
    procs = []
    for i in range(n):
        with open(logs / f"worker-{i}.log", "ab") as log:
            procs.append(subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT))
    return procs
