"""Ingest Materials Project ``ComputedStructureEntry`` records: corpus structures + the hull.

The production hull (``hull: mp2020``) comes from MP's own entries rather than reference phases
the oracle labels: a JSON or JSON.gz file holding a list (or JSON lines) of
``ComputedStructureEntry`` dicts, as ``mp-api`` returns them and ``monty.serialization.dumpfn``
writes them, or :func:`fetch_mp_entries` with an API key. Each entry is corrected by
``MaterialsProject2020Compatibility`` (:func:`crystaloop.chem.mp2020.correct_entry`), then

* its structure goes into the corpus like any ingested record (validated, deduplicated), with
  the corrected ``energy`` and ``energy_per_atom``, the ``uncorrected_energy`` and the
  ``correction`` as properties;
* the corrected entry goes into the ``hull_entries`` store
  (:class:`~crystaloop.schemas.HullEntryDoc`), linked to the corpus entry holding its
  structure.

An entry the scheme rejects (wrong run type or POTCARs, no POTCAR information, not an entry) is
an error naming every such record and its reason, and nothing is written, unless
``skip_rejected`` is given: then the others are stored and the rejected ones are reported in the
summary like any rejected record.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crystaloop.stores.corpus import IngestSummary
from crystaloop.stores.ingest.readers import (
    InputError,
    RawRecord,
    _load_json_documents,
    _record_id,
    check_path,
)

if TYPE_CHECKING:
    from pymatgen.entries.computed_entries import ComputedStructureEntry

    from crystaloop.stores.corpus import CorpusStore
    from crystaloop.stores.hull_entries import HullEntryStore
    from crystaloop.stores.ingest.prepare import PrepareOptions

#: Rejected records named in the message of :class:`EntriesRejected` (the rest are counted).
SHOWN_REJECTIONS = 10


class EntriesRejected(ValueError):
    """Some entries cannot be used on the MP2020 hull; nothing was written.

    Attributes
    ----------
    errors
        ``{source_id, record, reason}`` of every rejected record.
    """

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        self.errors = errors
        shown = "; ".join(f"{e['source_id']} (record {e['record']}): {e['reason']}" for e in errors)
        if len(errors) > SHOWN_REJECTIONS:
            shown = (
                "; ".join(
                    f"{e['source_id']} (record {e['record']}): {e['reason']}"
                    for e in errors[:SHOWN_REJECTIONS]
                )
                + f"; and {len(errors) - SHOWN_REJECTIONS} more"
            )
        super().__init__(
            f"{len(errors)} entr{'y' if len(errors) == 1 else 'ies'} rejected, nothing stored "
            f"(skip them with skip_rejected / --skip-rejected): {shown}"
        )


class MPAPIError(RuntimeError):
    """The Materials Project API cannot be used here (no key, ``mp-api`` not installed)."""


@dataclass
class EntriesSummary(IngestSummary):
    """An :class:`IngestSummary` plus the number of entries written to the hull store."""

    hull_entries: int = 0

    def as_dict(self) -> dict[str, Any]:
        """Return the summary with ``hull_entries``."""
        return super().as_dict() | {"hull_entries": self.hull_entries}


def read_entry_dicts(path: str | Path, max_bytes: int = 4096 * 2**20) -> list[Any]:
    """Return the items of a JSON / JSON-lines file (gzipped or not) of entry dicts.

    Raises
    ------
    InputError
        When the path is missing, empty, unreadable, not JSON or holds no records.
    """
    path = Path(path)
    check_path(path, max_bytes)
    if path.is_dir():
        raise InputError(f"{path}: a folder, not a JSON file of entries")
    try:
        documents = _load_json_documents(path)
    except (OSError, UnicodeDecodeError, EOFError) as err:
        raise InputError(f"{path}: cannot read: {err}") from err
    items: list[Any] = []
    for doc in documents:
        items.extend(doc if isinstance(doc, list) else [doc])
    if not items:
        raise InputError(f"{path}: JSON holds no entries")
    return items


def _entry_id(index: int, item: Any) -> str:
    if isinstance(item, dict):
        found = _record_id(item)
        if found is not None:
            return found
    return str(index)


def correct_entries(
    items: list[Any], check_potcar: bool = True
) -> tuple[list[tuple[int, str, ComputedStructureEntry]], list[dict[str, Any]]]:
    """Correct each item with MP2020 compatibility.

    Returns
    -------
    accepted
        ``(record index, entry id, corrected entry)`` of the entries the scheme accepted.
    errors
        ``{source_id, record, reason}`` of the others: not an entry with a structure, rejected
        by the scheme (its reason), or an id seen before in this input.
    """
    from crystaloop.chem.mp2020 import CompatibilityRejected, correct_entry

    accepted = []
    errors = []
    seen: dict[str, int] = {}
    for index, item in enumerate(items):
        sid = _entry_id(index, item)
        reason = None
        if not isinstance(item, dict):
            reason = f"expected a ComputedStructureEntry dict, got {type(item).__name__}"
        elif "structure" not in item or "energy" not in item:
            reason = "not a ComputedStructureEntry (needs 'structure' and 'energy')"
        elif sid in seen:
            reason = f"duplicate id {sid!r} in this input (first at record {seen[sid]})"
        if reason is None:
            seen[sid] = index
            try:
                accepted.append((index, sid, correct_entry(item, check_potcar)))
                continue
            except CompatibilityRejected as err:
                reason = f"MP2020 compatibility rejected it: {err.reason}"
            except ValueError as err:
                reason = str(err)
        errors.append({"source_id": sid, "record": index, "reason": reason})
    return accepted, errors


def ingest_entries(
    corpus: CorpusStore,
    hull: HullEntryStore,
    items: list[Any],
    options: PrepareOptions,
    *,
    skip_rejected: bool = False,
    check_potcar: bool = True,
    workers: int = 1,
) -> EntriesSummary:
    """Correct, then store entry dicts: structures in the corpus, entries in the hull store.

    Parameters
    ----------
    corpus, hull
        The corpus and ``hull_entries`` stores.
    items
        ``ComputedStructureEntry`` dicts (see :func:`read_entry_dicts`).
    options
        Source name, file name and the corpus's validation settings.
    skip_rejected
        Store the accepted entries and report the rejected ones in the summary, instead of
        raising.
    check_potcar
        Check the entries' POTCARs against MP's (``potcar_spec`` titles or ``potcar_symbols``).
    workers
        Processes for the corpus's parsing and validation.

    Returns
    -------
    EntriesSummary
        The corpus ingest's counts (the rejected entries included) and how many entries the
        hull store holds from this input. An entry whose structure the corpus rejects is not
        written to the hull store either.

    Raises
    ------
    EntriesRejected
        When an entry is rejected and ``skip_rejected`` is false; nothing is written then.
    """
    from crystaloop.chem.mp2020 import COMPATIBILITY
    from crystaloop.schemas.corpus import CorpusEntry, HullEntryDoc, Provenance

    accepted, errors = correct_entries(items, check_potcar)
    if errors and not skip_rejected:
        raise EntriesRejected(errors)
    records = [
        RawRecord(
            index=index,
            source_id=sid,
            kind="structure",
            payload=entry.structure.as_dict(),
            properties={
                "energy": float(entry.energy),
                "energy_per_atom": float(entry.energy_per_atom),
                "uncorrected_energy": float(entry.uncorrected_energy),
                "correction": float(entry.correction),
            },
        )
        for index, sid, entry in accepted
    ]
    summary = EntriesSummary()
    summary.add(corpus.ingest(records, options, workers=workers))
    summary.read += len(errors)
    summary.rejected += len(errors)
    summary.errors = sorted(errors + summary.errors, key=lambda e: e["record"])
    refused = {e["source_id"] for e in summary.errors}
    kept = [(index, sid, entry) for index, sid, entry in accepted if sid not in refused]
    where = corpus.resolve([CorpusEntry.make_id(options.source, sid) for _, sid, _ in kept])
    docs = []
    for index, sid, entry in kept:
        elements = sorted(str(el) for el in entry.composition.elements)
        docs.append(
            HullEntryDoc(
                hull_id=f"{options.source}:{sid}",
                entry_id=sid,
                material_id=where.get(CorpusEntry.make_id(options.source, sid)),
                source=options.source,
                compatibility=COMPATIBILITY,
                formula=entry.composition.reduced_formula,
                chemsys="-".join(elements),
                elements=elements,
                nsites=int(round(entry.composition.num_atoms)),
                energy=float(entry.energy),
                energy_per_atom=float(entry.energy_per_atom),
                uncorrected_energy=float(entry.uncorrected_energy),
                correction=float(entry.correction),
                entry=entry.as_dict(),
                provenance=Provenance(file=options.file, record=index),
            )
        )
    summary.hull_entries = hull.upsert(docs)
    return summary


def ingest_entry_batches(
    corpus: Any,
    hull_entries: Any,
    batches: list[tuple[str, str, list[Any]]],
    max_sites: int,
    skip_rejected: bool = False,
) -> EntriesSummary:
    """Ingest ``(source, where, entry dicts)`` batches; return the combined summary.

    Unless ``skip_rejected``, every batch is checked before anything is stored: one entry that
    MP2020 compatibility rejects, in any batch, raises :class:`EntriesRejected` naming them all
    (with ``file`` = the batch's ``where``). Errors in the summary carry ``file`` too.
    """
    from crystaloop.stores.ingest.prepare import PrepareOptions

    if not skip_rejected:
        errors = []
        for _, where, items in batches:
            errors += [e | {"file": where} for e in correct_entries(items)[1]]
        if errors:
            raise EntriesRejected(errors)
    total = EntriesSummary()
    for name, where, items in batches:
        options = PrepareOptions(source=name, file=where, max_sites=max_sites)
        summary = ingest_entries(corpus, hull_entries, items, options, skip_rejected=skip_rejected)
        for error in summary.errors:
            error["file"] = where
        total.add(summary)
        total.hull_entries += summary.hull_entries
    return total


def fetch_mp_entries(chemsys: str, api_key: str | None = None) -> list[dict[str, Any]]:
    """Return MP's GGA/GGA+U ``ComputedStructureEntry`` dicts of a system and its subsystems.

    A thin wrapper of ``mp_api.client.MPRester.get_entries_in_chemsys`` (``thermo_types``
    ``GGA_GGA+U``), imported here only, so that ``mp-api`` stays optional. Feed the result to
    :func:`ingest_entries`.

    Parameters
    ----------
    chemsys
        Elements joined by ``-`` (``Li-O``, ``Fe-Li-O``).
    api_key
        Materials Project API key; default: the ``MP_API_KEY`` environment variable.

    Raises
    ------
    MPAPIError
        When no key is configured or ``mp-api`` is not installed.
    """
    key = api_key or os.environ.get("MP_API_KEY")
    if not key:
        raise MPAPIError("no Materials Project API key: set MP_API_KEY or pass one")
    try:
        from mp_api.client import MPRester
    except ImportError as err:
        raise MPAPIError(
            "the Materials Project client is not installed: pip install mp-api "
            "(or download the entries as JSON and ingest the file)"
        ) from err
    elements = [el for el in chemsys.split("-") if el]
    with MPRester(key) as rester:
        entries = rester.get_entries_in_chemsys(
            elements, additional_criteria={"thermo_types": ["GGA_GGA+U"]}
        )
    return [entry.as_dict() for entry in entries]
