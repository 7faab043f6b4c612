"""``SelectMaker``: route scored candidates to the oracle or accept them as predictions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jobflow import Maker

from crystaloop.makers.jobs import crystaloop_job
from crystaloop.schemas import SelectOutput

#: Selection strategies: the surrogate's confidence routing, or the random baseline.
STRATEGIES = ("surrogate", "random")


@dataclass
class SelectMaker(Maker):
    """The seed's confidence routing with an oracle budget and a diversity rule.

    See :mod:`crystaloop.chem.selection`. Known structures never reach this step: the screens
    drop duplicates of the corpus and of the campaign's earlier candidates, whose stored labels
    stand.

    Attributes
    ----------
    name
        Job name.
    target
        Surrogate target to select on (lower is better).
    threshold, kappa, min_confidence
        Promising when ``mean − kappa·σ ≤ threshold``; accepted when also
        ``confidence ≥ min_confidence`` and ``mean ≤ threshold``.
    budget
        Oracle calculations per iteration.
    max_per_formula, max_per_chemsys
        Diversity caps per iteration.
    strategy
        ``surrogate`` (the routing above) or ``random``: the budget drawn uniformly from the
        screened candidates (a baseline; seeded by ``seed`` and the iteration).
    seed
        Seed of the random strategy.
    """

    name: str = "select"
    target: str = "e_form"
    threshold: float = 0.0
    kappa: float = 1.0
    min_confidence: float = 0.9
    budget: int = 8
    max_per_formula: int = 1
    max_per_chemsys: int = 2
    strategy: str = "surrogate"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(
                f"unknown selection strategy {self.strategy!r}: choose {', '.join(STRATEGIES)}"
            )

    def policy(self, budget: int | None = None) -> Any:
        """Return the :class:`~crystaloop.chem.selection.SelectionPolicy` of these fields."""
        from dataclasses import fields

        from crystaloop.chem.selection import SelectionPolicy

        values = {f.name: getattr(self, f.name) for f in fields(SelectionPolicy)}
        if budget is not None:
            values["budget"] = budget
        return SelectionPolicy(**values)

    @crystaloop_job("select", SelectOutput)
    def make(self, scored: Any, budget: int | None = None) -> SelectOutput:
        """Select from ``scored`` (a :class:`ScoreOutput`); ``budget`` overrides the field."""
        from crystaloop.chem.energies import chemsys_of
        from crystaloop.chem.selection import Scored, select, select_random
        from crystaloop.schemas import ScoreOutput
        from crystaloop.settings import load_settings
        from crystaloop.stores.artifacts import artifact_store
        from crystaloop.stores.candidates import CandidateStore, get_batch
        from crystaloop.stores.factory import open_store

        out = ScoreOutput.model_validate(scored)
        settings = load_settings()
        ids = [row["candidate_id"] for row in get_batch(artifact_store(settings), out.survivors)]
        candidates = CandidateStore(open_store(settings, "candidates"))
        docs = {d["candidate_id"]: d for d in candidates.get(ids)}
        items = []
        for candidate_id in ids:
            doc = docs[candidate_id]
            score = (doc.get("scores") or {}).get(self.target)
            if doc.get("scores") and score is None:
                raise ValueError(
                    f"candidate {candidate_id}: surrogate {doc.get('surrogate')} has no target "
                    f"{self.target!r} (it has {', '.join(doc['scores'])})"
                )
            elements = [s["element"] for site in doc["structure"]["sites"] for s in site["species"]]
            items.append(
                Scored(
                    candidate_id,
                    doc["formula"],
                    chemsys_of(elements),
                    **({k: score[k] for k in ("mean", "std", "confidence")} if score else {}),
                )
            )
        if self.strategy == "random":
            n = self.budget if budget is None else budget
            selection = select_random(items, n, self.seed + 1000 * max(out.iteration, 0))
        else:
            selection = select(items, self.policy(budget))
        routes = {i: "dft" for i in selection.dft}
        routes.update({i: "predicted" for i in selection.accepted})
        routes.update({i: "rejected" for i in selection.rejected})
        candidates.set_selection(routes, selection.reasons)
        return SelectOutput(
            campaign=out.campaign,
            iteration=out.iteration,
            dft=selection.dft,
            accepted=selection.accepted,
            rejected=len(selection.rejected),
            target=self.target,
        )
