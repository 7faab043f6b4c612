"""The analysis commands: ``report`` (HTML page and figures) and ``export`` (discoveries)."""

from __future__ import annotations

from pathlib import Path

import click

from crystaloop.cli import main
from crystaloop.cli.common import load_settings_or_fail, resolve_campaign

#: ``--hull`` of ``report`` and ``export``.
HULL_OPTION = click.option(
    "--hull",
    type=click.Choice(["stored", "current"]),
    default="stored",
    show_default=True,
    help="E_hull as stored with each label (against the phases labelled when it was written) or "
    "against the current hull of every phase the oracle has labelled in this home.",
)


@main.command()
@click.option("--campaign", help="Campaign id (default: the latest).")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for index.html, the PNG figures and report.json (default: report-<campaign>).",
)
@click.option(
    "--chemsys",
    help="2- or 3-element system of the hull plot, e.g. Ba-O-Ti (default: the one with the "
    "most stable discoveries).",
)
@HULL_OPTION
def report(campaign: str | None, out: Path | None, chemsys: str | None, hull: str) -> None:
    """Write a campaign's report: a self-contained HTML page and its PNG figures.

    The page holds the per-iteration table (generated, passed each screen, oracle calls done
    and failed, accepted as predictions, new stable, S.U.N., hit rate, surrogate MAE and
    coverage before retraining), the stable discoveries and figures: hit rate and error per
    iteration, parity and calibration of the surrogate, predicted vs oracle distributions, a
    convex hull, element and space-group histograms. 'crystaloop status' is the quick view.
    """
    from crystaloop.analysis.report import safe_name, write_report
    from crystaloop.analysis.report_data import gather

    settings = load_settings_or_fail()
    found = resolve_campaign(settings, campaign)
    if chemsys is not None:
        from crystaloop.analysis.report_data import parse_chemsys

        try:
            chemsys = parse_chemsys(chemsys)
        except ValueError as err:
            raise click.BadParameter(str(err), param_hint="--chemsys") from err
    try:
        data = gather(settings, found, chemsys, hull)  # type: ignore[arg-type]
    except KeyError as err:
        raise click.ClickException(f"no campaign {found!r}") from err
    except (ValueError, ConnectionError) as err:
        raise click.ClickException(str(err)) from err
    page = write_report(data, out or Path(f"report-{safe_name(found)}"))
    click.echo(f"report of {found}: {page}")


@main.command()
@click.option("--campaign", help="Campaign id (default: the latest).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["cif", "json", "csv"]),
    required=True,
    help="cif: one file per discovery in a folder; json: records with structures; csv: a table.",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    help="Folder (cif) or file (json, csv); default: <campaign>-discoveries[.json|.csv].",
)
@click.option(
    "--max-ehull",
    default=0.1,
    show_default=True,
    type=float,
    help="Export labelled candidates with E_hull at most this (eV/atom).",
)
@HULL_OPTION
def export(campaign: str | None, fmt: str, out: Path | None, max_ehull: float, hull: str) -> None:
    """Export a campaign's discoveries (oracle-relaxed structures and their properties)."""
    from crystaloop.analysis.discovery import hull_source
    from crystaloop.analysis.export import discovery_records, write_export
    from crystaloop.analysis.report import safe_name

    settings = load_settings_or_fail()
    found = resolve_campaign(settings, campaign)
    try:
        records = discovery_records(settings, found, max_ehull, hull)  # type: ignore[arg-type]
    except KeyError as err:
        raise click.ClickException(f"no campaign {found!r}") from err
    except ConnectionError as err:
        raise click.ClickException(str(err)) from err
    target = out or Path(f"{safe_name(found)}-discoveries" + ("" if fmt == "cif" else f".{fmt}"))
    paths = write_export(records, fmt, target)  # type: ignore[arg-type]
    source = hull_source(settings, found)
    click.echo(
        f"{len(records)} discoveries of {found} with E_hull ({hull}, hull source {source}) "
        f"≤ {max_ehull:g} eV/atom "
        f"→ {target}" + (f" ({len(paths)} CIF files)" if fmt == "cif" else "")
    )
