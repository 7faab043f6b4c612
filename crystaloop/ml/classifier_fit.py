"""Train a binary classifier on labelled structures and write it: one path for every caller.

The ``train classifier`` command, the masked generator's downstream stability head and the match
discriminator (:mod:`crystaloop.workflows.discriminator`) end here: records are split by a
seeded hash of their id (or group), each becomes a Crysformer graph with its 0/1 label, the
classifier trains on the first split, keeps its best validation epoch, is scored on the test
split, and the card records it all.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from pymatgen.core import Structure

    from crystaloop.ml.crysformer.classifier import ClassifierOptions
    from crystaloop.ml.crysformer.model import Crysformer
    from crystaloop.ml.data.split import SplitPlan


def binary_label(labels: dict[str, float], name: str, at_most: float | None, record: str) -> float:
    """Return a record's 0/1 label: ``labels[name]``, or ``labels[name] ≤ at_most``.

    Raises
    ------
    ValueError
        Naming the record when the label is missing or not 0/1 (without ``at_most``).
    """
    value = labels.get(name)
    if value is None or not math.isfinite(float(value)):
        raise ValueError(f"{record}: no {name!r} label")
    if at_most is not None:
        return float(float(value) <= at_most)
    if float(value) not in (0.0, 1.0):
        raise ValueError(f"{record}: label {name!r} is {value}, not 0 or 1 (give --at-most)")
    return float(value)


def labelled_sets(
    items: Sequence[tuple[str, Structure, float]], plan: SplitPlan, k: int, cutoff: float,
    target: str, group_of: Callable[[tuple[str, Structure, float]], str] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Return ``{"train", "val", "test"}`` :class:`InMemoryGraphs` of ``(id, structure, 0/1)``.

    Items are split by ``group_of(item)`` (default: the id), so items of one group (samples of
    one composition) stay together.
    """
    from crystaloop.ml.data.dataset import GraphSample, InMemoryGraphs
    from crystaloop.ml.data.graph import knn_graphs

    splits = plan.partition(items, group_of or (lambda item: item[0]))
    out = {}
    for name, part in splits.items():
        graphs = knn_graphs([s for _, s, _ in part], k=k, cutoff=cutoff) if part else []
        samples = [
            GraphSample(g, np.array([y], dtype=np.float32), sid)
            for g, (sid, _, y) in zip(graphs, part, strict=True)
        ]
        out[name] = InMemoryGraphs(samples, [target])
    return out


def fit_classifier(
    model: Crysformer,
    sets: dict[str, Any],
    options: ClassifierOptions,
    out_dir: str | Path,
    task: str,
    training: dict[str, Any],
    extra: dict[str, Any] | None = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Train ``model`` on ``sets``, score it on their test split and write it; return the card."""
    from crystaloop.ml.classifier_checkpoint import save_classifier
    from crystaloop.ml.crysformer.classifier import binary_metrics, predict_proba, train_classifier

    result = train_classifier(model, sets["train"], sets["val"], options, log=log)
    metrics = {"val": result.best_val}
    if len(sets["test"]):
        p, y, _ = predict_proba(model, sets["test"], device=options.device)
        metrics["test"] = binary_metrics(p, y)
    record = {
        **training,
        "sizes": {k: len(v) for k, v in sets.items()},
        "positives": {k: float(v.target_values().sum()) for k, v in sets.items()},
        "epochs_run": len(result.history),
        "best_epoch": result.best_epoch,
        "seconds": round(result.seconds, 1),
        "freeze_backbone": options.freeze_backbone,
        "pos_weight": result.pos_weight,
        "device": options.device,
    }
    return save_classifier(model.cpu(), out_dir, task, metrics, record, extra)
