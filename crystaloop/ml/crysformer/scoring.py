"""Score structures with a Crysformer ensemble: mean, σ, raw σ and confidence per target.

The one implementation behind the campaign's ``ScoreMaker`` and ``crystaloop predict``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from crystaloop.ml.crysformer.ensemble import CrysformerEnsemble
from crystaloop.ml.crysformer.targets import target_info
from crystaloop.ml.data.dataset import InMemoryGraphs, build_samples

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
    ``mc_samples`` defaults to the number the model was calibrated with.
    """
    config = ensemble.config
    n_t = len(config.targets)
    out = Scores()
    keep = []
    for sid, structure in items:
        unseen = ensemble.unseen_elements([site.specie.Z for site in structure])
        if unseen:
            out.unscorable[sid] = unseen
        else:
            keep.append((sid, structure, np.full(n_t, np.nan, np.float32)))
    if not keep:
        return out
    graphs = InMemoryGraphs(
        list(build_samples(keep, config.k, config.cutoff, workers)), config.targets
    )
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
