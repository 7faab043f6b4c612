"""Periodic crystal graphs: each atom's k nearest neighbours over periodic images.

As in Matformer, an atom receives messages from its ``k`` nearest neighbours among all periodic
images within ``cutoff`` Å; every neighbour tied with the k-th distance (within ``tie_tol``) is
kept too, so that the graph, and any prediction made from it, does not depend on the choice of
unit cell (a supercell gives each atom the same neighbourhood as the primitive cell). Edges carry
the Cartesian vector ``r_ij = r_j + n·L - r_i`` from the receiving atom ``i`` to its neighbour.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from pymatgen.core import Structure

DEFAULT_K = 12
DEFAULT_CUTOFF = 8.0
MAX_CUTOFF = 16.0


@dataclass
class CrystalGraph:
    """A periodic crystal graph in numpy arrays.

    Attributes
    ----------
    atomic_numbers
        ``(N,)`` int64 atomic numbers.
    edge_index
        ``(2, E)`` int64: row 0 the neighbour ``j`` (message source), row 1 the receiving
        atom ``i``.
    edge_vec
        ``(E, 3)`` float32 vectors ``r_j + n·L - r_i`` in Å.
    """

    atomic_numbers: np.ndarray
    edge_index: np.ndarray
    edge_vec: np.ndarray

    @property
    def num_nodes(self) -> int:
        """Number of atoms."""
        return int(self.atomic_numbers.shape[0])

    @property
    def num_edges(self) -> int:
        """Number of edges."""
        return int(self.edge_index.shape[1])


def _neighbor_list(structure: Structure, cutoff: float) -> tuple[np.ndarray, ...]:
    centers, neighbors, images, distances = structure.get_neighbor_list(r=cutoff, exclude_self=True)
    cart = structure.cart_coords
    vec = cart[neighbors] + images @ structure.lattice.matrix - cart[centers]
    return centers.astype(np.int64), neighbors.astype(np.int64), vec, distances


def knn_graph(
    structure: Structure,
    k: int = DEFAULT_K,
    cutoff: float = DEFAULT_CUTOFF,
    tie_tol: float = 1e-3,
) -> CrystalGraph:
    """Build the periodic kNN graph of ``structure``.

    Parameters
    ----------
    structure
        An ordered pymatgen structure.
    k
        Neighbours per atom (plus any tied with the k-th).
    cutoff
        Search radius in Å; doubled (up to 16 Å) for an atom that finds no neighbour in it.
    tie_tol
        Distances within this many Å of the k-th distance count as ties.

    Returns
    -------
    CrystalGraph
        The graph; every atom has at least one neighbour.
    """
    n = len(structure)
    radius = cutoff
    while True:
        centers, neighbors, vec, dist = _neighbor_list(structure, radius)
        counts = np.bincount(centers, minlength=n)
        if counts.min(initial=1) > 0 or radius >= MAX_CUTOFF:
            break
        radius = min(2 * radius, MAX_CUTOFF)
    if n and counts.min() == 0:
        raise ValueError(f"an atom has no neighbour within {MAX_CUTOFF} Å")

    order = np.lexsort((dist, centers))
    centers, neighbors, vec, dist = centers[order], neighbors[order], vec[order], dist[order]
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.arange(len(centers)) - np.repeat(starts, counts)
    kth_index = starts + np.minimum(counts, k) - 1
    kth_dist = np.repeat(dist[kth_index], counts)
    keep = (rank < k) | (dist <= kth_dist + tie_tol)
    return CrystalGraph(
        atomic_numbers=np.array([site.specie.Z for site in structure], dtype=np.int64),
        edge_index=np.stack([neighbors[keep], centers[keep]]).astype(np.int64),
        edge_vec=vec[keep].astype(np.float32),
    )
