"""Run a whole campaign in this process: the library call behind ``crystaloop run``.

:func:`prepare_home` configures a home (settings, LaunchPad, the sample corpus when the corpus is
empty); :func:`run_campaign` builds the campaign from options
(:func:`~crystaloop.workflows.plan.build_campaign`), submits it to the LaunchPad and runs its
Fireworks here until none is left, reporting one line per finished step and per failed oracle
run through ``echo``. The command line, the benchmarks and users' scripts call these.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from crystaloop.schemas import CampaignStatus
from crystaloop.settings import CrystaloopSettings

Echo = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


def prepare_home(settings: CrystaloopSettings, workers: int = 1, echo: Echo = _quiet) -> None:
    """Write the configuration if missing, initialise the LaunchPad, ingest the sample corpus.

    Raises
    ------
    ConnectionError
        When the LaunchPad or the stores cannot be reached.
    """
    from crystaloop.launchpad.config import (
        initialize_launchpad,
        write_configuration,
        write_fw_config,
    )
    from crystaloop.stores.ingest.sample import ingest_sample_corpus

    if not settings.settings_file.exists():
        write_configuration(settings)
        echo(f"configured {settings.home} ({settings.backend} profile)")
    elif not settings.fw_config_file.exists():  # a home configured before the lock expiry
        write_fw_config(settings)
        echo(f"wrote {settings.fw_config_file} (workflow-lock expiry)")
    initialize_launchpad(settings)
    done = ingest_sample_corpus(settings, workers)
    if done:
        echo("corpus was empty: ingested the bundled sample corpus")
    for source, result in done.items():
        echo(
            f"  {source}: read {result['read']}, stored {result['stored']}, "
            f"duplicates {result['duplicates']}, rejected {result['rejected']}"
        )


def run_submitted(
    settings: CrystaloopSettings, campaign: str, echo: Echo = _quiet
) -> CampaignStatus:
    """Run the LaunchPad's Fireworks here until none is left; return the campaign's status.

    The jobs' own output (the oracle's messages, warnings, the traces of failed runs) goes to
    ``<home>/logs/<campaign>.log``; ``echo`` gets one line per finished step, per failed
    oracle run and per iteration.
    """
    from crystaloop.launchpad.status import CampaignWatcher, campaign_overview
    from crystaloop.launchpad.submit import run_in_process

    log_file = settings.home / "logs" / f"{campaign}.log"

    class _Echo(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            echo(record.getMessage())

    handler = _Echo()
    progress = logging.getLogger("crystaloop.progress")
    progress.setLevel(logging.INFO)
    progress.addHandler(handler)
    watcher = CampaignWatcher(settings, campaign)

    def report() -> None:
        for line in watcher.poll():
            echo(line)

    try:
        run_in_process(settings, log_file=log_file, on_launch=report)
    finally:
        progress.removeHandler(handler)
    return campaign_overview(settings, campaign)


def run_campaign(
    settings: CrystaloopSettings,
    options: Any,
    *,
    workers: int = 1,
    echo: Echo = _quiet,
) -> CampaignStatus:
    """Prepare the home, build, submit and run a campaign here; return its final status.

    ``options``: :class:`~crystaloop.workflows.plan.CampaignOptions`. A loop step that fails
    leaves the campaign ``stalled`` (the status names the Firework and its error).

    Raises
    ------
    crystaloop.workflows.plan.CampaignError
        For inconsistent options or unknown models.
    ConnectionError
        When the LaunchPad or the stores cannot be reached.
    """
    from crystaloop.launchpad.submit import submit_flow
    from crystaloop.workflows.plan import build_campaign

    prepare_home(settings, workers, echo)
    campaign, maker = build_campaign(settings, options)
    ids = submit_flow(settings, maker.make(campaign), {"crystaloop_campaign": campaign})
    echo(
        f"campaign {campaign}: {maker.max_iterations} iterations, oracle {maker.oracle}, "
        f"surrogate {maker.surrogate}, generator {maker.generator}, budget "
        f"{maker.oracle_budget} (Fireworks {ids[0]}–{ids[-1]} submitted, more are added as it "
        "runs)"
    )
    return run_submitted(settings, campaign, echo)
