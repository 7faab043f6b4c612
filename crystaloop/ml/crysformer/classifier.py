"""Binary Crysformer classifiers: one logit per crystal, ``p = sigmoid(logit)``.

Two systems use one: the masked generator's downstream stability head (E_hull ≤ 0.1 eV/atom,
fine-tuned from the masked backbone; seed 003) and the GAN critic that starts from it, and the
match discriminator of generated structures (seed 000 §3.3). The model is a plain
:class:`~crystaloop.ml.crysformer.model.Crysformer` with one target and no normalisation
(mean 0, std 1), so its output is the logit; training minimises the binary cross-entropy,
optionally with the positives re-weighted, and keeps the epoch of the lowest validation loss.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from crystaloop.ml.crysformer.config import CrysformerConfig
from crystaloop.ml.crysformer.model import Crysformer
from crystaloop.ml.data.dataset import GraphSource


@dataclass
class ClassifierOptions:
    """How to train a binary classifier.

    Attributes
    ----------
    epochs, batch_size, lr, weight_decay, seed, device
        The usual (AdamW, constant rate).
    patience
        Epochs without a lower validation loss before stopping.
    time_limit
        Seconds of training at most (the best epoch so far is kept).
    freeze_backbone
        Train the head only (the embedding and attention layers keep the weights they start
        from), as the seed's downstream fine-tuning does.
    pos_weight
        Weight of the positive class in the loss: 1 (the default) keeps ``p`` a probability, as
        the routing reads it; ``None`` weights positives by negatives / positives of the
        training set (a rare class counts as much as the common one, and a sample at the base
        rate then scores 0.5: ``p`` is no longer calibrated).
    """

    epochs: int = 50
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-5
    seed: int = 0
    device: str = "cpu"
    patience: int = 10
    time_limit: float | None = None
    freeze_backbone: bool = False
    pos_weight: float | None = 1.0


@dataclass
class ClassifierResult:
    """Per-epoch history and the validation metrics of the kept epoch."""

    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = -1
    best_val: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    pos_weight: float = 1.0


def classifier_config(base: CrysformerConfig | Mapping[str, Any], target: str) -> CrysformerConfig:
    """Return ``base`` (a configuration or its dict) with the single target ``target``."""
    data = base.to_dict() if isinstance(base, CrysformerConfig) else dict(base)
    return CrysformerConfig.from_dict({**data, "targets": [target]})


def from_backbone(backbone: Crysformer, target: str, seed: int = 0) -> Crysformer:
    """Return a classifier with ``backbone``'s embedding and attention layers and a fresh head."""
    torch.manual_seed(seed)
    model = Crysformer(classifier_config(backbone.config, target))
    state = {k: v for k, v in backbone.state_dict().items() if not k.startswith("heads.")}
    state = {k: v for k, v in state.items() if k not in ("target_mean", "target_std")}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or any(not k.startswith("heads.") and k not in ("target_mean", "target_std")
                         for k in missing):  # fmt: skip
        raise ValueError(f"the backbone does not fit: missing {missing}, unexpected {unexpected}")
    return model


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Return the area under the ROC curve (ties count half); NaN with one class only."""
    labels = np.asarray(labels).astype(bool)
    pos, neg = int(labels.sum()), int((~labels).sum())
    if pos == 0 or neg == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = np.asarray(scores)[order]
    i = 0
    while i < len(scores):  # average ranks over ties
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return float((ranks[labels].sum() - pos * (pos + 1) / 2) / (pos * neg))


def binary_metrics(p: np.ndarray, labels: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    """Return the BCE, ROC AUC, accuracy, and precision / recall at ``p > threshold``."""
    labels = np.asarray(labels).astype(bool)
    p = np.clip(np.asarray(p, dtype=float), 1e-7, 1 - 1e-7)
    predicted = p > threshold
    tp = int((predicted & labels).sum())
    return {
        "bce": float(-np.mean(np.where(labels, np.log(p), np.log(1 - p)))) if len(p) else math.nan,
        "auc": roc_auc(p, labels),
        "accuracy": float(np.mean(predicted == labels)) if len(p) else math.nan,
        "precision": tp / int(predicted.sum()) if predicted.any() else math.nan,
        "recall": tp / int(labels.sum()) if labels.any() else math.nan,
        "positives": float(labels.mean()) if len(p) else math.nan,
        "n": float(len(p)),
    }


@torch.no_grad()
def predict_proba(
    model: Crysformer, source: GraphSource, batch_size: int = 256, device: str = "cpu"
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Return ``p`` of every sample of ``source``, its 0/1 labels and its ids."""
    model.eval()
    probs, labels, ids = [], [], []
    for graphs, y, batch_ids in source.batches(batch_size):
        probs.append(torch.sigmoid(model(graphs.to(device))[:, 0]).cpu().numpy())
        labels.append(y[:, 0].numpy())
        ids.extend(batch_ids)
    if not probs:
        return np.zeros(0), np.zeros(0), []
    return np.concatenate(probs), np.concatenate(labels), ids


