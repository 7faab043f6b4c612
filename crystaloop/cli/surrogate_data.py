"""Data for the training and prediction commands: the library's readers, with one-line errors.

Reading, validating and splitting live in the library (:mod:`crystaloop.stores.ingest.labelled`,
:mod:`crystaloop.stores.ingest.training_sets`, :mod:`crystaloop.ml.data.split`); these adapters
take the limits from the settings and turn the library's errors (an unreadable input, invalid
records, a missing target) into :class:`click.ClickException`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click


@contextmanager
def data_errors() -> Iterator[None]:
    """Turn the library's data errors (``InputError``, ``ValueError``) into click errors."""
    from crystaloop.stores.ingest import InputError

    try:
        yield
    except (InputError, ValueError) as err:
        raise click.ClickException(str(err)) from err


def record_limits(settings: Any) -> dict[str, int]:
    """Return the reading limits of the settings (``max_sites``, ``max_bytes``)."""
    return {"max_sites": settings.max_sites, "max_bytes": settings.max_file_mb * 2**20}


def fail_on(errors: list[dict[str, Any]], what: str) -> None:
    """Exit with one line naming the first invalid records, if there are any."""
    from crystaloop.stores.ingest.labelled import check_records

    with data_errors():
        check_records(errors, what)


def read_labelled(path: Path, settings: Any) -> tuple[list[tuple[str, Any, dict]], list[dict]]:
    """Read every record of ``path``: ``(id, structure, labels)`` items and rejected records."""
    from crystaloop.stores.ingest.labelled import read_labelled as read

    with data_errors():
        return read(path, **record_limits(settings))


def split_in_memory(
    path: Path, settings: Any, config: Any, plan: Any, workers: int
) -> dict[str, Any]:
    """Read ``path`` into memory and return ``{"train", "val", "test"}`` graph sets."""
    from crystaloop.stores.ingest.training_sets import graph_splits

    with data_errors():
        return graph_splits(path, config, plan, workers=workers, **record_limits(settings))


def split_to_cache(
    path: Path, settings: Any, config: Any, plan: Any, cache_dir: Path, workers: int
) -> dict[str, Any]:
    """Stream ``path`` into graph shards under ``cache_dir/<split>`` (or reuse them)."""
    from crystaloop.stores.ingest.training_sets import cached_graph_splits

    with data_errors():
        return cached_graph_splits(
            path,
            config,
            plan,
            cache_dir,
            workers=workers,
            log=lambda line: click.echo(line, err=True),
            **record_limits(settings),
        )
