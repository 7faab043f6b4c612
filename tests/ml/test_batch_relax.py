"""Batched TorchSim relaxation with SevenNet: atomate2's per-structure result, and guards."""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from crystaloop.ml.batch_relax import BatchRelaxOptions, load_potential, relax_batch


def _srtio3(scale: float = 1.0, seed: int = 0, sigma: float = 0.08) -> Structure:
    cell = Structure(
        Lattice.cubic(3.95 * scale),
        ["Sr", "Ti", "O", "O", "O"],
        [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]],
    )
    rng = np.random.default_rng(seed)
    return Structure(
        cell.lattice,
        cell.species,
        cell.cart_coords + rng.normal(0, sigma, (5, 3)),
        coords_are_cartesian=True,
    )


@pytest.fixture(scope="module")
def potential():
    return load_potential("sevennet")


def test_a_batch_relaxes_each_structure_and_refuses_a_dense_one(potential):
    dense = Structure(Lattice.cubic(1.2), ["Sr", "Ti"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    batch = [_srtio3(seed=s) for s in range(3)] + [dense, _srtio3(1.03, seed=9)]
    results = relax_batch(batch, potential)
    assert "too dense" in results[3].error and results[3].structure is None
    energies = []
    for i in (0, 1, 2, 4):
        r = results[i]
        assert r.error is None and r.converged and 0 < r.steps <= 300
        assert r.structure.composition == batch[i].composition
        energies.append(r.energy / len(r.structure))
    # one minimum: the distorted and strained starts all reach cubic SrTiO3
    assert max(energies) - min(energies) < 5e-3


def test_a_cell_leaving_its_volume_range_is_reported_not_relaxed_on(potential):
    options = BatchRelaxOptions(min_volume_ratio=0.999, max_volume_ratio=1.001)
    result = relax_batch([_srtio3(0.92, sigma=0.0)], potential, options)[0]
    assert result.structure is None and "cell volume left" in result.error


def test_options_and_potential_names_are_checked():
    with pytest.raises(ValueError, match="no batched potential"):
        load_potential("chgnet")
    with pytest.raises(ValueError, match="min_volume_ratio"):
        BatchRelaxOptions(min_volume_ratio=1.5)


@pytest.mark.slow
def test_the_batch_gives_the_energy_of_atomate2s_sevennet_relax_and_static(potential):
    from atomate2.forcefields.jobs import ForceFieldRelaxMaker, ForceFieldStaticMaker
    from jobflow import Flow, run_locally

    start = _srtio3(1.02, seed=3)
    relax = ForceFieldRelaxMaker(force_field_name="SevenNet", steps=300).make(start)
    static = ForceFieldStaticMaker(force_field_name="SevenNet").make(relax.output.structure)
    out = run_locally(Flow([relax, static]), log=False, ensure_success=True)
    per_structure = out[static.uuid][1].output.output.energy / len(start)
    batched = relax_batch([start], potential)[0]
    assert batched.energy / len(start) == pytest.approx(per_structure, abs=5e-3)
