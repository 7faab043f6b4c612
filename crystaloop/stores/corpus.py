"""The corpus: known crystals in a maggma store, with idempotent, deduplicating ingest.

Each record of an input becomes one of

* **stored**: a new :class:`~crystaloop.schemas.CorpusEntry`, written in one document write;
* **duplicate**: the same crystal as a stored entry (equal fingerprint, then StructureMatcher): the
  record is linked to that entry as an alias (its id and labels kept) instead of stored again;
* **unchanged**: its ``(source, source_id)`` is already in the corpus, as an entry or an alias
  (re-ingesting a file changes nothing);
* **rejected**: unparsable or invalid, reported with its id and the reason.
"""

from __future__ import annotations

import multiprocessing
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from crystaloop.chem.dedup import (
    ShapeFilter,
    dedup_matcher,
    first_reduced_match,
    may_match,
    try_reduced_cell,
)
from crystaloop.schemas.corpus import CorpusEntry, SourceRef
from crystaloop.stores.ingest.prepare import Prepared, PrepareOptions, prepare_record
from crystaloop.stores.ingest.readers import RawRecord

if TYPE_CHECKING:
    from maggma.core import Store
    from pymatgen.core import Structure

FLUSH_EVERY = 256
CACHE_FINGERPRINTS = 4096


