"""The confidence calibration: a σ threshold chosen from data, and what a confidence means."""

from __future__ import annotations

import math

import numpy as np
import pytest

from crystaloop.ml.crysformer.uncertainty import (
    acceptance_std,
    confidence,
    confidence_scale,
    fit_calibration,
)


def _data(n=2000, seed=0):
    rng = np.random.default_rng(seed)
    std = rng.uniform(0.01, 0.5, n)
    err = rng.normal(0.0, 1.5 * std)  # the raw σ is 1.5× too small
    return err, std


def test_accepted_predictions_are_right_at_the_chosen_level():
    err, std = _data()
    tol = 0.12
    accept = acceptance_std(np.abs(err), std, tol, level=0.9)
    assert 0 < accept < 0.5
    chosen = std <= accept
    assert (np.abs(err[chosen]) <= tol).mean() >= 0.9
    # a fresh sample from the same distribution keeps the promise (up to noise)
    err2, std2 = _data(seed=1)
    held = std2 <= accept
    assert (np.abs(err2[held]) <= tol).mean() >= 0.87


def test_confidence_level_is_reached_exactly_at_the_accepted_sigma():
    scale = confidence_scale(0.05, 0.12, 0.9)
    assert confidence(scale * 0.05, 0.12) == pytest.approx(0.9)
    assert confidence(scale * 0.04, 0.12) > 0.9 > confidence(scale * 0.06, 0.12)
    assert confidence_scale(0.0, 0.12) == math.inf


def test_nothing_is_accepted_when_no_prediction_is_good_enough():
    err, std = np.full(50, 1.0), np.linspace(0.01, 0.5, 50)
    assert acceptance_std(np.abs(err), std, 0.12) == 0.0
    assert acceptance_std(np.zeros(5), np.ones(5), 0.12) == 0.0  # too few points to trust


def test_fit_calibration_reports_what_it_fitted():
    err, std = _data()
    out = fit_calibration(err, std, 0.12)
    assert out["n"] == 2000 and out["scale"] == pytest.approx(1.5, rel=0.25)
    assert out["accepted_within"] >= 0.9 and 0 < out["accepted_share"] < 1
    assert out["miscalibration_area"] < 0.05


def test_the_shift_p_value_is_small_only_when_errors_leave_their_intervals():
    from crystaloop.ml.crysformer.uncertainty import shift_p_value

    assert shift_p_value(np.array([]), np.array([]), 1.0) == 1.0
    std = np.full(4, 0.1)  # 90 % intervals ±0.16 at scale 1
    # one error outside in one: 10 % likely at a 90 % level, not evidence enough
    assert shift_p_value(np.array([1.5]), std[:1], 1.0) == pytest.approx(0.1)
    # four outside in four: 10⁻⁴
    assert shift_p_value(np.array([1.5, 1.2, -1.8, 0.9]), std, 1.0) == pytest.approx(1e-4)
    # the same errors inside intervals twenty times wider: no evidence
    assert shift_p_value(np.array([1.5, 1.2, -1.8, 0.9]), std, 20.0) == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    sigma = rng.uniform(0.05, 0.3, 200)
    assert shift_p_value(rng.normal(0, sigma), sigma, 1.0) > 0.05  # calibrated: no shift
