"""Uncertainty calibration: scale fitting, miscalibration area, rank correlation, confidence.

All functions take absolute or signed errors and predicted standard deviations as numpy arrays
of one target and ignore non-finite entries (unlabelled samples).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special, stats

DEFAULT_TOLERANCE = 0.12


def _finite(err: np.ndarray, std: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mask = np.isfinite(err) & np.isfinite(std)
    return np.asarray(err)[mask], np.asarray(std)[mask]


def gaussian_scale(err: np.ndarray, std: np.ndarray) -> float:
    """Return the factor ``s`` maximising the Gaussian likelihood of ``err`` under ``s·std``."""
    err, std = _finite(err, std)
    std = np.maximum(std, 1e-12)
    if err.size == 0:
        return 1.0
    return float(np.sqrt(np.mean((err / std) ** 2)))


def fit_scale(err: np.ndarray, std: np.ndarray) -> float:
    """Return the factor ``s`` that minimises the miscalibration area of ``s·std``.

    The likelihood-optimal scale is dominated by a few errors whose σ is small and over-widens
    every other interval; the coverage-optimal scale is searched on a log grid around it.
    """
    err, std = _finite(err, std)
    if err.size == 0:
        return 1.0
    center = gaussian_scale(err, std)
    grid = center * np.logspace(-2.5, 0.5, 301)
    areas = [miscalibration_area(err, s * std) for s in grid]
    return float(grid[int(np.argmin(areas))])


def miscalibration_area(err: np.ndarray, std: np.ndarray, levels: int = 99) -> float:
    """Return the area between observed and expected coverage of central Gaussian intervals.

    For expected coverage ``p`` the interval is ``±z_p·std`` with ``z_p = Φ⁻¹((1 + p) / 2)``;
    0 is perfect calibration, 0.5 the worst.
    """
    err, std = _finite(err, std)
    if err.size == 0:
        return math.nan
    expected = np.linspace(0.01, 0.99, levels)
    z = special.ndtri((1 + expected) / 2)
    observed = (np.abs(err)[None, :] <= z[:, None] * np.maximum(std, 1e-12)[None, :]).mean(1)
    return float(np.trapezoid(np.abs(observed - expected), expected) / (expected[-1] - expected[0]))


def coverage_curve(err: np.ndarray, std: np.ndarray, levels: int = 19) -> list[tuple[float, float]]:
    """Return ``(expected, observed)`` coverage pairs (for calibration plots)."""
    err, std = _finite(err, std)
    expected = np.linspace(0.05, 0.95, levels)
    z = special.ndtri((1 + expected) / 2)
    observed = (np.abs(err)[None, :] <= z[:, None] * np.maximum(std, 1e-12)[None, :]).mean(1)
    return [(float(e), float(o)) for e, o in zip(expected, observed, strict=True)]


def spearman(err: np.ndarray, std: np.ndarray) -> float:
    """Return Spearman's ρ between ``|err|`` and ``std``."""
    err, std = _finite(err, std)
    if err.size < 3:
        return math.nan
    return float(stats.spearmanr(np.abs(err), std).statistic)


def confidence(std: np.ndarray | float, tolerance: float = DEFAULT_TOLERANCE) -> np.ndarray:
    """Return ``P(|error| < tolerance)`` for a Gaussian error of standard deviation ``std``.

    An infinite ``std`` gives 0.
    """
    std = np.maximum(np.asarray(std, dtype=float), 1e-12)
    return special.erf(tolerance / (std * math.sqrt(2.0)))


#: Calibration points needed before a σ threshold for acceptance is chosen from data.
MIN_CALIBRATION_POINTS = 10


