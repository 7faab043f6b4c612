"""Training recipe: budget-tied learning rate, weight EMA, mean-free coordinate targets, sizes."""

from __future__ import annotations

import pytest
import torch
from generator_helpers import tiny_config

from crystaloop.ml.generative.checkpoint import load_generator, save_generator
from crystaloop.ml.generative.config import SIZES, GeneratorConfig, GeneratorTrainOptions
from crystaloop.ml.generative.corruption import remove_crystal_mean
from crystaloop.ml.generative.crystal import collate_crystals, dense_edges
from crystaloop.ml.generative.model import build_model
from crystaloop.ml.generative.recipe import BudgetSchedule, WeightEMA
from crystaloop.ml.generative.training import train_generator, validation_loss
from crystaloop.ml.shipped import shipped_generator_dir


def crystal_means(x: torch.Tensor, batch) -> torch.Tensor:
    sums = torch.zeros(batch.num_graphs, 3).index_add(0, batch.batch, x)
    return sums / batch.num_atoms.unsqueeze(-1).float()


# ---------------------------------------------------------------- learning-rate schedule


def test_the_schedule_warms_up_then_decays_over_a_time_budget():
    # 2,000 epochs of 10 steps but one minute: the minute is the budget
    schedule = BudgetSchedule(20_000, time_limit=60.0, warmup=0.05, min_ratio=0.1)
    assert schedule(0, 0.0) < 0.01  # warm-up starts near 0
    assert schedule(10, 1.5) == pytest.approx(0.5)  # half-way through the 3-s warm-up
    assert schedule(50, 3.0) == pytest.approx(1.0)
    mid = schedule(500, 31.5)
    assert 0.5 < mid < 0.6  # half-way through the decay: (1 + 0.1) / 2
    assert schedule(1_000, 60.0) == pytest.approx(0.1)
    assert schedule(1_000, 600.0) == pytest.approx(0.1)  # past the limit: stays at the floor
    # without a time limit the epochs are the budget
    steps = BudgetSchedule(100, warmup=0.1, min_ratio=0.0)
    factors = [steps(i) for i in range(100)]
    assert factors[9] == pytest.approx(1.0) and factors[-1] == pytest.approx(0.0, abs=1e-9)
    assert all(a <= b for a, b in zip(factors[:10], factors[1:10], strict=False))
    assert all(a >= b for a, b in zip(factors[10:], factors[11:], strict=False))


def test_a_minutes_limited_run_ends_at_the_lowest_rate(crystals):
    torch.manual_seed(0)
    model = build_model(tiny_config(hidden=8))
    options = GeneratorTrainOptions(
        epochs=2000, batch_size=8, lr=1e-3, time_limit=1.5, warmup=0.1, ema_decay=None
    )
    result = train_generator(model, crystals * 8, [], options)
    assert len(result.history) < 2000  # the time limit stopped it
    lrs = [row["lr"] for row in result.history]
    assert lrs[0] < 0.5e-3  # warming up
    assert max(lrs) > 0.9e-3
    assert lrs[-1] < 0.15e-3  # decayed to ~lr/10 by the end of the time budget
    assert result.recipe["warmup"] == 0.1 and result.steps == 3 * len(result.history)


def test_train_options_are_checked():
    with pytest.raises(ValueError, match="warmup"):
        GeneratorTrainOptions(warmup=1.0)
    with pytest.raises(ValueError, match="ema_decay"):
        GeneratorTrainOptions(ema_decay=1.0)


# ---------------------------------------------------------------- EMA


def test_weight_ema_follows_the_model_with_a_warmed_up_decay():
    model = torch.nn.Linear(2, 1)
    ema = WeightEMA(model, decay=0.999)
    start = model.weight.detach().clone()
    assert ema.current_decay() == pytest.approx(0.1)  # (1 + 0) / (10 + 0)
    with torch.no_grad():
        model.weight.add_(1.0)
    ema.update(model)
    assert torch.allclose(ema.average.weight, start + 0.9)
    assert not ema.average.weight.requires_grad
    for _ in range(10_000):
        ema.update(model)
    assert ema.current_decay() == 0.999


def test_ema_weights_differ_from_the_raw_ones_and_are_saved(tmp_path, crystals):
    finals = {}
    for decay in (None, 0.999):
        torch.manual_seed(0)
        model = build_model(tiny_config(hidden=16))
        options = GeneratorTrainOptions(epochs=6, batch_size=8, lr=3e-3, ema_decay=decay)
        train_generator(model, crystals * 8, [], options)
        finals[decay] = {k: v.clone() for k, v in model.state_dict().items()}
        if decay:
            save_generator(model, tmp_path / "ema")
    # the raw trajectory is the same in both runs (the EMA draws no random numbers)
    raw, averaged = finals[None], finals[0.999]
    moved = [k for k in raw if raw[k].is_floating_point() and not torch.equal(raw[k], averaged[k])]
    assert moved
    saved = load_generator(tmp_path / "ema").state_dict()
    assert all(torch.equal(saved[k], averaged[k]) for k in averaged)


def test_validation_evaluates_the_average(crystals):
    torch.manual_seed(0)
    model = build_model(tiny_config(hidden=16))
    options = GeneratorTrainOptions(epochs=4, batch_size=8, lr=3e-3, ema_decay=0.9)
    result = train_generator(model, crystals * 8, crystals, options)
    assert validation_loss(model, crystals) == pytest.approx(result.best_val_loss, rel=1e-5)


# ---------------------------------------------------------------- mean-free coordinates


