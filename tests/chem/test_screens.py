from __future__ import annotations

import json
from functools import cache

import numpy as np
import pytest
from helpers import nacl as _nacl
from helpers import perovskite
from pymatgen.core import Lattice, Structure
from pymatgen.core.operations import SymmOp

from crystaloop.chem.dedup import fingerprint
from crystaloop.chem.screens import (
    STAGES,
    ScreenConfig,
    ScreenVerdict,
    screen_structures,
    screen_summary,
)
from crystaloop.chem.symmetry import symmetry_info


@cache
def _rocksalt(a: float) -> Structure:
    return _nacl(a)  # Structure.from_spacegroup takes about a second: build each cell once


def nacl(a: float = 5.64) -> Structure:
    return _rocksalt(a).copy()


def overlapping() -> Structure:
    return Structure(Lattice.cubic(5.0), ["Na", "Cl"], [[0, 0, 0], [0.05, 0, 0]])


def eleven_species() -> Structure:
    elements = ["Li", "Na", "K", "Rb", "Cs", "Mg", "Ca", "Sr", "Ba", "F", "Cl"]
    coords = [[i / 11, (3 * i % 11) / 11, (5 * i % 11) / 11] for i in range(11)]
    return Structure(Lattice.cubic(11.0), elements, coords)


def nacl2() -> Structure:
    return Structure(
        Lattice.cubic(6.0), ["Na", "Cl", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0, 0]]
    )


def random_triclinic(seed: int = 0) -> Structure:
    rng = np.random.default_rng(seed)
    lattice = Lattice.from_parameters(*rng.uniform(4, 6, 3), *rng.uniform(75, 105, 3))
    return Structure(lattice, ["Na", "Na", "Cl", "Cl"], rng.random((4, 3)))


def nacl_other_setting() -> Structure:
    """NaCl as a rotated 2x1x1 supercell of its primitive cell."""
    structure = nacl().get_primitive_structure() * (2, 1, 1)
    structure.apply_operation(SymmOp.from_axis_angle_and_translation([1, 1, 1], 37))
    return structure


def key_of(structure: Structure) -> str:
    sym = symmetry_info(structure, symprec=0.1)
    return fingerprint(structure.composition.reduced_formula, sym.number, sym.n_primitive)


def only(structure: Structure, **kwargs) -> ScreenVerdict:
    (verdict,) = screen_structures([structure], **kwargs)
    return verdict


@pytest.mark.parametrize("make", [nacl, perovskite])
def test_good_candidates_pass(make):
    verdict = only(make())
    assert verdict.passed and verdict.stage is None and verdict.reason is None
    assert verdict.fingerprint == key_of(make())
    assert verdict.spacegroup in (221, 225)


@pytest.mark.parametrize(
    ("make", "stage", "words"),
    [
        (overlapping, "validity", "overlap"),
        (eleven_species, "species", "11 distinct elements"),
        (nacl2, "smact", "charge"),
        (random_triclinic, "spacegroup", "P1"),
    ],
)
def test_bad_candidate_dropped_at_its_stage(make, stage, words):
    verdict = only(make())
    assert not verdict.passed
    assert verdict.stage == stage
    assert words in verdict.reason


def test_first_failed_stage_is_reported():
    # 11 species and overlapping atoms: validity runs first.
    bad = eleven_species()
    bad.append("O", bad[0].frac_coords + [0.01, 0, 0])
    assert only(bad).stage == "validity"


def test_config_changes_the_thresholds():
    assert only(perovskite(), config=ScreenConfig(max_species=2)).stage == "species"
    assert only(overlapping(), config=ScreenConfig(min_distance=0.2)).stage != "validity"
    assert "cap of 4" in only(nacl(), config=ScreenConfig(max_sites=4)).reason
    verdict = only(random_triclinic(), config=ScreenConfig(allow_p1=True))
    assert verdict.passed and verdict.spacegroup == 1


def test_symprec_is_configurable():
    rng = np.random.default_rng(1)
    base = nacl()
    shaken = Structure(
        base.lattice,
        base.species,
        base.cart_coords + rng.normal(0, 0.02, (len(base), 3)),
        coords_are_cartesian=True,
    )
    assert only(shaken).passed
    strict = only(shaken, config=ScreenConfig(symprec=1e-4))
    assert strict.stage == "spacegroup"


