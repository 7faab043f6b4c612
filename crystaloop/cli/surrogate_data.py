"""Labelled structures for the surrogate commands, split in memory or streamed to shards."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

MAX_LISTED = 5


@dataclass(frozen=True)
class SplitPlan:
    """Train / validation / test assignment by a seeded hash of each record's id."""

    val_fraction: float
    test_fraction: float
    seed: int

    def of(self, sample_id: str) -> str:
        """Return the split of one id."""
        from crystaloop.ml.data.split import split_of

        return split_of(sample_id, self.val_fraction, self.test_fraction, self.seed)

    def as_dict(self) -> dict[str, Any]:
        """Return the plan as recorded in ``split.json`` and the model card."""
        return {
            "split_method": "sha256(seed:id)",
            "seed": self.seed,
            "val_fraction": self.val_fraction,
            "test_fraction": self.test_fraction,
        }


def fail_on(errors: list[dict[str, Any]], what: str) -> None:
    """Exit with one line naming the first invalid records, if there are any."""
    if not errors:
        return
    listed = "; ".join(f"record {e['source_id']!r}: {e['reason']}" for e in errors[:MAX_LISTED])
    more = f" (and {len(errors) - MAX_LISTED} more)" if len(errors) > MAX_LISTED else ""
    raise click.ClickException(f"{len(errors)} invalid record(s) in {what}: {listed}{more}")


def iter_records(path: Path, settings: Any) -> Iterator[tuple[str, Any, dict, str | None]]:
    """Yield ``(id, structure or None, labels, reason or None)`` for each record of ``path``."""
    from crystaloop.stores.ingest import InputError, read_records
    from crystaloop.stores.ingest.prepare import parse_and_validate

    try:
        _, records = read_records(path, max_bytes=settings.max_file_mb * 2**20)
        seen: set[str] = set()
        empty = True
        for record in records:
            empty = False
            sid = record.source_id if record.source_id is not None else str(record.index)
            structure, reason = parse_and_validate(record, settings.max_sites)
            if structure is not None and sid in seen:
                structure, reason = None, f"duplicate id {sid!r} in this input"
            seen.add(sid)
            yield sid, structure, record.properties, reason
    except InputError as err:
        raise click.ClickException(str(err)) from err
    if empty:
        raise click.ClickException(f"{path}: no records")


def read_labelled(path: Path, settings: Any) -> tuple[list[tuple[str, Any, dict]], list[dict]]:
    """Read every record of ``path``: ``(id, structure, labels)`` items and rejected records."""
    items, errors = [], []
    for sid, structure, labels, reason in iter_records(path, settings):
        if structure is None:
            errors.append({"source_id": sid, "reason": reason})
        else:
            items.append((sid, structure, labels))
    return items, errors


def _check_targets(names: list[str], available: set[str], path: Path) -> None:
    missing = [n for n in names if n not in available]
    if missing:
        raise click.ClickException(
            f"target(s) {', '.join(missing)} not found in {path} "
            f"(labels present: {', '.join(sorted(available)) or 'none'})"
        )


def _targets_of(labels: dict, names: list[str]) -> Any:
    import numpy as np

    return np.array([labels.get(n, np.nan) for n in names], dtype=np.float32)


def _check_sizes(sizes: dict[str, int], path: Path) -> None:
    if sizes["train"] == 0 or sizes["val"] == 0:
        raise click.ClickException(
            f"{path}: too few records for a train / validation split ({sizes})"
        )


def split_in_memory(
    path: Path, settings: Any, config: Any, plan: SplitPlan, workers: int
) -> dict[str, Any]:
    """Read ``path`` into memory and return ``{"train", "val", "test"}`` graph sets."""
    from crystaloop.ml.data.dataset import InMemoryGraphs, build_samples

    items, errors = read_labelled(path, settings)
    fail_on(errors, str(path))
    names = list(config.targets)
    _check_targets(names, {k for _, _, labels in items for k in labels}, path)
    labelled = ((sid, s, _targets_of(labels, names)) for sid, s, labels in items)
    groups: dict[str, list] = {"train": [], "val": [], "test": []}
    for sample in build_samples(labelled, config.k, config.cutoff, workers):
        groups[plan.of(sample.sample_id)].append(sample)
    _check_sizes({k: len(v) for k, v in groups.items()}, path)
    return {k: InMemoryGraphs(v, names) for k, v in groups.items()}


def _cache_key(path: Path, config: Any, plan: SplitPlan) -> str:
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


def split_to_cache(
    path: Path, settings: Any, config: Any, plan: SplitPlan, cache_dir: Path, workers: int
) -> dict[str, Any]:
    """Stream ``path`` into graph shards under ``cache_dir/<split>`` (or reuse them)."""
    from crystaloop.ml.data.dataset import ShardedGraphs, ShardWriter, build_samples

    key = _cache_key(path, config, plan)
    marker = cache_dir / "cache.json"
    if marker.exists() and json.loads(marker.read_text()).get("key") == key:
        click.echo(f"reusing graph cache {cache_dir}", err=True)
        return {k: ShardedGraphs(cache_dir / k) for k in ("train", "val", "test")}
    marker.unlink(missing_ok=True)
    names = list(config.targets)
    writers = {k: ShardWriter(cache_dir / k, names) for k in ("train", "val", "test")}
    errors: list[dict[str, Any]] = []
    available: set[str] = set()

    def valid() -> Iterator[tuple[str, Any, Any]]:
        for sid, structure, labels, reason in iter_records(path, settings):
            if structure is None:
                errors.append({"source_id": sid, "reason": reason})
                continue
            available.update(labels)
            yield sid, structure, _targets_of(labels, names)

    sizes = {"train": 0, "val": 0, "test": 0}
    for sample in build_samples(valid(), config.k, config.cutoff, workers):
        split = plan.of(sample.sample_id)
        writers[split].add(sample)
        sizes[split] += 1
    for writer in writers.values():
        writer.close()
    fail_on(errors, str(path))
    _check_targets(names, available, path)
    _check_sizes(sizes, path)
    marker.write_text(json.dumps({"key": key, "sizes": sizes}))
    return {k: ShardedGraphs(cache_dir / k) for k in ("train", "val", "test")}


def sample_ids(source: Any) -> list[str]:
    """Return the ids of a graph set, in order."""
    return [i for _, _, ids in source.batches(4096) for i in ids]
