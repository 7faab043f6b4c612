"""atomate2's force-field relax maker with a guard against collapsing cells.

A generated candidate far from any physical structure can drive a cell relaxation into a
collapse: the volume shrinks step after step, the neighbour lists of the potential grow without
bound and the worker runs out of memory (measured: one 5-atom candidate took 24 GB in 8 minutes
under CHGNet). :class:`GuardedForceFieldRelaxMaker` wraps the calculator so the job fails with a
clear error instead, once the volume leaves ``[min_volume_ratio, max_volume_ratio]`` × its
starting volume or falls below ``min_volume_per_atom`` (a generated cell can start at 2.7 Å³ per
atom; CHGNet then takes 0.45 s per step on 5 atoms); the campaign marks that candidate failed and
goes on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ase.calculators.calculator import Calculator, all_changes
from atomate2.forcefields.jobs import ForceFieldRelaxMaker


class CellCollapseError(RuntimeError):
    """A relaxation drove the cell volume out of its allowed range."""


class VolumeGuard(Calculator):
    """An ASE calculator that delegates to ``inner`` while the volume stays in range.

    Parameters
    ----------
    inner
        The real calculator.
    min_ratio, max_ratio
        Allowed range of ``V / V₀`` (``V₀``: volume at the first calculation).
    min_volume_per_atom
        Smallest volume per atom (Å³) computed at all: denser cells are unphysical at ambient
        pressure (diamond has 5.7 Å³/atom) and make a potential's neighbour lists explode.
    """

    def __init__(
        self,
        inner: Calculator,
        min_ratio: float,
        max_ratio: float,
        min_volume_per_atom: float = 3.0,
    ) -> None:
        super().__init__()
        self.inner = inner
        self.implemented_properties = list(inner.implemented_properties)
        self.min_ratio = min_ratio
        self.max_ratio = max_ratio
        self.min_volume_per_atom = min_volume_per_atom
        self.start_volume: float | None = None

    def calculate(
        self,
        atoms: Any = None,
        properties: Any = ("energy",),
        system_changes: Any = all_changes,
    ) -> None:
        """Check the volume, then let the inner calculator compute."""
        if atoms is not None and atoms.pbc.all():
            volume = float(atoms.get_volume())
            if volume / len(atoms) < self.min_volume_per_atom:
                raise CellCollapseError(
                    f"cell volume {volume / len(atoms):.2f} Å³/atom is below "
                    f"{self.min_volume_per_atom:g} Å³/atom: not computed"
                )
            if self.start_volume is None:
                self.start_volume = volume
            ratio = volume / self.start_volume
            if not self.min_ratio <= ratio <= self.max_ratio:
                raise CellCollapseError(
                    f"cell volume {volume:.2f} Å³ is {ratio:.2f} × its start "
                    f"({self.start_volume:.2f} Å³): relaxation stopped"
                )
        self.inner.calculate(atoms, properties, system_changes)
        self.results = dict(self.inner.results)
        self.atoms = atoms.copy() if atoms is not None else None


@dataclass
class GuardedForceFieldRelaxMaker(ForceFieldRelaxMaker):
    """``ForceFieldRelaxMaker`` whose relaxation stops when the cell collapses or explodes.

    Attributes
    ----------
    min_volume_ratio, max_volume_ratio
        Allowed range of the volume relative to the starting volume.
    """

    name: str = "Force field relax"
    min_volume_ratio: float = 0.5
    max_volume_ratio: float = 3.0

    def _get_calculator(self) -> Calculator:
        return VolumeGuard(super()._get_calculator(), self.min_volume_ratio, self.max_volume_ratio)
