"""The masked denoiser: symmetry of its heads, its loss, and that pre-training learns."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from e3nn import o3
from helpers import perovskite

from crystaloop.ml.data.batch import collate
from crystaloop.ml.data.graph import knn_graph
from crystaloop.ml.masked.config import MaskedConfig
from crystaloop.ml.masked.model import MaskedDenoiser


def _model():
    torch.manual_seed(0)
    small = {"scalar_channels": 16, "vector_channels": 4, "num_layers": 2, "heads": 2}
    return MaskedDenoiser(MaskedConfig(backbone=small, elements=[8, 22, 38])).eval()


def test_species_logits_are_invariant_and_displacements_rotate_with_the_crystal():
    s = perovskite()
    s.translate_sites([1], [0.02, -0.01, 0.03])  # off the centre: the move is not zero
    g = collate([knn_graph(s)])
    mask = torch.tensor([True, False, False, False, False])
    model = _model()
    torch.manual_seed(2)
    rotation = o3.rand_matrix()
    with torch.no_grad():
        logits, move = model(g, mask)
        logits_r, move_r = model(replace(g, edge_vec=g.edge_vec @ rotation.T), mask)
    assert torch.allclose(logits, logits_r, atol=1e-4)
    assert torch.allclose(move @ rotation.T, move_r, atol=1e-4)
    assert move.abs().max() > 1e-4  # a real vector, not zero by symmetry


def test_a_masked_atom_ignores_its_hidden_species():
    g = collate([knn_graph(perovskite())])
    mask = torch.tensor([True, False, False, False, False])
    other = replace(g, atomic_numbers=g.atomic_numbers.clone())
    other.atomic_numbers[0] = 56  # Ba instead of Sr, but masked
    model = _model()
    with torch.no_grad():
        assert torch.equal(model(g, mask)[0], model(other, mask)[0])


def test_the_loss_names_elements_outside_the_species_head():
    g = collate([knn_graph(perovskite())])
    g.atomic_numbers[0] = 56
    with pytest.raises(ValueError, match=r"elements the model does not know: \[56\]"):
        _model().train().loss(g)


def test_a_model_needs_elements():
    with pytest.raises(ValueError, match="needs its elements"):
        MaskedDenoiser(MaskedConfig())
    with pytest.raises(ValueError, match="mask_fraction"):
        MaskedConfig(mask_fraction=0.0)


def test_pre_training_lowers_both_losses(tiny_masked):
    _, result = tiny_masked
    first, last = result.history[0], result.history[-1]
    assert last["train_nll"] < 0.8 * first["train_nll"]
    assert last["train_mse"] < 0.8 * first["train_mse"]
