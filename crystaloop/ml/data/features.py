"""k-hot encoding of atomic properties, the node input of Crysformer (as in CGCNN / Matformer).

Each element is described by nine properties, each binned into a one-hot block (plus a
"missing" slot where the property is undefined, e.g. the electronegativity of He); the blocks are
concatenated into one k-hot vector. The table covers Z = 1 … 100 and is computed once from
pymatgen's element data; a model keeps its own copy, so a checkpoint does not depend on the
pymatgen version that loads it.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

MAX_Z = 100

#: (name, number of bins) of the binned properties; group and period are categorical.
PROPERTIES: tuple[tuple[str, int], ...] = (
    ("group", 18),
    ("period", 7),
    ("block", 4),
    ("electronegativity", 10),
    ("covalent_radius", 10),
    ("valence_electrons", 12),
    ("first_ionization_energy", 10),
    ("electron_affinity", 10),
    ("atomic_volume", 10),
)


def _valence_electrons(element) -> float:
    shells = element.full_electronic_structure
    n_max = max(n for n, _, _ in shells)
    count = 0
    for n, orbital, electrons in shells:
        if (
            n == n_max
            or orbital == "d"
            and n == n_max - 1
            and electrons < 10
            or orbital == "f"
            and n == n_max - 2
            and electrons < 14
        ):
            count += electrons
    return float(count)


def _value(element, name: str) -> float:
    try:
        if name == "group":
            return float(element.group)
        if name == "period":
            return float(element.row)
        if name == "block":
            return float("spdf".index(element.block))
        if name == "electronegativity":
            return float(element.X)
        if name == "covalent_radius":
            radius = element.atomic_radius_calculated or element.atomic_radius
            return float(radius)
        if name == "valence_electrons":
            return _valence_electrons(element)
        if name == "first_ionization_energy":
            return float(element.ionization_energies[0])
        if name == "electron_affinity":
            return float(element.electron_affinity)
        if name == "atomic_volume":
            return float(element.atomic_mass) / float(element.density_of_solid or math.nan)
    except (TypeError, ValueError, IndexError, AttributeError, ZeroDivisionError):
        return math.nan
    raise KeyError(name)


@lru_cache(maxsize=1)
def raw_property_table() -> np.ndarray:
    """Return the ``(MAX_Z + 1, n_properties)`` raw values (row 0 unused, NaN: missing)."""
    import warnings

    from pymatgen.core import Element

    table = np.full((MAX_Z + 1, len(PROPERTIES)), np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for z in range(1, MAX_Z + 1):
            element = Element.from_Z(z)
            for j, (name, _) in enumerate(PROPERTIES):
                table[z, j] = _value(element, name)
    return table


def _bin(values: np.ndarray, bins: int, name: str) -> np.ndarray:
    onehot = np.zeros((values.shape[0], bins + 1), dtype=np.float32)
    finite = np.isfinite(values)
    if name in ("group", "period", "block"):
        index = np.where(finite, values - (0 if name == "block" else 1), bins).astype(int)
        index = np.clip(index, 0, bins)
    else:
        lo, hi = np.nanmin(values[1:]), np.nanmax(values[1:])
        scaled = (values - lo) / max(hi - lo, 1e-12) * bins
        index = np.where(finite, np.clip(scaled.astype(int, copy=False), 0, bins - 1), bins)
    onehot[np.arange(values.shape[0]), index] = 1.0
    return onehot


@lru_cache(maxsize=1)
def khot_table() -> np.ndarray:
    """Return the ``(MAX_Z + 1, D)`` float32 k-hot table; row ``Z`` encodes element ``Z``."""
    raw = raw_property_table()
    with np.errstate(invalid="ignore"):
        blocks = [_bin(raw[:, j], bins, name) for j, (name, bins) in enumerate(PROPERTIES)]
    table = np.concatenate(blocks, axis=1)
    table[0] = 0.0
    return table
