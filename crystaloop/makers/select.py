"""``SelectMaker``: route scored candidates to the oracle or accept them as predictions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jobflow import Maker

from crystaloop.makers.jobs import crystaloop_job
from crystaloop.schemas import STABLE_THRESHOLD, SelectOutput

#: Selection strategies: the surrogate's confidence routing, the random baseline, or the
#: candidate source's own order (``ranked``: e.g. substitutions, most probable first).
STRATEGIES = ("surrogate", "random", "ranked")


@dataclass
class SelectMaker(Maker):
    """The seed's confidence routing with an oracle budget, a diversity rule and an audit.

    See :mod:`crystaloop.chem.selection`. Known structures never reach this step: the screens
    drop duplicates of the corpus and of the campaign's earlier candidates, whose stored labels
    stand. The step is a function of the score step's records: it reads no store.

    Attributes
    ----------
    name
        Job name.
    target
        Surrogate target to select on (lower is better; an energy: band gaps never route).
    objective
        ``e_hull`` (campaigns): the predicted energy above the current hull of known phases,
        ``mean − hull``; ``e_form`` (designs): the formation energy itself.
    acquisition
        ``greedy`` (κ = 0), ``ucb`` (``mean − kappa·σ``, the default) or ``thompson`` (one
        seeded draw from N(mean, σ) per candidate); see :mod:`crystaloop.chem.selection`.
    threshold, kappa, min_confidence
        Promising when the acquisition value is at most ``threshold`` (the campaign's stability
        threshold for ``e_hull``, set by the campaign); accepted when also
        ``confidence ≥ min_confidence`` and the predicted value itself is at most it.
    budget
        Oracle calculations per iteration (audits included).
    max_per_formula, max_per_chemsys
        Diversity caps per iteration.
    audit_share
        Share of the budget spent on a random sample of the accepted candidates (at least one
        calculation when anything was accepted), to measure how often accepted predictions are
        right.
    strategy
        ``surrogate`` (the routing above), ``random``: the budget drawn uniformly from the
        screened candidates (a baseline; seeded by ``seed`` and the iteration), or ``ranked``:
        the first candidates in the order of their source (a source that ranks its own
        proposals, such as ``substitution``).
    seed
        Seed of the random strategy and of the audit sample.
    match_floor, match_trust
        With a match discriminator's ``p_match`` on the records (seed 000 §3.3): candidates
        below ``match_floor`` are rejected before routing (never sent to the oracle), and a
        candidate is accepted as predicted only when ``p_match > match_trust`` (below it, its
        prediction counts as unconfident, so a promising one goes to the oracle). ``None``: off.
        A record without ``p_match`` is not affected. The floor acts before every strategy (a
        ``random`` or ``ranked`` baseline draws from the plausible candidates only).
    """

    name: str = "select"
    target: str = "e_form"
    objective: str = "e_hull"
    acquisition: str = "ucb"
    threshold: float = STABLE_THRESHOLD
    kappa: float = 1.0
    min_confidence: float = 0.9
    budget: int = 8
    max_per_formula: int = 1
    max_per_chemsys: int = 2
    audit_share: float = 0.1
    strategy: str = "surrogate"
    seed: int = 0
    match_floor: float | None = None
    match_trust: float | None = None

    def __post_init__(self) -> None:
        from crystaloop.ml.crysformer.targets import target_info

        self.policy()  # a clear error for an unknown objective or acquisition, at once
        if self.strategy not in STRATEGIES:
            raise ValueError(
                f"unknown selection strategy {self.strategy!r}: choose {', '.join(STRATEGIES)}"
            )
        if not target_info(self.target).routable:
            raise ValueError(
                f"target {self.target!r} cannot route candidates: select on an energy "
                "(e_form, formation_energy_per_atom, heat_ref, ...), never on a band gap"
            )

    def policy(self, budget: int | None = None) -> Any:
        """Return the :class:`~crystaloop.chem.selection.SelectionPolicy` of these fields."""
        from dataclasses import fields

        from crystaloop.chem.selection import SelectionPolicy

        values = {f.name: getattr(self, f.name) for f in fields(SelectionPolicy)}
        if budget is not None:
            values["budget"] = budget
        return SelectionPolicy(**values)

    def route(self, scored: Any, budget: int | None = None) -> tuple[SelectOutput, Any]:
        """Return the output and the :class:`~crystaloop.chem.selection.Selection` of ``scored``.

        A pure function of the score step's records (callable without jobflow).

        Raises
        ------
        ValueError
            When the surrogate has scores but not for :attr:`target`.
        """
        from crystaloop.chem.selection import Scored, select, select_random, select_ranked
        from crystaloop.schemas import ScoreOutput

        out = ScoreOutput.model_validate(scored)
        items = []
        implausible = {}
        for record in out.records:
            p = record.p_match
            if p is not None and self.match_floor is not None and p < self.match_floor:
                implausible[record.candidate_id] = (
                    f"p_match {p:.3f} < floor {self.match_floor:g}: not sent to the oracle"
                )
                continue
            score = (record.scores or {}).get(self.target)
            if record.scores and score is None:
                raise ValueError(
                    f"candidate {record.candidate_id}: surrogate {out.surrogate} has no target "
                    f"{self.target!r} (it has {', '.join(record.scores)})"
                )
            values = {k: score[k] for k in ("mean", "std", "confidence")} if score else {}
            if p is not None and self.match_trust is not None and p <= self.match_trust:
                values["untrusted"] = f"p_match {p:.3f} ≤ trust {self.match_trust:g}"
            items.append(
                Scored(
                    record.candidate_id,
                    record.formula,
                    record.chemsys,
                    **values,
                    hull=record.hull_e_form or 0.0,
                )
            )
        seed = self.seed + 1000 * max(out.iteration, 0)
        if self.strategy == "random":
            selection = select_random(items, self.budget if budget is None else budget, seed)
        elif self.strategy == "ranked":
            selection = select_ranked(items, self.budget if budget is None else budget)
        else:
            selection = select(items, self.policy(budget), seed)
        selection.rejected.extend(implausible)
        selection.reasons.update(implausible)
        chosen = set(selection.dft) | set(selection.audit)
        result = SelectOutput(
            campaign=out.campaign,
            iteration=out.iteration,
            dft=selection.dft,
            accepted=selection.accepted,
            audit=selection.audit,
            rejected=len(selection.rejected),
            below_match_floor=len(implausible),
            target=self.target,
            surrogate=out.surrogate,
            picks=[r for r in out.records if r.candidate_id in chosen],
        )
        return result, selection

    @crystaloop_job("select", SelectOutput)
    def make(self, scored: Any, budget: int | None = None) -> SelectOutput:
        """Select from ``scored`` (a :class:`ScoreOutput`); ``budget`` overrides the field.

        Every candidate's route and reason go to the ``candidates`` store in one bulk write.
        """
        from crystaloop.settings import load_settings
        from crystaloop.stores.candidates import CandidateStore
        from crystaloop.stores.factory import open_store

        result, selection = self.route(scored, budget)
        routes = {i: "dft" for i in selection.dft}
        routes.update({i: "predicted" for i in selection.accepted})
        routes.update({i: "rejected" for i in selection.rejected})
        CandidateStore(open_store(load_settings(), "candidates")).set_selection(
            routes, selection.reasons, selection.audit
        )
        return result
