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
    novelty_flags,
    structural_validity,
    unique_flags,
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
    assert result == {
        "match_rate": 0.0,
        "rmse": None,
        "n": 1,
        "matcher_errors": 0,
        "unresolved": 0,
    }


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


# --------------------------------------------------------------------------- errors tell the truth


def _rms_fails_for(monkeypatch, bad_a: float) -> None:
    """Make ``get_rms_dist`` raise when the sample has lattice parameter ``bad_a``."""
    from pymatgen.analysis.structure_matcher import StructureMatcher

    real = StructureMatcher.get_rms_dist

    def get_rms_dist(self, a, b, *args, **kwargs):
        if abs(a.lattice.a - bad_a) < 1e-6:
            raise ValueError("matcher broke")
        return real(self, a, b, *args, **kwargs)

    monkeypatch.setattr(StructureMatcher, "get_rms_dist", get_rms_dist)


def _fit_fails(monkeypatch) -> None:
    from pymatgen.analysis.structure_matcher import StructureMatcher

    def fit(self, a, b, *args, **kwargs):
        raise ValueError("matcher broke")

    monkeypatch.setattr(StructureMatcher, "fit", fit)


def test_csp_matcher_error_is_reported_not_a_silent_non_match(monkeypatch):
    _rms_fails_for(monkeypatch, 3.95)
    result = csp_match([[perovskite(3.95)]], [perovskite()], k=1)
    assert result["match_rate"] == 0.0  # counted as unmatched: a lower bound ...
    assert result["matcher_errors"] == 1 and result["unresolved"] == 1  # ... and said so


def test_csp_match_elsewhere_resolves_a_reference(monkeypatch):
    _rms_fails_for(monkeypatch, 3.95)
    result = csp_match([[perovskite(3.95), perovskite()]], [perovskite()], k=2)
    assert result["match_rate"] == 1.0
    assert result["matcher_errors"] == 1 and result["unresolved"] == 0


def test_csp_matcher_errors_count_only_within_k(monkeypatch):
    _rms_fails_for(monkeypatch, 3.95)
    samples = [wrong_composition(), perovskite(3.95)] + [wrong_composition()] * 18
    metrics = csp_metrics([samples], [perovskite()])
    assert (metrics["k1"]["matcher_errors"], metrics["k1"]["unresolved"]) == (0, 0)
    assert (metrics["k20"]["matcher_errors"], metrics["k20"]["unresolved"]) == (1, 1)
    assert metrics["k20"]["match_rate"] == 0.0


def test_uniqueness_matcher_error_is_undecided_not_unique(monkeypatch):
    _fit_fails(monkeypatch)
    batch = [rocksalt(), rotated_supercell(rocksalt()), perovskite()]
    assert unique_flags(batch) == [True, None, True]  # the first of each key meets no matcher
    assert uniqueness(batch) == pytest.approx(2 / 3)


def test_novelty_matcher_error_is_undecided_not_novel(monkeypatch):
    _fit_fails(monkeypatch)
    assert novelty_flags([perovskite(), rocksalt()], [perovskite(3.95)]) == [None, True]
    assert novelty([perovskite(), rocksalt()], [perovskite(3.95)]) == 0.5


def test_de_novo_metrics_report_matcher_errors(monkeypatch):
    _fit_fails(monkeypatch)
    generated = [rocksalt(), rocksalt(), perovskite(4.5)]
    result = de_novo_metrics(generated, [perovskite()])
    assert result["uniqueness"] == pytest.approx(2 / 3)
    assert result["uniqueness_unresolved"] == 1
    assert result["novelty"] == pytest.approx(2 / 3)
    assert result["novelty_unresolved"] == 1
    assert result["matcher_errors"] == 2


def test_de_novo_metrics_without_matcher_errors_say_zero():
    result = de_novo_metrics([rocksalt(), perovskite()], [perovskite(3.95)])
    assert result["matcher_errors"] == 0
    assert result["uniqueness_unresolved"] == result["novelty_unresolved"] == 0


def test_structures_spglib_cannot_analyse_are_compared_by_formula(monkeypatch):
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer
    from spglib import SpglibError

    from crystaloop.chem.metrics import dedup_key
    from crystaloop.chem.symmetry import SymmetryError

    real = SpacegroupAnalyzer.get_symmetry_dataset

    def dataset(self):
        if len(self._structure) == 4:  # the rotated supercell of rocksalt
            raise SpglibError("spglib gave up")
        return real(self)

    monkeypatch.setattr(SpacegroupAnalyzer, "get_symmetry_dataset", dataset)
    copy = rotated_supercell(rocksalt())
    with pytest.raises(SymmetryError):
        dedup_key(copy)
    assert unique_flags([rocksalt(), copy]) == [True, False]  # still found as a duplicate
    assert novelty_flags([copy], [rocksalt()]) == [False]
