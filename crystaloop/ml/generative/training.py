"""Training of the generators: data statistics, the epoch loop, fine-tuning with replay."""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from crystaloop.ml.generative.config import GeneratorConfig, GeneratorTrainOptions
from crystaloop.ml.generative.crystal import CrystalArrays, collate_crystals
from crystaloop.ml.generative.model import GenerativeModel
from crystaloop.ml.generative.recipe import BudgetSchedule, WeightEMA


def data_statistics(items: Sequence[CrystalArrays]) -> dict[str, Any]:
    """Return the statistics a generator keeps from its training data.

    ``lattice_scale`` (mean ``(V/N)^(1/3)``, Å), ``num_atoms_counts`` (histogram, index = N),
    ``max_atoms``, ``elements`` (sorted atomic numbers) and the formation-energy mean / std.
    """
    if not items:
        raise ValueError("no training crystals")
    sizes = np.array([it.num_atoms for it in items])
    volumes = np.array([abs(np.linalg.det(it.lattice)) for it in items])
    eforms = np.array([it.eform for it in items], dtype=float)
    eforms = eforms[np.isfinite(eforms)]
    counts = np.bincount(sizes)
    return {
        "lattice_scale": float(np.mean((volumes / sizes) ** (1.0 / 3.0))),
        "num_atoms_counts": [int(c) for c in counts],
        "max_atoms": int(sizes.max()),
        "elements": sorted({int(z) for it in items for z in it.numbers}),
        "eform_mean": float(eforms.mean()) if eforms.size else 0.0,
        "eform_std": float(eforms.std()) if eforms.size > 1 and eforms.std() > 0 else 1.0,
    }


def with_statistics(
    config: GeneratorConfig,
    train: Sequence[CrystalArrays],
    held_out: Sequence[CrystalArrays] = (),
) -> GeneratorConfig:
    """Return a copy of a new model's ``config`` with the statistics of its data.

    The statistics are those of the training crystals (:func:`data_statistics`), except
    ``max_atoms``, the largest crystal of ``train`` and ``held_out``: the validation and test
    crystals must fit the model too.
    """
    stats = data_statistics(train)
    stats["max_atoms"] = max([stats["max_atoms"], *(c.num_atoms for c in held_out)])
    return dataclasses.replace(config, **stats)


def merge_statistics(config: GeneratorConfig, items: Sequence[CrystalArrays]) -> None:
    """Widen a fine-tuned model's ``p(N)`` and element set with new data (sizes are kept)."""
    stats = data_statistics(items)
    counts = list(config.num_atoms_counts)
    for n, c in enumerate(stats["num_atoms_counts"]):
        if n < len(counts):
            counts[n] += c
        elif n <= config.max_atoms:
            counts.append(c)
    config.num_atoms_counts = counts
    config.elements = sorted(set(config.elements) | set(stats["elements"]))


def replay_mix(
    new: Sequence[CrystalArrays],
    old: Sequence[CrystalArrays],
    replay_fraction: float = 1.0,
    seed: int = 0,
) -> list[CrystalArrays]:
    """Return the new crystals plus ``replay_fraction × len(new)`` random old ones."""
    n_old = min(len(old), int(round(replay_fraction * len(new))))
    picks = np.random.default_rng(seed).choice(len(old), size=n_old, replace=False)
    return list(new) + [old[i] for i in sorted(picks.tolist())]


@dataclass
class GeneratorTrainResult:
    """What training returns: per-epoch history and the best validation loss.

    ``steps`` counts optimiser steps; ``recipe`` records the schedule and the EMA (for the
    model card).
    """

    history: list[dict[str, float]] = field(default_factory=list)
    best_val_loss: float = math.inf
    best_epoch: int = -1
    seconds: float = 0.0
    steps: int = 0
    recipe: dict[str, Any] = field(default_factory=dict)


def _batches(
    items: Sequence[Any],
    batch_size: int,
    rng: np.random.Generator | None,
    collate: Callable[[Sequence[Any]], Any] = collate_crystals,
):
    order = rng.permutation(len(items)) if rng is not None else np.arange(len(items))
    for start in range(0, len(items), batch_size):
        yield collate([items[i] for i in order[start : start + batch_size]])


