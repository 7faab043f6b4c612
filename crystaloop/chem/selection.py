"""Confidence routing: which scored candidates go to the oracle and which are accepted as predicted.

The seed's coordinate pattern, as a pure function. For the target property (formation energy,
lower is better) each candidate has a surrogate mean μ, a calibrated σ and a confidence
``P(|error| < tolerance)``:

* **promising** when the optimistic bound ``μ − κσ`` is at most ``threshold``;
* promising and **confident** (confidence ≥ ``min_confidence``) and ``μ ≤ threshold`` → accepted
  as a prediction (marked so; never an oracle label);
* promising and **uncertain** → a candidate for the oracle, ranked by ``μ − κσ``; a candidate
  the surrogate cannot score (an element it never saw) is maximally uncertain and ranked last;
* otherwise → rejected.

The oracle budget of the iteration is then spent in rank order with a diversity rule: at most
``max_per_formula`` candidates of one reduced formula and ``max_per_chemsys`` of one chemical
system, so the budget is not spent on near-identical candidates.

**Audit.** When anything was accepted, a share ``audit_share`` of the budget (at least one
calculation) goes to a seeded random sample of the accepted candidates: the oracle labels them
too, and the share of them within the surrogate's tolerance is the realised coverage of the
routing, the number that tells a user whether to trust it. They stay accepted as predicted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass(frozen=True)
class SelectionPolicy:
    """Thresholds of the confidence routing.

    Attributes
    ----------
    target
        Surrogate target to select on (lower is better), e.g. ``e_form``.
    threshold
        Promising when ``mean − kappa · std`` ≤ this (eV/atom for formation energies).
    kappa
        Optimism of the bound.
    min_confidence
        Confidence at which a promising prediction is accepted without the oracle.
    budget
        Oracle calculations this iteration.
    max_per_formula, max_per_chemsys
        Diversity caps within one iteration's oracle picks.
    audit_share
        Share of the budget spent auditing accepted candidates (at least one when any).
    """

    target: str = "e_form"
    threshold: float = 0.0
    kappa: float = 1.0
    min_confidence: float = 0.9
    budget: int = 8
    max_per_formula: int = 1
    max_per_chemsys: int = 2
    audit_share: float = 0.1

    def __post_init__(self) -> None:
        if not 0.0 <= self.audit_share < 1.0:
            raise ValueError(f"audit_share must be in [0, 1), not {self.audit_share}")
        if self.budget < 0:
            raise ValueError(f"budget must be ≥ 0, not {self.budget}")
        if not 0.0 <= self.min_confidence <= 1.0:
            raise ValueError(f"min_confidence must be in [0, 1], not {self.min_confidence}")
        if self.kappa < 0 or self.max_per_formula < 1 or self.max_per_chemsys < 1:
            raise ValueError("kappa must be ≥ 0 and the diversity caps ≥ 1")


@dataclass(frozen=True)
class Scored:
    """One candidate as the routing sees it (``mean``/``std``/``confidence`` None: unscorable)."""

    candidate_id: str
    formula: str
    chemsys: str
    mean: float | None = None
    std: float | None = None
    confidence: float | None = None


@dataclass
class Selection:
    """Where each candidate went, with the reason."""

    dft: list[str] = field(default_factory=list)
    accepted: list[str] = field(default_factory=list)
    audit: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    reasons: dict[str, str] = field(default_factory=dict)


def audit_size(accepted: int, policy: SelectionPolicy) -> int:
    """Return how many of ``accepted`` candidates the oracle audits under ``policy``."""
    if accepted == 0 or policy.budget == 0:
        return 0
    return min(accepted, policy.budget, max(1, round(policy.audit_share * policy.budget)))


def select(candidates: list[Scored], policy: SelectionPolicy, seed: int = 0) -> Selection:
    """Route ``candidates`` under ``policy``; deterministic for a given input order and seed.

    ``seed`` draws the audit sample of the accepted candidates.
    """
    import numpy as np

    out = Selection()
    queue: list[tuple[float, int, Scored]] = []
    for order, c in enumerate(candidates):
        if c.mean is None or c.std is None or not math.isfinite(c.mean):
            queue.append((math.inf, order, c))
            out.reasons[c.candidate_id] = "unscorable: outside the surrogate's elements"
            continue
        bound = c.mean - policy.kappa * c.std
        if bound > policy.threshold:
            out.rejected.append(c.candidate_id)
            out.reasons[c.candidate_id] = (
                f"not promising: {policy.target} {c.mean:.3f} − {policy.kappa:g}σ "
                f"= {bound:.3f} > {policy.threshold:g}"
            )
        elif (c.confidence or 0.0) >= policy.min_confidence and c.mean <= policy.threshold:
            out.accepted.append(c.candidate_id)
            out.reasons[c.candidate_id] = (
                f"confident: {policy.target} {c.mean:.3f} ± {c.std:.3f}, "
                f"confidence {c.confidence:.2f}"
            )
        else:
            queue.append((bound, order, c))
            out.reasons[c.candidate_id] = (
                f"uncertain: {policy.target} {c.mean:.3f} ± {c.std:.3f}, "
                f"confidence {c.confidence or 0.0:.2f}"
            )
    n_audit = audit_size(len(out.accepted), policy)
    if n_audit:
        picks = np.random.default_rng(seed).choice(len(out.accepted), n_audit, replace=False)
        out.audit = [out.accepted[int(k)] for k in sorted(picks)]
        for candidate_id in out.audit:
            out.reasons[candidate_id] += "; audited by the oracle"
    budget = policy.budget - n_audit
    per_formula: dict[str, int] = {}
    per_chemsys: dict[str, int] = {}
    for _, _, c in sorted(queue, key=lambda item: (item[0], item[1])):
        if len(out.dft) >= budget:
            out.rejected.append(c.candidate_id)
            out.reasons[c.candidate_id] += "; over this iteration's oracle budget"
        elif (
            per_formula.get(c.formula, 0) >= policy.max_per_formula
            or per_chemsys.get(c.chemsys, 0) >= policy.max_per_chemsys
        ):
            out.rejected.append(c.candidate_id)
            out.reasons[c.candidate_id] += f"; diversity: {c.formula} already picked"
        else:
            out.dft.append(c.candidate_id)
            per_formula[c.formula] = per_formula.get(c.formula, 0) + 1
            per_chemsys[c.chemsys] = per_chemsys.get(c.chemsys, 0) + 1
    return out


def select_random(candidates: list[Scored], budget: int, seed: int) -> Selection:
    """Draw ``budget`` candidates for the oracle uniformly at random (the random baseline).

    Scores are ignored; nothing is accepted as a prediction. The draw is seeded, so the same
    candidates and seed give the same picks.
    """
    import numpy as np

    if budget < 0:
        raise ValueError(f"budget must be ≥ 0, not {budget}")
    out = Selection()
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(candidates))
    picked = {int(k) for k in order[:budget]}
    for k, c in enumerate(candidates):
        if k in picked:
            out.dft.append(c.candidate_id)
            out.reasons[c.candidate_id] = "random baseline: drawn for the oracle"
        else:
            out.rejected.append(c.candidate_id)
            out.reasons[c.candidate_id] = "random baseline: not drawn"
    return out
