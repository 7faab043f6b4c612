from __future__ import annotations

import pytest
import torch
from conftest import small_config

from crystaloop.ml.crysformer.model import Crysformer
from crystaloop.ml.distributed import launch
from crystaloop.ml.training import TrainOptions, evaluate

pytestmark = pytest.mark.slow


def test_ddp_on_cpu_with_gloo_and_two_processes(toy_data):
    tr = toy_data.subset(range(0, len(toy_data), 2))
    va = toy_data.subset(range(1, len(toy_data), 2))
    results = launch(
        small_config(), tr, va, TrainOptions(epochs=4, batch_size=6, lr=3e-3), world_size=2
    )
    assert len(results) == 2
    first, second = (r["state"] for r in results)
    for key in first:
        torch.testing.assert_close(first[key], second[key])  # replicas stay in sync
    assert results[0]["best_epoch"] == results[1]["best_epoch"] >= 1
    model = Crysformer(small_config())
    model.load_state_dict(first)
    assert evaluate(model, va)["x"]["mae"] < 1.0
