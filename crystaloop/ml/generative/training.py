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
    """What training returns: per-epoch history and the best validation loss."""

    history: list[dict[str, float]] = field(default_factory=list)
    best_val_loss: float = math.inf
    best_epoch: int = -1
    seconds: float = 0.0


def _batches(items: Sequence[CrystalArrays], batch_size: int, rng: np.random.Generator | None):
    order = rng.permutation(len(items)) if rng is not None else np.arange(len(items))
    for start in range(0, len(items), batch_size):
        yield collate_crystals([items[i] for i in order[start : start + batch_size]])


@torch.no_grad()
def validation_loss(
    model: GenerativeModel,
    items: Sequence[CrystalArrays],
    batch_size: int = 256,
    device: str = "cpu",
    seed: int = 1234,
) -> float:
    """Return the mean loss over ``items`` with fixed noise (same seed every call)."""
    model.eval()
    total, count = 0.0, 0
    cuda = [torch.device(device)] if torch.device(device).type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):  # CPU and CUDA generators restored afterwards
        torch.manual_seed(seed)
        for batch in _batches(items, batch_size, None):
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
) -> GeneratorTrainResult:
    """Train ``model`` in place; keep the weights of the best validation loss.

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
    """
    if not train:
        raise ValueError("no training crystals")
    torch.manual_seed(options.seed)
    rng = np.random.default_rng(options.seed)
    model.to(options.device)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=options.lr, weight_decay=options.weight_decay
    )
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
        optimizer, T_max=max(options.epochs, 1), eta_min=options.lr / 10
    )
    result = GeneratorTrainResult()
    best_state = None
    start = time.perf_counter()
    for epoch in range(options.epochs):
        model.train()
        sums: dict[str, float] = {}
        seen = 0
        for batch in _batches(train, options.batch_size, rng):
            losses = model.loss(batch.to(options.device))
            optimizer.zero_grad(set_to_none=True)
            losses["loss"].backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), options.grad_clip)
            optimizer.step()
            n = batch.num_graphs
            seen += n
            for key, value in losses.items():
                sums[key] = sums.get(key, 0.0) + float(value.detach()) * n
        scheduler.step()
        row = {"epoch": epoch, **{f"train_{k}": v / seen for k, v in sums.items()}}
        last = epoch == options.epochs - 1
        out_of_time = (
            options.time_limit is not None and time.perf_counter() - start > options.time_limit
        )
        if val and (epoch % options.eval_every == 0 or last or out_of_time):
            row["val_loss"] = validation_loss(model, val, device=options.device)
            if row["val_loss"] < result.best_val_loss:
                result.best_val_loss, result.best_epoch = row["val_loss"], epoch
                best_state = copy.deepcopy(model.state_dict())
        result.history.append(row)
        if log is not None and "val_loss" in row:
            log(
                f"epoch {epoch}: train {row['train_loss']:.4f}  val {row['val_loss']:.4f}  "
                f"({time.perf_counter() - start:.0f} s)"
            )
        if out_of_time:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    elif not val:
        result.best_epoch = len(result.history) - 1
    result.seconds = time.perf_counter() - start
    model.eval()
    return result
