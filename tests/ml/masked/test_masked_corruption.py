"""Pre-training masks and noise (seed 003): what is masked and how atoms move."""

from __future__ import annotations

import torch
from helpers import nacl, perovskite

from crystaloop.ml.data.batch import collate
from crystaloop.ml.data.graph import knn_graph
from crystaloop.ml.masked.corruption import (
    MASK_TOKEN,
    corrupt,
    displaced,
    mean_free_noise,
    random_masks,
    species_masks,
)


def _batch():
    return collate([knn_graph(perovskite()), knn_graph(nacl()), knn_graph(perovskite(4.1))])


def test_a_species_mask_hides_every_atom_of_exactly_one_species_per_crystal():
    g = _batch()
    for seed in range(10):
        mask = species_masks(
            g.atomic_numbers, g.batch, g.num_graphs, torch.Generator().manual_seed(seed)
        )
        for c in range(g.num_graphs):
            here = g.batch == c
            masked = set(g.atomic_numbers[here & mask].tolist())
            kept = set(g.atomic_numbers[here & ~mask].tolist())
            assert len(masked) == 1 and not masked & kept


def test_a_random_mask_hides_a_share_of_atoms_at_least_one():
    g = _batch()  # 5, 8 and 5 atoms
    mask = random_masks(g.batch, g.num_graphs, 0.15, torch.Generator().manual_seed(0))
    counts = [int(mask[g.batch == c].sum()) for c in range(3)]
    assert counts == [1, 1, 1]
    mask = random_masks(g.batch, g.num_graphs, 0.5, torch.Generator().manual_seed(0))
    assert [int(mask[g.batch == c].sum()) for c in range(3)] == [2, 4, 2]


def test_noise_has_no_mean_per_crystal_and_the_requested_spread():
    g = _batch()
    big = torch.zeros(30000, dtype=torch.long)
    noise = mean_free_noise(big, 1, 0.2, torch.Generator().manual_seed(0), torch.float64)
    assert abs(float(noise.std()) - 0.2) < 0.005
    noise = mean_free_noise(g.batch, g.num_graphs, 0.1, torch.Generator().manual_seed(1))
    for c in range(g.num_graphs):
        assert torch.allclose(noise[g.batch == c].mean(0), torch.zeros(3), atol=1e-6)


def test_displaced_edges_are_those_of_the_moved_atoms():
    s = perovskite()
    g = collate([knn_graph(s)])
    move = torch.randn(5, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 0.1
    moved = displaced(g, g.atomic_numbers, move.float())
    cart = torch.tensor(s.cart_coords) + move
    src, dst = g.edge_index
    image = g.edge_vec.double() - (
        torch.tensor(s.cart_coords)[src] - torch.tensor(s.cart_coords)[dst]
    )
    expected = cart[src] + image - cart[dst]
    assert torch.allclose(moved.edge_vec.double(), expected, atol=1e-5)


def test_corrupt_puts_the_mask_token_on_masked_atoms_only():
    g = _batch()
    c = corrupt(g, 0.1, 0.5, 0.15, torch.Generator().manual_seed(3))
    assert (c.graph.atomic_numbers[c.mask] == MASK_TOKEN).all()
    assert torch.equal(c.graph.atomic_numbers[~c.mask], g.atomic_numbers[~c.mask])
    assert c.mask.any() and c.displacement.shape == (g.atomic_numbers.shape[0], 3)
