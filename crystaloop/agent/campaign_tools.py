"""The agent tools that start, follow, stop and report campaigns (designs included).

Submitting tools charge the connection's oracle budget (:class:`~crystaloop.agent.guards.
OracleBudget`) with the campaign's oracle calculations (its budget plus the bootstrap labels)
before anything is submitted, and return at once with the campaign id; the campaign runs through
the LaunchPad as always (the site's workers, or the server's background worker on the embedded
profile). :func:`campaign_status` polls; for a design it lists what has been found so far.
"""

from __future__ import annotations

from typing import Any

from crystaloop.agent.guards import ToolInputError
from crystaloop.agent.tools import ToolContext, check_formula

#: Largest budgets one request may ask for (the connection's budget caps them as well).
MAX_ITERATIONS = 50
MAX_SAMPLES = 2000


def _campaign_id(prefix: str) -> str:
    """Return a new campaign id: the time and a random suffix (two calls in one second differ)."""
    import secrets
    from datetime import UTC, datetime

    return f"{prefix}-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"


def _submit(ctx: ToolContext, options: dict[str, Any], what: str) -> dict[str, Any]:
    """Check, charge the budget, submit; return the campaign id, its plan and the Fireworks.

    ``options`` carry the ``campaign_id``; model names are checked and folders confined as every
    path is (:meth:`ToolContext.model_option`).
    """
    from crystaloop.launchpad.submit import submit_flow
    from crystaloop.workflows.plan import (
        CampaignError,
        CampaignOptions,
        build_campaign,
        campaign_plan,
    )

    if not 1 <= options.get("iterations", 1) <= MAX_ITERATIONS:
        raise ToolInputError(f"iterations: give 1 to {MAX_ITERATIONS}")
    if not 1 <= options.get("n_generate", 1) <= MAX_SAMPLES:
        raise ToolInputError(f"samples: give 1 to {MAX_SAMPLES}")
    for key in ("generator", "surrogate"):
        if options.get(key) is not None:
            options[key] = ctx.model_option(options[key], key)
    with ctx.lock:
        try:
            campaign, maker = build_campaign(ctx.settings, CampaignOptions.from_mapping(options))
        except CampaignError as err:
            raise ToolInputError(str(err)) from err
        plan = campaign_plan(maker, campaign)
        calls = int(plan["oracle_budget"]) + int(plan["bootstrap"])
        ctx.budget.charge(calls, what)
        try:
            fireworks = submit_flow(
                ctx.settings, maker.make(campaign), {"crystaloop_campaign": campaign}
            )
        except BaseException:
            ctx.budget.refund(calls)
            raise
        worker = ctx.start_worker()
    return {
        "campaign": campaign,
        "submitted_fireworks": len(fireworks),
        "oracle_calls_charged": calls,
        "budget": ctx.budget.as_dict(),
        "worker_started": worker,
        "plan": {k: plan[k] for k in ("kind", "oracle", "generator", "surrogate", "iterations")},
        "next": "poll campaign_status with this campaign id",
    }


