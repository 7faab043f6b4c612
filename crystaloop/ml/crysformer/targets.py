"""What each surrogate target is: its unit, whether it scales with the cell, its tolerance.

The confidence of a prediction is ``P(|error| < tolerance)``; the tolerance is in the target's
units **per atom** (the seed's rule: 0.12 eV/atom for energies). A per-cell target (Perov-5's
``heat_ref``, eV per cell) is converted to per atom before its confidence is computed, so a
5-atom cell's 0.6 eV error is 0.12 eV/atom. Band gaps have their own tolerance and never drive
the routing (:attr:`TargetInfo.routable`).
"""

from __future__ import annotations

from dataclasses import dataclass

#: The seed's tolerance for energies, eV/atom.
ENERGY_TOLERANCE = 0.12
#: Tolerance of band-gap predictions, eV.
GAP_TOLERANCE = 0.3


@dataclass(frozen=True)
class TargetInfo:
    """How one target is measured.

    Attributes
    ----------
    unit
        Unit of the target as the data hold it (``None``: unknown).
    per_cell
        True for an extensive target stored per cell (converted per atom for the confidence).
    tolerance
        Error tolerance of the confidence, in ``unit`` per atom for a per-cell target.
    routable
        Whether selection may route candidates on this target (energies, lower is better).
    """

    unit: str | None
    per_cell: bool
    tolerance: float
    routable: bool


_ENERGY = TargetInfo("eV/atom", False, ENERGY_TOLERANCE, True)
_CELL_ENERGY = TargetInfo("eV/cell", True, ENERGY_TOLERANCE, True)
_GAP = TargetInfo("eV", False, GAP_TOLERANCE, False)

#: Known targets. An unknown target gets the energy tolerance and cannot route.
TARGETS: dict[str, TargetInfo] = {
    "e_form": _ENERGY,
    "formation_energy_per_atom": _ENERGY,
    "energy_per_atom": _ENERGY,
    "e_hull": _ENERGY,
    "e_above_hull": _ENERGY,
    "heat_ref": _CELL_ENERGY,
    "heat_all": _CELL_ENERGY,
    "band_gap": _GAP,
    "dir_gap": _GAP,
    "ind_gap": _GAP,
}


def target_info(name: str) -> TargetInfo:
    """Return what is known of target ``name`` (an unknown one: energy tolerance, not routable)."""
    return TARGETS.get(name, TargetInfo(None, False, ENERGY_TOLERANCE, False))
