"""Training and evaluation of Crysformer as plain functions (no workflow engine).

:func:`train` fits one model: targets normalised by the training mean and standard deviation,
masked loss (a missing label contributes nothing), AdamW with plateau LR decay, early stopping on
the validation MAE, reproducible by its seed. :func:`evaluate` returns MAE and RMSE per target.
:func:`replay_mix` builds the fine-tuning set of the seed's Crysformer-TL: the new labels plus a
random sample of the old data, so a model learns the new labels without forgetting.
"""

from __future__ import annotations

import copy
import itertools
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from crystaloop.ml.crysformer.config import CrysformerConfig
from crystaloop.ml.crysformer.model import Crysformer
from crystaloop.ml.data.dataset import Batch, GraphSource, InMemoryGraphs


@dataclass
class TrainOptions:
    """How to train one model.

    Attributes
    ----------
    epochs, batch_size, lr, weight_decay
        Optimisation (AdamW).
    patience
        Epochs without validation improvement before stopping.
    lr_patience, lr_factor
        Plateau LR decay (``schedule="plateau"``).
    schedule
        ``"plateau"`` (halve the rate when the validation score stalls) or ``"cosine"``: a
        linear warm-up over ``warmup_epochs``, then a cosine decay to ``min_lr_factor × lr``
        at the last of ``epochs``, so the rate decays within the run's budget.
    warmup_epochs, min_lr_factor
        Of the cosine schedule.
    loss
        ``"l1"`` or ``"mse"`` on normalised targets.
    seed
        Seeds weights, dropout and shuffling.
    device
        Torch device.
    max_grad_norm
        Gradient clipping.
    """

    epochs: int = 100
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-5
    patience: int = 20
    lr_patience: int = 6
    lr_factor: float = 0.5
    schedule: str = "plateau"
    warmup_epochs: int = 2
    min_lr_factor: float = 0.01
    loss: str = "l1"
    seed: int = 0
    device: str = "cpu"
    max_grad_norm: float = 10.0


@dataclass
class TrainResult:
    """A trained model, its per-epoch history and its best validation metrics."""

    model: Crysformer
    history: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int = 0
    best_val: dict[str, dict[str, float]] = field(default_factory=dict)
    seconds_per_epoch: float = 0.0