@dataclass
class IngestSummary:
    """Counts of one ingest, and the rejected records with their reasons."""

    read: int = 0
    stored: int = 0
    duplicates: int = 0
    unchanged: int = 0
    rejected: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Return the summary as the ``--json`` object of ``crystaloop corpus ingest``."""
        return {
            "read": self.read,
            "stored": self.stored,
            "duplicates": self.duplicates,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
            "errors": list(self.errors),
        }

    def add(self, other: IngestSummary) -> None:
        """Add the counts of ``other`` to this summary."""
        self.read += other.read
        self.stored += other.stored
        self.duplicates += other.duplicates
        self.unchanged += other.unchanged
        self.rejected += other.rejected
        self.errors.extend(other.errors)


class _FingerprintCache:
    """Structures of the corpus by fingerprint, loaded from the store on first use (LRU)."""

    def __init__(self, store: Store, capacity: int = CACHE_FINGERPRINTS) -> None:
        self.store = store
        self.capacity = capacity
        self._groups: OrderedDict[str, ShapeFilter] = OrderedDict()

    def group(self, key: str) -> ShapeFilter:
        from pymatgen.core import Structure

        if key in self._groups:
            self._groups.move_to_end(key)
            return self._groups[key]
        docs = self.store.query({"fingerprint": key}, properties=["material_id", "structure"])
        group = ShapeFilter((d["material_id"], Structure.from_dict(d["structure"])) for d in docs)
        self._groups[key] = group
        if len(self._groups) > self.capacity:
            self._groups.popitem(last=False)
        return group


def group_by_dedup_key(
    docs: Iterable[dict[str, Any]], keys: list[tuple[str, int]], id_field: str
) -> dict[tuple[str, int], list[tuple[str, Structure]]]:
    """Return, for each dedup key, the ``(id, structure)`` of the documents that may match it.

    ``docs`` hold ``formula``, ``nsites``, ``structure`` and ``id_field``; each structure is
    parsed once, however many keys it may match.
    """
    from pymatgen.core import Structure

    by_formula: dict[str, list[dict[str, Any]]] = {}
    for doc in docs:
        by_formula.setdefault(doc["formula"], []).append(doc)
    parsed: dict[str, Structure] = {}
    out: dict[tuple[str, int], list[tuple[str, Structure]]] = {}
    for key in keys:
        group = []
        for doc in by_formula.get(key[0], []):
            if may_match(key, doc["formula"], doc["nsites"]):
                doc_id = doc[id_field]
                if doc_id not in parsed:
                    parsed[doc_id] = Structure.from_dict(doc["structure"])
                group.append((doc_id, parsed[doc_id]))
        out[key] = group
    return out


class CorpusStore:
    """The corpus collection and its alias collection.

    Parameters
    ----------
    corpus
        Store of :class:`~crystaloop.schemas.CorpusEntry` documents, keyed by ``material_id``.
    aliases
        Store of alias documents (``alias_id`` → ``material_id``), keyed by ``alias_id``.
    """

    def __init__(self, corpus: Store, aliases: Store) -> None:
        self.corpus = corpus
        self.aliases = aliases

    # ----------------------------------------------------------------------------------- ingest
    def ingest(
        self,
        records: Iterable[RawRecord],
        options: PrepareOptions,
        *,
        workers: int = 1,
        progress: Callable[[int], None] | None = None,
    ) -> IngestSummary:
        """Validate, deduplicate and store the records of one input.

        Parameters
        ----------
        records
            Raw records of one input (one file, folder or archive).
        options
            Source name, file name and validation settings.
        workers
            Processes for parsing and validation (1: in this process).
        progress
            Called with the number of records handled since the last call.

        Returns
        -------
        IngestSummary
            What happened to each record; rejected ones are listed with their reasons.
        """
        summary = IngestSummary()
        writer = _Writer(self)
        seen: dict[str, int] = {}
        for prepared in _prepare_all(records, options, workers):
            summary.read += 1
            first = seen.setdefault(prepared.source_id, prepared.index)
            if first != prepared.index:
                prepared.entry = None
                prepared.reason = (
                    f"duplicate id {prepared.source_id!r} in this input (first at record {first})"
                )
            if prepared.entry is None:
                summary.rejected += 1
                summary.errors.append(
                    {
                        "source_id": prepared.source_id,
                        "record": prepared.index,
                        "reason": prepared.reason,
                    }
                )
            else:
                outcome = writer.add(prepared.entry)
                setattr(summary, outcome, getattr(summary, outcome) + 1)
            if progress is not None:
                progress(1)
        writer.flush()
        return summary

    # ------------------------------------------------------------------------------- queries
    def count(self, criteria: dict[str, Any] | None = None) -> int:
        """Return the number of stored entries matching ``criteria``."""
        return self.corpus.count(criteria or {})

    def query(
        self,
        *,
        formula: str | None = None,
        chemsys: str | None = None,
        elements: list[str] | None = None,
        limit: int = 0,
        properties: list[str] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Yield entries by reduced formula, exact chemical system, or containing elements."""
        criteria: dict[str, Any] = {}
        if formula:
            from pymatgen.core import Composition

            criteria["formula"] = Composition(formula).reduced_formula
        if chemsys:
            criteria["chemsys"] = "-".join(sorted(chemsys.split("-")))
        if elements:
            criteria["elements"] = {"$all": sorted(elements)}
        yield from self.corpus.query(
            criteria, properties=properties, limit=limit, sort={"material_id": 1}
        )

    def small_compounds(self, max_sites: int, elements: Iterable[str]) -> list[dict[str, Any]]:
        """Return entries of ≥ 2 elements, at most ``max_sites`` sites, only of ``elements``.

        Documents carry ``material_id``, ``elements`` and ``structure``, in id order.
        """
        allowed = set(elements)
        docs = self.corpus.query(
            {"nsites": {"$lte": max_sites}, "nelements": {"$gte": 2}},
            properties=["material_id", "elements", "structure"],
            sort={"material_id": 1},
        )
        return [d for d in docs if set(d["elements"]) <= allowed]

    def phases(self, chemsys: str, max_sites: int, limit: int) -> list[dict[str, Any]]:
        """Return up to ``limit`` entries of exactly ``chemsys``, smallest cells first."""
        if limit <= 0:
            return []
        return list(
            self.corpus.query(
                {"chemsys": chemsys, "nsites": {"$lte": max_sites}},
                properties=["material_id", "structure"],
                sort={"nsites": 1},
                limit=limit,
            )
        )

    def phases_by_composition(
        self, chemsys: str, max_sites: int, per_composition: int
    ) -> list[dict[str, Any]]:
        """Return the entries of exactly ``chemsys``, at most ``per_composition`` per formula.

        Within a formula the lowest energy comes first when the corpus has one
        (``formation_energy_per_atom``, else ``energy_per_atom``, from the input's labels),
        otherwise the smallest cell; formulas in order. Documents carry ``material_id``,
        ``formula`` and ``structure``.
        """
        if per_composition <= 0:
            return []
        docs = self.corpus.query(
            {"chemsys": chemsys, "nsites": {"$lte": max_sites}},
            properties=["material_id", "formula", "nsites", "structure", "properties"],
        )
        groups: dict[str, list[dict[str, Any]]] = {}
        for doc in docs:
            groups.setdefault(doc["formula"], []).append(doc)
        out = []
        for formula in sorted(groups):
            ranked = sorted(groups[formula], key=_energy_rank)
            out += [
                {k: d[k] for k in ("material_id", "formula", "structure")}
                for d in ranked[:per_composition]
            ]
        return out

    def structures_up_to(self, max_sites: int, limit: int) -> list[dict[str, Any]]:
        """Return up to ``limit`` entries (``material_id``, ``structure``) of small cells.

        A small cell has at most ``max_sites`` sites; entries come in store order.
        """
        return list(
            self.corpus.query(
                {"nsites": {"$lte": max_sites}},
                properties=["material_id", "structure"],
                limit=limit,
            )
        )

    def dedup_lookup(
        self, keys: list[tuple[str, int]]
    ) -> dict[tuple[str, int], list[tuple[str, Structure]]]:
        """Return the stored structures that may duplicate candidates with these dedup keys.

        ``keys`` are ``(reduced formula, primitive-cell size)`` pairs (see
        :mod:`crystaloop.chem.screens`); one indexed query on ``formula`` finds the entries,
        and only cells that hold a whole number of primitive cells are kept.
        """
        formulas = sorted({formula for formula, _ in keys})
        docs = []
        for start in range(0, len(formulas), 500):
            docs += self.corpus.query(
                {"formula": {"$in": formulas[start : start + 500]}},
                properties=["material_id", "formula", "nsites", "structure"],
            )
        return group_by_dedup_key(docs, keys, "material_id")

    def resolve(self, ids: Iterable[str]) -> dict[str, str]:
        """Return the stored entry each id is (itself) or was linked to as an alias.

        Ids that are neither a stored entry nor an alias are left out.
        """
        wanted = sorted(set(ids))
        if not wanted:
            return {}
        out = {
            d["material_id"]: d["material_id"]
            for d in self.corpus.query({"material_id": {"$in": wanted}}, properties=["material_id"])
        }
        for d in self.aliases.query(
            {"alias_id": {"$in": wanted}}, properties=["alias_id", "material_id"]
        ):
            out.setdefault(d["alias_id"], d["material_id"])
        return out

    def stats(self) -> dict[str, Any]:
        """Return counts by number of elements, element, space group and size."""
        fields = ["nelements", "elements", "spacegroup_number", "nsites", "source"]
        by_nelements: Counter[int] = Counter()
        by_element: Counter[str] = Counter()
        by_spacegroup: Counter[int] = Counter()
        by_source: Counter[str] = Counter()
        sizes: list[int] = []
        for doc in self.corpus.query({}, properties=fields):
            by_nelements[doc["nelements"]] += 1
            by_element.update(doc["elements"])
            by_spacegroup[doc["spacegroup_number"]] += 1
            by_source[doc["source"]] += 1
            sizes.append(doc["nsites"])
        sizes.sort()
        total = len(sizes)
        return {
            "total": total,
            "aliases": self.aliases.count(),
            "by_source": dict(by_source.most_common()),
            "by_nelements": {str(k): v for k, v in sorted(by_nelements.items())},
            "by_element": dict(by_element.most_common()),
            "by_spacegroup": {str(k): v for k, v in by_spacegroup.most_common()},
            "nsites": {
                "min": sizes[0] if sizes else None,
                "median": sizes[total // 2] if sizes else None,
                "max": sizes[-1] if sizes else None,
            },
        }


def _energy_rank(doc: dict[str, Any]) -> tuple[float, int, str]:
    """Sort key of a corpus entry among its polymorphs: lowest energy, then smallest cell."""
    props = doc.get("properties") or {}
    for name in ("formation_energy_per_atom", "energy_per_atom"):
        if name in props:
            return (float(props[name]["value"]), doc["nsites"], doc["material_id"])
    return (float("inf"), doc["nsites"], doc["material_id"])


def _prepare_all(
    records: Iterable[RawRecord], options: PrepareOptions, workers: int
) -> Iterator[Prepared]:
    work = partial(prepare_record, options=options)
    if workers <= 1:
        yield from map(work, records)
        return
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(workers) as pool:
        yield from pool.imap(work, records, chunksize=16)


class _Writer:
    """Buffers new entries and alias links, and writes them in batches."""

    def __init__(self, corpus_store: CorpusStore) -> None:
        self.corpus = corpus_store.corpus
        self.aliases = corpus_store.aliases
        self.cache = _FingerprintCache(self.corpus)
        self.matcher = dedup_matcher()
        self.new: dict[str, dict[str, Any]] = {}
        self.links: list[tuple[str, CorpusEntry]] = []

    def _known(self, material_id: str) -> bool:
        if material_id in self.new or any(a.material_id == material_id for _, a in self.links):
            return True
        if self.corpus.query_one({"material_id": material_id}, properties=["material_id"]):
            return True
        alias = self.aliases.query_one({"alias_id": material_id}, properties=["alias_id"])
        return alias is not None

    def add(self, entry: CorpusEntry) -> str:
        """Queue ``entry``; return ``"stored"``, ``"duplicates"`` or ``"unchanged"``."""
        from pymatgen.core import Structure

        if self._known(entry.material_id):
            return "unchanged"
        structure = Structure.from_dict(entry.structure)
        group = self.cache.group(entry.fingerprint)
        cell = try_reduced_cell(structure) if len(group) else None  # needed by a query only
        found = group.candidates(structure, cell)
        target = first_reduced_match(structure, cell, found, self.matcher)
        if target is not None:
            self.links.append((target, entry))
            if len(self.links) >= FLUSH_EVERY:
                self.flush()
            return "duplicates"
        self.new[entry.material_id] = entry.model_dump(mode="json")
        group.append(entry.material_id, structure, cell)
        if len(self.new) >= FLUSH_EVERY:
            self.flush()
        return "stored"

    def flush(self) -> None:
        """Write queued entries, then alias links (each entry is one atomic document write)."""
        if self.new:
            self.corpus.update(list(self.new.values()), key="material_id")
            self.new.clear()
        if not self.links:
            return
        coll = self.corpus._collection
        alias_docs = []
        for target, entry in self.links:
            ref = SourceRef(
                source=entry.source, source_id=entry.source_id, properties=entry.properties
            )
            coll.update_one(
                {"material_id": target}, {"$addToSet": {"aliases": ref.model_dump(mode="json")}}
            )
            alias_docs.append(
                {
                    "alias_id": entry.material_id,
                    "material_id": target,
                    "source": entry.source,
                    "source_id": entry.source_id,
                    "file": entry.provenance.file,
                }
            )
        self.aliases.update(alias_docs, key="alias_id")
        self.links.clear()
