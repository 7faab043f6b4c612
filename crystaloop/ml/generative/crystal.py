"""Crystals as tensors for the generators: lattice ``L``, fractional coordinates ``F``, types.

A batch of ``B`` crystals with ``N`` atoms in all is held as per-atom tensors and a ``batch`` index
(the PyG convention, without PyG). Lattice rows are the lattice vectors in Å, in a canonical
orientation (``a`` along x, ``b`` in the xy plane) of the Niggli-reduced primitive cell, so that a
crystal has one representation whatever cell and orientation it arrived in. Conversion from and
to pymatgen happens only here, at the edge.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

if TYPE_CHECKING:
    from pymatgen.core import Structure

#: Size of the one-hot type vocabulary (Z = 1 … 100, index Z - 1).
NUM_TYPES = 100


@dataclass(frozen=True)
class CrystalArrays:
    """One crystal as numpy arrays (the unit of a generator data set).

    Attributes
    ----------
    lattice
        ``(3, 3)`` lattice vectors as rows, Å.
    frac
        ``(n, 3)`` fractional coordinates in [0, 1).
    numbers
        ``(n,)`` atomic numbers.
    spacegroup
        International number, 0 when unknown.
    eform
        Formation energy (eV/atom) used as a condition, NaN when unknown.
    source_id
        Id of the record the crystal came from.
    """

    lattice: np.ndarray
    frac: np.ndarray
    numbers: np.ndarray
    spacegroup: int = 0
    eform: float = float("nan")
    source_id: str = ""

    @property
    def num_atoms(self) -> int:
        """Number of atoms."""
        return int(self.numbers.shape[0])


def canonical_lattice(abc: Sequence[float], angles: Sequence[float]) -> np.ndarray:
    """Return lattice rows for lattice parameters, ``a`` along x and ``b`` in the xy plane."""
    a, b, c = abc
    alpha, beta, gamma = np.radians(angles)
    cos_a, cos_b, cos_g = np.cos(alpha), np.cos(beta), np.cos(gamma)
    sin_g = np.sin(gamma)
    cx = c * cos_b
    cy = c * (cos_a - cos_b * cos_g) / sin_g
    cz = np.sqrt(max(c * c - cx * cx - cy * cy, 0.0))
    return np.array([[a, 0.0, 0.0], [b * cos_g, b * sin_g, 0.0], [cx, cy, cz]])


def crystal_arrays(
    structure: Structure,
    spacegroup: int = 0,
    eform: float = float("nan"),
    source_id: str = "",
    primitive: bool = True,
) -> CrystalArrays:
    """Return the canonical arrays of ``structure``.

    As CDVAE and DiffCSP build their data: the primitive cell (unless ``primitive`` is False),
    Niggli-reduced, in the canonical orientation of its lattice parameters.
    """
    if primitive:
        structure = structure.get_primitive_structure()
    reduced = structure.get_reduced_structure("niggli")
    lat = reduced.lattice
    frac = np.mod(np.asarray(reduced.frac_coords, dtype=np.float64), 1.0)
    numbers = np.array([site.specie.Z for site in reduced], dtype=np.int64)
    return CrystalArrays(
        lattice=canonical_lattice(lat.abc, lat.angles),
        frac=frac,
        numbers=numbers,
        spacegroup=int(spacegroup),
        eform=float(eform),
        source_id=source_id,
    )


def to_structure(lattice: np.ndarray, frac: np.ndarray, numbers: np.ndarray) -> Structure:
    """Return the pymatgen Structure of one generated crystal."""
    from pymatgen.core import Lattice, Structure

    return Structure(Lattice(lattice), [int(z) for z in numbers], np.mod(frac, 1.0))


@dataclass
class CrystalBatch:
    """A batch of crystals as tensors.

    Attributes
    ----------
    lattice
        ``(B, 3, 3)`` lattice rows, Å.
    frac
        ``(N, 3)`` fractional coordinates.
    numbers
        ``(N,)`` atomic numbers (long).
    num_atoms
        ``(B,)`` atoms per crystal.
    batch
        ``(N,)`` crystal index of every atom.
    spacegroup
        ``(B,)`` space-group numbers, 0 unknown.
    eform
        ``(B,)`` formation-energy condition, NaN unknown.
    """

    lattice: Tensor
    frac: Tensor
    numbers: Tensor
    num_atoms: Tensor
    batch: Tensor
    spacegroup: Tensor
    eform: Tensor

    @property
    def num_graphs(self) -> int:
        """Number of crystals."""
        return int(self.num_atoms.shape[0])

    def to(self, device: torch.device | str) -> CrystalBatch:
        """Return the batch on ``device``."""
        return replace(self, **{k: v.to(device) for k, v in vars(self).items()})

    def onehot(self) -> Tensor:
        """Return the ``(N, NUM_TYPES)`` one-hot encoding of the atomic numbers."""
        return torch.nn.functional.one_hot(self.numbers - 1, NUM_TYPES).to(self.frac.dtype)


def batch_index(num_atoms: Tensor) -> Tensor:
    """Return the crystal index of every atom for per-crystal atom counts."""
    return torch.repeat_interleave(
        torch.arange(num_atoms.shape[0], device=num_atoms.device), num_atoms
    )


def collate_crystals(items: Sequence[CrystalArrays]) -> CrystalBatch:
    """Stack crystals into one :class:`CrystalBatch` (float32)."""
    num_atoms = torch.tensor([it.num_atoms for it in items], dtype=torch.long)
    return CrystalBatch(
        lattice=torch.tensor(np.stack([it.lattice for it in items]), dtype=torch.float32),
        frac=torch.tensor(np.concatenate([it.frac for it in items]), dtype=torch.float32),
        numbers=torch.tensor(np.concatenate([it.numbers for it in items]), dtype=torch.long),
        num_atoms=num_atoms,
        batch=batch_index(num_atoms),
        spacegroup=torch.tensor([it.spacegroup for it in items], dtype=torch.long),
        eform=torch.tensor([it.eform for it in items], dtype=torch.float32),
    )


def dense_edges(num_atoms: Tensor) -> tuple[Tensor, Tensor]:
    """Return ``(src, dst)`` of all ordered pairs ``i != j`` within each crystal.

    Fully connected graphs are what CSPNet uses: with fractional-coordinate Fourier features no
    cutoff or periodic image search is needed.
    """
    device = num_atoms.device
    counts = num_atoms * num_atoms
    offsets = torch.cumsum(num_atoms, 0) - num_atoms
    graph = torch.repeat_interleave(torch.arange(num_atoms.shape[0], device=device), counts)
    start = torch.cumsum(counts, 0) - counts
    local = torch.arange(int(counts.sum()), device=device) - start[graph]
    n = num_atoms[graph]
    src = local // n + offsets[graph]
    dst = local % n + offsets[graph]
    keep = src != dst
    return src[keep], dst[keep]


def scatter_mean(src: Tensor, index: Tensor, size: int) -> Tensor:
    """Return the mean of rows of ``src`` grouped by ``index`` (``size`` groups; empty → 0)."""
    out = torch.zeros((size, *src.shape[1:]), dtype=src.dtype, device=src.device)
    out.index_add_(0, index, src)
    count = torch.zeros(size, dtype=src.dtype, device=src.device)
    count.index_add_(0, index, torch.ones_like(index, dtype=src.dtype))
    return out / count.clamp(min=1).view(-1, *([1] * (src.dim() - 1)))