def normalization(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return per-target mean and std of ``(n, T)`` values, ignoring NaN (std ≥ 1e-6)."""
    mean = np.nanmean(values, axis=0)
    std = np.nanstd(values, axis=0)
    if not np.all(np.isfinite(mean)):
        missing = np.where(~np.isfinite(mean))[0].tolist()
        raise ValueError(f"targets at positions {missing} have no label in the training data")
    return mean.astype(np.float32), np.maximum(std, 1e-6).astype(np.float32)


def _masked_loss(pred: torch.Tensor, target: torch.Tensor, kind: str) -> torch.Tensor:
    mask = torch.isfinite(target)
    diff = torch.where(mask, pred - torch.nan_to_num(target), torch.zeros_like(pred))
    per = diff.abs() if kind == "l1" else diff.pow(2)
    return per.sum() / mask.sum().clamp(min=1)


@torch.no_grad()
def predict_source(
    model: Crysformer,
    source: GraphSource,
    batch_size: int = 256,
    device: str = "cpu",
    mc_dropout: bool = False,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Return predictions (units of the data), targets and ids for every sample of ``source``."""
    model.eval()
    if mc_dropout:
        enable_dropout(model)
    preds, targets, ids = [], [], []
    for graphs, y, batch_ids in source.batches(batch_size):
        preds.append(model.predict(graphs.to(device)).cpu().numpy())
        targets.append(y.numpy())
        ids.extend(batch_ids)
    model.eval()
    if not preds:
        n = len(model.config.targets)
        return np.zeros((0, n)), np.zeros((0, n)), []
    return np.concatenate(preds), np.concatenate(targets), ids


def enable_dropout(model: torch.nn.Module) -> None:
    """Switch the dropout modules of ``model`` to training mode (MC dropout), nothing else."""
    for module in model.modules():
        if "Dropout" in type(module).__name__:
            module.train()


def metrics(pred: np.ndarray, target: np.ndarray, names: list[str]) -> dict[str, dict[str, float]]:
    """Return ``{target: {"mae", "rmse", "n"}}`` over the labelled samples."""
    out = {}
    for j, name in enumerate(names):
        mask = np.isfinite(target[:, j])
        err = pred[mask, j] - target[mask, j]
        out[name] = {
            "mae": float(np.abs(err).mean()) if err.size else math.nan,
            "rmse": float(np.sqrt((err**2).mean())) if err.size else math.nan,
            "n": int(mask.sum()),
        }
    return out


def evaluate(
    model: Crysformer, source: GraphSource, batch_size: int = 256, device: str = "cpu"
) -> dict[str, dict[str, float]]:
    """Return MAE and RMSE per target of ``model`` on ``source``."""
    pred, target, _ = predict_source(model, source, batch_size, device)
    return metrics(pred, target, model.config.targets)


def _score(val: dict[str, dict[str, float]], std: np.ndarray, names: list[str]) -> float:
    return float(np.mean([val[n]["mae"] / s for n, s in zip(names, std, strict=True)]))


def _rank_and_world() -> tuple[int, int]:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _my_batches(source: GraphSource, batch_size: int, seed: int) -> Iterator[Batch]:
    """Yield this process's share of an epoch: every world-th batch, equal counts per rank."""
    rank, world = _rank_and_world()
    batches = source.batches(batch_size, True, seed)
    if world == 1:
        yield from batches
        return
    per_rank = source.num_batches(batch_size) // world
    yield from itertools.islice(batches, rank, per_rank * world, world)


def train(
    config: CrysformerConfig,
    train_set: GraphSource,
    val_set: GraphSource,
    options: TrainOptions | None = None,
    init_state: dict[str, torch.Tensor] | None = None,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> TrainResult:
    """Train one Crysformer and return it at its best validation epoch.

    Parameters
    ----------
    config
        Model configuration; ``config.targets`` must match the data's targets.
    train_set, val_set
        Training and validation samples.
    options
        Optimisation settings.
    init_state
        A state dict to start from (fine-tuning); the normalisation it carries is kept.
    progress
        Called after each epoch with that epoch's history entry.

    Notes
    -----
    When ``torch.distributed`` is initialised (see :func:`crystaloop.ml.distributed.launch`),
    the model is wrapped in ``DistributedDataParallel`` and each process trains on every
    world-th batch; all processes then hold the same weights and take the same early-stopping
    decisions.
    """
    options = options or TrainOptions()
    if list(train_set.targets) != list(config.targets):
        raise ValueError(f"data targets {train_set.targets} differ from model {config.targets}")
    if len(train_set) == 0 or len(val_set) == 0:
        raise ValueError("training and validation sets must not be empty")
    torch.manual_seed(options.seed)
    model = Crysformer(config)
    if init_state is not None:
        model.load_state_dict(init_state)
    else:
        values = train_set.target_values()
        mean, std = normalization(values)
        model.target_mean.copy_(torch.from_numpy(mean))
        model.target_std.copy_(torch.from_numpy(std))
    model.seen_elements |= _seen_elements(train_set, model.seen_elements.shape[0])
    model.to(options.device)
    std = model.target_std.cpu().numpy()
    _, world = _rank_and_world()
    step_model: torch.nn.Module = model
    if world > 1:
        # the last layer's type-L outputs feed no head: their weights get no gradient
        step_model = torch.nn.parallel.DistributedDataParallel(
            model,
            device_ids=None if options.device == "cpu" else [torch.device(options.device)],
            find_unused_parameters=True,
        )
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=options.lr, weight_decay=options.weight_decay
    )
    scheduler = _scheduler(optimizer, options)
    result = TrainResult(model=model)
    best_score, best_state, stale = math.inf, None, 0
    t_total = 0.0
    for epoch in range(1, options.epochs + 1):
        t0 = time.perf_counter()
        model.train()
        total, count = 0.0, 0
        for graphs, y, _ in _my_batches(train_set, options.batch_size, options.seed + epoch):
            graphs, y = graphs.to(options.device), y.to(options.device)
            y_norm = (y - model.target_mean) / model.target_std
            loss = _masked_loss(step_model(graphs), y_norm, options.loss)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), options.max_grad_norm)
            optimizer.step()
            total += float(loss.detach()) * y.shape[0]
            count += y.shape[0]
        t_total += time.perf_counter() - t0
        val = evaluate(model, val_set, device=options.device)
        score = _score(val, std, config.targets)
        if options.schedule == "plateau":
            scheduler.step(score)
        else:
            scheduler.step()
        entry = {
            "epoch": epoch,
            "train_loss": total / max(count, 1),
            "val": val,
            "lr": optimizer.param_groups[0]["lr"],
        }
        result.history.append(entry)
        if progress is not None:
            progress(entry)
        if score < best_score - 1e-6:
            best_score, stale = score, 0
            best_state = copy.deepcopy(model.state_dict())
            result.best_epoch, result.best_val = epoch, val
        else:
            stale += 1
            if stale >= options.patience:
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    result.seconds_per_epoch = t_total / max(len(result.history), 1)
    model.eval()
    return result


def _scheduler(optimizer: torch.optim.Optimizer, options: TrainOptions) -> Any:
    """Return the learning-rate scheduler of ``options`` (stepped once per epoch)."""
    if options.schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, factor=options.lr_factor, patience=options.lr_patience
        )
    if options.schedule != "cosine":
        raise ValueError(f"unknown schedule {options.schedule!r}: choose plateau or cosine")
    warmup = max(0, min(options.warmup_epochs, options.epochs - 1))
    decay = max(1, options.epochs - warmup)

    def factor(epoch: int) -> float:  # epoch: epochs done so far
        if epoch < warmup:
            return (epoch + 1) / (warmup + 1)
        t = min(1.0, (epoch - warmup + 1) / decay)
        return options.min_lr_factor + (1 - options.min_lr_factor) * 0.5 * (
            1 + math.cos(math.pi * t)
        )

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _seen_elements(source: GraphSource, size: int) -> torch.Tensor:
    seen = torch.zeros(size, dtype=torch.bool)
    for graphs, _, _ in source.batches(4096):
        seen[graphs.atomic_numbers.unique()] = True
    return seen


def replay_mix(
    new: InMemoryGraphs, old: InMemoryGraphs, replay_fraction: float = 1.0, seed: int = 0
) -> InMemoryGraphs:
    """Return the new samples plus ``replay_fraction × len(new)`` random old samples."""
    n_old = min(len(old), int(round(replay_fraction * len(new))))
    picks = np.random.default_rng(seed).choice(len(old), size=n_old, replace=False)
    return new + old.subset(sorted(picks.tolist()))