def test_remove_crystal_mean_leaves_zero_mean_per_crystal(crystals):
    batch = collate_crystals(crystals)
    x = torch.randn(int(batch.num_atoms.sum()), 3) + 5.0
    out = remove_crystal_mean(x, batch.batch, batch.num_atoms)
    assert torch.allclose(crystal_means(out, batch), torch.zeros(batch.num_graphs, 3), atol=1e-6)
    shift = out - x  # one translation per crystal
    assert all(
        torch.allclose(shift[batch.batch == g], shift[batch.batch == g][0]) for g in range(3)
    )


@pytest.mark.parametrize("kind", ["diffusion", "flow"])
def test_the_coordinate_output_and_target_are_mean_free(crystals, kind):
    torch.manual_seed(0)
    model = build_model(tiny_config(kind))
    assert model.config.coord_mean_free
    batch = collate_crystals(crystals)
    out = model.network(
        batch.onehot(),
        batch.frac,
        batch.lattice,
        torch.full((batch.num_graphs,), 0.5),
        batch.num_atoms,
        batch.batch,
        dense_edges(batch.num_atoms),
    )[1]
    zeros = torch.zeros(batch.num_graphs, 3)
    assert torch.allclose(crystal_means(out, batch), zeros, atol=1e-6)
    target = model.coord_target(torch.randn_like(batch.frac) + 1.0, batch)
    assert torch.allclose(crystal_means(target, batch), zeros, atol=1e-6)


@pytest.mark.parametrize("kind", ["diffusion", "flow"])
def test_the_coordinate_loss_ignores_a_translation_of_the_target(crystals, kind, monkeypatch):
    model = build_model(tiny_config(kind))
    batch = collate_crystals(crystals)
    shift = torch.tensor([[0.3, -0.2, 0.1], [0.05, 0.4, -0.3], [-0.1, 0.0, 0.2]])[batch.batch]

    def coord_loss(shifted: bool) -> float:
        if kind == "diffusion":
            field = type(model.coord_field)

            def corrupt(self, f0, t, noise=None):
                frac, target = field.corrupt(self, f0, t, noise)
                return frac, target + shift if shifted else target

            monkeypatch.setattr(model.coord_field, "corrupt", corrupt.__get__(model.coord_field))
        else:
            path = type(model.coord_path)

            def interpolate(f0, f1, t):
                frac, u = path.interpolate(f0, f1, t)
                return frac, u + shift if shifted else u

            monkeypatch.setattr(model.coord_path, "interpolate", interpolate)
        torch.manual_seed(1)
        return model.loss(batch)["coord"].item()

    assert coord_loss(True) == pytest.approx(coord_loss(False), rel=1e-6)


def test_the_flow_coordinate_loss_is_a_plain_squared_error(crystals, monkeypatch):
    model = build_model(tiny_config("flow"))
    batch = collate_crystals(crystals)
    seen = {}
    path = type(model.coord_path)

    def interpolate(f0, f1, t):
        frac, u = path.interpolate(f0, f1, t)
        seen["u"] = u
        return frac, u

    # an error of ±0.9 on two atoms of each crystal (mean-free): 0.81 plain, 0.01 if wrapped
    error = torch.zeros(len(batch.frac), 3)
    for g in range(batch.num_graphs):
        atoms = torch.nonzero(batch.batch == g).flatten()
        error[atoms[0]], error[atoms[1]] = 0.9, -0.9

    def training_network(batch_, types, frac, lattice, time):
        target = remove_crystal_mean(seen["u"], batch_.batch, batch_.num_atoms)
        return torch.zeros_like(lattice), target + error, None

    monkeypatch.setattr(model.coord_path, "interpolate", interpolate)
    monkeypatch.setattr(model, "training_network", training_network)
    loss = model.loss(batch)["coord"].item()
    assert loss == pytest.approx(float(error.pow(2).mean()), rel=1e-5)


# ---------------------------------------------------------------- compatibility and sizes


def test_configurations_saved_before_mean_free_targets_load_as_they_were():
    old = GeneratorConfig().to_dict()
    del old["coord_mean_free"]
    assert GeneratorConfig.from_dict(old).coord_mean_free is False
    assert GeneratorConfig().coord_mean_free is True
    # carbon24 was trained before the recipe: it samples exactly as it was trained
    old_model = load_generator(shipped_generator_dir("carbon24") / "csp")
    assert old_model.config.coord_mean_free is False
    # perov5 and mp were trained with it
    for name in ("perov5", "mp"):
        assert load_generator(shipped_generator_dir(name) / "csp").config.coord_mean_free is True


def test_the_diffcsp_size_is_a_named_preset(crystals):
    config = GeneratorConfig.diffcsp_size(kind="flow", mode="abinitio")
    assert (config.hidden, config.layers, config.n_freq, config.time_dim) == (512, 6, 128, 256)
    assert config.kind == "flow" and config.mode == "abinitio"
    small = GeneratorConfig.sized("small")
    assert (small.hidden, small.layers, small.n_freq, small.time_dim) == (128, 4, 10, 64)
    assert SIZES["small"] == {k: getattr(GeneratorConfig(), k) for k in SIZES["small"]}
    with pytest.raises(ValueError, match="size must be one of"):
        GeneratorConfig.sized("huge")
    model = build_model(GeneratorConfig.diffcsp_size(max_atoms=8))
    assert 10e6 < sum(p.numel() for p in model.parameters()) < 20e6
    assert torch.isfinite(model.loss(collate_crystals(crystals))["loss"])
