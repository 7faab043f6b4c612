"""Training sets from files: graph splits for the surrogate, crystal arrays for the generators.

Records are read by :mod:`crystaloop.stores.ingest.labelled` and split by a seeded hash of their
id (:class:`~crystaloop.ml.data.split.SplitPlan`). Any invalid record fails the whole read with
:class:`~crystaloop.stores.ingest.labelled.InvalidRecordsError` (a ``ValueError`` naming the
records and the reasons); a path that cannot be read raises
:class:`~crystaloop.stores.ingest.readers.InputError`.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crystaloop.stores.ingest.labelled import check_records, iter_records, read_labelled

if TYPE_CHECKING:
    from crystaloop.ml.data.split import SplitPlan
    from crystaloop.ml.generative.crystal import CrystalArrays

#: The marker file of a graph cache: its key and split sizes.
CACHE_MARKER = "cache.json"


def graph_splits(
    path: str | Path,
    config: Any,
    plan: SplitPlan,
    *,
    max_sites: int,
    max_bytes: int | None = None,
    workers: int = 1,
) -> dict[str, Any]:
    """Read ``path`` into memory and return its ``{"train", "val", "test"}`` graph sets.

    Parameters
    ----------
    path
        Labelled structures in any format the ingest reads.
    config
        The surrogate's configuration (its ``targets``, ``k`` and ``cutoff``).
    plan
        The split.
    max_sites, max_bytes
        Limits of :func:`~crystaloop.stores.ingest.labelled.iter_records`.
    workers
        Processes building graphs.

    Raises
    ------
    InvalidRecordsError
        When any record is invalid.
    ValueError
        When a target is no label of the data or a split is too small.
    InputError
        When ``path`` cannot be read.
    """
    from crystaloop.ml.data.graph_sets import split_graphs

    items, errors = read_labelled(path, max_sites=max_sites, max_bytes=max_bytes)
    check_records(errors, str(path))
    return split_graphs(
        items, config.targets, config.k, config.cutoff, plan, workers=workers, what=str(path)
    )


def graph_cache_key(path: str | Path, config: Any, plan: SplitPlan) -> str:
    """Return the key of the graph cache of ``path``: the file, its size and time, the graphs."""
    path = Path(path)
    stat = path.stat()
    text = json.dumps(
        [
            str(path.resolve()),
            stat.st_size,
            stat.st_mtime_ns,
            list(config.targets),
            config.k,
            config.cutoff,
            plan.as_dict(),
        ]
    )
    return hashlib.sha256(text.encode()).hexdigest()


def cached_graph_splits(
    path: str | Path,
    config: Any,
    plan: SplitPlan,
    cache_dir: str | Path,
    *,
    max_sites: int,
    max_bytes: int | None = None,
    workers: int = 1,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Stream ``path`` into graph shards under ``cache_dir/<split>``, or reuse them.

    The shards are reused when ``cache_dir`` holds a cache of the same file (path, size,
    modification time), targets, graphs and plan (:func:`graph_cache_key`); memory stays bounded
    however large the file. Arguments and errors are those of :func:`graph_splits`; a cache whose
    build failed is not marked, so the next call builds it again. ``log`` receives a line when
    the cache is reused.
    """
    from crystaloop.ml.data.graph_sets import (
        check_split_sizes,
        check_targets,
        open_split_shards,
        write_split_shards,
    )

    cache_dir = Path(cache_dir)
    key = graph_cache_key(path, config, plan)
    marker = cache_dir / CACHE_MARKER
    if marker.exists() and json.loads(marker.read_text()).get("key") == key:
        if log is not None:
            log(f"reusing graph cache {cache_dir}")
        return open_split_shards(cache_dir)
    marker.unlink(missing_ok=True)
    errors: list[dict[str, Any]] = []

    def valid() -> Iterator[tuple[str, Any, dict[str, float]]]:
        for sid, structure, labels, reason in iter_records(
            path, max_sites=max_sites, max_bytes=max_bytes
        ):
            if structure is None:
                errors.append({"source_id": sid, "reason": reason})
            else:
                yield sid, structure, labels

    sizes, seen = write_split_shards(
        valid(), config.targets, config.k, config.cutoff, plan, cache_dir, workers=workers
    )
    check_records(errors, str(path))
    check_targets(list(config.targets), seen, str(path))
    check_split_sizes(sizes, str(path))
    marker.write_text(json.dumps({"key": key, "sizes": sizes}))
    return open_split_shards(cache_dir)


