"""The relax guard stops a relaxation whose cell collapses."""

from __future__ import annotations

import pytest
from ase.build import bulk
from ase.calculators.emt import EMT

from crystaloop.makers.guarded import CellCollapseError, VolumeGuard


def test_volume_guard_passes_then_stops_a_collapse():
    atoms = bulk("Cu", "fcc", a=3.6)
    atoms.calc = VolumeGuard(EMT(), min_ratio=0.5, max_ratio=3.0)
    energy = atoms.get_potential_energy()
    assert energy == pytest.approx(EMT().get_potential_energy(bulk("Cu", "fcc", a=3.6)))
    atoms.set_cell(atoms.cell * 0.75, scale_atoms=True)  # V → 0.42 V₀
    with pytest.raises(CellCollapseError, match="0.42 × its start"):
        atoms.get_potential_energy()


def test_guarded_maker_is_an_atomate2_force_field_maker():
    from atomate2.forcefields.jobs import ForceFieldRelaxMaker

    from crystaloop.makers.guarded import GuardedForceFieldRelaxMaker

    maker = GuardedForceFieldRelaxMaker(force_field_name="CHGNet", min_volume_ratio=0.6)
    assert isinstance(maker, ForceFieldRelaxMaker)
    assert GuardedForceFieldRelaxMaker.from_dict(maker.as_dict()).min_volume_ratio == 0.6


def test_volume_guard_refuses_cells_denser_than_any_solid():
    atoms = bulk("Cu", "fcc", a=2.0)  # 2 Å³/atom
    atoms.calc = VolumeGuard(EMT(), min_ratio=0.5, max_ratio=3.0, min_volume_per_atom=3.0)
    with pytest.raises(CellCollapseError, match="below 3 Å³/atom"):
        atoms.get_potential_energy()
