"""Structural validity of a crystal: the checks every structure passes before it is stored or used.

A structure is valid when its lattice and coordinates are finite, every species is a known element,
its volume is at least ``min_volume`` Å³, it has at most ``max_sites`` sites and no two sites
(periodic images included) are closer than ``min_distance`` Å (DESIGN.md §5: 0.5 Å, 0.1 Å³).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from pymatgen.core import Structure

MIN_DISTANCE = 0.5
MIN_VOLUME = 0.1


def unknown_species(structure: Structure) -> list[str]:
    """Return the species of ``structure`` that are not chemical elements (sorted, unique)."""
    from pymatgen.core import DummySpecies, Element

    bad: set[str] = set()
    for site in structure:
        for sp in site.species:
            symbol = getattr(sp, "symbol", str(sp))
            if isinstance(sp, DummySpecies) or not Element.is_valid_symbol(symbol):
                bad.add(symbol)
    return sorted(bad)


def shortest_distance(structure: Structure, cutoff: float = MIN_DISTANCE) -> float | None:
    """Return the shortest periodic site–site distance below ``cutoff`` Å, or ``None``.

    Periodic images of a site count as neighbours, so a lattice vector shorter than ``cutoff``
    is found too.
    """
    if len(structure) == 0:
        return None
    centers, neighbors, images, distances = structure.get_neighbor_list(
        r=cutoff, exclude_self=False
    )
    self_image = (centers == neighbors) & np.all(images == 0, axis=1)
    distances = distances[~self_image]
    return float(distances.min()) if distances.size else None


def structure_problem(
    structure: Structure,
    *,
    max_sites: int,
    min_distance: float = MIN_DISTANCE,
    min_volume: float = MIN_VOLUME,
) -> str | None:
    """Return why ``structure`` is invalid, or ``None`` when it passes every check.

    Parameters
    ----------
    structure
        The crystal to check.
    max_sites
        Largest number of sites accepted.
    min_distance
        Smallest periodic distance between two sites, in Å.
    min_volume
        Smallest cell volume, in Å³.
    """
    nsites = len(structure)
    if nsites == 0:
        return "structure has no sites"
    if nsites > max_sites:
        return f"structure has {nsites} sites, more than the cap of {max_sites}"
    matrix = np.asarray(structure.lattice.matrix, dtype=float)
    if not np.all(np.isfinite(matrix)):
        return "lattice has non-finite values"
    frac = np.asarray(structure.frac_coords, dtype=float)
    if not np.all(np.isfinite(frac)):
        return "coordinates have non-finite values (NaN or inf)"
    unknown = unknown_species(structure)
    if unknown:
        return f"unknown element(s): {', '.join(unknown)}"
    volume = float(abs(np.linalg.det(matrix)))
    if not volume >= min_volume:
        return f"cell volume {volume:.3g} Å³ is below {min_volume} Å³"
    if not structure.is_ordered:
        return "structure is disordered (partial occupancies)"
    closest = shortest_distance(structure, cutoff=min_distance)
    if closest is not None:
        return f"atoms overlap: two sites are {closest:.3f} Å apart (minimum {min_distance} Å)"
    return None


#: A relaxed pair closer than this share of its covalent radii's sum is not a physical minimum.
MIN_BOND_RATIO = 0.5


def collapsed_pair(structure: Structure, ratio: float = MIN_BOND_RATIO) -> str | None:
    """Say which pair of sites is closer than ``ratio`` × the sum of their covalent radii.

    A relaxation that ends with such a pair (e.g. Si–Al 0.70 Å apart, where their covalent radii
    sum to 2.32 Å) did not find a physical structure: the potential's energy there is not a
    label. Covalent radii of Cordero et al. (2008), through pymatgen's ``Element``
    (``atomic_radius`` where a covalent radius is missing). Returns ``None`` when every pair
    is farther apart, else a sentence naming the pair, its distance and the limit.
    """
    from pymatgen.analysis.molecule_structure_comparator import CovalentRadius
    from pymatgen.core import Element

    def radius(symbol: str) -> float:
        value = CovalentRadius.radius.get(symbol)
        if value is None:
            value = Element(symbol).atomic_radius
        if value is None:
            raise ValueError(f"no covalent or atomic radius known for {symbol}")
        return float(value)

    symbols = [site.specie.symbol for site in structure]
    radii = {s: radius(s) for s in set(symbols)}
    cutoff = 2 * ratio * max(radii.values())
    centers, neighbors, images, distances = structure.get_neighbor_list(
        r=cutoff, exclude_self=False
    )
    worst: tuple[float, str, str, float] | None = None
    for i, j, image, d in zip(centers, neighbors, images, distances, strict=True):
        if i == j and not np.any(image):
            continue
        limit = ratio * (radii[symbols[i]] + radii[symbols[j]])
        if d < limit and (worst is None or d / limit < worst[0] / worst[3]):
            worst = (float(d), symbols[i], symbols[j], limit)
    if worst is None:
        return None
    d, a, b, limit = worst
    return (
        f"{a}–{b} {d:.2f} Å apart, below {ratio:g} × their covalent radii ({limit:.2f} Å): "
        "not a physical structure"
    )
