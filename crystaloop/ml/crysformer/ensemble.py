"""Deep ensemble of Crysformers with MC dropout and a calibrated standard deviation.

The prediction is the mean over K members (and, with ``mc_samples > 0``, over that many dropout
samples of each); σ is their standard deviation times a per-target scale fitted on a validation
split (:meth:`CrysformerEnsemble.calibrate`). The confidence ``P(|error| < tolerance)`` is
calibrated separately, so that it means what it says: a confidence of at least 0.9 accepts the
predictions whose σ was small enough for at least 90 % of the calibration data to be within the
tolerance (:func:`~crystaloop.ml.crysformer.uncertainty.acceptance_std`). A campaign re-fits
both on its own oracle labels every iteration.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch

from crystaloop.ml.crysformer.config import CrysformerConfig
from crystaloop.ml.crysformer.model import Crysformer
from crystaloop.ml.crysformer.targets import target_info
from crystaloop.ml.crysformer.uncertainty import (
    confidence,
    confidence_scale,
    fit_calibration,
    miscalibration_area,
    spearman,
)
from crystaloop.ml.data.dataset import GraphSource
from crystaloop.ml.training import TrainOptions, enable_dropout, metrics, train


@dataclass
class EnsemblePrediction:
    """Mean, calibrated σ and raw σ per sample and target, with the sample ids.

    ``std_raw`` is the spread of the members (and dropout draws) itself; ``std`` is it times the
    ensemble's σ scale; ``n_atoms`` are the samples' atom counts (per-cell targets are converted
    per atom with them).
    """

    mean: np.ndarray
    std: np.ndarray
    ids: list[str]
    targets: np.ndarray | None = None
    std_raw: np.ndarray | None = None
    n_atoms: np.ndarray | None = None


@dataclass
class CrysformerEnsemble:
    """K Crysformer members sharing a configuration, with per-target σ calibration.

    Attributes
    ----------
    members
        The trained models.
    scale
        ``(T,)`` factor applied to the raw ensemble σ (1 before calibration): the scale with the
        smallest miscalibration area on the calibration data.
    accept_std
        ``(T,)`` largest raw σ per atom whose predictions were within the target's tolerance
        for at least ``level`` of the calibration data (0: accept nothing); ``None`` for a model
        calibrated before it existed (its confidence then comes from ``scale``).
    level
        The confidence level ``accept_std`` was chosen for (confidence ``level`` ⟺
        ``σ_raw ≤ accept_std``).
    mc_samples
        MC-dropout samples per member the calibration used; predictions use the same.
    residuals
        ``(n, 2, T)`` signed errors and raw σ (per atom) of the validation split, kept so that a
        campaign can recalibrate on them together with its own oracle labels.
    metrics
        Validation and calibration figures recorded by training and :meth:`calibrate`.
    """

    members: list[Crysformer]
    scale: np.ndarray | None = None
    accept_std: np.ndarray | None = None
    level: float = 0.9
    mc_samples: int = 0
    residuals: np.ndarray | None = None
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

    @property
    def tolerances(self) -> np.ndarray:
        """``(T,)`` error tolerance of each target (per atom for per-cell targets)."""
        return np.array([target_info(t).tolerance for t in self.config.targets])

    def to(self, device: str) -> CrysformerEnsemble:
        """Move every member to ``device``."""
        for member in self.members:
            member.to(device)
        return self

    def unseen_elements(self, atomic_numbers: Sequence[int]) -> list[int]:
        """Return the atomic numbers no member saw in training."""
        seen = self.members[0].seen_elements.cpu()
        return sorted({int(z) for z in atomic_numbers if z >= len(seen) or not bool(seen[z])})

    def per_atom(self, values: np.ndarray, n_atoms: np.ndarray) -> np.ndarray:
        """Return ``(n, T)`` values with every per-cell target divided by the atom count."""
        cells = np.array([target_info(t).per_cell for t in self.config.targets])
        divisor = np.where(cells[None, :], np.asarray(n_atoms, float)[:, None], 1.0)
        return np.asarray(values, float) / divisor

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
        targets, ids, atoms = [], [], []
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
                atoms.append(torch.bincount(graphs.batch.cpu(), minlength=len(batch_ids)).numpy())
        for member in self.members:
            member.eval()
        n_t = len(self.config.targets)
        if not ids:
            empty = np.zeros((0, n_t))
            return EnsemblePrediction(empty, empty, [], empty, empty, np.zeros(0, int))
        stack = np.stack([np.concatenate(d) for d in draws])
        std = stack.std(0)
        return EnsemblePrediction(
            stack.mean(0), std, ids, np.concatenate(targets), std, np.concatenate(atoms)
        )

    def _check_mc(self, mc_samples: int | None) -> int:
        if mc_samples is None:
            return self.mc_samples
        if mc_samples != self.mc_samples and self.accept_std is not None:
            raise ValueError(
                f"the model's σ was calibrated with {self.mc_samples} dropout samples per "
                f"member, not {mc_samples}: predict with the same number (or recalibrate)"
            )
        return mc_samples

    def predict(
        self,
        source: GraphSource,
        batch_size: int = 256,
        device: str = "cpu",
        mc_samples: int | None = None,
    ) -> EnsemblePrediction:
        """Predict mean and calibrated σ for every sample of ``source``.

        ``mc_samples`` defaults to the number the calibration used; another number is refused
        (the σ scale would not fit it).
        """
        raw = self.raw_predict(source, batch_size, device, self._check_mc(mc_samples))
        return replace(raw, std=raw.std_raw * self.scale[None, :])

    def confidence(self, std_raw: np.ndarray, n_atoms: np.ndarray) -> np.ndarray:
        """Return ``P(|error| < tolerance)`` per sample and target from the raw σ.

        With an acceptance calibration the probability is ``level`` exactly at
        ``σ_raw = accept_std`` (see :func:`~crystaloop.ml.crysformer.uncertainty.
        confidence_scale`); a model without one uses its σ scale.
        """
        std_pa = self.per_atom(std_raw, n_atoms)
        tol = self.tolerances
        out = np.zeros_like(std_pa, dtype=float)
        for j in range(std_pa.shape[1]):
            if self.accept_std is None:
                scale = float(self.scale[j])
            else:
                scale = confidence_scale(float(self.accept_std[j]), tol[j], self.level)
            if math.isfinite(scale):
                out[:, j] = confidence(scale * std_pa[:, j], tol[j])
        return out

    def calibration(self) -> dict[str, dict[str, float]]:
        """Return the current calibration per target (``scale``, ``accept_std``, ``level``)."""
        out = {}
        for j, name in enumerate(self.config.targets):
            out[name] = {"scale": float(self.scale[j]), "level": self.level}
            if self.accept_std is not None:
                out[name]["accept_std"] = float(self.accept_std[j])
        return out

    def apply_calibration(self, calibration: dict[str, dict[str, float]]) -> None:
        """Set ``scale`` and ``accept_std`` of the targets named in ``calibration``.

        ``calibration`` is what :func:`fit_calibration` (per target) or :meth:`calibration`
        returns, e.g. a campaign's recalibration on its own oracle labels.
        """
        accept = (
            np.array(self.accept_std, float)
            if self.accept_std is not None
            else np.zeros(len(self.config.targets))
        )
        for j, name in enumerate(self.config.targets):
            if name in calibration:
                self.scale[j] = float(calibration[name]["scale"])
                accept[j] = float(calibration[name].get("accept_std", 0.0))
                self.level = float(calibration[name].get("level", self.level))
        self.accept_std = accept

    def calibrate(
        self,
        source: GraphSource,
        batch_size: int = 256,
        device: str = "cpu",
        mc_samples: int = 0,
    ) -> dict[str, Any]:
        """Fit the σ calibration on ``source`` (a validation split) and return its figures.

        Errors and σ of per-cell targets are taken per atom. The residuals are kept
        (:attr:`residuals`) for later recalibration.
        """
        raw = self.raw_predict(source, batch_size, device, mc_samples)
        err = self.per_atom(raw.mean - raw.targets, raw.n_atoms)
        std = self.per_atom(raw.std_raw, raw.n_atoms)
        report = self.fit(err, std)
        self.mc_samples = mc_samples
        self.residuals = np.stack([err, std], axis=1).astype(np.float32)
        self.metrics["calibration"] = report | {"mc_samples": mc_samples}
        return report

    def fit(self, err: np.ndarray, std: np.ndarray) -> dict[str, Any]:
        """Fit ``scale`` and ``accept_std`` on ``(n, T)`` errors and raw σ per atom."""
        report: dict[str, Any] = {}
        for j, name in enumerate(self.config.targets):
            report[name] = fit_calibration(err[:, j], std[:, j], self.tolerances[j], self.level)
        self.apply_calibration(report)
        return report

    def evaluate(
        self, source: GraphSource, batch_size: int = 256, device: str = "cpu"
    ) -> dict[str, Any]:
        """Return accuracy and calibration figures of the calibrated ensemble on ``source``.

        Per target: MAE, RMSE, the 90 % interval coverage, miscalibration area, Spearman
        ρ(|err|, σ) and, among predictions confident at ``level``, their share and how many
        were within tolerance (per atom for per-cell targets).
        """
        pred = self.predict(source, batch_size, device)
        out = metrics(pred.mean, pred.targets, self.config.targets)
        err = self.per_atom(pred.mean - pred.targets, pred.n_atoms)
        std = self.per_atom(pred.std, pred.n_atoms)
        conf = self.confidence(pred.std_raw, pred.n_atoms)
        z90 = 1.6448536269514722
        for j, name in enumerate(self.config.targets):
            e, s = err[:, j], std[:, j]
            mask = np.isfinite(e)
            confident = mask & (conf[:, j] >= self.level)
            out[name]["coverage_90"] = (
                float((np.abs(e[mask]) <= z90 * s[mask]).mean()) if mask.any() else math.nan
            )
            out[name]["miscalibration_area"] = miscalibration_area(e, s)
            out[name]["spearman_abs_error_std"] = spearman(e, s)
            out[name]["confident_share"] = float(confident.sum() / max(mask.sum(), 1))
            out[name]["confident_within_tolerance"] = (
                float((np.abs(e[confident]) <= self.tolerances[j]).mean())
                if confident.any()
                else math.nan
            )
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
