"""Labelled structures to train / validation / test graph sets, in memory or as cached shards.

The input is ``(id, structure, labels)`` items (``labels``: a mapping of label name to value, as
the ingest readers find them beside each crystal); each item goes to the split of its id under a
:class:`~crystaloop.ml.data.split.SplitPlan`, and its targets are the requested labels, NaN where
one is missing. Reading files is the ingest's business
(:mod:`crystaloop.stores.ingest.training_sets` joins the two).

Errors are ``ValueError`` with a message that names what is missing or too small.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crystaloop.ml.data.split import SPLITS, SplitPlan

if TYPE_CHECKING:
    import numpy as np

    from crystaloop.ml.data.dataset import GraphSource, InMemoryGraphs, ShardedGraphs

#: One labelled record: its id, its structure and its labels.
LabelledItem = tuple[str, Any, Mapping[str, Any]]


def target_row(labels: Mapping[str, Any], names: Sequence[str]) -> np.ndarray:
    """Return the ``(T,)`` float32 targets ``names`` of one record's labels (NaN: missing)."""
    import numpy as np

    return np.array([labels.get(n, np.nan) for n in names], dtype=np.float32)


def check_targets(names: Sequence[str], available: Iterable[str], what: str) -> None:
    """Raise ``ValueError`` unless every target of ``names`` is among the ``available`` labels."""
    present = set(available)
    missing = [n for n in names if n not in present]
    if missing:
        raise ValueError(
            f"target(s) {', '.join(missing)} not found in {what} "
            f"(labels present: {', '.join(sorted(present)) or 'none'})"
        )


def check_split_sizes(sizes: Mapping[str, int], what: str) -> None:
    """Raise ``ValueError`` when the training or the validation split is empty."""
    if sizes["train"] == 0 or sizes["val"] == 0:
        raise ValueError(f"{what}: too few records for a train / validation split ({dict(sizes)})")


def split_graphs(
    items: Sequence[LabelledItem],
    targets: Sequence[str],
    k: int,
    cutoff: float,
    plan: SplitPlan,
    *,
    workers: int = 1,
    what: str = "the data",
) -> dict[str, InMemoryGraphs]:
    """Return the ``{"train", "val", "test"}`` graph sets of ``items``, in memory.

    Parameters
    ----------
    items
        ``(id, structure, labels)`` of every record.
    targets
        Label names to learn (the targets of the model, e.g. ``CrysformerConfig.targets``).
    k, cutoff
        Neighbours per atom and cutoff radius (Å) of the graphs.
    plan
        The split.
    workers
        Processes building graphs.
    what
        Names the data in error messages (a path).

    Raises
    ------
    ValueError
        When a target is no label of any record, or the training or validation split is empty.
    """
    from crystaloop.ml.data.dataset import InMemoryGraphs, build_samples

    names = list(targets)
    check_targets(names, {key for _, _, labels in items for key in labels}, what)
    labelled = ((sid, s, target_row(labels, names)) for sid, s, labels in items)
    groups: dict[str, list] = {name: [] for name in SPLITS}
    for sample in build_samples(labelled, k, cutoff, workers):
        groups[plan.of(sample.sample_id)].append(sample)
    check_split_sizes({name: len(v) for name, v in groups.items()}, what)
    return {name: InMemoryGraphs(v, names) for name, v in groups.items()}


def write_split_shards(
    items: Iterable[LabelledItem],
    targets: Sequence[str],
    k: int,
    cutoff: float,
    plan: SplitPlan,
    directory: str | Path,
    *,
    workers: int = 1,
) -> tuple[dict[str, int], set[str]]:
    """Stream ``items`` into graph shards under ``directory/<split>``, with bounded memory.

    Returns
    -------
    tuple
        ``(sizes, labels)``: records per split and every label name seen, for the caller's
        checks (:func:`check_targets`, :func:`check_split_sizes`) once the stream has ended.
    """
    from crystaloop.ml.data.dataset import ShardWriter, build_samples

    names = list(targets)
    root = Path(directory)
    writers = {name: ShardWriter(root / name, names) for name in SPLITS}
    seen: set[str] = set()

    def rows() -> Iterable[tuple[str, Any, Any]]:
        for sid, structure, labels in items:
            seen.update(labels)
            yield sid, structure, target_row(labels, names)

    sizes = dict.fromkeys(SPLITS, 0)
    for sample in build_samples(rows(), k, cutoff, workers):
        split = plan.of(sample.sample_id)
        writers[split].add(sample)
        sizes[split] += 1
    for writer in writers.values():
        writer.close()
    return sizes, seen


def open_split_shards(directory: str | Path) -> dict[str, ShardedGraphs]:
    """Return the graph sets written by :func:`write_split_shards` under ``directory``."""
    from crystaloop.ml.data.dataset import ShardedGraphs

    return {name: ShardedGraphs(Path(directory) / name) for name in SPLITS}


def sample_ids(source: GraphSource) -> list[str]:
    """Return the ids of a graph set, in order."""
    return [i for _, _, ids in source.batches(4096) for i in ids]
