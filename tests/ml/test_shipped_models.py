"""The checkpoints shipped in crystaloop/models load (sha256 checked) and predict on the CPU."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import perovskite
from pymatgen.core import Lattice, Structure

from crystaloop.ml.checkpoint import load_ensemble, read_card
from crystaloop.ml.data.dataset import InMemoryGraphs, build_samples
from crystaloop.ml.shipped import shipped_model_dir, shipped_model_names


def _diamond() -> Structure:
    return Structure.from_spacegroup("Fd-3m", Lattice.cubic(3.567), ["C"], [[0, 0, 0]])


CASES = {
    "perov5": (["heat_ref", "dir_gap", "ind_gap"], perovskite(4.0)),
    "carbon24": (["energy_per_atom"], _diamond()),
}


def test_both_models_are_shipped():
    assert set(CASES) <= set(shipped_model_names())


@pytest.mark.parametrize("name", sorted(CASES))
def test_shipped_model_loads_and_predicts(name):
    targets, structure = CASES[name]
    directory = shipped_model_dir(name)
    card = read_card(directory)
    assert card["targets"] == targets
    assert (directory / "model.pt").stat().st_size < 5 * 2**20
    ensemble = load_ensemble(directory)
    config = ensemble.config
    nan = np.full(len(targets), np.nan, np.float32)
    samples = list(build_samples([("x", structure, nan)], config.k, config.cutoff))
    pred = ensemble.predict(InMemoryGraphs(samples, targets))
    assert pred.mean.shape == (1, len(targets))
    assert np.all(np.isfinite(pred.mean)) and np.all(pred.std > 0)
    assert "test" in card["metrics"]
