"""Periodic crystal graphs: each atom's k nearest neighbours over periodic images.

As in Matformer, an atom receives messages from its ``k`` nearest neighbours among all periodic
images within ``cutoff`` Å; every neighbour tied with the k-th distance (within ``tie_tol``) is
kept too, so that the graph, and any prediction made from it, does not depend on the choice of
unit cell (a supercell gives each atom the same neighbourhood as the primitive cell). Edges carry
the Cartesian vector ``r_ij = r_j + n·L - r_i`` from the receiving atom ``i`` to its neighbour.
"""

from __future__ import annotations

from collections.abc import Sequence
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


def _knn_select(
    n: int, centers: np.ndarray, dist: np.ndarray, k: int, tie_tol: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Keep each center's ``k`` nearest candidates and those tied with the k-th.

    Returns the indices of the kept candidates sorted by center, then distance, the ``(n,)``
    candidate count of each center and its k-th distance (the farthest when it has fewer than
    ``k``, ``inf`` when none).
    """
    counts = np.bincount(centers, minlength=n)
    order = np.lexsort((dist, centers))
    dist = dist[order]
    starts = np.cumsum(counts) - counts
    rank = np.arange(len(order)) - np.repeat(starts, counts)
    has = counts > 0
    kth = np.full(n, np.inf)
    kth[has] = dist[(starts + np.minimum(counts, k) - 1)[has]]
    keep = (rank < k) | (dist <= np.repeat(kth, counts) + tie_tol)
    return order[keep], counts, kth


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
        The graph; every atom has at least one neighbour. Each atom's edges come in order of
        distance. :func:`knn_graphs` builds the same graphs for many structures at once.
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
    keep = _knn_select(n, centers, dist, k, tie_tol)[0]
    return CrystalGraph(
        atomic_numbers=np.array([site.specie.Z for site in structure], dtype=np.int64),
        edge_index=np.stack([neighbors[keep], centers[keep]]).astype(np.int64),
        edge_vec=vec[keep].astype(np.float32),
    )


#: :func:`knn_graphs` searches at most about this many atom pairs at once (bounds its memory).
MAX_PAIRS = 1 << 19
#: Larger structures are left to :func:`knn_graph` (whose cell lists scale better).
MAX_BATCHED_ATOMS = 256

#: The first search sphere of :func:`knn_graphs` holds about this many times ``k`` atoms on
#: average (its radius is ``(FIRST_SPHERE * 3 k / (4 π ρ))^(1/3)`` at number density ``ρ``).
FIRST_SPHERE = 2.0


def knn_graphs(
    structures: Sequence[Structure],
    k: int = DEFAULT_K,
    cutoff: float = DEFAULT_CUTOFF,
    tie_tol: float = 1e-3,
    atomic_numbers: Sequence[Sequence[int]] | None = None,
) -> list[CrystalGraph]:
    """Build the periodic kNN graphs of many structures (the same graphs as :func:`knn_graph`).

    ``atomic_numbers`` (one sequence per structure) saves reading them from the structures
    again when the caller has them.

    Each atom's k-th neighbour is usually much closer than ``cutoff``, so the neighbours are
    first searched within a smaller sphere of radius ``r`` (about twice ``k`` atoms on average,
    never beyond ``cutoff``), for all structures at once with numpy: for every pair of atoms,
    their fractional offset wrapped into [-1/2, 1/2], the lattice translations that can bring
    it within ``r``. An atom whose k-th distance ``d_k`` satisfies ``d_k + tie_tol ≤ r`` has
    exactly the neighbours that the search within ``cutoff`` gives it (the k nearest and every
    one within ``tie_tol`` of ``d_k`` lie within ``r``). The structures with an atom that
    does not are searched again within ``cutoff``, and those still unsettled are built by
    :func:`knn_graph` (which also widens the search for isolated atoms).
    """
    count = len(structures)
    out: list[CrystalGraph | None] = [None] * count
    if atomic_numbers is None:
        atomic_numbers = [[site.specie.Z for site in structure] for structure in structures]
    sizes = np.array([len(structure) for structure in structures], dtype=np.int64)
    periodic = np.array([all(structure.pbc) for structure in structures], dtype=bool)
    lattices = np.zeros((count, 3, 3))
    for index, structure in enumerate(structures):
        lattices[index] = structure.lattice.matrix
    volumes = np.abs(np.linalg.det(lattices)) if count else np.zeros(0)
    todo = np.flatnonzero((sizes > 0) & (sizes <= MAX_BATCHED_ATOMS) & periodic & (volumes > 1e-8))
    for index in np.setdiff1d(np.arange(count), todo):
        out[index] = knn_graph(structures[index], k, cutoff, tie_tol)
    if len(todo) == 0:
        return out  # type: ignore[return-value]
    frac = [np.asarray(structures[i].frac_coords, dtype=float) for i in todo]
    cart = [np.asarray(structures[i].cart_coords, dtype=float) for i in todo]
    density = sizes[todo] / volumes[todo]
    first = np.minimum(cutoff, (FIRST_SPHERE * 3 * k / (4 * np.pi * density)) ** (1 / 3))
    found = _knn_search_parts(lattices[todo], frac, cart, first, k, tie_tol)
    unsettled = [t for t, result in enumerate(found) if result is None]
    if unsettled:
        again = _knn_search_parts(
            lattices[todo[unsettled]],
            [frac[t] for t in unsettled],
            [cart[t] for t in unsettled],
            np.full(len(unsettled), float(cutoff)),
            k,
            tie_tol,
        )
        for t, result in zip(unsettled, again, strict=True):
            found[t] = result
    for t, result in enumerate(found):
        index = todo[t]
        if result is None:
            out[index] = knn_graph(structures[index], k, cutoff, tie_tol)
        else:
            out[index] = CrystalGraph(
                atomic_numbers=np.asarray(atomic_numbers[index], dtype=np.int64),
                edge_index=result[0],
                edge_vec=result[1],
            )
    return out  # type: ignore[return-value]


def _knn_search_parts(
    lattices: np.ndarray,
    frac: list[np.ndarray],
    cart: list[np.ndarray],
    radius: np.ndarray,
    k: int,
    tie_tol: float,
) -> list[tuple[np.ndarray, np.ndarray] | None]:
    """:func:`_knn_search` in parts of at most about :data:`MAX_PAIRS` atom pairs."""
    pairs = np.cumsum([len(f) ** 2 for f in frac])
    part = (pairs - 1) // MAX_PAIRS
    out: list[tuple[np.ndarray, np.ndarray] | None] = []
    for p in np.unique(part):
        members = np.flatnonzero(part == p)
        lo, hi = members[0], members[-1] + 1
        out += _knn_search(lattices[lo:hi], frac[lo:hi], cart[lo:hi], radius[lo:hi], k, tie_tol)
    return out


def _ragged_arange(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(owner, local)``: for each owner ``o``, ``counts[o]`` rows numbered from 0."""
    owner = np.repeat(np.arange(len(counts)), counts)
    starts = np.cumsum(counts) - counts
    return owner, np.arange(int(counts.sum())) - starts[owner]


def _knn_search(
    lattices: np.ndarray,
    frac: list[np.ndarray],
    cart: list[np.ndarray],
    radius: np.ndarray,
    k: int,
    tie_tol: float,
) -> list[tuple[np.ndarray, np.ndarray] | None]:
    """Search each structure's neighbours within ``radius``; ``None`` where that cannot settle.

    Returns ``(edge_index, edge_vec)`` per structure, as :func:`knn_graph` builds them.
    """
    sizes = np.array([len(f) for f in frac], dtype=np.int64)
    atom_start = np.cumsum(sizes) - sizes
    all_frac = np.concatenate(frac)

    # every ordered pair (center i, neighbour j) of each structure, with its fractional offset
    # f_j - f_i wrapped into [-1/2, 1/2]
    pair_struct, local = _ragged_arange(sizes * sizes)
    n_of_pair = sizes[pair_struct]
    center = atom_start[pair_struct] + local // n_of_pair
    neighbor = atom_start[pair_struct] + local % n_of_pair
    offset = all_frac[neighbor] - all_frac[center]
    wrap = np.round(offset)
    offset -= wrap

    # translations m with |(offset + m) L| ≤ r: along a, |offset_a + m_a| ≤ r / d_a, where d_a
    # is the spacing of the lattice planes (1 / |column a of L^-1|); a box low + [0, span)
    reach = radius[:, None] * np.linalg.norm(np.linalg.inv(lattices), axis=1)  # (S, 3)
    reach = reach[pair_struct] * (1 + 1e-9) + 1e-9
    low = np.ceil(-reach - offset)
    span = np.maximum(np.floor(reach - offset) - low + 1, 0).astype(np.int64)
    pair_lattice = lattices[pair_struct]
    base = np.matmul((offset + low)[:, None, :], pair_lattice)[:, 0]
    limit = radius[pair_struct] * (1 + 1e-9) + 1e-6
    limit *= limit

    # candidates, grouped by box shape: every pair with every translation of its box
    pairs, moves, dist = [], [], []
    width = int(span.max(initial=0)) + 1
    shape_key = (span[:, 0] * width + span[:, 1]) * width + span[:, 2]
    by_shape = np.argsort(shape_key, kind="stable")
    keys, starts = np.unique(shape_key[by_shape], return_index=True)
    for key, lo, hi in zip(keys, starts, np.append(starts[1:], len(by_shape)), strict=True):
        shape = (key // (width * width), key // width % width, key % width)
        if 0 in shape:
            continue
        members = by_shape[lo:hi]
        grid = np.stack(np.meshgrid(*(np.arange(s) for s in shape), indexing="ij"), -1).reshape(
            -1, 3
        )
        approx = base[members, None, :] + np.matmul(grid.astype(float), pair_lattice[members])
        dist2 = approx[..., 0] ** 2 + approx[..., 1] ** 2 + approx[..., 2] ** 2
        p_index, g_index = np.nonzero(dist2 <= limit[members, None])
        pairs.append(members[p_index])
        moves.append(grid[g_index])
        dist.append(dist2[p_index, g_index])
    pair = np.concatenate(pairs)
    move = np.concatenate(moves) + low[pair]
    dist = np.sqrt(np.concatenate(dist))
    ci, ni = center[pair], neighbor[pair]
    good = (dist <= radius[pair_struct[pair]]) & ~((ci == ni) & (dist <= 1e-8))
    pair, move, dist, ci = pair[good], move[good], dist[good], ci[good]

    total = int(sizes.sum())
    keep, counts, kth = _knn_select(total, ci, dist, k, tie_tol)
    kth[counts < k] = np.inf
    settled = kth + tie_tol <= np.repeat(radius, sizes)
    bad_atoms = np.bincount(np.repeat(np.arange(len(sizes)), sizes), ~settled, len(sizes))
    pair, move = pair[keep], move[keep]
    # image n = m - round(f_j - f_i); the kept edges are sorted by center, so by structure
    images = move - wrap[pair]
    kept_center, kept_neighbor = center[pair], neighbor[pair]
    bounds = np.searchsorted(kept_center, np.append(atom_start, total))
    out: list[tuple[np.ndarray, np.ndarray] | None] = []
    for s, positions in enumerate(cart):
        if bad_atoms[s]:
            out.append(None)
            continue
        lo, hi = bounds[s], bounds[s + 1]
        centers = kept_center[lo:hi] - atom_start[s]
        neighbors = kept_neighbor[lo:hi] - atom_start[s]
        # as pymatgen's neighbour list gives them: r_j + n L - r_i
        vec = positions[neighbors] + images[lo:hi] @ lattices[s] - positions[centers]
        out.append((np.stack([neighbors, centers]), vec.astype(np.float32)))
    return out
