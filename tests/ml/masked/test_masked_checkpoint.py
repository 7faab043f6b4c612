"""Masked-generator checkpoints: round trip, and the generator family's lookups."""

from __future__ import annotations

import pytest
import torch
from helpers import tiny_structures

from crystaloop.ml.checkpoint import CheckpointError
from crystaloop.ml.generative.checkpoint import (
    find_generator,
    generator_elements,
    is_masked,
    load_generator,
)
from crystaloop.ml.masked.checkpoint import find_masked, load_masked, save_masked
from crystaloop.ml.masked.sampling import mask_inputs, reconstruct


def test_a_saved_masked_generator_reconstructs_the_same(tmp_path, tiny_masked):
    model, _ = tiny_masked
    card = save_masked(model, tmp_path / "m", training={"note": "test"})
    assert card["kind"] == "masked" and card["generator"] == "masked"
    loaded = load_masked(tmp_path / "m")
    inputs = mask_inputs(model, tiny_structures(), "random", 0.1, seed=1)
    a = reconstruct(model.eval(), inputs, 3, seed=4)
    b = reconstruct(loaded, inputs, 3, seed=4)
    for ra, rb in zip(a, b, strict=True):
        assert all((x == y).all() for x, y in zip(ra.numbers, rb.numbers, strict=True))
        assert torch.allclose(torch.tensor(ra.positions), torch.tensor(rb.positions), atol=1e-5)


def test_the_generator_lookups_know_a_masked_model(tmp_path, tiny_masked):
    model, _ = tiny_masked
    save_masked(model, tmp_path / "m")
    assert is_masked(tmp_path / "m") and find_masked(tmp_path / "m") == tmp_path / "m"
    assert find_generator(tmp_path / "m", "abinitio") == tmp_path / "m"  # no mode of its own
    assert generator_elements(tmp_path / "m") == model.config.elements
    with pytest.raises(CheckpointError, match="a masked generator, which proposes substitutions"):
        load_generator(tmp_path / "m")
    assert not is_masked(find_generator("perov5", "csp"))
    with pytest.raises(CheckpointError, match="a diffusion generator, not a masked one"):
        find_masked(find_generator("perov5", "csp"))