def acceptance_std(
    abs_err: np.ndarray,
    std: np.ndarray,
    tolerance: float,
    level: float = 0.9,
    min_points: int = MIN_CALIBRATION_POINTS,
) -> float:
    """Return the largest σ whose predictions, taken together, are right often enough.

    Sort the calibration points by σ; for each prefix ``σ ≤ σ_k`` (at least ``min_points``
    points) the share within ``tolerance`` is ``hits / (k + 1)`` (the ``+ 1`` of split
    conformal prediction, so a small set is not trusted blindly). Return the largest ``σ_k``
    whose share is at least ``level``: accepting predictions with ``σ ≤ σ_k`` was right for at
    least ``level`` of the calibration points. ``0.0`` when no prefix qualifies (accept nothing).
    """
    abs_err, std = _finite(np.abs(abs_err), std)
    if abs_err.size < min_points:
        return 0.0
    order = np.argsort(std, kind="stable")
    hits = np.cumsum(abs_err[order] <= tolerance)
    k = np.arange(1, abs_err.size + 1)
    ok = (hits / (k + 1) >= level) & (k >= min_points)
    if not ok.any():
        return 0.0
    return float(std[order][np.nonzero(ok)[0][-1]])


def confidence_scale(accept_std: float, tolerance: float, level: float = 0.9) -> float:
    """Return the σ scale that maps ``accept_std`` to confidence ``level`` exactly.

    ``confidence(s · σ, tolerance) ≥ level`` then holds exactly when ``σ ≤ accept_std``, so a
    confidence threshold of ``level`` accepts what the calibration data say is right at that
    rate. ``inf`` (confidence 0 for every σ) when ``accept_std`` is 0.
    """
    if accept_std <= 0:
        return math.inf
    z = float(special.ndtri((1.0 + level) / 2.0))
    return tolerance / (accept_std * z)


def shift_p_value(err: np.ndarray, std: np.ndarray, scale: float, level: float = 0.9) -> float:
    """Return how likely so few errors would fall inside their ``level`` intervals by chance.

    ``scale`` is a calibration's σ scale, fitted on other data (the model's validation split).
    If that calibration described these predictions, each error would fall inside its central
    ``level`` interval ``±z·scale·std`` with probability ``level``; the one-sided binomial
    p-value ``P(X ≤ inside)`` for ``X ~ Binomial(n, level)`` is small when far fewer did, i.e.
    when the calibration data do not describe these predictions (four errors of more than
    1 eV/atom at σ ≈ 0.1 give 10⁻⁴). ``1.0`` for no predictions.
    """
    err, std = _finite(np.asarray(err, float), np.asarray(std, float))
    if err.size == 0:
        return 1.0
    z = float(special.ndtri((1.0 + level) / 2.0))
    inside = int((np.abs(err) <= z * scale * std).sum())
    return float(stats.binom.cdf(inside, err.size, level))


def fit_calibration(
    err: np.ndarray, std: np.ndarray, tolerance: float, level: float = 0.9
) -> dict[str, float]:
    """Return the calibration of one target from signed errors and raw σ (per atom).

    ``scale``: the σ scale with the smallest miscalibration area (:func:`fit_scale`);
    ``accept_std``: see :func:`acceptance_std` (0: accept nothing); plus the figures that
    describe the data (``n``, MAE, the share
    within tolerance, the miscalibration area and Spearman ρ(|err|, σ) after scaling).
    """
    err, std = _finite(np.asarray(err, float), np.asarray(std, float))
    scale = fit_scale(err, std)
    accept = acceptance_std(np.abs(err), std, tolerance, level)
    accepted = std <= accept if accept > 0 else np.zeros(err.size, bool)
    return {
        "n": int(err.size),
        "tolerance": float(tolerance),
        "level": float(level),
        "scale": scale,
        "accept_std": accept,
        "accepted_share": float(accepted.mean()) if err.size else math.nan,
        "accepted_within": float((np.abs(err[accepted]) <= tolerance).mean())
        if accepted.any()
        else math.nan,
        "mae": float(np.abs(err).mean()) if err.size else math.nan,
        "within_tolerance": float((np.abs(err) <= tolerance).mean()) if err.size else math.nan,
        "miscalibration_area_raw": miscalibration_area(err, std),
        "miscalibration_area": miscalibration_area(err, scale * std),
        "spearman_abs_error_std": spearman(err, std),
    }
