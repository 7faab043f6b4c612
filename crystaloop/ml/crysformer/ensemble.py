"""Deep ensemble of Crysformers with MC dropout and a calibrated standard deviation.

The prediction is the mean over K members (and, with ``mc_samples > 0``, over that many dropout
samples of each); σ is their standard deviation times a per-target scale fitted on a validation
split (:meth:`CrysformerEnsemble.calibrate`), so that ``confidence(σ)`` means what it says.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch

from crystaloop.ml.crysformer.config import CrysformerConfig
from crystaloop.ml.crysformer.model import Crysformer
from crystaloop.ml.crysformer.uncertainty import (
    DEFAULT_TOLERANCE,
    confidence,
    fit_scale,
    miscalibration_area,
    spearman,
)
from crystaloop.ml.data.dataset import GraphSource
from crystaloop.ml.training import TrainOptions, enable_dropout, metrics, train


@dataclass
class EnsemblePrediction:
    """Mean and calibrated σ per sample and target, with the sample ids."""

    mean: np.ndarray
    std: np.ndarray
    ids: list[str]
    targets: np.ndarray | None = None


@dataclass
class CrysformerEnsemble:
    """K Crysformer members sharing a configuration, with per-target σ scales.

    Attributes
    ----------
    members
        The trained models.
    scale
        ``(T,)`` factor applied to the raw ensemble σ (1 before calibration).
    tolerance
        Error tolerance of :meth:`confidence` (eV/atom for energies).
    metrics
        Validation and calibration figures recorded by training and :meth:`calibrate`.
    """

    members: list[Crysformer]
    scale: np.ndarray | None = None
    tolerance: float = DEFAULT_TOLERANCE
    metrics: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.members:
            raise ValueError("an ensemble needs at least one member")
        if self.scale is None:
            self.scale = np.ones(len(self.config.targets))

    @property
    def config(self) -> CrysformerConfig:
        """The members' configuration."""
        return self.members[0].config

    def to(self, device: str) -> CrysformerEnsemble:
        """Move every member to ``device``."""
        for member in self.members:
            member.to(device)
        return self

    def unseen_elements(self, atomic_numbers: Sequence[int]) -> list[int]:
        """Return the atomic numbers no member saw in training."""
        seen = self.members[0].seen_elements.cpu()
        return sorted({int(z) for z in atomic_numbers if z >= len(seen) or not bool(seen[z])})

    def raw_predict(
        self,
        source: GraphSource,
        batch_size: int = 256,
        device: str = "cpu",
        mc_samples: int = 0,
    ) -> EnsemblePrediction:
        """Predict with uncalibrated σ (scale 1); each batch is built once for all members."""
        n_draws = len(self.members) * max(mc_samples, 1)
        if n_draws < 2:
            raise ValueError("σ needs at least two members or mc_samples ≥ 2")
        for member in self.members:
            member.eval()
            if mc_samples > 0:
                enable_dropout(member)
        draws: list[list[np.ndarray]] = [[] for _ in range(n_draws)]
        targets, ids = [], []
        with torch.no_grad():
            for graphs, y, batch_ids in source.batches(batch_size):
                graphs = graphs.to(device)
                k = 0
                for member in self.members:
                    for _ in range(max(mc_samples, 1)):
                        draws[k].append(member.predict(graphs).cpu().numpy())
                        k += 1
                targets.append(y.numpy())
                ids.extend(batch_ids)
        for member in self.members:
            member.eval()
        n_t = len(self.config.targets)
        if not ids:
            empty = np.zeros((0, n_t))
            return EnsemblePrediction(empty, empty, [], empty)
        stack = np.stack([np.concatenate(d) for d in draws])
        return EnsemblePrediction(stack.mean(0), stack.std(0), ids, np.concatenate(targets))

    def predict(
        self,
        source: GraphSource,
        batch_size: int = 256,
        device: str = "cpu",
        mc_samples: int = 0,
    ) -> EnsemblePrediction:
        """Predict mean and calibrated σ for every sample of ``source``."""
        raw = self.raw_predict(source, batch_size, device, mc_samples)
        return replace(raw, std=raw.std * self.scale[None, :])

    def confidence(self, std: np.ndarray) -> np.ndarray:
        """Return ``P(|error| < tolerance)`` for calibrated σ."""
        return confidence(std, self.tolerance)

    def calibrate(
        self,
        source: GraphSource,
        batch_size: int = 256,
        device: str = "cpu",
        mc_samples: int = 0,
    ) -> dict[str, Any]:
        """Fit the σ scales on ``source`` (a validation split) and return calibration figures."""
        raw = self.raw_predict(source, batch_size, device, mc_samples)
        err = raw.mean - raw.targets
        report: dict[str, Any] = {}
        scale = []
        for j, name in enumerate(self.config.targets):
            s = fit_scale(err[:, j], raw.std[:, j])
            scale.append(s)
            report[name] = {
                "scale": s,
                "miscalibration_area_raw": miscalibration_area(err[:, j], raw.std[:, j]),
                "miscalibration_area": miscalibration_area(err[:, j], s * raw.std[:, j]),
                "spearman_abs_error_std": spearman(err[:, j], raw.std[:, j]),
            }
        self.scale = np.asarray(scale, dtype=float)
        self.metrics["calibration"] = report
        return report

    def evaluate(
        self, source: GraphSource, batch_size: int = 256, device: str = "cpu"
    ) -> dict[str, Any]:
        """Return accuracy and calibration figures of the calibrated ensemble on ``source``."""
        pred = self.predict(source, batch_size, device)
        out = metrics(pred.mean, pred.targets, self.config.targets)
        err = pred.mean - pred.targets
        for j, name in enumerate(self.config.targets):
            out[name]["miscalibration_area"] = miscalibration_area(err[:, j], pred.std[:, j])
            out[name]["spearman_abs_error_std"] = spearman(err[:, j], pred.std[:, j])
        return out


def train_ensemble(
    config: CrysformerConfig,
    train_set: GraphSource,
    val_set: GraphSource,
    members: int = 3,
    options: TrainOptions | None = None,
    init_states: Sequence[dict[str, torch.Tensor]] | None = None,
    progress: Callable[[int, dict[str, Any]], None] | None = None,
) -> CrysformerEnsemble:
    """Train ``members`` models with seeds ``seed, seed + 1, ...`` and calibrate σ on ``val_set``.

    ``init_states`` (one per member) fine-tunes existing members instead of starting anew.
    """
    options = options or TrainOptions()
    trained = []
    history = []
    for k in range(members):
        opts = replace(options, seed=options.seed + k)
        init = init_states[k] if init_states is not None else None

        def report(entry: dict[str, Any], member: int = k) -> None:
            if progress is not None:
                progress(member, entry)

        result = train(config, train_set, val_set, opts, init_state=init, progress=report)
        trained.append(result.model)
        history.append(
            {
                "member": k,
                "best_epoch": result.best_epoch,
                "best_val": result.best_val,
                "epochs": len(result.history),
                "seconds_per_epoch": result.seconds_per_epoch,
            }
        )
    ensemble = CrysformerEnsemble(trained)
    ensemble.metrics["training"] = history
    if members > 1:
        ensemble.calibrate(val_set, device=options.device)
    return ensemble
