"""Pre-train (or fine-tune) a masked generator on prepared splits and write its checkpoint.

Training is the generators' loop (:func:`~crystaloop.ml.generative.fit.fit_generator`: budget,
warm-up and cosine schedule, weight average, best validation loss kept); the items are crystal
graphs and the model's loss masks and perturbs them (:meth:`MaskedDenoiser.loss`), so every epoch
sees new masks and noise while validation sees the same ones every time (its fixed seed).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from crystaloop.ml.data.graph import CrystalGraph
from crystaloop.ml.generative.config import GeneratorTrainOptions
from crystaloop.ml.masked.config import MaskedConfig


def new_masked(config: MaskedConfig, splits: dict[str, Sequence[CrystalGraph]], seed: int) -> Any:
    """Return a fresh masked generator of ``config`` whose elements are those of ``splits``.

    Every split's elements are included (a held-out crystal is never out of range, as for the
    diffusion generators); ``seed`` seeds the initial weights.
    """
    import numpy as np
    import torch

    from crystaloop.ml.masked.model import MaskedDenoiser

    graphs = [g for part in splits.values() for g in part]
    if not graphs:
        raise ValueError("no crystals to take the elements from")
    elements = sorted({int(z) for g in graphs for z in np.unique(g.atomic_numbers)})
    sizes = max(g.num_nodes for g in graphs)
    config = MaskedConfig.from_dict({**config.to_dict(), "elements": elements, "max_atoms": sizes})
    torch.manual_seed(seed)
    return MaskedDenoiser(config)


def check_elements(model: Any, graphs: Sequence[CrystalGraph], what: str) -> None:
    """Raise ``ValueError`` naming the elements of ``graphs`` the model does not know."""
    import numpy as np

    known = set(model.config.elements)
    new = sorted({int(z) for g in graphs for z in np.unique(g.atomic_numbers)} - known)
    if new:
        from crystaloop.ml.masked.sampling import symbols

        raise ValueError(
            f"{what}: element(s) {symbols(new)} the masked generator cannot predict (its "
            f"species head covers {symbols(sorted(known))}); train a new model on them"
        )


def fit_masked(
    model: Any,
    splits: dict[str, Sequence[CrystalGraph]],
    options: GeneratorTrainOptions,
    out_dir: str | Path,
    training: dict[str, Any],
    log: Callable[[str], None] | None = None,
) -> tuple[dict[str, Any], Any]:
    """Train ``model`` on the graphs of ``splits`` and write it to ``out_dir``.

    Returns ``(card, result)`` as :func:`~crystaloop.ml.generative.fit.fit_generator`.
    """
    from crystaloop.ml.data.batch import collate
    from crystaloop.ml.generative.fit import fit_generator
    from crystaloop.ml.masked.checkpoint import save_masked

    return fit_generator(model, splits, options, out_dir, training, log, collate, save_masked)
