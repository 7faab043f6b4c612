"""The ``crystaloop`` command line.

Every sub-command imports what it needs when it runs, so ``crystaloop --help`` starts fast
(no torch, no FireWorks, no pymatgen at start-up).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from crystaloop import __version__


def _settings(**overrides: Any) -> Any:
    from crystaloop.settings import load_settings

    try:
        return load_settings(**overrides)
    except Exception as err:  # pydantic ValidationError: a bad settings file or variable
        raise click.ClickException(f"invalid settings: {err}".splitlines()[0]) from err


def _corpus_store(settings: Any) -> Any:
    from crystaloop.stores.corpus import CorpusStore
    from crystaloop.stores.factory import open_store

    try:
        return CorpusStore(open_store(settings, "corpus"), open_store(settings, "corpus_aliases"))
    except ConnectionError as err:
        raise click.ClickException(str(err)) from err


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="crystaloop")
def main() -> None:
    """AI-guided crystal discovery campaigns on FireWorks and atomate2.

    Settings come from CRYSTALOOP_* environment variables and $CRYSTALOOP_HOME/settings.yaml
    (CRYSTALOOP_HOME defaults to ~/.crystaloop). Start with 'crystaloop init'.
    """


# ------------------------------------------------------------------------------------- init
@main.command()
@click.option("--mongo", "mongo_uri", metavar="URI", help="Use this MongoDB server (production).")
@click.option("--database", default=None, help="Database name for the stores.")
@click.option("--oracle", type=click.Choice(["chgnet", "vasp"]), default=None, help="Oracle.")
@click.option("--device", default=None, help="Torch device for training and inference.")
def init(
    mongo_uri: str | None, database: str | None, oracle: str | None, device: str | None
) -> None:
    """Write a working configuration under CRYSTALOOP_HOME.

    Writes settings.yaml, my_launchpad.yaml, my_fworker_<category>.yaml for each worker
    category and jobflow.yaml (JOB_STORE), so that workers started with
    JOBFLOW_CONFIG_FILE=<home>/jobflow.yaml rlaunch -l <home>/my_launchpad.yaml
    -w <home>/my_fworker_cpu.yaml find everything. Without --mongo the embedded profile is used.
    """
    from crystaloop.launchpad.config import initialize_launchpad, write_configuration

    overrides: dict[str, Any] = {}
    if mongo_uri:
        overrides.update(backend="mongodb", mongo_uri=mongo_uri)
    for key, value in (("database", database), ("oracle", oracle), ("device", device)):
        if value is not None:
            overrides[key] = value
    settings = _settings(**overrides)
    for path in write_configuration(settings):
        click.echo(f"wrote {path}")
    click.echo(f"profile: {settings.backend}")
    try:
        if initialize_launchpad(settings):
            click.echo("initialised the LaunchPad database")
    except ConnectionError as err:
        click.echo(f"warning: configuration written, but {err}", err=True)


# ----------------------------------------------------------------------------------- corpus
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

    store = _corpus_store(settings)
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
    if errors_file is not None:
        with open(errors_file, "w", encoding="utf-8") as handle:
            for error in total.errors:
                handle.write(json.dumps(error) + "\n")
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

    settings = _settings()
    try:
        summary = ingest_paths(settings, list(paths), source, workers, errors_file, quiet=as_json)
    except InputError as err:
        raise click.ClickException(str(err)) from err
    if as_json:
        _echo_json(summary)
        return
    click.echo(
        f"read {summary['read']}, stored {summary['stored']}, duplicates {summary['duplicates']}"
        f", unchanged {summary['unchanged']}, rejected {summary['rejected']}"
    )
    for error in summary["errors"][:20]:
        click.echo(f"  rejected {error['source_id']}: {error['reason']}")
    if len(summary["errors"]) > 20:
        click.echo(f"  ... and {len(summary['errors']) - 20} more (use --errors FILE)")


def _print_stats(stats: dict[str, Any]) -> None:
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


@corpus.command("stats")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object (key 'total').")
def corpus_stats(as_json: bool) -> None:
    """Count the corpus by number of elements, element, space group and size."""
    stats = _corpus_store(_settings()).stats()
    if as_json:
        _echo_json(stats)
    else:
        _print_stats(stats)


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
    store = _corpus_store(_settings())
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


# -------------------------------------------------------------------------------------- run
@main.command()
@click.option(
    "--workers",
    default=min(2, os.cpu_count() or 1),
    show_default=True,
    help="Processes for parsing and validation.",
)
def run(workers: int) -> None:
    """Run the main job on the configured profile.

    Today: configure CRYSTALOOP_HOME if needed, ingest the bundled sample corpus when the
    corpus is empty, and print its statistics. The active-learning campaign will run here.
    """
    from crystaloop.launchpad.config import initialize_launchpad, write_configuration
    from crystaloop.stores.ingest.sample import sample_corpus_files

    settings = _settings()
    if not settings.settings_file.exists():
        write_configuration(settings)
        click.echo(f"configured {settings.home} ({settings.backend} profile)")
    try:
        initialize_launchpad(settings)
    except ConnectionError as err:
        raise click.ClickException(str(err)) from err
    store = _corpus_store(settings)
    if store.count() == 0:
        click.echo("corpus is empty: ingesting the bundled sample corpus")
        summary: dict[str, Any] = {}
        for source, path in sample_corpus_files().items():
            result = ingest_paths(settings, [path], source, workers)
            summary[source] = result
            click.echo(
                f"  {source}: read {result['read']}, stored {result['stored']}, "
                f"duplicates {result['duplicates']}, rejected {result['rejected']}"
            )
    _print_stats(store.stats())


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
def worker(category: str | None, nlaunches: int, timeout: int | None) -> None:
    """Pull and run Fireworks from the configured LaunchPad (rapidfire)."""
    from crystaloop.launchpad.worker import run_worker

    try:
        run_worker(_settings(), category=category, nlaunches=nlaunches, timeout=timeout)
    except ConnectionError as err:
        raise click.ClickException(str(err)) from err


_PASSTHROUGH = {"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []}


@main.command(context_settings=_PASSTHROUGH)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def lpad(args: tuple[str, ...]) -> None:
    """FireWorks' lpad on the configured LaunchPad (either profile); try 'lpad -h'."""
    from crystaloop.launchpad.worker import run_fireworks_cli

    sys.exit(run_fireworks_cli("lpad", args, _settings()))


@main.command(context_settings=_PASSTHROUGH)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def rlaunch(args: tuple[str, ...]) -> None:
    """FireWorks' rlaunch on the configured LaunchPad (either profile); try 'rlaunch -h'."""
    from crystaloop.launchpad.worker import run_fireworks_cli

    sys.exit(run_fireworks_cli("rlaunch", args, _settings()))


if __name__ == "__main__":  # pragma: no cover
    main()
