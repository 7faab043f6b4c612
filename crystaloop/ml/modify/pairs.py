"""Polymorph pairs of seed 001's structure modification: less stable → most stable of a group.

A *polymorph group* is the crystals with the same formula per primitive cell (``C12``,
``Ti2O4``): the same atoms, so a source and its target have the same atom count and types and
can be paired atom by atom. Every member but the lowest in energy becomes the source of a pair
whose target is the group's most stable member, with ``ΔE = E_source − E_target`` (eV/atom,
≥ 0) as a condition (seed 001's pairs). With ``targets_per_source > 1`` each source also gets
pairs to other, randomly chosen members lower in energy ("downhill" pairs, each with its own
ΔE): a group then teaches more than its one most stable structure. The target's atoms are
ordered and shifted to lie as near as possible to the source's (:func:`align_to_source`), so
that "atom ``i``" means the same atom on both sides (Palette's pixel alignment, for crystals).

Groups go to train / validation / test whole (split by their formula: seed 001's leakage rule).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import Tensor

from crystaloop.ml.generative.crystal import CrystalArrays, CrystalBatch, collate_crystals

#: Most atoms a pair may have: alignment is a Hungarian assignment per candidate shift.
MAX_PAIR_ATOMS = 64


def group_key(crystal: CrystalArrays) -> str:
    """Return the formula per primitive cell of a crystal (its polymorph group), e.g. ``C12``.

    Elements in order of atomic number, each with its count in the cell.
    """
    from pymatgen.core.periodic_table import Element

    zs, counts = np.unique(crystal.numbers, return_counts=True)
    return "".join(
        f"{Element.from_Z(int(z)).symbol}{int(c)}" for z, c in zip(zs, counts, strict=True)
    )


def polymorph_groups(
    crystals: Iterable[CrystalArrays], min_size: int = 2
) -> dict[str, list[CrystalArrays]]:
    """Return the crystals by polymorph group, each sorted by energy (``eform``, eV/atom).

    A crystal's ``eform`` holds its energy per atom here (formation or total: only differences
    within a group are used). Groups of fewer than ``min_size`` crystals have no pair and are
    left out.

    Raises
    ------
    ValueError
        When a crystal has no finite energy (naming it).
    """
    groups: dict[str, list[CrystalArrays]] = defaultdict(list)
    for crystal in crystals:
        if not np.isfinite(crystal.eform):
            raise ValueError(
                f"record {crystal.source_id or '?'}: no energy per atom; a polymorph pair needs "
                "the energies of its group"
            )
        groups[group_key(crystal)].append(crystal)
    return {
        key: sorted(members, key=lambda c: (c.eform, c.source_id))
        for key, members in sorted(groups.items())
        if len(members) >= min_size
    }


def _min_image(diff: np.ndarray) -> np.ndarray:
    return diff - np.round(diff)


def align_to_source(source: CrystalArrays, target: CrystalArrays) -> CrystalArrays:
    """Return ``target`` with its atoms reordered and shifted to lie nearest the source's.

    For every shift that puts one target atom of the source's first atom's species on that atom,
    atoms of each species are assigned by the Hungarian algorithm on squared minimum-image
    fractional distances; the shift and assignment of least total cost win. The target is then
    translated so that the mean minimum-image displacement from the source is zero: the
    generators' coordinate outputs are mean-free (a whole-crystal translation is never
    sampled), so a training path must not carry one either. The structure is unchanged (a
    permutation and a rigid translation).

    Raises
    ------
    ValueError
        When the two crystals do not have the same atoms.
    """
    from scipy.optimize import linear_sum_assignment

    if sorted(source.numbers.tolist()) != sorted(target.numbers.tolist()):
        raise ValueError(
            f"{target.source_id or 'target'} and {source.source_id or 'source'} do not have the "
            "same atoms: not polymorphs of one group"
        )
    if source.num_atoms > MAX_PAIR_ATOMS:
        raise ValueError(
            f"{source.source_id or 'source'} → {target.source_id or 'target'}: "
            f"{source.num_atoms} atoms in the primitive cell, more than a pair takes "
            f"({MAX_PAIR_ATOMS})"
        )
    anchor = source.numbers[0]
    best_cost, best = np.inf, None
    for k in np.flatnonzero(target.numbers == anchor):
        shifted = np.mod(target.frac - target.frac[k] + source.frac[0], 1.0)
        order = np.empty(source.num_atoms, dtype=np.int64)
        cost = 0.0
        for z in np.unique(source.numbers):
            s_idx = np.flatnonzero(source.numbers == z)
            t_idx = np.flatnonzero(target.numbers == z)
            d = _min_image(shifted[t_idx][None, :, :] - source.frac[s_idx][:, None, :])
            matrix = (d**2).sum(-1)
            rows, cols = linear_sum_assignment(matrix)
            order[s_idx[rows]] = t_idx[cols]
            cost += float(matrix[rows, cols].sum())
        if cost < best_cost:
            best_cost, best = cost, (shifted, order)
    assert best is not None
    shifted, order = best
    frac = shifted[order]
    frac = np.mod(frac - _min_image(frac - source.frac).mean(axis=0), 1.0)
    return replace(target, frac=frac, numbers=target.numbers[order])


@dataclass(frozen=True)
class PolymorphPair:
    """A less stable polymorph (``source``) and its group's most stable one (``target``).

    ``target.eform`` holds ``ΔE = E_source − E_target`` (eV/atom), the condition;
    ``target.spacegroup`` the target's space group (0 when unknown).
    """

    source: CrystalArrays
    target: CrystalArrays
    group: str

    @property
    def delta_e(self) -> float:
        """``E_source − E_target``, eV/atom."""
        return float(self.target.eform)


def polymorph_pairs(
    groups: dict[str, list[CrystalArrays]], targets_per_source: int = 1, seed: int = 0
) -> list[PolymorphPair]:
    """Return the pairs of each group's members but its most stable (groups sorted by energy).

    Each source is paired with the most stable member, and with ``targets_per_source - 1``
    other members of lower energy drawn at random (seeded; fewer when fewer exist).

    Raises
    ------
    ValueError
        When ``targets_per_source`` is below 1.
    """
    if targets_per_source < 1:
        raise ValueError(f"targets_per_source must be at least 1, not {targets_per_source}")
    rng = np.random.default_rng(seed)
    pairs = []
    for key, members in groups.items():
        for i, source in enumerate(members[1:], start=1):
            lower = [j for j in range(1, i) if members[j].eform < source.eform]
            extra = min(targets_per_source - 1, len(lower))
            picks = rng.choice(lower, size=extra, replace=False).tolist() if extra else []
            for j in [0, *sorted(picks)]:
                best = members[j]
                aligned = align_to_source(source, best)
                target = replace(aligned, eform=float(source.eform - best.eform))
                pairs.append(PolymorphPair(source=source, target=target, group=key))
    return pairs


@dataclass
class PairBatch(CrystalBatch):
    """A batch of targets (the :class:`CrystalBatch` fields) with their sources' geometry.

    Attributes
    ----------
    source_frac
        ``(N, 3)`` fractional coordinates of the source atoms, aligned with the targets'.
    source_lattice
        ``(B, 3, 3)`` source lattice rows, Å.
    """

    source_frac: Tensor = None  # type: ignore[assignment]
    source_lattice: Tensor = None  # type: ignore[assignment]


def collate_pairs(pairs: Sequence[PolymorphPair]) -> PairBatch:
    """Stack pairs into one :class:`PairBatch` (float32)."""
    targets = collate_crystals([p.target for p in pairs])
    return PairBatch(
        **vars(targets),
        source_frac=torch.tensor(
            np.concatenate([p.source.frac for p in pairs]), dtype=torch.float32
        ),
        source_lattice=torch.tensor(
            np.stack([p.source.lattice for p in pairs]), dtype=torch.float32
        ),
    )
