from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import perovskite
from pymatgen.core import Lattice, Structure
from pymatgen.core.operations import SymmOp

from crystaloop.chem.metrics import (
    compositional_validity,
    csp_match,
    csp_metrics,
    de_novo_metrics,
    distribution_distances,
    novelty,
    structural_validity,
    uniqueness,
)


def rocksalt(a: float = 5.64) -> Structure:
    """NaCl in its primitive cell (built directly: Structure.from_spacegroup is slow)."""
    h = a / 2
    return Structure(
        Lattice([[0, h, h], [h, 0, h], [h, h, 0]]), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )


def rotated_supercell(structure: Structure) -> Structure:
    out = structure * (2, 1, 1)
    out.apply_operation(SymmOp.from_axis_angle_and_translation([1, 2, 3], 41))
    return out


def shaken(structure: Structure, sigma: float = 0.05, seed: int = 0) -> Structure:
    rng = np.random.default_rng(seed)
    return Structure(
        structure.lattice,
        structure.species,
        structure.cart_coords + rng.normal(0, sigma, (len(structure), 3)),
        coords_are_cartesian=True,
    )


def wrong_composition() -> Structure:
    out = perovskite()
    out.replace_species({"Sr": "Ba"})
    return out


def overlapping() -> Structure:
    return perovskite(a=0.6)  # every distance below 0.5 Å; the matcher alone would scale it


def test_identical_structure_matches_with_zero_rmse():
    result = csp_match([[perovskite()]], [perovskite()], k=1)
    assert result["match_rate"] == 1.0 and result["n"] == 1
    assert result["rmse"] == pytest.approx(0.0, abs=1e-6)


def test_perturbed_structure_matches_with_small_rmse():
    result = csp_match([[shaken(perovskite())]], [perovskite()], k=1)
    assert result["match_rate"] == 1.0
    assert 0.0 < result["rmse"] < 0.1


def test_best_sample_gives_the_rmse():
    samples = [[shaken(perovskite(), 0.1, seed=1), perovskite()]]
    assert csp_match(samples, [perovskite()], k=2)["rmse"] == pytest.approx(0.0, abs=1e-6)


def test_wrong_composition_never_matches():
    result = csp_match([[wrong_composition()] * 3], [perovskite()], k=3)
    assert result == {"match_rate": 0.0, "rmse": None, "n": 1}


def test_match_beyond_k_does_not_count():
    samples = [wrong_composition() for _ in range(20)]
    samples[5] = shaken(perovskite(), seed=2)
    other = [rocksalt()] + [wrong_composition()] * 19  # a second reference matched at sample 0
    metrics = csp_metrics([samples, other], [perovskite(), rocksalt()])
    assert metrics["k1"]["match_rate"] == 0.5
    assert metrics["k1"]["rmse"] == pytest.approx(0.0, abs=1e-6)
    assert metrics["k20"]["match_rate"] == 1.0
    assert metrics["k20"]["rmse"] > 0.0
    assert csp_match([samples], [perovskite()], k=5)["match_rate"] == 0.0
    assert csp_match([samples], [perovskite()], k=6)["match_rate"] == 1.0
    assert set(csp_metrics([samples[:5]], [perovskite()])) == {"k1"}


def test_invalid_structures_never_count():
    assert csp_match([[overlapping()]], [perovskite()], k=1)["match_rate"] == 0.0
    assert csp_match([[perovskite()]], [overlapping()], k=1)["match_rate"] == 0.0


def test_mismatched_lengths_are_refused():
    with pytest.raises(ValueError):
        csp_match([[perovskite()]], [perovskite(), rocksalt()], k=1)


def test_validity_fractions():
    nacl2 = Structure(
        Lattice.cubic(6.0), ["Na", "Cl", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0, 0]]
    )
    batch = [perovskite(), overlapping(), nacl2, rocksalt()]
    assert structural_validity(batch) == 0.75
    assert compositional_validity(batch) == 0.75
    assert structural_validity([]) == 0.0


def test_uniqueness_and_novelty():
    batch = [rocksalt(), perovskite(), rotated_supercell(rocksalt()), shaken(perovskite(), 0.02)]
    assert uniqueness(batch) == 0.5
    assert uniqueness([rocksalt(), perovskite()]) == 1.0
    assert novelty(batch, [perovskite(3.95)]) == 0.5
    assert novelty(batch, []) == 1.0


def test_distribution_distances():
    batch = [rocksalt(), perovskite(), rocksalt(6.0)]
    same = distribution_distances(batch, list(batch))
    assert all(value == pytest.approx(0.0, abs=1e-12) for value in same.values())
    apart = distribution_distances([rocksalt()], [perovskite()])
    assert apart["element_tvd"] == pytest.approx(1.0)
    assert apart["wdist_num_atoms"] == pytest.approx(3.0)
    assert apart["wdist_num_elements"] == pytest.approx(1.0)
    assert apart["wdist_density"] == pytest.approx(abs(rocksalt().density - perovskite().density))
    assert all(v is None for v in distribution_distances([], batch).values())


def test_de_novo_metrics_bundle():
    generated = [rocksalt(), rocksalt(), overlapping(), perovskite(4.5)]
    result = de_novo_metrics(generated, [perovskite()])
    assert result["n"] == 4 and result["n_valid"] == 3
    assert result["structural_validity"] == 0.75
    assert result["compositional_validity"] == 1.0
    assert result["validity"] == 0.75
    assert result["uniqueness"] == pytest.approx(2 / 3)
    assert result["novelty"] == pytest.approx(2 / 3)  # perovskite(4.5) matches after scaling
    assert not math.isnan(result["wdist_density"])