def test_batch_duplicate_names_the_kept_member():
    verdicts = screen_structures([nacl(), perovskite(), nacl_other_setting()])
    assert [v.passed for v in verdicts] == [True, True, False]
    dup = verdicts[2]
    assert dup.stage == "duplicate_in_batch" and dup.duplicate_of == "batch:0"
    assert "batch:0" in dup.reason and "NaCl" in dup.reason

    named = screen_structures([nacl(), nacl_other_setting()], ids=["a", "b"])
    assert named[1].duplicate_of == "a" and "a" in named[1].reason

    kept = screen_structures([nacl(), nacl_other_setting()], ScreenConfig(dedup_batch=False))
    assert all(v.passed for v in kept)


def test_different_structures_with_same_formula_are_not_batch_duplicates():
    cscl_type = Structure(Lattice.cubic(3.2), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    verdicts = screen_structures([nacl(), cscl_type])
    assert all(v.passed for v in verdicts)


def test_corpus_duplicate_through_lookup():
    asked: list[list[tuple[str, int]]] = []

    def lookup(keys):
        asked.append(keys)
        corpus = {("SrTiO3", 5): [("corpus:other", nacl()), ("corpus:7", perovskite(3.92))]}
        return {k: corpus[k] for k in keys if k in corpus}

    verdicts = screen_structures([perovskite(), overlapping(), nacl()], corpus_lookup=lookup)
    assert len(asked) == 1 and sorted(asked[0]) == [("NaCl", 2), ("SrTiO3", 5)]
    assert verdicts[0].stage == "duplicate_of_corpus"
    assert verdicts[0].duplicate_of == "corpus:7" and "corpus:7" in verdicts[0].reason
    assert verdicts[1].stage == "validity"
    assert verdicts[2].passed


def test_noisy_copy_of_a_corpus_entry_is_caught_although_its_space_group_changed():
    rng = np.random.default_rng(3)
    clean = perovskite()
    shifted = clean.cart_coords + rng.normal(0, 0.03, (len(clean), 3))
    noisy = Structure(clean.lattice, clean.species, shifted, coords_are_cartesian=True)
    assert symmetry_info(noisy, symprec=0.1).number != 221  # the corpus fingerprint differs

    def lookup(keys):
        return {k: [("corpus:7", perovskite())] for k in keys if k == ("SrTiO3", 5)}

    (verdict,) = screen_structures(
        [noisy], corpus_lookup=lookup, config=ScreenConfig(allow_p1=True)
    )
    assert verdict.stage == "duplicate_of_corpus" and verdict.duplicate_of == "corpus:7"


def test_same_verdicts_with_a_process_pool():
    batch = [
        nacl(),
        overlapping(),
        perovskite(),
        eleven_species(),
        nacl2(),
        random_triclinic(),
        nacl_other_setting(),
        perovskite(3.92),
    ]
    corpus = {("SrTiO3", 5): [("corpus:7", perovskite())]}

    def lookup(keys):
        return {k: corpus[k] for k in keys if k in corpus}

    serial = screen_structures(batch, corpus_lookup=lookup)
    timings: dict[str, float] = {}
    pooled = screen_structures(batch, corpus_lookup=lookup, processes=2, timings=timings)
    assert pooled == serial
    assert [v.stage for v in serial] == [
        None,
        "validity",
        "duplicate_of_corpus",
        "species",
        "smact",
        "spacegroup",
        "duplicate_in_batch",
        "duplicate_in_batch",
    ]
    assert set(STAGES) <= set(timings) and timings["total"] > 0


def test_summary_and_serialisation():
    verdicts = screen_structures([nacl(), nacl2(), overlapping(), nacl()])
    summary = screen_summary(verdicts)
    assert summary["total"] == 4 and summary["passed"] == 1
    assert summary["dropped"] == {
        "validity": 1,
        "species": 0,
        "smact": 1,
        "symmetry": 0,
        "spacegroup": 0,
        "duplicate_in_batch": 1,
        "duplicate_of_corpus": 0,
        "duplicate_check": 0,
    }
    assert json.loads(json.dumps(verdicts[3].as_dict()))["duplicate_of"] == "batch:0"


def test_ids_must_match_structures():
    with pytest.raises(ValueError):
        screen_structures([nacl()], ids=["a", "b"])


# --------------------------------------------------------------------------- errors tell the truth


def _spglib_fails_for(monkeypatch, formula: str, symprec: float | None = None) -> None:
    """Make spglib raise for structures of ``formula`` (at ``symprec`` only, when given)."""
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer
    from spglib import SpglibError

    real = SpacegroupAnalyzer.get_symmetry_dataset

    def dataset(self):
        same_tolerance = symprec is None or self._symprec == symprec
        if self._structure.composition.reduced_formula == formula and same_tolerance:
            raise SpglibError("spglib gave up")
        return real(self)

    monkeypatch.setattr(SpacegroupAnalyzer, "get_symmetry_dataset", dataset)


def _matcher_fails_against(monkeypatch, bad_a: float) -> None:
    """Make StructureMatcher.fit raise when either structure has lattice parameter ``bad_a``."""
    from pymatgen.analysis.structure_matcher import StructureMatcher

    real = StructureMatcher.fit

    def fit(self, a, b, *args, **kwargs):
        if any(abs(s.lattice.a - bad_a) < 1e-6 for s in (a, b)):
            raise ValueError("matcher broke")
        return real(self, a, b, *args, **kwargs)

    monkeypatch.setattr(StructureMatcher, "fit", fit)


@pytest.mark.parametrize("allow_p1", [False, True])
def test_spglib_failure_is_its_own_stage_not_p1(monkeypatch, allow_p1):
    _spglib_fails_for(monkeypatch, "SrTiO3")
    verdicts = screen_structures([perovskite(), nacl()], ScreenConfig(allow_p1=allow_p1))
    bad, good = verdicts
    assert not bad.passed and bad.stage == "symmetry"
    assert bad.reason.startswith("spglib failed: SpglibError: spglib gave up")
    assert "P1" not in bad.reason and bad.spacegroup is None and bad.fingerprint is None
    assert good.passed
    assert screen_summary(verdicts)["dropped"]["symmetry"] == 1
    assert screen_summary(verdicts)["dropped"]["spacegroup"] == 0


def test_spglib_failure_at_the_corpus_tolerance_is_reported(monkeypatch):
    _spglib_fails_for(monkeypatch, "SrTiO3", symprec=0.1)
    verdict = only(perovskite(), config=ScreenConfig(symprec=0.01))
    assert verdict.stage == "symmetry" and "symprec=0.1" in verdict.reason
    assert verdict.fingerprint is None


def test_matcher_error_in_the_batch_check_is_not_a_pass(monkeypatch):
    _matcher_fails_against(monkeypatch, 3.9)
    verdicts = screen_structures([perovskite(3.9), perovskite(3.92)], ids=["a", "b"])
    assert verdicts[0].passed  # the first of its key is compared with nothing
    second = verdicts[1]
    assert not second.passed and second.stage == "duplicate_check"
    assert second.reason.startswith("duplicate check failed")
    assert "batch member a" in second.reason and "ValueError: matcher broke" in second.reason
    assert second.duplicate_of is None
    assert screen_summary(verdicts)["dropped"]["duplicate_check"] == 1


def test_matcher_error_in_the_corpus_check_is_not_novel(monkeypatch):
    _matcher_fails_against(monkeypatch, 3.95)

    def lookup(keys):
        return {k: [("corpus:bad", perovskite(3.95))] for k in keys if k == ("SrTiO3", 5)}

    verdicts = screen_structures([perovskite(), nacl()], corpus_lookup=lookup)
    assert verdicts[0].stage == "duplicate_check" and not verdicts[0].passed
    assert "known structure corpus:bad" in verdicts[0].reason
    assert "ValueError: matcher broke" in verdicts[0].reason
    assert verdicts[1].passed  # nothing to compare it with
    summary = screen_summary(verdicts)
    assert summary["dropped"]["duplicate_check"] == 1 and summary["passed"] == 1


def test_a_match_elsewhere_still_wins_over_a_matcher_error(monkeypatch):
    _matcher_fails_against(monkeypatch, 3.95)

    def lookup(keys):
        corpus = [("corpus:bad", perovskite(3.95)), ("corpus:7", perovskite(3.92))]
        return {k: corpus for k in keys if k == ("SrTiO3", 5)}

    (verdict,) = screen_structures([perovskite()], corpus_lookup=lookup)
    assert verdict.stage == "duplicate_of_corpus" and verdict.duplicate_of == "corpus:7"
