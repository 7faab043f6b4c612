"""``crystaloop mcp``: serve crystaloop's tools to LLM agents over the Model Context Protocol."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import click

from crystaloop.cli import main
from crystaloop.cli.common import load_settings_or_fail


@main.command()
@click.option(
    "--transport",
    type=click.Choice(["stdio", "http"]),
    default="stdio",
    show_default=True,
    help="stdio (an MCP client starts this command) or streamable HTTP on localhost.",
)
@click.option("--port", default=8765, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--allow",
    "allowed",
    multiple=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="A folder the tools may read structure files from (repeatable); the crystaloop home "
    "is always allowed.",
)
@click.option(
    "--oracle-budget",
    default=16,
    show_default=True,
    type=click.IntRange(0),
    help="Oracle calculations the tools of this connection may submit in all.",
)
@click.option(
    "--run-workers/--no-run-workers",
    default=None,
    help="Start a background worker after submitting work (default: on for the embedded "
    "profile; off where the site's rlaunch workers run the LaunchPad).",
)
def mcp(
    transport: str, port: int, allowed: tuple[Path, ...], oracle_budget: int, run_workers: bool
) -> None:
    """Serve crystaloop's tools to an LLM agent over the Model Context Protocol.

    The tools: search_corpus, predict, generate, design, submit_campaign, campaign_status,
    stop_campaign, report. Read-only tools are annotated as such; design and submit_campaign
    submit oracle work, charged to --oracle-budget, and return a campaign id at once (poll
    campaign_status).
    Files and model folders are read only inside the crystaloop home and the --allow folders;
    over HTTP (localhost, no login) the budget is the server's, shared by its connections. The
    home is
    prepared first (configuration, LaunchPad, the sample corpus when the corpus is empty).
    Register it with a client as the command 'crystaloop mcp'; see the README.
    """
    from crystaloop.agent.guards import OracleBudget, PathPolicy
    from crystaloop.agent.server import build_server
    from crystaloop.agent.tools import ToolContext
    from crystaloop.launchpad.runner import prepare_home

    settings = load_settings_or_fail()
    # on stdio, standard output is the protocol: whatever a library prints while the home is
    # prepared and the tools' modules (torch, e3nn, FireWorks, jobflow) are imported goes to
    # standard error (once serving, the SDK itself keeps stray output off the wire)
    with contextlib.redirect_stdout(sys.stderr):
        try:
            prepare_home(settings, 1, lambda line: click.echo(line, err=True))
        except ConnectionError as err:
            raise click.ClickException(str(err)) from err
        import crystaloop.launchpad.submit
        import crystaloop.ml.checkpoint
        import crystaloop.ml.generative.checkpoint
        import crystaloop.workflows.design
        import crystaloop.workflows.plan  # noqa: F401

    ctx = ToolContext(
        settings=settings,
        paths=PathPolicy.of(settings.home, list(allowed)),
        budget=OracleBudget(oracle_budget),
        run_workers=settings.backend == "embedded" if run_workers is None else run_workers,
    )
    server = build_server(ctx)
    click.echo(
        f"crystaloop MCP server ({transport}), home {settings.home}, oracle budget {oracle_budget}",
        err=True,
    )
    if transport == "stdio":
        server.run("stdio")
    else:
        server.run("streamable-http", host="127.0.0.1", port=port)
