"""Masks and positional noise of the masked generator's pre-training (seed 003).

A crystal's atoms keep their lattice and periodicity; a mask hides species (the masked atoms
get the mask token, atomic number 0) and a Gaussian displacement moves every atom. Edges are
those of the input crystal's graph; an edge vector ``r_j + n·L − r_i`` becomes
``r_j + δ_j + n·L − r_i − δ_i``, which is exact for the displaced atoms. The displacement has
no mean per crystal: a rigid translation of a crystal is invisible to the network, so it could
not be undone.

Every random choice draws from torch's generator (or the one given), so training is seeded by
the training seed and validation by its fixed seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from crystaloop.ml.data.batch import GraphBatch

#: The atomic number of a masked atom.
MASK_TOKEN = 0


@dataclass
class Corrupted:
    """A batch with masked species and displaced atoms.

    Attributes
    ----------
    graph
        The batch the network sees: masked atoms carry :data:`MASK_TOKEN`, edge vectors are
        displaced.
    mask
        ``(N,)`` bool: the masked atoms.
    displacement
        ``(N, 3)`` the displacement applied (Å, Cartesian); the network predicts its negative.
    """

    graph: GraphBatch
    mask: Tensor
    displacement: Tensor


def species_masks(
    numbers: Tensor, batch: Tensor, num_graphs: int, generator: torch.Generator | None = None
) -> Tensor:
    """Return ``(N,)``: every atom of one species per crystal (a species drawn uniformly)."""
    present = torch.zeros(num_graphs, 128, dtype=torch.bool, device=numbers.device)
    present[batch, numbers] = True
    score = torch.rand(num_graphs, 128, generator=generator, device=numbers.device)
    score = torch.where(present, score, torch.full_like(score, -1.0))
    return numbers == score.argmax(dim=1)[batch]


def random_masks(
    batch: Tensor, num_graphs: int, fraction: float, generator: torch.Generator | None = None
) -> Tensor:
    """Return ``(N,)``: ``max(1, round(fraction · n))`` atoms of each crystal, drawn uniformly."""
    counts = torch.bincount(batch, minlength=num_graphs)
    wanted = torch.clamp(torch.round(counts.to(torch.float64) * fraction), min=1).to(counts.dtype)
    score = torch.rand(
        batch.shape[0], generator=generator, device=batch.device, dtype=torch.float64
    )
    order = torch.argsort(batch.to(torch.float64) * 2.0 + score)
    starts = torch.cumsum(counts, 0) - counts
    rank = torch.empty_like(batch)
    rank[order] = torch.arange(batch.shape[0], device=batch.device) - starts[batch[order]]
    return rank < wanted[batch]


def mean_free_noise(
    batch: Tensor, num_graphs: int, sigma: float, generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:  # fmt: skip
    """Return ``(N, 3)`` Gaussian displacements (σ Å per component) without a mean per crystal.

    Removing the mean leaves a per-component spread of ``σ·√(1 − 1/n)`` in a crystal of ``n``
    atoms (0.89 σ for a 5-atom perovskite).
    """
    noise = torch.randn(batch.shape[0], 3, generator=generator, device=batch.device, dtype=dtype)
    noise = noise * sigma
    sums = torch.zeros(num_graphs, 3, dtype=dtype, device=batch.device).index_add(0, batch, noise)
    counts = torch.bincount(batch, minlength=num_graphs).clamp(min=1).to(dtype)
    return noise - (sums / counts[:, None])[batch]


def displaced(graph: GraphBatch, numbers: Tensor, displacement: Tensor) -> GraphBatch:
    """Return ``graph`` with atomic numbers ``numbers`` and every atom moved by ``displacement``."""
    src, dst = graph.edge_index[0], graph.edge_index[1]
    vec = graph.edge_vec + (displacement[src] - displacement[dst]).to(graph.edge_vec.dtype)
    return GraphBatch(
        atomic_numbers=numbers,
        edge_index=graph.edge_index,
        edge_vec=vec,
        batch=graph.batch,
        num_graphs=graph.num_graphs,
    )


def corrupt(
    graph: GraphBatch,
    sigma: float,
    species_mask_prob: float,
    fraction: float,
    generator: torch.Generator | None = None,
) -> Corrupted:
    """Mask and displace a clean batch as pre-training does.

    Each crystal gets the species mask with probability ``species_mask_prob``, else the random
    mask of ``fraction`` of its atoms; every atom moves by mean-free Gaussian noise of ``sigma``.
    """
    numbers, batch, g = graph.atomic_numbers, graph.batch, graph.num_graphs
    by_species = torch.rand(g, generator=generator, device=numbers.device) < species_mask_prob
    mask = torch.where(
        by_species[batch],
        species_masks(numbers, batch, g, generator),
        random_masks(batch, g, fraction, generator),
    )
    noise = mean_free_noise(batch, g, sigma, generator, graph.edge_vec.dtype)
    masked = torch.where(mask, torch.full_like(numbers, MASK_TOKEN), numbers)
    return Corrupted(displaced(graph, masked, noise), mask, noise)
