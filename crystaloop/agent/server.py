"""The MCP server: crystaloop's agent tools with typed inputs, descriptions and annotations.

Tools that only read are annotated ``readOnlyHint``; tools that submit oracle work say so in their
title and description and are charged to the connection's oracle budget. Tool functions are
synchronous and run in worker threads, so the event loop never waits on a prediction, a
generation or a store. A :class:`~crystaloop.agent.guards.ToolInputError` (or a store that
cannot be reached) comes back to the agent as a tool error with its message; nothing is changed.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import Field

from crystaloop.agent import campaign_tools, tools
from crystaloop.agent.guards import ToolInputError
from crystaloop.agent.tools import ToolContext

INSTRUCTIONS = """crystaloop: AI-guided crystal discovery on FireWorks / atomate2.
Look up known structures with search_corpus, predict formation energy (eV/atom) with its
uncertainty with predict, propose crystals with generate, and answer "find N structures of a
formula with E_form below a bound" with design, which returns a campaign id at once: poll
campaign_status until its state is finished. Oracle work (DFT or a universal potential) is
limited by this connection's budget. Structures travel as CIF text or pymatgen Structure JSON."""

Structures = Annotated[
    list[str] | None,
    Field(description="Structures as CIF text or pymatgen Structure JSON, at most 500."),
]
Format = Literal["cif", "json"]


