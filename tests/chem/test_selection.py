"""Confidence routing: accepted, oracle, rejected; budget and diversity."""

from __future__ import annotations

import pytest

from crystaloop.chem.selection import Scored, SelectionPolicy, select, select_random


def _c(i: str, mean: float | None, std: float | None = 0.1, conf: float | None = 0.5, f="A"):
    return Scored(i, formula=f"{f}{i}", chemsys=f"{f}{i}-O", mean=mean, std=std, confidence=conf)


def test_confident_promising_is_accepted_uncertain_goes_to_the_oracle():
    policy = SelectionPolicy(threshold=0.0, kappa=1.0, min_confidence=0.9, budget=5)
    out = select(
        [
            _c("1", -0.5, 0.05, 0.95),  # confident, promising → accepted
            _c("2", -0.2, 0.3, 0.3),  # uncertain, promising → oracle
            _c("3", 0.8, 0.1, 0.3),  # 0.8 − 0.1 > 0 → rejected
            _c("4", 0.1, 0.3, 0.95),  # confident but mean > threshold, bound < 0 → oracle
            _c("5", None, None, None),  # unscorable → oracle, last
        ],
        policy,
    )
    assert out.accepted == ["1"]
    assert out.dft == ["2", "4", "5"]
    assert out.rejected == ["3"]
    assert "not promising" in out.reasons["3"] and "unscorable" in out.reasons["5"]


def test_budget_is_spent_on_the_most_promising_first():
    policy = SelectionPolicy(budget=2, min_confidence=1.0)
    out = select([_c("1", -0.1), _c("2", -0.9), _c("3", -0.5)], policy)
    assert out.dft == ["2", "3"]
    assert out.rejected == ["1"] and "budget" in out.reasons["1"]


def test_diversity_skips_near_identical_candidates():
    policy = SelectionPolicy(budget=3, min_confidence=1.0, max_per_formula=1)
    same = [Scored(str(i), "BaTiO3", "Ba-O-Ti", -0.5 - i / 10, 0.2, 0.1) for i in range(3)]
    out = select([*same, _c("9", -0.1)], policy)
    assert out.dft == ["2", "9"]
    assert "diversity" in out.reasons["0"]


@pytest.mark.parametrize(
    "kwargs", [{"budget": -1}, {"min_confidence": 1.5}, {"kappa": -1}, {"max_per_formula": 0}]
)
def test_bad_policies_are_refused(kwargs):
    with pytest.raises(ValueError):
        SelectionPolicy(**kwargs)


def test_random_baseline_draws_the_budget_reproducibly_and_ignores_scores():
    items = [Scored(f"c{k}", f"A{k}B", "A-B", mean=-1.0 + k, std=0.1) for k in range(10)]
    first = select_random(items, 3, seed=7)
    again = select_random(items, 3, seed=7)
    other = select_random(items, 3, seed=8)
    assert first.dft == again.dft and len(first.dft) == 3
    assert sorted(first.dft + first.rejected) == sorted(c.candidate_id for c in items)
    assert first.accepted == []
    assert set(other.dft) != set(first.dft)
    assert first.reasons[first.dft[0]].startswith("random baseline")
    assert sorted(select_random(items[:2], 5, seed=0).dft) == ["c0", "c1"]
    with pytest.raises(ValueError, match="budget"):
        select_random(items, -1, seed=0)


def test_accepted_candidates_are_audited_from_the_budget():
    policy = SelectionPolicy(threshold=0.0, min_confidence=0.9, budget=4, audit_share=0.1)
    confident = [_c(str(i), -0.5, 0.01, 0.99) for i in range(6)]
    uncertain = [_c(f"u{i}", -0.3, 0.5, 0.2) for i in range(5)]
    out = select(confident + uncertain, policy, seed=7)
    assert len(out.accepted) == 6
    assert len(out.audit) == 1 and out.audit[0] in out.accepted  # ≥ 1 when anything accepted
    assert len(out.dft) == 3  # the audit came out of the budget of 4
    assert "audited by the oracle" in out.reasons[out.audit[0]]
    again = select(confident + uncertain, policy, seed=7)
    assert again.audit == out.audit  # seeded
    larger = select(confident + uncertain, SelectionPolicy(budget=4, audit_share=0.5), seed=7)
    assert len(larger.audit) == 2 and len(larger.dft) == 2


def test_no_audit_when_nothing_is_accepted():
    out = select([_c("1", -0.3, 0.5, 0.2)], SelectionPolicy(budget=4, audit_share=0.5))
    assert out.audit == [] and out.dft == ["1"]
    with pytest.raises(ValueError, match="audit_share"):
        SelectionPolicy(audit_share=1.0)


def _h(i: str, mean: float, std: float, hull: float, conf: float = 0.2):
    return Scored(i, f"X{i}", f"X{i}-O", mean=mean, std=std, confidence=conf, hull=hull)


def test_the_hull_objective_judges_the_distance_to_the_hull():
    # the same formation energy: on an empty hull it is stable, below a deep hull it is not
    far = _h("far", -1.0, 0.05, hull=-2.0)
    near = _h("near", -1.0, 0.05, hull=-1.05)
    policy = SelectionPolicy(threshold=0.1, acquisition="greedy", budget=5)
    out = select([far, near], policy)
    assert out.dft == ["near"] and out.rejected == ["far"]
    assert "E_hull 1.000" in out.reasons["far"]
    # the e_form objective (a design's) ignores the hull
    design = SelectionPolicy(objective="e_form", threshold=0.0, acquisition="greedy", budget=5)
    assert sorted(select([far, near], design).dft) == ["far", "near"]
    # confident and predicted stable on the hull: accepted
    confident = _h("c", -1.0, 0.01, hull=-1.0, conf=0.95)
    assert select([confident], policy).accepted == ["c"]


def test_acquisition_policies_differ_as_documented():
    # E_hull 0.3 ± 0.25: greedy rejects, UCB (κ = 1) reaches 0.05 ≤ 0.1 and sends it
    c = _h("1", 0.3, 0.25, hull=0.0)
    assert select([c], SelectionPolicy(acquisition="greedy")).rejected == ["1"]
    assert select([c], SelectionPolicy(acquisition="ucb", kappa=1.0)).dft == ["1"]
    # Thompson: one seeded draw per candidate; the same seed routes the same way
    many = [_h(str(i), 0.3, 0.25, hull=0.0) for i in range(200)]
    first = select(many, SelectionPolicy(acquisition="thompson", budget=200), seed=3)
    again = select(many, SelectionPolicy(acquisition="thompson", budget=200), seed=3)
    assert first.dft == again.dft
    # P(0.3 + 0.25 z ≤ 0.1) = Φ(−0.8) ≈ 0.21
    assert 0.12 < len(first.dft) / 200 < 0.31
    with pytest.raises(ValueError, match="unknown acquisition 'best'"):
        SelectionPolicy(acquisition="best")
    with pytest.raises(ValueError, match="unknown objective"):
        SelectionPolicy(objective="gap")
