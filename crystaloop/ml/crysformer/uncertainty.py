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
    """Return ``P(|error| < tolerance)`` for a Gaussian error of standard deviation ``std``."""
    std = np.maximum(np.asarray(std, dtype=float), 1e-12)
    return special.erf(tolerance / (std * math.sqrt(2.0)))
