"""The campaign commands: ``run``, ``submit``, ``status``, ``recover`` and ``stop``."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import click

from crystaloop.cli import main
from crystaloop.cli.common import (
    echo_json,
    load_settings_or_fail,
    open_corpus,
    resolve_campaign,
)


def campaign_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add the campaign's science options (shared by ``run`` and ``submit``)."""
    options = [
        click.option("--campaign", "campaign_id", help="Campaign id (default: run-<time>)."),
        click.option("--iterations", default=2, show_default=True, type=click.IntRange(1)),
        click.option(
            "--dft-budget",
            default=8,
            show_default=True,
            type=click.IntRange(1),
            help="Oracle calculations on candidates over the whole campaign.",
        ),
        click.option(
            "--per-iteration",
            default=4,
            show_default=True,
            type=click.IntRange(1),
            help="Oracle calculations on candidates per iteration.",
        ),
        click.option(
            "--samples",
            "n_generate",
            default=48,
            show_default=True,
            type=click.IntRange(1),
            help="Candidates generated per iteration.",
        ),
        click.option(
            "--steps",
            default=100,
            show_default=True,
            type=click.IntRange(1),
            help="Sampling steps of the generator.",
        ),
        click.option(
            "--bootstrap",
            default=8,
            show_default=True,
            type=click.IntRange(0),
            help="Corpus structures labelled by the oracle before iteration 0.",
        ),
        click.option("--generator", default="perov5", show_default=True),
        click.option("--surrogate", default="perov5", show_default=True),
        click.option(
            "--patience",
            default=0,
            show_default=True,
            type=click.IntRange(0),
            help="Stop after this many iterations without a new stable candidate (0: never).",
        ),
        click.option("--seed", default=0, show_default=True),
        click.option(
            "--selection",
            type=click.Choice(["surrogate", "random"]),
            default="surrogate",
            show_default=True,
            help="How candidates reach the oracle: the surrogate's confidence routing, or "
            "drawn at random from those that passed the screens (a baseline).",
        ),
        click.option(
            "--freeze-surrogate",
            is_flag=True,
            help="Keep the bootstrap surrogate: no retraining in the iterations (a baseline).",
        ),
        click.option(
            "--freeze-generator",
            is_flag=True,
            help="Keep the starting generator: no fine-tuning on discoveries (a baseline).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def build_campaign(
    settings: Any, design: dict[str, Any] | None = None, **kw: Any
) -> tuple[str, Any]:
    """Check the options and return ``(campaign id, CampaignMaker)``; nothing is submitted.

    ``design`` (``formula``, ``max_eform``, ``n``) makes a :class:`DesignMaker` instead.
    """
    from crystaloop.makers import (
        GenerateMaker,
        SelectMaker,
        TrainGeneratorMaker,
        TrainSurrogateMaker,
    )
    from crystaloop.ml.checkpoint import CheckpointError, find_surrogate
    from crystaloop.ml.generative.checkpoint import find_generator
    from crystaloop.stores.factory import open_store
    from crystaloop.workflows import CampaignMaker, DesignMaker, IterationMaker

    try:
        find_generator(kw["generator"], "csp" if design else "abinitio")
        find_surrogate(kw["surrogate"])
    except CheckpointError as err:
        raise click.ClickException(str(err)) from err
    prefix = "design-" if design else "run-"
    campaign = kw["campaign_id"] or prefix + datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    try:
        known = open_store(settings, "campaigns").query_one({"campaign": campaign})
    except ConnectionError as err:
        raise click.ClickException(str(err)) from err
    if known is not None:
        raise click.ClickException(f"campaign {campaign!r} exists already: choose another id")
    targets = ("e_form", "band_gap") if settings.oracle == "vasp" else ("e_form",)
    iteration = IterationMaker(
        generate=GenerateMaker(
            model=kw["generator"], n=kw["n_generate"], steps=kw["steps"], seed=kw["seed"]
        ),
        select=SelectMaker(budget=kw["per_iteration"], strategy=kw["selection"], seed=kw["seed"]),
        train_surrogate=TrainSurrogateMaker(
            targets=targets, seed=kw["seed"], frozen=kw["freeze_surrogate"]
        ),
        train_generator=TrainGeneratorMaker(frozen=kw["freeze_generator"]),
    )
    cls: Any = CampaignMaker
    extra: dict[str, Any] = {}
    if design:
        from crystaloop.chem.composition import atomic_numbers
        from crystaloop.ml.generative.checkpoint import load_generator

        max_atoms = load_generator(find_generator(kw["generator"], "csp")).config.max_atoms
        try:
            atomic_numbers(design["formula"], max_atoms)
        except ValueError as err:
            raise click.BadParameter(str(err), param_hint="FORMULA") from err
        cls, extra = DesignMaker, design
    maker = cls(
        **extra,
        iteration=iteration,
        surrogate=kw["surrogate"],
        generator=kw["generator"],
        max_iterations=kw["iterations"],
        oracle_budget=kw["dft_budget"],
        patience=kw["patience"],
        bootstrap=kw["bootstrap"],
        seed=kw["seed"],
    )
    return campaign, maker


def submit_campaign(settings: Any, campaign: str, maker: Any) -> list[int]:
    """Add the campaign to the LaunchPad; exit with one line if it cannot be reached."""
    from crystaloop.launchpad.submit import submit_flow

    flow = maker.make(campaign)
    try:
        return submit_flow(settings, flow, {"crystaloop_campaign": campaign})
    except ConnectionError as err:
        raise click.ClickException(str(err)) from err


def prepare(settings: Any, workers: int) -> None:
    """Configure the home, initialise the LaunchPad and ingest the sample corpus if empty."""
    from crystaloop.cli.corpus import ingest_paths
    from crystaloop.launchpad.config import initialize_launchpad, write_configuration
    from crystaloop.stores.ingest.sample import sample_corpus_files

    if not settings.settings_file.exists():
        write_configuration(settings)
        click.echo(f"configured {settings.home} ({settings.backend} profile)")
    try:
        initialize_launchpad(settings)
    except ConnectionError as err:
        raise click.ClickException(str(err)) from err
    store = open_corpus(settings)
    if store.count() == 0:
        click.echo("corpus is empty: ingesting the bundled sample corpus")
        for source, path in sample_corpus_files().items():
            result = ingest_paths(settings, [path], source, workers)
            click.echo(
                f"  {source}: read {result['read']}, stored {result['stored']}, "
                f"duplicates {result['duplicates']}, rejected {result['rejected']}"
            )


@main.command()
@campaign_options
@click.option(
    "--workers",
    default=min(2, os.cpu_count() or 1),
    show_default=True,
    help="Processes for ingesting the sample corpus.",
)
def run(workers: int, **kw: Any) -> None:
    """Run a whole campaign here, through FireWorks, on the configured profile.

    From a fresh home: write the configuration, ingest the bundled sample corpus if the corpus
    is empty, submit the campaign (bootstrap oracle labels for a corpus sample, then the
    iterations) to the LaunchPad and run its Fireworks in this process until it finishes,
    printing one line per iteration and the status table at the end. The oracle is the
    settings' (CHGNet by default).
    """
    from crystaloop.launchpad.submit import run_in_process

    settings = load_settings_or_fail()
    prepare(settings, workers)
    campaign, maker = build_campaign(settings, **kw)
    ids = submit_campaign(settings, campaign, maker)
    click.echo(
        f"campaign {campaign}: {maker.max_iterations} iterations, oracle {settings.oracle}, "
        f"budget {maker.oracle_budget} (Fireworks {ids[0]}–{ids[-1]} submitted, more are added "
        "as it runs)"
    )
    run_in_process(settings)
    print_status(settings, campaign)
    click.echo(f"the full view: crystaloop report --campaign {campaign}")


@main.command()
@campaign_options
def submit(**kw: Any) -> None:
    """Add a campaign to the LaunchPad and exit; workers ('rlaunch', 'crystaloop worker') run it."""
    settings = load_settings_or_fail()
    campaign, maker = build_campaign(settings, **kw)
    ids = submit_campaign(settings, campaign, maker)
    click.echo(f"submitted campaign {campaign} (Fireworks {', '.join(map(str, ids))})")
    click.echo(
        f"run workers with: JOBFLOW_CONFIG_FILE={settings.jobflow_config_file} rlaunch -l "
        f"{settings.launchpad_file} -w {settings.fworker_file('cpu')} rapidfire  (one per "
        "category; the embedded profile: crystaloop worker --category cpu)"
    )


def print_status(settings: Any, campaign: str) -> None:
    """Print the per-iteration table of a campaign."""
    from crystaloop.workflows.status import campaign_status

    status = campaign_status(settings, campaign)
    click.echo(
        f"campaign {status['campaign']} ({status['state']}"
        + (f": {status['stop_reason']}" if status.get("stop_reason") else "")
        + f"), oracle {status['oracle']}, {status['labels']} labels, "
        f"{status['duplicate_labels']} duplicated"
    )
    header = (
        "iter",
        "generated",
        "valid",
        "to oracle",
        "done",
        "failed",
        "accepted",
        "stable",
        "MAE before",
    )
    click.echo("  ".join(f"{h:>9}" for h in header))
    for row in status["iterations"]:
        mae = ", ".join(f"{v:.3f}" for v in row["mae_before"].values()) or "-"
        values = (
            row["iteration"],
            row["generated"],
            row["valid"],
            row["selected"],
            row["dft_done"],
            row["dft_failed"],
            row["accepted"],
            row["new_stable"],
            mae,
        )
        click.echo("  ".join(f"{v:>9}" for v in values))


@main.command()
@click.option("--campaign", help="Campaign id (default: the latest).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def status(campaign: str | None, as_json: bool) -> None:
    """Show a campaign's progress, one row per iteration.

    Generated, valid (passed the screens), sent to the oracle, oracle done / failed, accepted as
    predicted, new stable (E_hull ≤ 0.1 eV/atom) and the surrogate's MAE on the new labels
    before retraining; then the Fireworks' states.
    """
    from crystaloop.launchpad.submit import firework_states
    from crystaloop.workflows.status import campaign_status

    settings = load_settings_or_fail()
    found = resolve_campaign(settings, campaign)
    if as_json:
        data = campaign_status(settings, found)
        data["fireworks"] = firework_states(settings, found)
        echo_json(data)
        return
    print_status(settings, found)
    states = firework_states(settings, found)
    click.echo(
        "Fireworks: "
        + "; ".join(
            f"iteration {k}: " + ", ".join(f"{s} {n}" for s, n in sorted(v.items()))
            for k, v in sorted(states.items(), key=lambda kv: int(kv[0]))
        )
    )


@main.command()
@click.option(
    "--expiration",
    default=3600,
    show_default=True,
    type=click.IntRange(0),
    help="Seconds without a worker heartbeat after which a RUNNING Firework counts as lost.",
)
def recover(expiration: int) -> None:
    """Rerun lost Fireworks (killed workers) and check the labels store for duplicates.

    A workflow whose lock a killed worker still holds after a 30 s grace is unlocked first.
    """
    from crystaloop.launchpad.submit import recover_lost_runs
    from crystaloop.stores.factory import open_store
    from crystaloop.stores.labels import LabelStore

    settings = load_settings_or_fail()
    try:
        found = recover_lost_runs(settings, expiration)
        duplicates = LabelStore(open_store(settings, "labels")).duplicate_keys()
    except ConnectionError as err:
        raise click.ClickException(str(err)) from err
    click.echo(
        f"lost runs: {len(found['lost_launches'])}; Fireworks set to rerun: "
        f"{found['rerun_fireworks'] or 'none'}; inconsistent fixed: "
        f"{found['inconsistent_fireworks'] or 'none'}; workflows unlocked: "
        f"{found['unlocked_workflows'] or 'none'}"
    )
    click.echo(f"duplicated label keys: {duplicates}")
    if duplicates:
        raise click.ClickException("the labels store holds duplicated label keys")


@main.command()
@click.option("--campaign", help="Campaign id (default: the latest).")
def stop(campaign: str | None) -> None:
    """Ask a campaign to stop after its running iteration (the stop flag in the store)."""
    from crystaloop.workflows.status import request_stop

    settings = load_settings_or_fail()
    found = resolve_campaign(settings, campaign)
    request_stop(settings, found)
    click.echo(f"campaign {found} will stop after its running iteration")


@main.command()
@click.argument("formula")
@click.option(
    "--max-eform",
    type=float,
    required=True,
    help="Formation energy threshold, eV/atom (the oracle's references).",
)
@click.option("--n", "n_wanted", default=10, show_default=True, type=click.IntRange(1))
@click.option("--submit-only", is_flag=True, help="Add it to the LaunchPad and exit.")
@campaign_options
def design(formula: str, max_eform: float, n_wanted: int, submit_only: bool, **kw: Any) -> None:
    """Find up to N structures of FORMULA with formation energy at most --max-eform.

    Known oracle labels count first; then CSP for FORMULA, screens (duplicates and space
    group 1 dropped), the surrogate's mean and σ, the oracle for the uncertain promising ones,
    retraining, until N are found, the budget is spent or --iterations is reached. Example:
    crystaloop design Fe2O3 --max-eform 1.0 --n 50.
    """
    from crystaloop.launchpad.submit import run_in_process

    settings = load_settings_or_fail()
    if not submit_only:
        prepare(settings, min(2, os.cpu_count() or 1))
    spec = {"formula": formula, "max_eform": max_eform, "n": n_wanted}
    campaign, maker = build_campaign(settings, design=spec, **kw)
    ids = submit_campaign(settings, campaign, maker)
    click.echo(f"design {campaign}: {n_wanted} × {formula} with e_form ≤ {max_eform} eV/atom")
    if submit_only:
        click.echo(f"submitted (Fireworks {', '.join(map(str, ids))}); run workers to run it")
        return
    run_in_process(settings)
    print_status(settings, campaign)
    found = maker.found(campaign, settings)
    for kind, ids_found in found.items():
        click.echo(
            f"{kind}: {len(ids_found)}" + (f" ({', '.join(ids_found[:10])})" if ids_found else "")
        )
