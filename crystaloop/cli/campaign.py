"""The campaign commands: ``run``, ``submit``, ``status``, ``recover`` and ``stop``."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import click

from crystaloop.cli import main
from crystaloop.cli.common import (
    echo_json,
    load_settings_or_fail,
    resolve_campaign,
)


def campaign_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add the campaign's science options (shared by ``run``, ``submit`` and ``design``)."""
    options = [
        click.option("--campaign", "campaign_id", help="Campaign id (default: run-<time>)."),
        click.option("--iterations", default=2, show_default=True, type=click.IntRange(1)),
        click.option(
            "--dft-budget",
            default=8,
            show_default=True,
            type=click.IntRange(1),
            help="Oracle calculations on candidates over the whole campaign (audits included).",
        ),
        click.option(
            "--per-iteration",
            default=4,
            show_default=True,
            type=click.IntRange(1),
            help="Oracle calculations on candidates per iteration (audits included).",
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
            default=None,
            type=click.IntRange(0),
            help="Corpus structures labelled by the oracle before iteration 0 (default: 0 when "
            "the surrogate was trained on this oracle's formation energies, else 8).",
        ),
        click.option(
            "--generator",
            help="Generator name or directory (default: mp for a design, perov5 otherwise).",
        ),
        click.option("--surrogate", default="eform", show_default=True),
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
            type=click.Choice(["surrogate", "random", "ranked"]),
            default="surrogate",
            show_default=True,
            help="How candidates reach the oracle: the surrogate's confidence routing, "
            "drawn at random from those that passed the screens (a baseline), or in the "
            "order of their source (ranked: substitutions most probable first).",
        ),
        click.option(
            "--source",
            type=click.Choice(["generator", "substitution", "random-search"]),
            default="generator",
            show_default=True,
            help="Where candidates come from: the generator, or a peer baseline (needs "
            "--freeze-generator): ionic substitution on the corpus prototypes with pymatgen's "
            "data-mined probabilities, or random symmetric PyXtal structures of the "
            "generator's compositions.",
        ),
        click.option(
            "--acquisition",
            type=click.Choice(["greedy", "ucb", "thompson"]),
            default="ucb",
            show_default=True,
            help="How the routing reads the surrogate: the predicted E_hull (greedy), its "
            "optimistic bound mean − σ (ucb) or one draw from N(mean, σ) (thompson).",
        ),
        click.option(
            "--audit-share",
            default=0.1,
            show_default=True,
            type=click.FloatRange(0.0, 1.0, max_open=True),
            help="Share of each iteration's oracle budget spent auditing accepted predictions "
            "(at least one calculation when anything was accepted).",
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
        click.option(
            "--modifier",
            help="Structure modifier (name or directory): candidates labelled a little above "
            "the stability threshold are modified toward a more stable polymorph and join the "
            "next iteration (e.g. carbon24 with --generator carbon24).",
        ),
        click.option(
            "--modify-margin",
            default=0.1,
            show_default=True,
            type=click.FloatRange(0),
            help="With --modifier: a near miss has threshold < E_hull ≤ threshold + this "
            "(eV/atom).",
        ),
        click.option(
            "--modify-samples",
            default=2,
            show_default=True,
            type=click.IntRange(1),
            help="With --modifier: modified structures per near miss.",
        ),
        click.option(
            "--proposal-temperature",
            default=1.0,
            show_default=True,
            type=click.FloatRange(0, min_open=True),
            help="A masked generator's species draws: a low temperature proposes the most "
            "probable substitutions first.",
        ),
        click.option(
            "--proposal-top-k",
            type=click.IntRange(1),
            help="A masked generator draws only among the k most probable elements.",
        ),
        click.option(
            "--discriminator",
            help="Match discriminator (name or directory, e.g. perov5-match): every screened "
            "candidate gets p_match, the chance its generated structure is a true one.",
        ),
        click.option(
            "--match-floor",
            type=click.FloatRange(0, 1),
            help="With --discriminator: candidates with p_match below this never go to the oracle.",
        ),
        click.option(
            "--match-trust",
            type=click.FloatRange(0, 1),
            help="With --discriminator: only candidates with p_match above this may be "
            "accepted as predictions.",
        ),
        click.option(
            "--dry-run",
            is_flag=True,
            help="Print the resolved plan (oracle and its Makers, models, budget, policy, "
            "iterations) and exit without submitting anything.",
        ),
        click.option("--json", "as_json", is_flag=True, help="With --dry-run: print JSON."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def build(settings: Any, **kw: Any) -> tuple[str, Any]:
    """Return ``(campaign id, CampaignMaker)`` of the command-line options, or exit saying why."""
    from crystaloop.workflows.plan import CampaignError, CampaignOptions, build_campaign

    try:
        return build_campaign(settings, CampaignOptions.from_mapping(kw))
    except CampaignError as err:
        raise click.ClickException(str(err)) from err
    except ConnectionError as err:
        raise click.ClickException(str(err)) from err


def print_plan(campaign: str, maker: Any, as_json: bool) -> None:
    """Print the resolved plan of a campaign (``--dry-run``)."""
    from crystaloop.workflows.plan import campaign_plan

    plan = campaign_plan(maker, campaign)
    if as_json:
        echo_json(plan)
        return
    click.echo(f"campaign {campaign} ({plan['kind']}), nothing submitted")
    for key, value in plan.items():
        if key not in ("campaign", "kind"):
            click.echo(f"  {key}: {value}")


def submit_campaign(settings: Any, campaign: str, maker: Any) -> list[int]:
    """Add the campaign to the LaunchPad; exit with one line if it cannot be reached."""
    from crystaloop.launchpad.submit import submit_flow

    flow = maker.make(campaign)
    try:
        return submit_flow(settings, flow, {"crystaloop_campaign": campaign})
    except ConnectionError as err:
        raise click.ClickException(str(err)) from err


def terminal_echo() -> Any:
    """Return an ``echo`` that prints to this command's output, even while jobs' is redirected."""
    out = click.get_text_stream("stdout")

    def echo(line: str) -> None:
        click.echo(line, file=out)

    return echo


def prepare(settings: Any, workers: int) -> None:
    """Configure the home, initialise the LaunchPad and ingest the sample corpus if empty."""
    from crystaloop.launchpad.runner import prepare_home

    try:
        prepare_home(settings, workers, terminal_echo())
    except ConnectionError as err:
        raise click.ClickException(str(err)) from err


def run_here(settings: Any, campaign: str) -> Any:
    """Run the LaunchPad's Fireworks in this process, one line per step; return the status.

    The oracle's output, warnings and the traces of failed runs go to
    ``<home>/logs/<campaign>.log``; the terminal gets one line per finished step and per
    failed oracle run, the iteration summaries and the status table.
    """
    from crystaloop.launchpad.runner import run_submitted

    status = run_submitted(settings, campaign, terminal_echo())
    print_status(status)
    click.echo(f"log: {settings.home / 'logs' / f'{campaign}.log'}")
    return status


def exit_if_stalled(status: Any) -> None:
    """Exit non-zero, naming the failed steps, when the campaign did not finish."""
    if status.state == "finished":
        return
    failed = "; ".join(
        f"Firework {f.fw_id} ({f.name}, iteration {f.iteration}): {f.error}"
        for f in status.failed_steps
    )
    raise click.ClickException(
        f"campaign {status.campaign} is {status.state}"
        + (f": {failed}" if failed else " (no Firework left to run)")
        + "; see 'crystaloop status' and 'crystaloop lpad get_fws -s FIZZLED'"
    )


@main.command()
@campaign_options
@click.option(
    "--workers",
    default=min(2, os.cpu_count() or 1),
    show_default=True,
    help="Processes for ingesting the sample corpus.",
)
def run(workers: int, dry_run: bool, as_json: bool, **kw: Any) -> None:
    """Run a whole campaign here, through FireWorks, on the configured profile.

    From a fresh home: write the configuration, ingest the bundled sample corpus if the corpus
    is empty, submit the campaign (bootstrap oracle labels for a corpus sample when the
    surrogate needs them, then the iterations) to the LaunchPad and run its Fireworks in this
    process until it finishes, printing one line per step and per iteration and the status
    table at the end. The oracle is the settings' (CHGNet by default). Exits non-zero when a
    loop step fails and the campaign stalls.
    """
    settings = load_settings_or_fail()
    if dry_run:
        campaign, maker = build(settings, **kw)
        print_plan(campaign, maker, as_json)
        return
    prepare(settings, workers)
    campaign, maker = build(settings, **kw)
    ids = submit_campaign(settings, campaign, maker)
    click.echo(
        f"campaign {campaign}: {maker.max_iterations} iterations, oracle {maker.oracle}, "
        f"surrogate {maker.surrogate}, generator {maker.generator}, budget "
        f"{maker.oracle_budget} (Fireworks {ids[0]}–{ids[-1]} submitted, more are added as it "
        "runs)"
    )
    status = run_here(settings, campaign)
    click.echo(f"the full view: crystaloop report --campaign {campaign}")
    exit_if_stalled(status)


@main.command()
@campaign_options
def submit(dry_run: bool, as_json: bool, **kw: Any) -> None:
    """Add a campaign to the LaunchPad and exit; workers ('rlaunch', 'crystaloop worker') run it."""
    settings = load_settings_or_fail()
    campaign, maker = build(settings, **kw)
    if dry_run:
        print_plan(campaign, maker, as_json)
        return
    ids = submit_campaign(settings, campaign, maker)
    click.echo(f"submitted campaign {campaign} (Fireworks {', '.join(map(str, ids))})")
    click.echo(
        f"run workers with: JOBFLOW_CONFIG_FILE={settings.jobflow_config_file} "
        f"FW_CONFIG_FILE={settings.fw_config_file} rlaunch -l "
        f"{settings.launchpad_file} -w {settings.fworker_file('cpu')} rapidfire  (one per "
        "category; the embedded profile: crystaloop worker --category cpu)"
    )


def print_status(status: Any) -> None:
    """Print the per-iteration table of a campaign, and what stalled it."""
    click.echo(
        f"campaign {status.campaign} ({status.state}"
        + (f": {status.stop_reason}" if status.stop_reason else "")
        + f"), oracle {status.oracle}, hull {status.plan.get('hull_source', 'oracle')}, "
        f"{status.labels} labels, "
        f"{status.duplicate_labels} duplicated"
    )
    header = (
        "iter",
        "generated",
        "valid",
        "to oracle",
        "done",
        "failed",
        "accepted",
        "audited",
        "coverage",
        "stable",
        "MAE before",
    )
    click.echo("  ".join(f"{h:>9}" for h in header))
    for row in status.iterations:
        mae = ", ".join(f"{v:.3f}" for v in row.mae_before.values()) or "-"
        coverage = f"{row.audit_coverage:.2f}" if row.audit_coverage is not None else "-"
        values = (
            row.iteration,
            row.generated,
            row.valid,
            row.selected,
            row.dft_done,
            row.dft_failed,
            row.accepted,
            row.audited,
            coverage,
            row.new_stable,
            mae,
        )
        click.echo("  ".join(f"{v:>9}" for v in values))
    for step in status.failed_steps:
        click.echo(
            f"stalled at Firework {step.fw_id} ({step.name}, iteration {step.iteration}): "
            f"{step.error}"
        )


@main.command()
@click.option("--campaign", help="Campaign id (default: the latest).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def status(campaign: str | None, as_json: bool) -> None:
    """Show a campaign's progress, one row per iteration.

    Generated, valid (passed the screens), sent to the oracle, oracle done / failed, accepted as
    predicted, audited accepted predictions and the share of them within the surrogate's
    tolerance (coverage), new stable (E_hull at most the campaign's threshold, 0.1 eV/atom by
    default) and the surrogate's MAE on the new labels before retraining; then the Fireworks'
    states. A campaign whose loop step failed is 'stalled', with the Firework and its error.
    The JSON has the same, per iteration (``audit_coverage``), and the campaign's plan.
    """
    from crystaloop.launchpad.status import campaign_overview

    settings = load_settings_or_fail()
    found = resolve_campaign(settings, campaign)
    data = campaign_overview(settings, found)
    if as_json:
        echo_json(data.model_dump(mode="json"))
        return
    print_status(data)
    click.echo(
        "Fireworks: "
        + "; ".join(
            f"iteration {k}: " + ", ".join(f"{s} {n}" for s, n in sorted(v.items()))
            for k, v in sorted(data.fireworks.items(), key=lambda kv: int(kv[0]))
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
    from crystaloop.stores.campaigns import CampaignStore
    from crystaloop.stores.factory import open_store

    settings = load_settings_or_fail()
    found = resolve_campaign(settings, campaign)
    CampaignStore(open_store(settings, "campaigns")).request_stop(found)
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
def design(
    formula: str,
    max_eform: float,
    n_wanted: int,
    submit_only: bool,
    dry_run: bool,
    as_json: bool,
    **kw: Any,
) -> None:
    """Find up to N structures of FORMULA with formation energy at most --max-eform.

    Known oracle labels count first; then CSP for FORMULA, screens (duplicates and space
    group 1 dropped), the surrogate's mean and σ, the oracle for the uncertain promising ones,
    retraining, until N are found, the budget is spent or --iterations is reached. Exits
    non-zero when a loop step fails and the design stalls. Example:
    crystaloop design Fe2O3 --max-eform 1.0 --n 50.
    """
    settings = load_settings_or_fail()
    spec = {"formula": formula, "max_eform": max_eform, "n_wanted": n_wanted}
    if dry_run:
        campaign, maker = build(settings, **kw, **spec)
        print_plan(campaign, maker, as_json)
        return
    if not submit_only:
        prepare(settings, min(2, os.cpu_count() or 1))
    campaign, maker = build(settings, **kw, **spec)
    ids = submit_campaign(settings, campaign, maker)
    click.echo(f"design {campaign}: {n_wanted} × {formula} with e_form ≤ {max_eform} eV/atom")
    if submit_only:
        click.echo(f"submitted (Fireworks {', '.join(map(str, ids))}); run workers to run it")
        return
    status = run_here(settings, campaign)
    found = maker.found(campaign, settings)
    for kind, ids_found in found.items():
        click.echo(
            f"{kind}: {len(ids_found)}" + (f" ({', '.join(ids_found[:10])})" if ids_found else "")
        )
    exit_if_stalled(status)
