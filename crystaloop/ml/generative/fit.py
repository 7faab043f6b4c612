"""Train a generator on prepared splits and write its checkpoint: one path for every caller.

The ``train generator`` command (files → splits) and ``scripts/gpu_generator.py`` (tensors carried
to a GPU machine without pymatgen) both end here, so a model trained on either carries the same
card: configuration, data sizes, recipe, best epoch and time.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from crystaloop.ml.generative.config import GeneratorConfig, GeneratorTrainOptions
from crystaloop.ml.generative.crystal import CrystalArrays


def new_generator(
    config: GeneratorConfig, splits: dict[str, Sequence[CrystalArrays]], seed: int
) -> Any:
    """Return a freshly initialised model of ``config`` with the statistics of ``splits``.

    The statistics come from train (the element set and sizes from every split, so a held-out
    crystal is never out of range); ``seed`` seeds the initial weights.
    """
    import torch

    from crystaloop.ml.generative.model import build_model
    from crystaloop.ml.generative.training import with_statistics

    config = with_statistics(config, splits["train"], [*splits["val"], *splits["test"]])
    torch.manual_seed(seed)
    return build_model(config)


def fit_generator(
    model: Any,
    splits: dict[str, Sequence[CrystalArrays]],
    options: GeneratorTrainOptions,
    out_dir: str | Path,
    training: dict[str, Any],
    log: Callable[[str], None] | None = None,
    collate: Callable[[Sequence[Any]], Any] | None = None,
    save: Callable[..., dict[str, Any]] | None = None,
) -> tuple[dict[str, Any], Any]:
    """Train ``model`` on the splits and write it (the EMA weights, when kept) to ``out_dir``.

    Parameters
    ----------
    model
        A new model (:func:`new_generator`) or one to fine-tune.
    splits
        ``{"train", "val", "test"}`` crystals.
    options
        The training options (seed, budget, recipe, device).
    out_dir
        Where ``model.pt``, ``model.json`` and ``history.json`` go.
    training
        What the card records about the data (paths, split plan, sources, ``fine_tuned_from``);
        the sizes, epochs, steps, recipe, best epoch, time and device are added.
    log
        Receives one line per epoch.
    collate, save
        How items are batched and the model written (default: crystals and
        :func:`~crystaloop.ml.generative.checkpoint.save_generator`; a modifier passes its
        pair collation and :func:`~crystaloop.ml.modify.checkpoint.save_modifier`).

    Returns
    -------
    tuple
        ``(card, result)``: the written model card and the
        :class:`~crystaloop.ml.generative.training.GeneratorTrainResult`.
    """
    from crystaloop.ml.generative.checkpoint import save_generator
    from crystaloop.ml.generative.crystal import collate_crystals
    from crystaloop.ml.generative.training import train_generator

    result = train_generator(
        model, splits["train"], splits["val"], options, log=log, collate=collate or collate_crystals
    )
    record = {
        "fine_tuned_from": None,
        **training,
        "sizes": {k: len(v) for k, v in splits.items()},
        "epochs_run": len(result.history),
        "steps": result.steps,
        "recipe": result.recipe,
        "best_epoch": result.best_epoch,
        "best_val_loss": result.best_val_loss,
        "seconds": round(result.seconds, 1),
        "device": options.device,
    }
    card = (save or save_generator)(model.cpu(), out_dir, training=record)
    (Path(out_dir) / "history.json").write_text(json.dumps(result.history, indent=1))
    return card, result
