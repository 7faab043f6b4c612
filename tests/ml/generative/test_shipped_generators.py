"""The generators shipped in crystaloop/models/generators reload and sample on the CPU."""

from __future__ import annotations

import pytest
import torch

from crystaloop.ml.generative.checkpoint import load_generator, resolve_generator_dir
from crystaloop.ml.generative.samplers import SamplerOptions, sample_crystals
from crystaloop.ml.shipped import shipped_generator_dir, shipped_generator_names

# atoms per primitive cell (Carbon-24 cells of 6-24 atoms reduce to primitive cells of 1-24)
EXPECTED = {"perov5": {5}, "carbon24": set(range(1, 25))}


def test_the_named_generators_are_shipped():
    assert set(EXPECTED) <= set(shipped_generator_names())


@pytest.mark.parametrize("name", sorted(EXPECTED))
@pytest.mark.parametrize("mode", ["csp", "abinitio"])
def test_shipped_generator_reloads_and_samples(name, mode):
    directory = resolve_generator_dir(shipped_generator_dir(name), mode)
    model = load_generator(directory)  # checks the sha256 of the weights against the card
    assert model.config.mode == mode and model.config.kind == "diffusion"
    torch.manual_seed(0)
    options = SamplerOptions(steps=10)
    if mode == "csp":
        numbers = [[38, 22, 8, 8, 8]] if name == "perov5" else [[6] * 8]
        out = sample_crystals(model, [len(numbers[0])], numbers, options=options)
        assert out[0].numbers.tolist() == numbers[0]
    else:
        out = sample_crystals(model, [max(EXPECTED[name]) // 4] * 3, options=options)
        assert {int(z) for o in out for z in o.numbers} <= set(model.config.elements)
    assert all(
        o.lattice.shape == (3, 3) and torch.isfinite(torch.tensor(o.lattice)).all() for o in out
    )
    assert {n for n, c in enumerate(model.config.num_atoms_counts) if c} <= EXPECTED[name]
