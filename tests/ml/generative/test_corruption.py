from __future__ import annotations

import torch

from crystaloop.ml.generative.corruption import DDPMField, TorusPath, WrappedNormalField
from crystaloop.ml.generative.schedules import wrap


def test_ddpm_reverse_step_to_zero_with_the_true_noise_recovers_the_data():
    field = DDPMField(100, clip=10.0)
    x0 = torch.randn(4, 3, 3)
    t = torch.tensor([1, 30, 70, 100])
    xt, eps = field.corrupt(x0, t)
    x_back = field.step(xt, eps, t, torch.zeros_like(t))
    assert torch.allclose(x_back, x0, atol=1e-4)


def test_ddpm_early_times_are_close_to_the_data_and_late_ones_to_noise():
    field = DDPMField(1000, clip=5.0)
    x0 = torch.ones(2000)
    early, _ = field.corrupt(x0, torch.full((2000,), 1))
    late, _ = field.corrupt(x0, torch.full((2000,), 1000))
    assert (early - 1).abs().max() < 0.1
    assert late.mean().abs() < 0.1 and (late.std() - 1).abs() < 0.1


def test_wrapped_coordinates_stay_in_the_unit_cell_and_the_predictor_reaches_the_data():
    field = WrappedNormalField(100, 0.005, 0.5)
    f0 = torch.rand(50, 3)
    t = torch.full((50,), 100)
    ft, target = field.corrupt(f0, t)
    assert torch.all((ft >= 0) & (ft < 1)) and torch.isfinite(target).all()
    small = torch.full((50,), 1)
    ft, target = field.corrupt(f0, small)
    fs = field.predictor(ft, field.score(target, small), small, torch.zeros_like(small))
    diff = fs - f0
    assert (diff - torch.round(diff)).abs().max() < 1e-3


def test_torus_path_goes_the_short_way_round():
    f0 = torch.tensor([[0.95, 0.1, 0.5]])
    f1 = torch.tensor([[0.05, 0.9, 0.5]])
    mid, u = TorusPath.interpolate(f0, f1, torch.tensor([0.5]))
    assert torch.allclose(u, torch.tensor([[0.1, -0.2, 0.0]]), atol=1e-6)
    assert wrap(mid - torch.tensor([[0.0, 0.0, 0.5]])).abs().max() < 1e-6
    end, _ = TorusPath.interpolate(f0, f1, torch.tensor([1.0]))
    assert torch.allclose(end, f1, atol=1e-6)
