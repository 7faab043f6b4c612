"""Errors and calibration of predictions against oracle values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from crystaloop.chem.calibration import (
    COVERAGE_LEVELS,
    coverage_curve,
    error_stats,
    observed_coverage,
)


def test_gaussian_errors_with_the_right_sigma_are_calibrated():
    rng = np.random.default_rng(0)
    truth = rng.normal(size=4000)
    std = np.full(4000, 0.3)
    mean = truth + rng.normal(scale=0.3, size=4000)
    curve = coverage_curve(list(mean), list(std), list(truth))
    assert [expected for expected, _ in curve] == list(COVERAGE_LEVELS) and len(curve) >= 3
    for expected, observed in curve:
        assert observed == pytest.approx(expected, abs=0.03)
    # a σ four times too small is over-confident: far less coverage than promised
    assert observed_coverage(list(mean), list(std / 4), list(truth), 0.9) < 0.4


def test_error_stats_on_a_known_case():
    stats = error_stats([1.0, 2.0, 3.0], [0.4, 0.4, 0.4], [1.0, 2.0, 4.0])
    assert stats.n == 3
    assert stats.mae == pytest.approx(1 / 3)
    assert stats.rmse == pytest.approx(math.sqrt(1 / 3))
    assert stats.r2 == pytest.approx(1 - 1 / (14 / 3))
    assert stats.coverage_68 == pytest.approx(2 / 3)
    assert stats.coverage_95 == pytest.approx(2 / 3)  # |1| > 2 σ = 0.8


def test_empty_and_bad_input():
    assert error_stats([], [], []).n == 0 and math.isnan(error_stats([], [], []).mae)
    assert math.isnan(observed_coverage([], [], [], 0.5))
    with pytest.raises(ValueError, match="length"):
        error_stats([1.0], [0.1, 0.2], [1.0])
    with pytest.raises(ValueError, match="negative"):
        error_stats([1.0], [-0.1], [1.0])
    with pytest.raises(ValueError, match="level"):
        observed_coverage([1.0], [0.1], [1.0], 1.0)
