"""Labelled structures from files, for training and prediction: one record at a time, validated.

Any format the ingest reads (:func:`~crystaloop.stores.ingest.readers.read_records`) works; each
record is parsed and validated as a corpus ingest does it
(:func:`~crystaloop.stores.ingest.prepare.parse_and_validate`), and a record that fails, or
repeats an id seen before in the same input, comes back with the reason instead of a structure,
so the caller can name every bad record at once (:func:`check_records`).

A path that cannot be read at all, or holds no record, raises
:class:`~crystaloop.stores.ingest.readers.InputError`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from crystaloop.stores.ingest.readers import InputError, read_records

#: Invalid records named in an error message; the rest are counted.
MAX_LISTED = 5

#: ``(id, structure or None, labels, reason or None)``: one record as :func:`iter_records` reads it.
Record = tuple[str, Any, dict[str, float], str | None]


class InvalidRecordsError(ValueError):
    """Some records of an input are invalid; the message names the first of them and why.

    Attributes
    ----------
    errors
        ``{"source_id", "reason"}`` of every invalid record.
    what
        The input (a path).
    """

    def __init__(self, errors: Sequence[dict[str, Any]], what: str) -> None:
        self.errors = list(errors)
        self.what = what
        super().__init__(invalid_records_message(self.errors, what))


def invalid_records_message(errors: Sequence[dict[str, Any]], what: str) -> str:
    """Return one line naming the first invalid records of ``what`` and their reasons.

    ``"N invalid record(s) in PATH: record 'id': reason; ... (and M more)"``.
    """
    listed = "; ".join(f"record {e['source_id']!r}: {e['reason']}" for e in errors[:MAX_LISTED])
    more = f" (and {len(errors) - MAX_LISTED} more)" if len(errors) > MAX_LISTED else ""
    return f"{len(errors)} invalid record(s) in {what}: {listed}{more}"


def check_records(errors: Sequence[dict[str, Any]], what: str) -> None:
    """Raise :class:`InvalidRecordsError` when ``errors`` lists any invalid record of ``what``."""
    if errors:
        raise InvalidRecordsError(errors, what)


def iter_records(
    path: str | Path, *, max_sites: int, max_bytes: int | None = None
) -> Iterator[Record]:
    """Yield ``(id, structure or None, labels, reason or None)`` for each record of ``path``.

    Parameters
    ----------
    path
        A file or folder in any format the ingest reads.
    max_sites
        Largest structure accepted (sites); a larger one is an invalid record.
    max_bytes
        Largest input read, bytes (``None``: the readers' default).

    Raises
    ------
    InputError
        When ``path`` cannot be read at all or holds no record.
    """
    from crystaloop.stores.ingest.prepare import parse_and_validate

    path = Path(path)
    limit = {} if max_bytes is None else {"max_bytes": max_bytes}
    _, records = read_records(path, **limit)
    seen: set[str] = set()
    empty = True
    for record in records:
        empty = False
        sid = record.source_id if record.source_id is not None else str(record.index)
        structure, reason = parse_and_validate(record, max_sites)
        if structure is not None and sid in seen:
            structure, reason = None, f"duplicate id {sid!r} in this input"
        seen.add(sid)
        yield sid, structure, record.properties, reason
    if empty:
        raise InputError(f"{path}: no records")


def read_labelled(
    path: str | Path, *, max_sites: int, max_bytes: int | None = None
) -> tuple[list[tuple[str, Any, dict[str, float]]], list[dict[str, Any]]]:
    """Read every record of ``path`` (see :func:`iter_records`).

    Returns
    -------
    tuple
        ``(items, errors)``: ``(id, structure, labels)`` of the valid records, in input order,
        and ``{"source_id", "reason"}`` of the invalid ones (pass them to :func:`check_records`
        to fail on any).
    """
    items, errors = [], []
    for sid, structure, labels, reason in iter_records(
        path, max_sites=max_sites, max_bytes=max_bytes
    ):
        if structure is None:
            errors.append({"source_id": sid, "reason": reason})
        else:
            items.append((sid, structure, labels))
    return items, errors
