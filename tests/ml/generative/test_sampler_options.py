"""Corrector step scaled to the sampling steps, card defaults, resampling, anti-annealing."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from generator_helpers import tiny_config

from crystaloop.ml.checkpoint import CheckpointError
from crystaloop.ml.generative import samplers
from crystaloop.ml.generative.checkpoint import (
    load_generator,
    save_generator,
    write_sampling_defaults,
)
from crystaloop.ml.generative.model import build_model
from crystaloop.ml.generative.overlap import crystal_problem, shortest_distance
from crystaloop.ml.generative.samplers import (
    UNTUNED_STEP_LR,
    SamplerOptions,
    corrector_step_lr,
    sample_crystals,
    tuned_step_lr,
)
from crystaloop.ml.generative.sampling import ResampleReport, SeededSampler, sample_seeded


def _model(kind: str = "diffusion", mode: str = "abinitio", **kwargs):
    torch.manual_seed(0)
    counts = kwargs.pop("num_atoms_counts", [0, 0, 3, 1, 2, 1])
    return build_model(tiny_config(kind, mode, num_atoms_counts=counts, **kwargs))


def _corrector_steps(model, options, monkeypatch) -> list[float]:
    seen: list[float] = []
    original = model.coord_field.corrector

    def spy(ft, score, t, step_lr):
        seen.append(step_lr)
        return original(ft, score, t, step_lr)

    monkeypatch.setattr(model.coord_field, "corrector", spy)
    sample_crystals(model, [2], options=options)
    return seen


def test_corrector_step_grows_with_t_over_steps():
    assert corrector_step_lr(1e-5, 1000, 1000) == pytest.approx(1e-5)
    assert corrector_step_lr(1e-5, 1000, 100) == pytest.approx(1e-4)
    assert corrector_step_lr(2e-6, 1000, 100) == pytest.approx(2e-5)
    assert corrector_step_lr(1e-5, 1000, 5000) == pytest.approx(1e-5)  # never more steps than T
    with pytest.raises(ValueError):
        corrector_step_lr(1e-5, 1000, 0)


def test_the_sampler_scales_the_tuned_step_by_t_over_steps(monkeypatch):
    model = _model()  # T = 50
    seen = _corrector_steps(model, SamplerOptions(steps=10, step_lr=3e-6), monkeypatch)
    assert seen == pytest.approx([3e-6 * 50 / 10] * 10)
    seen = _corrector_steps(model, SamplerOptions(step_lr=3e-6), monkeypatch)  # all T steps
    assert seen == pytest.approx([3e-6] * 50)


def test_the_tuned_step_comes_from_options_then_card_then_default(tmp_path):
    model = _model()
    assert tuned_step_lr(model, SamplerOptions()) is None  # built in memory: untuned
    save_generator(model, tmp_path / "new", sampling={"step_lr": 4e-6})
    card = json.loads((tmp_path / "new" / "model.json").read_text())
    assert card["sampling"] == {"step_lr": 4e-6}
    loaded = load_generator(tmp_path / "new")
    assert loaded.sampling_defaults == {"step_lr": 4e-6}
    assert tuned_step_lr(loaded, SamplerOptions()) == 4e-6
    assert tuned_step_lr(loaded, SamplerOptions(step_lr=7e-6)) == 7e-6  # the options win


def test_an_old_card_without_sampling_defaults_samples_as_before(tmp_path, monkeypatch):
    model = _model()
    save_generator(model, tmp_path / "old")
    card = json.loads((tmp_path / "old" / "model.json").read_text())
    assert "sampling" not in card
    old = load_generator(tmp_path / "old")
    assert old.sampling_defaults == {}
    options = SamplerOptions(steps=5)
    torch.manual_seed(3)
    a = sample_crystals(old, [2, 3], options=options)
    torch.manual_seed(3)
    # the untuned per-step size at every number of steps: T/S × (UNTUNED / (T/S)) tuned
    b = sample_crystals(
        model, [2, 3], options=SamplerOptions(steps=5, step_lr=UNTUNED_STEP_LR * 5 / 50)
    )
    for x, y in zip(a, b, strict=True):
        assert np.allclose(x.frac, y.frac) and np.allclose(x.lattice, y.lattice)
    assert _corrector_steps(old, SamplerOptions(steps=10), monkeypatch) == pytest.approx(
        [UNTUNED_STEP_LR] * 10
    )
    assert _corrector_steps(old, SamplerOptions(), monkeypatch) == pytest.approx(
        [UNTUNED_STEP_LR] * 50
    )
    # tuning an existing card keeps its weights loadable (their sha256 is unchanged)
    write_sampling_defaults(tmp_path / "old", {"step_lr": 5e-6})
    assert load_generator(tmp_path / "old").sampling_defaults == {"step_lr": 5e-6}
    with pytest.raises(CheckpointError):
        write_sampling_defaults(tmp_path / "old", {"step_lr": -1.0})
    with pytest.raises(CheckpointError):
        write_sampling_defaults(tmp_path / "old", {"temperature": 0.5})
    # a key of a later version is left out on loading, not refused
    card = json.loads((tmp_path / "old" / "model.json").read_text())
    card["sampling"]["temperature"] = 0.5
    (tmp_path / "old" / "model.json").write_text(json.dumps(card))
    assert load_generator(tmp_path / "old").sampling_defaults == {"step_lr": 5e-6}


def test_overlap_check_finds_close_sites_images_and_small_cells():
    cubic = np.eye(3) * 4.0
    assert crystal_problem(cubic, np.array([[0.0, 0, 0], [0.5, 0.5, 0.5]])) is None
    close = np.array([[0.0, 0, 0], [0.99, 0, 0]])  # 0.04 Å apart across the boundary
    assert "overlap" in crystal_problem(cubic, close)
    assert shortest_distance(cubic, close, 0.5) == pytest.approx(0.04)
    short_axis = np.diag([0.3, 4.0, 4.0])  # one site, its own image 0.3 Å away
    assert "overlap" in crystal_problem(short_axis, np.zeros((1, 3)))
    assert "volume" in crystal_problem(np.eye(3) * 0.4, np.zeros((1, 3)))
    assert "non-finite" in crystal_problem(cubic * np.nan, np.zeros((1, 3)))


def test_overlap_check_agrees_with_the_screen():
    from crystaloop.chem.validity import structure_problem
    from crystaloop.ml.generative.crystal import to_structure

    rng = np.random.default_rng(0)
    verdicts = []
    for _ in range(150):
        lattice = rng.normal(size=(3, 3)) * rng.uniform(0.5, 3.0)
        frac = rng.random((int(rng.integers(1, 6)), 3))
        ours = crystal_problem(lattice, frac) is None
        screen = structure_problem(to_structure(lattice, frac, [8] * len(frac)), max_sites=100)
        verdicts.append(ours)
        assert ours == (screen is None), (lattice, frac, screen)
    assert 0 < sum(verdicts) < len(verdicts)  # both verdicts were exercised


def _counting_problem(monkeypatch, fail_first: int):
    """Make the first ``fail_first`` checks fail, then pass (a generator that learns)."""
    from crystaloop.ml.generative import sampling

    calls = {"n": 0}

    def problem(lattice, frac, **kwargs):
        calls["n"] += 1
        return "atoms overlap" if calls["n"] <= fail_first else None

    monkeypatch.setattr(sampling, "crystal_problem", problem)
    return calls


def test_resampling_replaces_invalid_crystals_and_counts_them(monkeypatch):
    model = _model()
    options = SamplerOptions(steps=3)
    plain = sample_seeded(model, 6, 4, options=options, batch_size=3)
    # the first 2 checks of chunk 1 fail; their redraws pass
    _counting_problem(monkeypatch, fail_first=2)
    report = ResampleReport()
    out = sample_seeded(
        model, 6, 4, options=options, batch_size=3, resample_rounds=3, report=report
    )
    assert report.invalid_first == 2 and report.replaced == 2 and report.still_invalid == 0
    assert report.redraws == 2 and report.drawn == 8 and report.rounds == 3
    changed = [not np.array_equal(a.frac, b.frac) for a, b in zip(plain, out, strict=True)]
    assert changed == [True, True, False, False, False, False]  # only the invalid were redrawn
    assert [len(c.numbers) for c in out] == [len(c.numbers) for c in plain]  # same atom counts


def test_resampling_keeps_and_reports_crystals_that_stay_invalid(monkeypatch):
    model = _model()
    options = SamplerOptions(steps=3)
    _counting_problem(monkeypatch, fail_first=10**6)  # never valid
    sampler = SeededSampler(model, 4, 1, options=options, batch_size=4, resample_rounds=2)
    out = [c for chunk in sampler for c in chunk]
    r = sampler.resampling
    assert len(out) == 4  # nothing dropped
    assert (r.invalid_first, r.replaced, r.still_invalid, r.redraws, r.drawn) == (4, 0, 4, 8, 12)
    assert r.still_invalid_indices == [0, 1, 2, 3]


def test_resampling_is_deterministic_for_a_seed():
    model = _model()
    options = SamplerOptions(steps=3)
    runs = []
    for _ in range(2):
        report = ResampleReport()
        crystals = sample_seeded(
            model, 8, 2, options=options, batch_size=4, resample_rounds=2, report=report
        )
        runs.append((crystals, report.as_dict()))
    (a, ra), (b, rb) = runs
    assert ra == rb and ra["drawn"] == 8 + ra["redraws"]
    for x, y in zip(a, b, strict=True):
        assert np.array_equal(x.frac, y.frac) and np.array_equal(x.lattice, y.lattice)
    with pytest.raises(ValueError):
        SeededSampler(model, 2, 0, resample_rounds=-1)


def test_anti_annealing_multiplies_the_coordinate_velocity(monkeypatch):
    model = _model("flow")

    def constant_velocity(self, types, frac, lattice, time):  # v_L = 0, v_F = 1, v_A = 0
        return torch.zeros_like(lattice), torch.ones_like(frac), torch.zeros_like(types)

    monkeypatch.setattr(samplers._Evaluator, "__call__", constant_velocity)
    torch.manual_seed(0)
    off = sample_crystals(model, [2], options=SamplerOptions(steps=4))
    torch.manual_seed(0)
    on = sample_crystals(model, [2], options=SamplerOptions(steps=4, anti_annealing=10.0))
    assert np.allclose(off[0].lattice, on[0].lattice)  # only the coordinates are annealed
    # Euler steps of dt = 1/4 at t = 0, 1/4, 1/2, 3/4: the extra path is dt · 10 · Σ t = 3.75
    extra = (on[0].frac - off[0].frac - 3.75) % 1.0
    assert np.allclose(np.minimum(extra, 1 - extra), 0, atol=1e-5)
    assert samplers.anti_annealing_factor(torch.tensor([0.0, 0.5, 1.0]), 2.0).tolist() == [
        1.0,
        2.0,
        3.0,
    ]
