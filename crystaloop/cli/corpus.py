"""``crystaloop corpus``: ingest, count and query known crystals."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from crystaloop.cli import main
from crystaloop.cli.common import echo_json, load_settings_or_fail, open_corpus


@main.group()
def corpus() -> None:
    """Ingest, count and query the corpus of known crystals."""


def _default_source(path: Path) -> str:
    stem = path.name.split(".")[0]
    if stem in {"train", "val", "test", "data"} and path.parent.name:
        return path.parent.name
    return stem


def ingest_paths(
    settings: Any,
    paths: list[Path],
    source: str | None,
    workers: int,
    errors_file: Path | None = None,
    quiet: bool = False,
) -> dict[str, Any]:
    """Ingest each path and return the combined summary (see ``corpus ingest``)."""
    from tqdm import tqdm

    from crystaloop.stores.corpus import IngestSummary
    from crystaloop.stores.ingest import read_records
    from crystaloop.stores.ingest.prepare import PrepareOptions

    store = open_corpus(settings)
    total = IngestSummary()
    max_bytes = settings.max_file_mb * 2**20
    for path in paths:
        fmt, records = read_records(path, max_bytes=max_bytes)
        options = PrepareOptions(
            source=source or _default_source(path),
            file=str(Path(path).resolve()),
            max_sites=settings.max_sites,
        )
        with tqdm(
            desc=f"ingest {Path(path).name} ({fmt})",
            unit=" records",
            disable=True if quiet else None,
            file=sys.stderr,
        ) as bar:
            summary = store.ingest(records, options, workers=workers, progress=bar.update)
        for error in summary.errors:
            error["file"] = str(path)
        total.add(summary)
    _write_errors(errors_file, total.errors)
    return total.as_dict()


@corpus.command("ingest")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--source", help="Source name (default: from the file name).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as a JSON object.")
@click.option(
    "--errors",
    "errors_file",
    type=click.Path(path_type=Path),
    help="Write rejected records as JSON lines to this file.",
)
@click.option(
    "--workers",
    default=min(2, os.cpu_count() or 1),
    show_default=True,
    help="Processes for parsing and validation.",
)
def corpus_ingest(
    paths: tuple[Path, ...],
    source: str | None,
    as_json: bool,
    errors_file: Path | None,
    workers: int,
) -> None:
    """Read crystal files and store the valid records in the corpus.

    PATH is a CDVAE-style CSV (cif column), a folder or archive of CIF files, a CIF file,
    pymatgen Structure / ComputedStructureEntry JSON (list or JSON lines, gzipped or not),
    a Matbench json.gz, or anything ASE reads. Invalid records are reported with their id and
    reason and the rest are stored; duplicates of stored structures are linked as aliases;
    re-ingesting a file changes nothing. Exits 0 when the input was processed, 1 with a one-line
    reason when it cannot be read.
    """
    from crystaloop.stores.ingest import InputError

    settings = load_settings_or_fail()
    try:
        summary = ingest_paths(settings, list(paths), source, workers, errors_file, quiet=as_json)
    except InputError as err:
        raise click.ClickException(str(err)) from err
    if as_json:
        echo_json(summary)
        return
    click.echo(
        f"read {summary['read']}, stored {summary['stored']}, duplicates {summary['duplicates']}"
        f", unchanged {summary['unchanged']}, rejected {summary['rejected']}"
    )
    for error in summary["errors"][:20]:
        click.echo(f"  rejected {error['source_id']}: {error['reason']}")
    if len(summary["errors"]) > 20:
        click.echo(f"  ... and {len(summary['errors']) - 20} more (use --errors FILE)")


@corpus.command("ingest-entries")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--mp-chemsys",
    help="Fetch the GGA/GGA+U entries of this system (and subsystems), e.g. Li-O, from the "
    "Materials Project API (needs mp-api and MP_API_KEY) instead of reading PATHs.",
)
@click.option("--source", help="Source name (default: from the file name; 'mp' with the API).")
@click.option(
    "--skip-rejected",
    is_flag=True,
    help="Store the accepted entries and report the rejected ones (default: an entry MP2020 "
    "compatibility rejects is an error and nothing is stored).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as a JSON object.")
@click.option(
    "--errors",
    "errors_file",
    type=click.Path(path_type=Path),
    help="Write rejected records as JSON lines to this file.",
)
def corpus_ingest_entries(
    paths: tuple[Path, ...],
    mp_chemsys: str | None,
    source: str | None,
    skip_rejected: bool,
    as_json: bool,
    errors_file: Path | None,
) -> None:
    """Ingest Materials Project ComputedStructureEntry JSON for the mp2020 hull.

    PATH is a JSON or JSON.gz file holding a list (or JSON lines) of ComputedStructureEntry
    dicts, as mp-api returns them and monty's dumpfn writes them. Each entry is corrected with
    MaterialsProject2020Compatibility (POTCARs checked); its structure goes into the corpus
    with the corrected energy, and the entry into the hull_entries store, which the 'mp2020'
    hull (setting 'hull: mp2020', with the vasp oracle) uses instead of reference phases
    labelled by the oracle. A rejected entry is named with its reason and nothing is stored,
    unless --skip-rejected.
    """
    from crystaloop.stores.ingest import InputError
    from crystaloop.stores.ingest.mp_entries import EntriesRejected, MPAPIError

    if bool(paths) == bool(mp_chemsys):
        raise click.UsageError("give PATHs or --mp-chemsys, not both and not neither")
    settings = load_settings_or_fail()
    try:
        summary = ingest_entry_inputs(
            settings, list(paths), mp_chemsys, source, skip_rejected, errors_file
        )
    except (InputError, EntriesRejected, MPAPIError) as err:
        raise click.ClickException(str(err)) from err
    if as_json:
        echo_json(summary)
        return
    click.echo(
        f"read {summary['read']}, stored {summary['stored']}, duplicates {summary['duplicates']}"
        f", unchanged {summary['unchanged']}, rejected {summary['rejected']}, hull entries "
        f"{summary['hull_entries']}"
    )
    for error in summary["errors"][:20]:
        click.echo(f"  rejected {error['source_id']}: {error['reason']}")


def ingest_entry_inputs(
    settings: Any,
    paths: list[Path],
    mp_chemsys: str | None,
    source: str | None,
    skip_rejected: bool,
    errors_file: Path | None = None,
) -> dict[str, Any]:
    """Ingest entry files (or MP's entries of ``mp_chemsys``); return the combined summary."""
    from crystaloop.stores.factory import open_store
    from crystaloop.stores.hull_entries import HullEntryStore
    from crystaloop.stores.ingest.mp_entries import (
        fetch_mp_entries,
        ingest_entry_batches,
        read_entry_dicts,
    )

    corpus_store = open_corpus(settings)
    try:
        hull = HullEntryStore(open_store(settings, "hull_entries"))
    except ConnectionError as err:
        raise click.ClickException(str(err)) from err
    inputs: list[tuple[str, str, list[Any]]] = []
    if mp_chemsys:
        inputs.append((source or "mp", f"mp-api:{mp_chemsys}", fetch_mp_entries(mp_chemsys)))
    max_bytes = settings.max_file_mb * 2**20
    for path in paths:
        items = read_entry_dicts(path, max_bytes=max_bytes)
        inputs.append((source or _default_source(path), str(Path(path).resolve()), items))
    total = ingest_entry_batches(corpus_store, hull, inputs, settings.max_sites, skip_rejected)
    _write_errors(errors_file, total.errors)
    return total.as_dict()


def _write_errors(path: Path | None, errors: list[dict[str, Any]]) -> None:
    """Write the rejected records as JSON lines to ``path`` (nothing when ``None``)."""
    if path is not None:
        with open(path, "w", encoding="utf-8") as handle:
            for error in errors:
                handle.write(json.dumps(error) + "\n")


@corpus.command("stats")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object (key 'total').")
def corpus_stats(as_json: bool) -> None:
    """Count the corpus by number of elements, element, space group and size."""
    stats = open_corpus(load_settings_or_fail()).stats()
    if as_json:
        echo_json(stats)
    else:
        print_stats(stats)


@corpus.command("query")
@click.option("--formula", help="Reduced formula, e.g. Fe2O3.")
@click.option("--chemsys", help="Exact chemical system, e.g. Fe-O.")
@click.option("--elements", help="Comma-separated elements the structure must contain.")
@click.option("--limit", default=50, show_default=True, help="Most results (0: all).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines with the structures.")
def corpus_query(
    formula: str | None, chemsys: str | None, elements: str | None, limit: int, as_json: bool
) -> None:
    """Find corpus entries by formula, chemical system or elements."""
    if not (formula or chemsys or elements):
        raise click.UsageError("give --formula, --chemsys or --elements")
    store = open_corpus(load_settings_or_fail())
    element_list = [e.strip() for e in elements.split(",")] if elements else None
    fields = (
        None if as_json else ["material_id", "formula", "spacegroup_symbol", "nsites", "properties"]
    )
    try:
        results = store.query(
            formula=formula, chemsys=chemsys, elements=element_list, limit=limit, properties=fields
        )
        count = 0
        for doc in results:
            doc.pop("_id", None)
            count += 1
            if as_json:
                click.echo(json.dumps(doc, default=str))
                continue
            props = ", ".join(
                f"{k}={v['value']:g} {v['unit'] or ''}".strip()
                for k, v in doc.get("properties", {}).items()
            )
            click.echo(
                f"{doc['material_id']:<40} {doc['formula']:<12} "
                f"{doc['spacegroup_symbol']:<10} {doc['nsites']:>4}  {props}"
            )
    except ValueError as err:
        raise click.ClickException(f"bad query: {err}") from err
    if not as_json:
        click.echo(f"{count} result(s)")


def print_stats(stats: dict[str, Any]) -> None:
    """Print corpus statistics for people."""
    click.echo(f"structures: {stats['total']}  (aliases linked: {stats['aliases']})")
    if not stats["total"]:
        return
    click.echo("by source: " + ", ".join(f"{k} {v}" for k, v in stats["by_source"].items()))
    click.echo(
        "by number of elements: " + ", ".join(f"{k}: {v}" for k, v in stats["by_nelements"].items())
    )
    top = list(stats["by_element"].items())[:15]
    click.echo("most common elements: " + ", ".join(f"{k} {v}" for k, v in top))
    top_sg = list(stats["by_spacegroup"].items())[:10]
    click.echo("most common space groups: " + ", ".join(f"{k} ({v})" for k, v in top_sg))
    sizes = stats["nsites"]
    click.echo(f"sites per cell: min {sizes['min']}, median {sizes['median']}, max {sizes['max']}")