def train_classifier(
    model: Crysformer,
    train_set: GraphSource,
    val_set: GraphSource,
    options: ClassifierOptions | None = None,
    log: Callable[[str], None] | None = None,
) -> ClassifierResult:
    """Train ``model`` (one target: the 0/1 label) in place; keep the lowest validation BCE.

    Raises
    ------
    ValueError
        On an empty split, labels other than 0 and 1, or a model with more than one target.
    """
    options = options or ClassifierOptions()
    if len(model.config.targets) != 1:
        raise ValueError(f"a binary classifier has one target, not {model.config.targets}")
    if len(train_set) == 0 or len(val_set) == 0:
        raise ValueError("training and validation sets must not be empty")
    labels = train_set.target_values()[:, 0]
    if not np.isin(labels, (0.0, 1.0)).all():
        raise ValueError("binary labels must be 0 or 1")
    positives = float(labels.sum())
    if positives in (0.0, float(len(labels))):
        raise ValueError(f"the training split has one class only ({int(positives)} positives of "
                         f"{len(labels)}): nothing to learn")  # fmt: skip
    if options.pos_weight is not None:
        pos_weight = options.pos_weight
    else:
        pos_weight = (len(labels) - positives) / max(positives, 1.0)
    torch.manual_seed(options.seed)
    model.target_mean.zero_()
    model.target_std.fill_(1.0)
    model.to(options.device)
    flags = [p.requires_grad for p in model.parameters()]
    if options.freeze_backbone:
        for name, parameter in model.named_parameters():
            parameter.requires_grad_(name.startswith("heads."))
    try:
        return _train(model, train_set, val_set, options, pos_weight, log)
    finally:
        for parameter, flag in zip(model.parameters(), flags, strict=True):
            parameter.requires_grad_(flag)


def _train(
    model: Crysformer,
    train_set: GraphSource,
    val_set: GraphSource,
    options: ClassifierOptions,
    pos_weight: float,
    log: Callable[[str], None] | None,
) -> ClassifierResult:
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=options.lr, weight_decay=options.weight_decay)
    loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(pos_weight, device=options.device))
    result = ClassifierResult()
    best, best_state, stale = math.inf, None, 0
    start = time.perf_counter()
    for epoch in range(options.epochs):
        model.train()
        total, count = 0.0, 0
        for graphs, y, _ in train_set.batches(options.batch_size, True, options.seed + epoch):
            logits = model(graphs.to(options.device))[:, 0]
            loss = loss_fn(logits, y[:, 0].to(options.device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 10.0)
            optimizer.step()
            total += float(loss.detach()) * y.shape[0]
            count += y.shape[0]
        p, y_val, _ = predict_proba(model, val_set, device=options.device)
        val = binary_metrics(p, y_val)
        result.history.append({"epoch": epoch, "train_loss": total / max(count, 1), **val})
        if log is not None:
            log(f"epoch {epoch}: train {total / max(count, 1):.4f}  val bce {val['bce']:.4f}  "
                f"auc {val['auc']:.3f}  ({time.perf_counter() - start:.0f} s)")  # fmt: skip
        if val["bce"] < best - 1e-6:
            best, stale = val["bce"], 0
            best_state = copy.deepcopy(model.state_dict())
            result.best_epoch, result.best_val = epoch, val
        else:
            stale += 1
        out_of_time = options.time_limit and time.perf_counter() - start > options.time_limit
        if stale >= options.patience or out_of_time:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    result.pos_weight = pos_weight
    result.seconds = time.perf_counter() - start
    model.eval()
    return result


@torch.no_grad()
def predict_structures(
    model: Crysformer, structures: list[Any], batch_size: int = 256, device: str = "cpu"
) -> np.ndarray:
    """Return ``p`` of each pymatgen structure (graphs built with the model's ``k``/cutoff)."""
    from crystaloop.ml.data.batch import collate
    from crystaloop.ml.data.graph import knn_graphs

    model.eval().to(device)
    out = []
    for start in range(0, len(structures), batch_size):
        part = structures[start : start + batch_size]
        graphs = knn_graphs(part, k=model.config.k, cutoff=model.config.cutoff)
        out.append(torch.sigmoid(model(collate(graphs).to(device))[:, 0]).cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0)