@torch.no_grad()
def validation_loss(
    model: GenerativeModel,
    items: Sequence[CrystalArrays],
    batch_size: int = 256,
    device: str = "cpu",
    seed: int = 1234,
    collate: Callable[[Sequence[Any]], Any] = collate_crystals,
) -> float:
    """Return the mean loss over ``items`` with fixed noise (same seed every call).

    ``collate`` stacks items into a batch the model's loss takes (crystals by default; a
    modifier's source–target pairs).
    """
    model.eval()
    total, count = 0.0, 0
    cuda = [torch.device(device)] if torch.device(device).type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):  # CPU and CUDA generators restored afterwards
        torch.manual_seed(seed)
        for batch in _batches(items, batch_size, None, collate):
            n = batch.num_graphs
            total += float(model.loss(batch.to(device))["loss"]) * n
            count += n
    return total / max(count, 1)


def train_generator(
    model: GenerativeModel,
    train: Sequence[CrystalArrays],
    val: Sequence[CrystalArrays],
    options: GeneratorTrainOptions,
    log: Callable[[str], None] | None = None,
    collate: Callable[[Sequence[Any]], Any] = collate_crystals,
) -> GeneratorTrainResult:
    """Train ``model`` in place; leave it with the averaged weights of the best validation loss.

    The learning rate warms up and decays over the budget that really runs (epochs or the time
    limit, whichever ends first: :class:`~crystaloop.ml.generative.recipe.BudgetSchedule`).
    With ``options.ema_decay`` an exponential moving average of the weights is kept; validation
    evaluates the average, and the model returns holding the best average (the last one without
    validation), which is what :func:`~crystaloop.ml.generative.checkpoint.save_generator`
    then writes.

    Parameters
    ----------
    model
        The generator (fresh, or loaded for fine-tuning).
    train, val
        Training and validation crystals (``val`` may be empty: the last epoch is kept).
    options
        Training options.
    log
        Called with one line per evaluated epoch.
    collate
        Stacks training items into a batch (:func:`collate_crystals`; a modifier passes its
        pair collation).
    """
    if not train:
        raise ValueError("no training crystals")
    torch.manual_seed(options.seed)
    rng = np.random.default_rng(options.seed)
    model.to(options.device)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=options.lr, weight_decay=options.weight_decay
    )
    batches_per_epoch = math.ceil(len(train) / options.batch_size)
    schedule = BudgetSchedule(
        max(options.epochs, 1) * batches_per_epoch,
        options.time_limit,
        options.warmup,
        options.min_lr_ratio,
    )
    ema = WeightEMA(model, options.ema_decay) if options.ema_decay else None
    evaluated = model if ema is None else ema.average
    result = GeneratorTrainResult(
        recipe={
            "schedule": "warm-up + cosine over the budget",
            "warmup": options.warmup,
            "min_lr_ratio": options.min_lr_ratio,
            "ema_decay": options.ema_decay or None,
        }
    )
    best_state = None
    start = time.perf_counter()
    step = 0
    for epoch in range(options.epochs):
        model.train()
        sums: dict[str, float] = {}
        seen = 0
        for batch in _batches(train, options.batch_size, rng, collate):
            lr = options.lr * schedule(step, time.perf_counter() - start)
            for group in optimizer.param_groups:
                group["lr"] = lr
            losses = model.loss(batch.to(options.device))
            optimizer.zero_grad(set_to_none=True)
            losses["loss"].backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), options.grad_clip)
            optimizer.step()
            if ema is not None:
                ema.update(model)
            step += 1
            n = batch.num_graphs
            seen += n
            for key, value in losses.items():
                sums[key] = sums.get(key, 0.0) + float(value.detach()) * n
        row = {"epoch": epoch, "lr": lr, **{f"train_{k}": v / seen for k, v in sums.items()}}
        last = epoch == options.epochs - 1
        out_of_time = (
            options.time_limit is not None and time.perf_counter() - start > options.time_limit
        )
        if val and (epoch % options.eval_every == 0 or last or out_of_time):
            row["val_loss"] = validation_loss(
                evaluated, val, device=options.device, collate=collate
            )
            if row["val_loss"] < result.best_val_loss:
                result.best_val_loss, result.best_epoch = row["val_loss"], epoch
                best_state = copy.deepcopy(evaluated.state_dict())
        result.history.append(row)
        if log is not None and "val_loss" in row:
            log(
                f"epoch {epoch}: train {row['train_loss']:.4f}  val {row['val_loss']:.4f}  "
                f"lr {lr:.2e}  ({time.perf_counter() - start:.0f} s)"
            )
        if out_of_time:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    else:
        if ema is not None:
            model.load_state_dict(ema.average.state_dict())
        if not val:
            result.best_epoch = len(result.history) - 1
    result.seconds = time.perf_counter() - start
    result.steps = step
    model.eval()
    return result
