"""Set-up and workers: ``init``, ``worker`` and FireWorks' ``lpad`` / ``rlaunch``."""

from __future__ import annotations

import sys
from typing import Any

import click

from crystaloop.cli import main
from crystaloop.cli.common import load_settings_or_fail


# ------------------------------------------------------------------------------------- init
@main.command()
@click.option("--mongo", "mongo_uri", metavar="URI", help="Use this MongoDB server (production).")
@click.option("--database", default=None, help="Database name for the stores.")
@click.option(
    "--oracle",
    type=click.Choice(["chgnet", "sevennet", "vasp"]),
    default=None,
    help="Oracle: CHGNet or SevenNet through atomate2's force-field makers, or VASP.",
)
@click.option(
    "--oracle-engine",
    type=click.Choice(["atomate2", "torchsim"]),
    default=None,
    help="ML oracle engine: one atomate2 relax + static per structure, or one batched TorchSim "
    "relaxation per dispatch on the batch_oracle (gpu) workers (sevennet only).",
)
@click.option("--device", default=None, help="Torch device for training and inference.")
def init(
    mongo_uri: str | None,
    database: str | None,
    oracle: str | None,
    oracle_engine: str | None,
    device: str | None,
) -> None:
    """Write a working configuration under CRYSTALOOP_HOME.

    Writes settings.yaml, my_launchpad.yaml, my_fworker_<category>.yaml for each worker
    category, jobflow.yaml (JOB_STORE) and FW_config.yaml (the workflow-lock expiry), so that
    workers started with JOBFLOW_CONFIG_FILE=<home>/jobflow.yaml
    FW_CONFIG_FILE=<home>/FW_config.yaml rlaunch -l <home>/my_launchpad.yaml
    -w <home>/my_fworker_cpu.yaml find everything. Without --mongo the embedded profile is used;
    its LaunchPad opens through 'crystaloop rlaunch', 'crystaloop lpad' and 'crystaloop worker'
    (FireWorks' own scripts only know MongoDB).
    """
    from crystaloop.launchpad.config import initialize_launchpad, write_configuration

    overrides: dict[str, Any] = {}
    if mongo_uri:
        overrides.update(backend="mongodb", mongo_uri=mongo_uri)
    chosen = (
        ("database", database),
        ("oracle", oracle),
        ("oracle_engine", oracle_engine),
        ("device", device),
    )
    for key, value in chosen:
        if value is not None:
            overrides[key] = value
    settings = load_settings_or_fail(**overrides)
    for path in write_configuration(settings):
        click.echo(f"wrote {path}")
    click.echo(f"profile: {settings.backend}")
    try:
        if initialize_launchpad(settings):
            click.echo("initialised the LaunchPad database")
    except ConnectionError as err:
        click.echo(f"warning: configuration written, but {err}", err=True)


# ---------------------------------------------------------------------------------- workers
@main.command()
@click.option("--category", help="Worker category (gpu, cpu, ...); default: every category.")
@click.option(
    "--nlaunches",
    default=0,
    show_default=True,
    help="Stop after this many launches (0: when nothing is ready; -1: never).",
)
@click.option("--timeout", type=int, help="Stop after this many seconds.")
@click.option("--launch-dir", help="Where launcher_* folders go (default: <home>/launches).")
def worker(
    category: str | None, nlaunches: int, timeout: int | None, launch_dir: str | None
) -> None:
    """Pull and run Fireworks from the configured LaunchPad (rapidfire)."""
    from crystaloop.launchpad.worker import run_worker

    try:
        run_worker(
            load_settings_or_fail(),
            category=category,
            nlaunches=nlaunches,
            timeout=timeout,
            launch_dir=launch_dir,
        )
    except ConnectionError as err:
        raise click.ClickException(str(err)) from err


_PASSTHROUGH = {"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []}


@main.command(context_settings=_PASSTHROUGH)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def lpad(args: tuple[str, ...]) -> None:
    """FireWorks' lpad on the configured LaunchPad (either profile); try 'lpad -h'."""
    from crystaloop.launchpad.worker import run_fireworks_cli

    sys.exit(run_fireworks_cli("lpad", args, load_settings_or_fail()))


@main.command(context_settings=_PASSTHROUGH)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def rlaunch(args: tuple[str, ...]) -> None:
    """FireWorks' rlaunch on the configured LaunchPad (either profile); try 'rlaunch -h'."""
    from crystaloop.launchpad.worker import run_fireworks_cli

    sys.exit(run_fireworks_cli("rlaunch", args, load_settings_or_fail()))