def design(
    ctx: ToolContext,
    formula: str,
    max_eform: float,
    n: int = 10,
    iterations: int = 2,
    dft_budget: int = 4,
    per_iteration: int = 4,
    samples: int = 48,
    generator: str | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Submit the seed's query: up to ``n`` structures of ``formula`` with E_form ≤ the bound.

    Known oracle labels come back at once (``known``); CSP, the surrogate's confidence routing
    and the oracle for the uncertain ones run in the LaunchPad (poll :func:`campaign_status`).
    """
    from crystaloop.workflows.design import design_found

    check_formula(formula)
    if not 1 <= n <= 1000:
        raise ToolInputError(f"n {n}: give 1 to 1000")
    campaign = _campaign_id("design")
    with ctx.lock:  # what is known already, before anything is charged or submitted
        known = design_found(
            ctx.settings,
            campaign,
            formula=formula,
            max_eform=float(max_eform),
            oracle=ctx.settings.oracle,
            target="e_form",
        )["known"]
    options = {
        "campaign_id": campaign,
        "formula": formula,
        "max_eform": float(max_eform),
        "n_wanted": n,
        "iterations": iterations,
        "dft_budget": dft_budget,
        "per_iteration": per_iteration,
        "n_generate": samples,
        "generator": generator,
        "seed": seed,
    }
    return {**_submit(ctx, options, f"design of {formula}"), "known": known}


def submit_campaign(
    ctx: ToolContext,
    iterations: int = 2,
    dft_budget: int = 8,
    per_iteration: int = 4,
    samples: int = 48,
    generator: str | None = None,
    surrogate: str = "eform",
    seed: int = 0,
) -> dict[str, Any]:
    """Submit an open discovery campaign; returns at once with its id."""
    options = {
        "campaign_id": _campaign_id("run"),
        "iterations": iterations,
        "dft_budget": dft_budget,
        "per_iteration": per_iteration,
        "n_generate": samples,
        "generator": generator,
        "surrogate": surrogate,
        "seed": seed,
    }
    return _submit(ctx, options, "the campaign")


def campaign_status(ctx: ToolContext, campaign: str | None = None) -> dict[str, Any]:
    """Return a campaign's state and per-iteration counts; for a design, what it has found."""
    from crystaloop.launchpad.status import campaign_overview
    from crystaloop.launchpad.submit import firework_states
    from crystaloop.stores.campaigns import CampaignStore
    from crystaloop.stores.factory import open_store
    from crystaloop.workflows.design import design_found

    with ctx.lock:
        store = CampaignStore(open_store(ctx.settings, "campaigns"))
        campaign = campaign or store.latest()
        if not campaign:
            raise ToolInputError("no campaign has been started")
        record = store.get(campaign)
        if record is None:
            states = firework_states(ctx.settings, campaign)
            if not states:
                raise ToolInputError(f"no campaign {campaign!r}")
            return {"campaign": campaign, "state": "queued", "fireworks": states}
        status = campaign_overview(ctx.settings, campaign).model_dump(mode="json")
        out = {
            "campaign": campaign,
            "state": status["state"],
            "iterations": status["iterations"],
            "failed_steps": status.get("failed_steps", []),
            "fireworks": status.get("fireworks", {}),
        }
        query = record.plan.get("design")
        if query:
            found = design_found(
                ctx.settings,
                campaign,
                formula=query["formula"],
                max_eform=query["max_eform"],
                oracle=record.plan["oracle"],
                target=record.plan.get("selection", {}).get("target", "e_form"),
            )
            out["design"] = {**query, "found": found, "count": sum(map(len, found.values()))}
    return out


def stop_campaign(ctx: ToolContext, campaign: str) -> dict[str, Any]:
    """Ask a campaign to stop after its running iteration."""
    from crystaloop.stores.campaigns import CampaignStore
    from crystaloop.stores.factory import open_store

    with ctx.lock:
        store = CampaignStore(open_store(ctx.settings, "campaigns"))
        if store.get(campaign) is None:
            raise ToolInputError(
                f"campaign {campaign!r} has not started (or does not exist): a queued campaign "
                "takes the stop request once its first step has run; poll campaign_status"
            )
        store.request_stop(campaign)
    return {"campaign": campaign, "stop_requested": True}


def report(
    ctx: ToolContext, campaign: str | None = None, chemsys: str | None = None
) -> dict[str, Any]:
    """Write a campaign's HTML report under ``<home>/agent/``; return its path and the table."""
    from crystaloop.analysis.report import safe_name, write_report
    from crystaloop.analysis.report_data import gather, parse_chemsys
    from crystaloop.stores.campaigns import CampaignStore
    from crystaloop.stores.factory import open_store

    with ctx.lock:
        campaign = campaign or CampaignStore(open_store(ctx.settings, "campaigns")).latest()
        if not campaign:
            raise ToolInputError("no campaign has been started")
        try:
            system = parse_chemsys(chemsys) if chemsys else None
            data = gather(ctx.settings, campaign, system)
        except KeyError as err:
            raise ToolInputError(f"no campaign {campaign!r}") from err
        except ValueError as err:
            raise ToolInputError(str(err)) from err
        page = write_report(data, ctx.output_dir / f"report-{safe_name(campaign)}")
    return {"campaign": campaign, "page": str(page), "iterations": data.iterations}
