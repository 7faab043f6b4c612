"""How good the surrogate's predictions were once the oracle answered: errors and calibration.

Pure functions on ``(predicted mean, predicted σ, oracle value)`` triples. Calibration compares
the coverage a Gaussian σ promises with the coverage observed: at level ``p`` the central
interval is ``mean ± z σ`` with ``z = Φ⁻¹((1 + p) / 2)``, and a calibrated surrogate has a
fraction ``p`` of oracle values inside it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

#: Expected coverages the calibration curve is drawn at.
COVERAGE_LEVELS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)


@dataclass(frozen=True)
class ErrorStats:
    """Errors of predictions against oracle values (NaN where undefined)."""

    n: int
    mae: float
    rmse: float
    r2: float
    coverage_68: float
    coverage_95: float


def _check(means: Sequence[float], stds: Sequence[float], truths: Sequence[float]) -> None:
    if not len(means) == len(stds) == len(truths):
        raise ValueError(
            f"means, stds and truths differ in length ({len(means)}, {len(stds)}, {len(truths)})"
        )
    if any(s < 0 for s in stds):
        raise ValueError("a predicted σ is negative")


def observed_coverage(
    means: Sequence[float], stds: Sequence[float], truths: Sequence[float], level: float
) -> float:
    """Return the fraction of ``truths`` inside the central ``level`` interval (NaN if empty)."""
    _check(means, stds, truths)
    if not 0.0 < level < 1.0:
        raise ValueError(f"the coverage level must be in (0, 1), not {level}")
    if not means:
        return math.nan
    z = NormalDist().inv_cdf((1.0 + level) / 2.0)
    inside = sum(abs(t - m) <= z * s for m, s, t in zip(means, stds, truths, strict=True))
    return inside / len(means)


def coverage_curve(
    means: Sequence[float],
    stds: Sequence[float],
    truths: Sequence[float],
    levels: Sequence[float] = COVERAGE_LEVELS,
) -> list[tuple[float, float]]:
    """Return ``(expected, observed)`` coverage pairs at ``levels``."""
    return [(p, observed_coverage(means, stds, truths, p)) for p in levels]


def error_stats(
    means: Sequence[float], stds: Sequence[float], truths: Sequence[float]
) -> ErrorStats:
    """Return MAE, RMSE, R² and the 68 % / 95 % coverages of the predictions."""
    _check(means, stds, truths)
    n = len(means)
    if n == 0:
        return ErrorStats(0, math.nan, math.nan, math.nan, math.nan, math.nan)
    errors = [m - t for m, t in zip(means, truths, strict=True)]
    mae = sum(abs(e) for e in errors) / n
    rmse = math.sqrt(sum(e * e for e in errors) / n)
    mean_truth = sum(truths) / n
    total = sum((t - mean_truth) ** 2 for t in truths)
    r2 = 1.0 - sum(e * e for e in errors) / total if total > 0 else math.nan
    return ErrorStats(
        n,
        mae,
        rmse,
        r2,
        observed_coverage(means, stds, truths, 0.6827),
        observed_coverage(means, stds, truths, 0.9545),
    )
