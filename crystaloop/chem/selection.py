"""Confidence routing: which scored candidates go to the oracle and which are accepted as predicted.

The seed's coordinate pattern, as a pure function. For the target property (formation energy,
lower is better) each candidate has a surrogate mean μ, a calibrated σ, a confidence
``P(|error| < tolerance)`` and, for the ``e_hull`` objective, the formation energy ``h`` of the
current hull of known phases at its composition. Its predicted energy above the hull is
``μ − h``; the acquisition value ``a`` is an optimistic draw of it:

* ``greedy``: ``a = μ − h`` (κ = 0);
* ``ucb`` (default): ``a = μ − κσ − h``, the optimistic bound (CAMD's "optimistic hull" agent
  places ``μ − κσ`` on the hull the same way); κ = 1 by default, so a candidate whose 68 %
  interval reaches the stability threshold is worth a look;
* ``thompson``: ``a = μ + σ z − h`` with one seeded standard-normal draw ``z`` per candidate.

Then:

* **promising** when ``a`` is at most ``threshold`` (the stability threshold for ``e_hull``,
  the design's ``max_eform`` for ``e_form``, where ``h = 0``);
* promising and **confident** (confidence ≥ ``min_confidence``) and ``μ − h ≤ threshold`` →
  accepted as a prediction (marked so; never an oracle label);
* promising and **uncertain** → a candidate for the oracle, ranked by ``a``; a candidate the
  surrogate cannot score (an element it never saw) is maximally uncertain and ranked last;
* otherwise → rejected.

UCB is the default because it spends the budget on what could be stable given the surrogate's
own uncertainty (greedy never looks past the mean, so an underestimated candidate is never
checked), and, unlike Thompson sampling, a repeated run routes the same way.

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

#: What the routing judges, and how optimistically.
OBJECTIVES = ("e_hull", "e_form")
ACQUISITIONS = ("greedy", "ucb", "thompson")


@dataclass(frozen=True)
class SelectionPolicy:
    """Thresholds of the confidence routing.

    Attributes
    ----------
    target
        Surrogate target to select on (lower is better), e.g. ``e_form``.
    objective
        ``e_hull``: judge the predicted energy above the current hull; ``e_form``: the
        formation energy itself (a design's query).
    acquisition
        ``greedy``, ``ucb`` or ``thompson`` (see the module docstring).
    threshold
        Promising when the acquisition value is at most this (eV/atom).
    kappa
        Optimism of ``ucb``.
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
    objective: str = "e_hull"
    acquisition: str = "ucb"
    threshold: float = 0.1
    kappa: float = 1.0
    min_confidence: float = 0.9
    budget: int = 8
    max_per_formula: int = 1
    max_per_chemsys: int = 2
    audit_share: float = 0.1

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise ValueError(
                f"unknown objective {self.objective!r}: choose {', '.join(OBJECTIVES)}"
            )
        if self.acquisition not in ACQUISITIONS:
            raise ValueError(
                f"unknown acquisition {self.acquisition!r}: choose {', '.join(ACQUISITIONS)}"
            )
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
    """One candidate as the routing sees it (``mean``/``std``/``confidence`` None: unscorable).

    ``hull`` is the formation energy of the current hull at its composition (eV/atom; 0 with no
    known phase), used by the ``e_hull`` objective. ``untrusted`` (a reason, e.g. a low match
    probability of its generated structure) keeps it from being accepted as a prediction: when
    promising it is routed as an uncertain one.
    """

    candidate_id: str
    formula: str
    chemsys: str
    mean: float | None = None
    std: float | None = None
    confidence: float | None = None
    hull: float = 0.0
    untrusted: str | None = None


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
    draws = np.random.default_rng(seed + 1).standard_normal(len(candidates))
    name = "E_hull" if policy.objective == "e_hull" else policy.target
    for order, c in enumerate(candidates):
        if c.mean is None or c.std is None or not math.isfinite(c.mean):
            queue.append((math.inf, order, c))
            out.reasons[c.candidate_id] = "unscorable: outside the surrogate's elements"
            continue
        hull = c.hull if policy.objective == "e_hull" else 0.0
        value = c.mean - hull
        if policy.acquisition == "ucb":
            bound, how = value - policy.kappa * c.std, f" − {policy.kappa:g}σ"
        elif policy.acquisition == "thompson":
            bound, how = value + c.std * float(draws[order]), f" {float(draws[order]):+.2f}σ"
        else:
            bound, how = value, ""
        if bound > policy.threshold:
            out.rejected.append(c.candidate_id)
            out.reasons[c.candidate_id] = (
                f"not promising: {name} {value:.3f}{how} = {bound:.3f} > {policy.threshold:g}"
            )
        elif (
            c.untrusted is None
            and (c.confidence or 0.0) >= policy.min_confidence
            and value <= policy.threshold
        ):
            out.accepted.append(c.candidate_id)
            out.reasons[c.candidate_id] = (
                f"confident: {name} {value:.3f} ± {c.std:.3f}, confidence {c.confidence:.2f}"
            )
        else:
            queue.append((bound, order, c))
            out.reasons[c.candidate_id] = (
                f"uncertain: {name} {value:.3f} ± {c.std:.3f}, confidence {c.confidence or 0.0:.2f}"
                + (f", {c.untrusted}" if c.untrusted else "")
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


def select_ranked(candidates: list[Scored], budget: int) -> Selection:
    """Send the first ``budget`` candidates, in the given order, to the oracle.

    For a source that ranks its own proposals (ionic substitution, most probable first): the
    surrogate's scores are ignored and nothing is accepted as a prediction.
    """
    if budget < 0:
        raise ValueError(f"budget must be ≥ 0, not {budget}")
    out = Selection()
    for k, c in enumerate(candidates):
        if k < budget:
            out.dft.append(c.candidate_id)
            out.reasons[c.candidate_id] = f"ranked by its source: rank {k} of the survivors"
        else:
            out.rejected.append(c.candidate_id)
            out.reasons[c.candidate_id] = (
                f"ranked by its source: rank {k}, over this iteration's oracle budget"
            )
    return out
