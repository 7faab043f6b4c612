"""Targeted design: "up to N structures of FORMULA with formation energy below X".

The seed's targeted query as a campaign with a fixed composition:

1. look up what is known first: oracle labels of the formula at or below the threshold count
   as found (the corpus holds no oracle energies, but its structures are duplicates the screens
   drop);
2. then iterate CSP for the composition → screens (duplicates and space group 1 dropped) →
   Crysformer mean and σ → confident candidates below the threshold are accepted as predicted,
   uncertain promising ones go to the oracle → label → retrain;
3. until N are found, the oracle budget is spent or the iteration cap is reached.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from crystaloop.workflows.campaign import CampaignMaker


@dataclass
class DesignMaker(CampaignMaker):
    """Find up to ``n`` structures of ``formula`` with ``e_form ≤ max_eform`` (eV/atom).

    Attributes
    ----------
    formula
        Target composition (its reduced formula is searched; CSP samples the cell's formula).
    max_eform
        Formation-energy threshold, eV/atom, with the oracle's own references.
    n
        Structures wanted.
    Other attributes
        As for :class:`~crystaloop.workflows.campaign.CampaignMaker`; the iteration's generator
        runs in CSP mode for ``formula``, the selection judges the formation energy against
        ``max_eform`` (objective ``e_form``) and space group 1 is always dropped.
    """

    name: str = "design"
    formula: str = "Fe2O3"
    max_eform: float = 1.0
    n: int = 50
    max_iterations: int = 5

    def __post_init__(self) -> None:
        super().__post_init__()
        from crystaloop.chem.composition import atomic_numbers

        if self.n < 1:
            raise ValueError(f"n must be at least 1, not {self.n}")
        atomic_numbers(self.formula, max_atoms=10_000, max_z=100)  # a clear error if unknown
        it = self.iteration
        self.iteration = replace(
            it,
            generate=replace(it.generate, composition=self.formula),
            screen=replace(it.screen, allow_p1=False),
            # one formula: diversity caps per formula would allow a single oracle run
            select=replace(
                it.select,
                objective="e_form",
                threshold=self.max_eform,
                max_per_formula=it.select.budget,
                max_per_chemsys=it.select.budget,
            ),
            train_generator=replace(it.train_generator, mode="csp", composition=self.formula),
        )

    def query(self) -> dict[str, Any]:
        """Return the design's query, for its plan."""
        return {"design": {"formula": self.formula, "max_eform": self.max_eform, "n": self.n}}

    def found(self, campaign: str, settings: Any) -> dict[str, list[str]]:
        """Return what satisfies the query: known labels, new labels, accepted predictions."""
        return design_found(
            settings,
            campaign,
            formula=self.formula,
            max_eform=self.max_eform,
            oracle=self.oracle,
            target=self.iteration.select.target,
        )

    def before_start(self, campaign: str, settings: Any) -> str | None:
        """Finish at once when the stores already hold ``n`` matching labels."""
        known = len(self.found(campaign, settings)["known"])
        return f"{known} known structures already satisfy the query" if known >= self.n else None

    def stop_check(
        self, campaign: str, iteration: int, used: int, stable: list[int], requested: bool
    ) -> str | None:
        """Stop when ``n`` are found, or by the campaign's rules."""
        from crystaloop.settings import load_settings

        if iteration >= 0:
            found = sum(len(v) for v in self.found(campaign, load_settings()).values())
            if found >= self.n:
                return f"found {found} structures of {self.formula} (wanted {self.n})"
        return super().stop_check(campaign, iteration, used, stable, requested)


def design_found(
    settings: Any, campaign: str, *, formula: str, max_eform: float, oracle: str, target: str
) -> dict[str, list[str]]:
    """Return the structures of ``formula`` a design has found with formation energy ≤ the bound.

    ``{"known": label ids labelled before the design, "labelled": the design's own oracle labels,
    "predicted": candidate ids accepted on the surrogate's ``target`` mean}``; the arguments are
    the design's (its plan's ``design`` block, oracle and selection target).
    """
    from pymatgen.core import Composition

    from crystaloop.stores.candidates import CandidateStore
    from crystaloop.stores.factory import open_store
    from crystaloop.stores.labels import LabelStore

    reduced = Composition(formula).reduced_formula
    labels = LabelStore(open_store(settings, "labels"))
    good = {"formula": reduced, "oracle": oracle, "max_eform": max_eform}
    known = labels.of_formula(**good, campaign=campaign, this_campaign=False)
    new = labels.of_formula(**good, campaign=campaign, this_campaign=True)
    accepted = [
        d["candidate_id"]
        for d in CandidateStore(open_store(settings, "candidates")).predicted(campaign)
        if d["scores"][target]["mean"] <= max_eform
    ]
    return {"known": sorted(set(known)), "labelled": new, "predicted": accepted}
