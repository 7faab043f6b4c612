"""Ensemble σ and confidence: per-atom tolerances, MC-dropout consistency, checkpoints."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import small_config

from crystaloop.ml.crysformer.ensemble import CrysformerEnsemble
from crystaloop.ml.crysformer.model import Crysformer


def _ensemble(targets):
    return CrysformerEnsemble([Crysformer(small_config(targets)) for _ in range(2)])


def test_a_per_cell_target_is_judged_per_atom():
    ens = _ensemble(("heat_ref", "band_gap"))
    ens.accept_std = np.array([0.02, 0.1])
    std_raw = np.array([[0.1, 0.1]])
    # 5 atoms: 0.1 eV per cell is 0.02 eV/atom, exactly the accepted σ → confidence 0.9
    conf = ens.confidence(std_raw, np.array([5]))
    assert conf[0, 0] == pytest.approx(0.9)
    assert conf[0, 1] == pytest.approx(0.9)  # an intensive target is not divided
    assert ens.confidence(std_raw, np.array([1]))[0, 0] < 0.9


def test_a_model_that_accepts_nothing_has_zero_confidence():
    ens = _ensemble(("e_form",))
    ens.accept_std = np.array([0.0])
    assert ens.confidence(np.array([[1e-6]]), np.array([4]))[0, 0] == 0.0


def test_calibration_is_applied_and_saved(tmp_path, toy_data):
    from crystaloop.ml.checkpoint import load_ensemble, save_ensemble

    data = type(toy_data)(toy_data.samples, toy_data.targets)
    ens = _ensemble(("x", "y"))
    ens.config.targets = ["x", "y"]
    report = ens.calibrate(data)
    assert set(report) == {"x", "y"} and ens.residuals.shape == (len(data), 2, 2)
    save_ensemble(ens, tmp_path / "m", label_oracle="chgnet")
    back = load_ensemble(tmp_path / "m")
    assert np.allclose(back.accept_std, ens.accept_std)
    assert np.allclose(back.residuals, ens.residuals, equal_nan=True)  # NaN: unlabelled
    back.apply_calibration({"x": {"scale": 2.0, "accept_std": 0.5, "level": 0.9}})
    assert back.scale[0] == 2.0 and back.accept_std[0] == 0.5
    with pytest.raises(ValueError, match="dropout samples"):
        back.predict(data, mc_samples=3)  # calibrated with 0
