"""Score structures with a Crysformer ensemble: mean, σ, raw σ and confidence per target.

The one implementation behind the campaign's ``ScoreMaker`` and ``crystaloop predict``.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

import numpy as np
import torch

from crystaloop.ml.crysformer.config import CrysformerConfig
from crystaloop.ml.crysformer.ensemble import CrysformerEnsemble
from crystaloop.ml.crysformer.targets import target_info
from crystaloop.ml.data.dataset import GraphSample, InMemoryGraphs
from crystaloop.ml.data.graph import CrystalGraph, knn_graphs

if TYPE_CHECKING:
    from pymatgen.core import Structure


@dataclass
class Scores:
    """The scores of a set of structures.

    Attributes
    ----------
    scores
        ``{id: {target: {"mean", "std", "std_raw", "confidence", "tolerance"}}}`` in input
        order (``tolerance``: the error that counts as right, in the target's own unit, so
        per cell for a per-cell target).
    unscorable
        ``{id: atomic numbers}`` of the structures with an element the model never saw.
    """

    scores: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    unscorable: dict[str, list[int]] = field(default_factory=dict)


def score_structures(
    ensemble: CrysformerEnsemble,
    items: Iterable[tuple[str, Structure]],
    *,
    batch_size: int = 256,
    device: str = "cpu",
    mc_samples: int | None = None,
    workers: int = 1,
) -> Scores:
    """Return the ensemble's scores of ``(id, structure)`` items.

    A structure with an element no member saw is not scored (listed in ``unscorable``).
    ``mc_samples`` defaults to the number the model was calibrated with. The graphs are built
    for many structures at once (:func:`~crystaloop.ml.data.graph.knn_graphs`), in ``workers``
    processes only when there are enough structures to pay for starting them.
    """
    config = ensemble.config
    n_t = len(config.targets)
    out = Scores()
    ids, structures, numbers = [], [], []
    for sid, structure in items:
        ids.append(sid)
        structures.append(structure)
        numbers.append([site.specie.Z for site in structure])
    # "seen" is a property of each element: ask about every distinct one once
    distinct = sorted({z for zs in numbers for z in zs})
    unseen_anywhere = set(ensemble.unseen_elements(distinct))
    keep = []
    for index, zs in enumerate(numbers):
        unseen = sorted({z for z in zs if z in unseen_anywhere})
        if unseen:
            out.unscorable[ids[index]] = unseen
        else:
            keep.append(index)
    if not keep:
        return out
    graphs = _build_graphs(
        [structures[i] for i in keep], [numbers[i] for i in keep], config, workers
    )
    nan = np.full(n_t, np.nan, np.float32)
    samples = [GraphSample(g, nan.copy(), ids[i]) for g, i in zip(graphs, keep, strict=True)]
    graphs = InMemoryGraphs(samples, config.targets)
    with torch.inference_mode():
        pred = ensemble.predict(graphs, batch_size=batch_size, device=device, mc_samples=mc_samples)
    conf = ensemble.confidence(pred.std_raw, pred.n_atoms)
    tolerances = ensemble.tolerances
    for i, sid in enumerate(pred.ids):
        n = float(pred.n_atoms[i])
        out.scores[sid] = {
            name: {
                "mean": float(pred.mean[i, j]),
                "std": float(pred.std[i, j]),
                "std_raw": float(pred.std_raw[i, j]),
                "confidence": float(conf[i, j]),
                "tolerance": float(tolerances[j] * (n if target_info(name).per_cell else 1.0)),
            }
            for j, name in enumerate(config.targets)
        }
    return out


#: Structures per call of :func:`~crystaloop.ml.data.graph.knn_graphs` (bounds its memory).
GRAPH_CHUNK = 2048
#: Graph building uses a process pool only for at least this many structures per worker
#: (below that, starting the pool costs more than it saves).
MIN_PER_WORKER = 16384


def _graph_chunk(
    chunk: tuple[list[Structure], list[list[int]]], k: int, cutoff: float
) -> list[CrystalGraph]:
    structures, numbers = chunk
    return knn_graphs(structures, k, cutoff, atomic_numbers=numbers)


def _build_graphs(
    structures: list[Structure],
    numbers: list[list[int]],
    config: CrysformerConfig,
    workers: int,
) -> list[CrystalGraph]:
    """Return the kNN graphs of ``structures`` (batched; in ``workers`` processes if many)."""
    chunks = [
        (structures[i : i + GRAPH_CHUNK], numbers[i : i + GRAPH_CHUNK])
        for i in range(0, len(structures), GRAPH_CHUNK)
    ]
    work = partial(_graph_chunk, k=config.k, cutoff=config.cutoff)
    if workers <= 1 or len(structures) < workers * MIN_PER_WORKER:
        return [g for chunk in chunks for g in work(chunk)]
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        return [g for part in pool.imap(work, chunks) for g in part]