def read_crystals(
    path: str | Path,
    *,
    max_sites: int,
    max_bytes: int | None = None,
    spacegroups: bool = False,
    eform_label: str | None = None,
) -> tuple[list[CrystalArrays], list[Any], list[dict[str, Any]]]:
    """Read every record of ``path`` as generator data.

    Parameters
    ----------
    path
        Structures in any format the ingest reads.
    max_sites, max_bytes
        Limits of :func:`~crystaloop.stores.ingest.labelled.iter_records`.
    spacegroups
        Give each crystal its space group (for a space-group condition); else 0.
    eform_label
        Label that holds the formation-energy condition (a record without it gets NaN).

    Returns
    -------
    tuple
        ``(crystals, structures, errors)``: the
        :class:`~crystaloop.ml.generative.crystal.CrystalArrays` and the parsed structures of
        the valid records (same order), and ``{"source_id", "reason"}`` of the invalid ones
        (pass them to :func:`~crystaloop.stores.ingest.labelled.check_records` to fail on any).
        With ``spacegroups``, a record spglib cannot analyse is an invalid one
        (``spglib failed: ...``).

    Raises
    ------
    InputError
        When ``path`` cannot be read at all or holds no record.
    """
    from crystaloop.chem.symmetry import SymmetryError, symmetry_info
    from crystaloop.ml.generative.crystal import NUM_TYPES, crystal_arrays

    crystals, structures, errors = [], [], []
    for sid, structure, labels, reason in iter_records(
        path, max_sites=max_sites, max_bytes=max_bytes
    ):
        if structure is None:
            errors.append({"source_id": sid, "reason": reason})
            continue
        eform = math.nan
        if eform_label is not None:
            value = labels.get(eform_label)
            value = getattr(value, "value", value)
            try:
                eform = float(value) if value is not None else math.nan
            except (TypeError, ValueError):
                errors.append({"source_id": sid, "reason": f"{eform_label} is not a number"})
                continue
        beyond = sorted({s.symbol for s in structure.species if s.Z > NUM_TYPES})
        if beyond:
            reason = (
                f"element(s) {', '.join(beyond)} beyond Z = {NUM_TYPES}, which no generator takes"
            )
            errors.append({"source_id": sid, "reason": reason})
            continue
        spacegroup = 0
        if spacegroups:
            try:
                spacegroup = symmetry_info(structure).number
            except SymmetryError as err:  # a failed analysis is not P1
                errors.append({"source_id": sid, "reason": f"spglib failed: {err}"})
                continue
        crystals.append(crystal_arrays(structure, spacegroup, eform, source_id=sid))
        structures.append(structure)
    return crystals, structures, errors


def too_large(crystals: Sequence[CrystalArrays], max_atoms: int) -> list[dict[str, Any]]:
    """Return ``{"source_id", "reason"}`` of the crystals with more atoms than ``max_atoms``."""
    return [
        {
            "source_id": c.source_id,
            "reason": f"{c.num_atoms} atoms in its primitive cell, more than the model's "
            f"maximum {max_atoms}",
        }
        for c in crystals
        if c.num_atoms > max_atoms
    ]


def read_crystal_sources(
    paths: Sequence[str | Path],
    *,
    max_sites: int,
    max_bytes: int | None = None,
    spacegroups: bool = False,
    eform_label: str | None = None,
    max_atoms: int | None = None,
) -> tuple[list[CrystalArrays], list[dict[str, Any]], dict[str, dict[str, int]]]:
    """Read the records of several files as one generator data set.

    Each record keeps its file's id, so a seeded split of the union puts every record where the
    same split of its own file puts it (a Perov-5 test structure stays out of training).

    Parameters
    ----------
    paths
        Structure files in any format the ingest reads.
    max_sites, max_bytes, spacegroups, eform_label
        As for :func:`read_crystals`.
    max_atoms
        Leave out crystals with more atoms in their primitive cell (a selection of the data, not
        an error: counted per file as ``over_max_atoms``).

    Returns
    -------
    tuple
        ``(crystals, errors, counts)``: the crystals kept, the invalid records (their
        ``source_id`` prefixed with the file) and ``{path: {"read", "kept", "over_max_atoms"}}``.
    """
    crystals: list[CrystalArrays] = []
    errors: list[dict[str, Any]] = []
    counts: dict[str, dict[str, int]] = {}
    for path in paths:
        found, _, bad = read_crystals(
            path,
            max_sites=max_sites,
            max_bytes=max_bytes,
            spacegroups=spacegroups,
            eform_label=eform_label,
        )
        kept = [c for c in found if max_atoms is None or c.num_atoms <= max_atoms]
        crystals += kept
        prefix = f"{path}: " if len(paths) > 1 else ""
        errors += [{**e, "source_id": f"{prefix}{e['source_id']}"} for e in bad]
        counts[str(path)] = {
            "read": len(found) + len(bad),
            "kept": len(kept),
            "over_max_atoms": len(found) - len(kept),
        }
    return crystals, errors, counts