def guarded(ctx: ToolContext) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Return a decorator turning bad input and unreachable stores into tool errors.

    The message goes to the agent with the store URI and its password redacted.
    """
    from mcp.server.mcpserver.exceptions import ToolError

    def wrap(func: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
        @functools.wraps(func)
        def call(*args: Any, **kwargs: Any) -> dict[str, Any]:
            try:
                return func(*args, **kwargs)
            except (ToolInputError, ConnectionError) as err:
                raise ToolError(ctx.redact(str(err))) from None

        return call

    return wrap


def build_server(ctx: ToolContext) -> Any:
    """Return an ``MCPServer`` serving the tools on ``ctx``."""
    from mcp.server.mcpserver import MCPServer
    from mcp.types import ToolAnnotations

    from crystaloop import __version__

    server = MCPServer("crystaloop", instructions=INSTRUCTIONS, version=__version__)
    _guarded = guarded(ctx)
    reads = ToolAnnotations(read_only_hint=True, open_world_hint=False)
    writes_file = ToolAnnotations(
        read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=False
    )
    submits = ToolAnnotations(
        read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=True
    )

    @server.tool(annotations=reads, title="Search the corpus of known crystals")
    @_guarded
    def search_corpus(
        formula: Annotated[str | None, Field(description="Reduced formula, e.g. Fe2O3.")] = None,
        chemsys: Annotated[str | None, Field(description="Exact system, e.g. Fe-O.")] = None,
        elements: Annotated[
            list[str] | None, Field(description="Elements every result contains.")
        ] = None,
        limit: Annotated[int, Field(ge=1, le=tools.MAX_RESULTS)] = 20,
        structure_format: Annotated[
            Format | None, Field(description="Include each structure as cif or json.")
        ] = None,
    ) -> dict[str, Any]:
        """Find known structures (with their labels) by formula, chemical system or elements."""
        return tools.search_corpus(ctx, formula, chemsys, elements, limit, structure_format)

    @server.tool(annotations=reads, title="Predict properties with uncertainty")
    @_guarded
    def predict(
        structures: Structures = None,
        path: Annotated[
            str | None, Field(description="A structure file inside the allowed folders.")
        ] = None,
        model: Annotated[str, Field(description="Surrogate name or directory.")] = "eform",
    ) -> dict[str, Any]:
        """Predict each structure's targets with the Crysformer surrogate and their uncertainty.

        Formation energy in eV/atom: mean, calibrated σ and confidence (the probability that the
        error is within the target's tolerance, 0.12 eV/atom for energies).
        """
        return tools.predict(ctx, structures, path, model)

    @server.tool(annotations=writes_file, title="Generate crystals (no oracle work)")
    @_guarded
    def generate(
        model: Annotated[str, Field(description="Generator: perov5, carbon24, mp.")] = "perov5",
        n: Annotated[int, Field(ge=1, le=tools.MAX_GENERATE)] = 10,
        composition: Annotated[
            str | None, Field(description="Formula of one cell (CSP); none: de novo.")
        ] = None,
        steps: Annotated[int, Field(ge=1, le=1000)] = 100,
        seed: int = 0,
        screen: Annotated[
            bool, Field(description="Screen (validity, charge, species, P1, duplicates).")
        ] = True,
        include: Annotated[
            int, Field(ge=0, le=tools.MAX_RESULTS, description="Structures to return inline.")
        ] = 5,
        structure_format: Format = "cif",
    ) -> dict[str, Any]:
        """Generate n crystals with a diffusion generator and screen them.

        All of them go to a JSON-lines file under the crystaloop home (its path is returned);
        the first ones that pass the screens come back inline.
        """
        return tools.generate(
            ctx, model, n, composition, steps, seed, screen, include, structure_format
        )

    @server.tool(annotations=submits, title="Design: find structures of a formula (submits work)")
    @_guarded
    def design(
        formula: Annotated[str, Field(description="Target formula, e.g. Fe2O3.")],
        max_eform: Annotated[float, Field(description="Formation energy bound, eV/atom.")],
        n: Annotated[int, Field(ge=1, le=1000, description="Structures wanted.")] = 10,
        iterations: Annotated[int, Field(ge=1, le=campaign_tools.MAX_ITERATIONS)] = 2,
        dft_budget: Annotated[
            int, Field(ge=1, description="Oracle calculations, charged to this connection.")
        ] = 4,
        per_iteration: Annotated[int, Field(ge=1)] = 4,
        samples: Annotated[int, Field(ge=1, le=campaign_tools.MAX_SAMPLES)] = 48,
        generator: Annotated[
            str | None, Field(description="Generator; none: mp (general chemistry).")
        ] = None,
        seed: int = 0,
    ) -> dict[str, Any]:
        """Find up to n structures of a formula with E_form below a bound. SUBMITS ORACLE WORK.

        Known oracle labels come back at once; then CSP of the formula, screens, the
        surrogate's mean and σ, the oracle (DFT or an ML potential) for the uncertain promising
        candidates and retraining run in the LaunchPad. Returns the campaign id at once; poll
        campaign_status for what is found.
        """
        return campaign_tools.design(
            ctx, formula, max_eform, n, iterations, dft_budget, per_iteration, samples,
            generator, seed,
        )  # fmt: skip

    @server.tool(annotations=submits, title="Submit a discovery campaign (submits work)")
    @_guarded
    def submit_campaign(
        iterations: Annotated[int, Field(ge=1, le=campaign_tools.MAX_ITERATIONS)] = 2,
        dft_budget: Annotated[
            int, Field(ge=1, description="Oracle calculations, charged to this connection.")
        ] = 8,
        per_iteration: Annotated[int, Field(ge=1)] = 4,
        samples: Annotated[int, Field(ge=1, le=campaign_tools.MAX_SAMPLES)] = 48,
        generator: Annotated[str | None, Field(description="Generator; none: perov5.")] = None,
        surrogate: str = "eform",
        seed: int = 0,
    ) -> dict[str, Any]:
        """Submit an open active-learning campaign. SUBMITS ORACLE WORK.

        Generate, screen, predict, oracle, retrain. Returns its id at once; poll
        campaign_status.
        """
        return campaign_tools.submit_campaign(
            ctx, iterations, dft_budget, per_iteration, samples, generator, surrogate, seed
        )

    @server.tool(annotations=reads, title="Campaign status")
    @_guarded
    def campaign_status(
        campaign: Annotated[str | None, Field(description="Campaign id; none: latest.")] = None,
    ) -> dict[str, Any]:
        """Return a campaign's state (queued, running, finished, stalled) and its iterations.

        For a design, also the ids found so far (known, labelled, predicted).
        """
        return campaign_tools.campaign_status(ctx, campaign)

    @server.tool(
        annotations=ToolAnnotations(
            read_only_hint=False, destructive_hint=True, idempotent_hint=True
        ),
        title="Stop a campaign",
    )
    @_guarded
    def stop_campaign(campaign: str) -> dict[str, Any]:
        """Ask a campaign to stop after its running iteration (what it found is kept)."""
        return campaign_tools.stop_campaign(ctx, campaign)

    @server.tool(annotations=writes_file, title="Write a campaign report")
    @_guarded
    def report(
        campaign: Annotated[str | None, Field(description="Campaign id; none: latest.")] = None,
        chemsys: Annotated[str | None, Field(description="Hull plot system, e.g. Ba-O-Ti.")] = None,
    ) -> dict[str, Any]:
        """Write a campaign's HTML report with figures; return its path and the iterations."""
        return campaign_tools.report(ctx, campaign, chemsys)

    return server
