"""The one seeded sampler: chunks, seeds, the caller's random state and the hybrid strategy."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from generator_helpers import tiny_config

from crystaloop.ml.generative.model import build_model
from crystaloop.ml.generative.num_atoms import TrainingNumAtoms
from crystaloop.ml.generative.samplers import SamplerOptions, sample_crystals
from crystaloop.ml.generative.sampling import SeededSampler, sample_seeded

OPTIONS = SamplerOptions(steps=3)


@pytest.fixture(scope="module")
def abinitio():
    torch.manual_seed(0)
    return build_model(tiny_config("diffusion", "abinitio", num_atoms_counts=[0, 0, 3, 1, 2, 1]))


@pytest.fixture(scope="module")
def csp():
    torch.manual_seed(0)
    return build_model(tiny_config("flow", "csp"))


def same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert np.array_equal(x.numbers, y.numbers)
        assert np.array_equal(x.lattice, y.lattice) and np.array_equal(x.frac, y.frac)


def test_the_chunks_are_the_list_and_the_seed_fixes_them(abinitio):
    chunks = list(SeededSampler(abinitio, 7, 5, options=OPTIONS, batch_size=3))
    assert [len(c) for c in chunks] == [3, 3, 1]
    whole = sample_seeded(abinitio, 7, 5, options=OPTIONS, batch_size=3)
    same([c for chunk in chunks for c in chunk], whole)
    other = sample_seeded(abinitio, 7, 6, options=OPTIONS, batch_size=3)
    assert any(not np.array_equal(a.lattice, b.lattice) for a, b in zip(whole, other, strict=True))


def test_the_recipe_draws_every_count_first_then_samples_chunk_by_chunk(abinitio):
    # the recipe campaigns have always used: keeps the crystals of earlier runs reproducible
    counts = TrainingNumAtoms(abinitio.config.num_atoms_counts).sample(
        7, torch.Generator().manual_seed(5)
    )
    torch.manual_seed(5)
    expected = sample_crystals(abinitio, counts.tolist(), options=OPTIONS, batch_size=3)
    same(sample_seeded(abinitio, 7, 5, options=OPTIONS, batch_size=3), expected)


def test_what_the_caller_does_between_chunks_changes_nothing_and_is_left_alone(abinitio):
    expected = sample_seeded(abinitio, 7, 5, options=OPTIONS, batch_size=3)
    torch.manual_seed(123)
    before = torch.rand(4)
    torch.manual_seed(123)
    got = []
    for chunk in SeededSampler(abinitio, 7, 5, options=OPTIONS, batch_size=3):
        got += chunk
    after = torch.rand(4)  # the caller's stream continues as if nothing had been sampled
    assert torch.equal(before, after)
    same(got, expected)
    interleaved = []
    for chunk in SeededSampler(abinitio, 7, 5, options=OPTIONS, batch_size=3):
        torch.rand(100)  # e.g. a screen that draws random numbers
        interleaved += chunk
    same(interleaved, expected)


def test_a_composition_gives_its_atoms_to_every_crystal(csp):
    numbers = [38, 22, 8, 8, 8]
    out = sample_seeded(csp, 5, 1, composition=numbers, options=OPTIONS, batch_size=2)
    assert [c.numbers.tolist() for c in out] == [numbers] * 5
    with pytest.raises(TypeError, match="atomic numbers"):
        SeededSampler(csp, 2, 0, composition="SrTiO3")
    with pytest.raises(ValueError, match="more than|1 to 8"):
        SeededSampler(csp, 2, 0, composition=[8] * 9)
    with pytest.raises(ValueError, match="atomic numbers"):
        SeededSampler(csp, 2, 0)  # a CSP model needs a composition
    with pytest.raises(ValueError, match="space-group condition"):
        SeededSampler(csp, 2, 0, composition=numbers, spacegroup=221)


def test_bad_requests_are_refused_before_sampling(abinitio):
    with pytest.raises(ValueError, match="n must be at least 1"):
        SeededSampler(abinitio, 0, 0)
    with pytest.raises(ValueError, match="batch_size"):
        SeededSampler(abinitio, 2, 0, batch_size=0)
    with pytest.raises(ValueError, match="unknown atom-count strategy"):
        SeededSampler(abinitio, 2, 0, num_atoms="poisson")
    sampler = SeededSampler(abinitio, 2, 0, options=OPTIONS)
    list(sampler)
    with pytest.raises(RuntimeError, match="iterated once"):
        list(sampler)


def test_hybrid_switches_the_chunks_still_to_come_after_a_low_pass_rate(abinitio):
    hybrid = sample_seeded(abinitio, 6, 2, num_atoms="hybrid", options=OPTIONS, batch_size=2)
    same(hybrid, sample_seeded(abinitio, 6, 2, options=OPTIONS, batch_size=2))  # no reports
    sampler = SeededSampler(
        abinitio, 400, 2, num_atoms="hybrid", options=SamplerOptions(steps=1), batch_size=200
    )
    chunks = iter(sampler)
    first = next(chunks)
    sampler.report(0.0)
    second = next(chunks)
    sizes = lambda chunk: {c.num_atoms for c in chunk}  # noqa: E731
    assert sizes(first) <= {2, 3, 4, 5}  # the training p(N)
    assert sizes(second) - {2, 3, 4, 5}  # uniform up to max_atoms = 8
    assert max(sizes(second)) <= abinitio.config.max_atoms


def test_score_norms_are_vectorised_cached_and_unchanged():
    import torch

    from crystaloop.ml.generative.schedules import (
        WRAP_IMAGES,
        exponential_sigmas,
        wrapped_normal_score,
        wrapped_normal_score_norm,
    )

    sigmas = torch.cat([torch.zeros(1, dtype=torch.float64), exponential_sigmas(20, 0.005, 0.5)])
    x = torch.linspace(-0.5, 0.5, 4001, dtype=torch.float64)[:-1]
    k = torch.arange(-WRAP_IMAGES, WRAP_IMAGES + 1, dtype=torch.float64)
    expected = torch.zeros_like(sigmas)
    for i, sigma in enumerate(sigmas.tolist()):  # the definition, one σ at a time
        if sigma > 0:
            density = torch.exp(-((x.unsqueeze(-1) + k) ** 2) / (2 * sigma**2)).sum(-1)
            density = density / density.sum()
            score = wrapped_normal_score(x, torch.tensor(sigma, dtype=torch.float64))
            expected[i] = (density * score**2).sum()
    got = wrapped_normal_score_norm(sigmas)
    assert torch.allclose(got, expected, rtol=1e-12, atol=0) and got[0] == 0
    again = wrapped_normal_score_norm(sigmas)
    assert again is not got and torch.equal(again, got)  # cached, but a fresh tensor
    assert wrapped_normal_score_norm(sigmas.float()).dtype == torch.float32
