"""Structural validity of generated crystals on their arrays, for resampling inside the sampler.

The same checks as the structural screen (:func:`crystaloop.chem.validity.structure_problem`,
DESIGN.md §5) for what a generator can get wrong: a finite lattice and coordinates, a cell volume
of at least 0.1 Å³ and no two sites (periodic images included, so a lattice vector shorter than
the cutoff counts) closer than 0.5 Å. ``ml/`` may not import ``chem/`` (they are independent
layers), so the check is done here on numpy arrays; a test holds it to the screen's verdicts.
"""

from __future__ import annotations

import numpy as np

#: Smallest periodic site–site distance, Å (DESIGN.md §5).
MIN_DISTANCE = 0.5
#: Smallest cell volume, Å³ (DESIGN.md §5).
MIN_VOLUME = 0.1
#: Most lattice translations searched for one crystal (a cell thinner than this allows is
#: reported as a problem rather than searched).
MAX_IMAGES = 1_000_000
_IMAGE_CHUNK = 4096


def shortest_distance(lattice: np.ndarray, frac: np.ndarray, cutoff: float) -> float | None:
    """Return the shortest periodic site–site distance below ``cutoff`` Å, or ``None``.

    Parameters
    ----------
    lattice
        ``(3, 3)`` lattice vectors as rows, Å, of a cell with non-zero volume.
    frac
        ``(n, 3)`` fractional coordinates.
    cutoff
        Distances at or above it are not reported.

    Raises
    ------
    ValueError
        When the cell is so thin that more than :data:`MAX_IMAGES` lattice translations would
        have to be searched.
    """
    lat = np.asarray(lattice, dtype=float)
    f = np.asarray(frac, dtype=float)
    if f.shape[0] == 0:
        return None
    volume = abs(float(np.linalg.det(lat)))
    # plane spacing d_i = V / |a_j × a_k|: a vector shorter than r has |fractional_i| < r / d_i,
    # and the minimum-image differences below are within ±0.5
    areas = np.linalg.norm(np.cross(lat[[1, 2, 0]], lat[[2, 0, 1]]), axis=1)
    reach_f = cutoff * areas / volume + 0.5
    if not np.all(np.isfinite(reach_f)) or np.prod(2 * np.ceil(reach_f) + 1) > MAX_IMAGES:
        raise ValueError("cell too thin to search for overlapping images")
    reach = np.ceil(reach_f).astype(int)
    axes = [np.arange(-k, k + 1) for k in reach]
    images = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3).astype(float)
    diff = f[None, :, :] - f[:, None, :]
    diff -= np.round(diff)
    same_site = np.eye(f.shape[0], dtype=bool)
    best = np.inf
    for lo in range(0, images.shape[0], _IMAGE_CHUNK):
        chunk = images[lo : lo + _IMAGE_CHUNK]
        cart = (diff[:, :, None, :] + chunk[None, None, :, :]) @ lat
        dist = np.linalg.norm(cart, axis=-1)
        zero = np.all(chunk == 0, axis=1)
        dist[same_site[:, :, None] & zero[None, None, :]] = np.inf  # a site and itself
        best = min(best, float(dist.min()))
    return best if best < cutoff else None


def crystal_problem(
    lattice: np.ndarray,
    frac: np.ndarray,
    *,
    min_distance: float = MIN_DISTANCE,
    min_volume: float = MIN_VOLUME,
) -> str | None:
    """Return why a generated crystal is structurally invalid, or ``None`` when it is valid.

    Parameters
    ----------
    lattice
        ``(3, 3)`` lattice vectors as rows, Å.
    frac
        ``(n, 3)`` fractional coordinates.
    min_distance
        Smallest periodic distance between two sites, Å.
    min_volume
        Smallest cell volume, Å³.
    """
    lat = np.asarray(lattice, dtype=float)
    f = np.asarray(frac, dtype=float)
    if f.shape[0] == 0:
        return "structure has no sites"
    if not np.all(np.isfinite(lat)):
        return "lattice has non-finite values"
    if not np.all(np.isfinite(f)):
        return "coordinates have non-finite values (NaN or inf)"
    volume = abs(float(np.linalg.det(lat)))
    if not volume >= min_volume:
        return f"cell volume {volume:.3g} Å³ is below {min_volume} Å³"
    try:
        closest = shortest_distance(lat, f, min_distance)
    except ValueError as err:
        return str(err)
    if closest is not None:
        return f"atoms overlap: two sites are {closest:.3f} Å apart (minimum {min_distance} Å)"
    return None
