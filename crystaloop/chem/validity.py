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
