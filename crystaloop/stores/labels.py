"""The ``labels`` store: oracle labels keyed by (subject, oracle, calculation), written once.

:meth:`LabelStore.upsert` keys every document by ``label_id = <subject>|<oracle>|<calc_id>``, so
writing a label again (a collector rerun, a lost run relaunched) replaces it instead of adding a
second one. :meth:`LabelStore.duplicate_keys` checks that from the documents themselves.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from crystaloop.chem.energies import Phase, shipped_references, subsystems
from crystaloop.schemas import LabelDoc

if TYPE_CHECKING:
    from maggma.core import Store


def label_id(subject_id: str, oracle: str, calc_id: str) -> str:
    """Return the upsert key of a label."""
    return f"{subject_id}|{oracle}|{calc_id}"


class LabelStore:
    """Oracle labels of candidates, corpus phases and elemental references."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def upsert(self, docs: Iterable[LabelDoc]) -> int:
        """Write labels (idempotent by ``label_id``); return how many were given."""
        rows = [d.model_dump(mode="json") for d in docs]
        if rows:
            self.store.update(rows, key="label_id")
        return len(rows)

    def query(self, criteria: dict[str, Any], properties: list[str] | None = None) -> list[dict]:
        """Return label documents matching ``criteria`` (without ``_id``)."""
        return [
            {k: v for k, v in d.items() if k != "_id"}
            for d in self.store.query(criteria, properties=properties)
        ]

    def labelled(self, oracle: str, subject_ids: Iterable[str]) -> set[str]:
        """Return which of ``subject_ids`` already have a label from ``oracle``."""
        ids = sorted(set(subject_ids))
        if not ids:
            return set()
        docs = self.store.query(
            {"oracle": oracle, "subject_id": {"$in": ids}}, properties=["subject_id"]
        )
        return {d["subject_id"] for d in docs}

    def references(self, oracle: str, elements: Iterable[str]) -> dict[str, float]:
        """Return the elemental reference energy per atom of each element for ``oracle``.

        The oracle's shipped table (:func:`~crystaloop.chem.energies.shipped_references`)
        where it has the element; otherwise the lowest energy per atom among the element's
        phases labelled by ``oracle``. Elements with neither are left out.
        """
        wanted = sorted(set(elements))
        table = shipped_references(oracle)
        best = {el: table[el] for el in wanted if el in table}
        missing = [el for el in wanted if el not in best]
        if not missing:
            return best
        for d in self.store.query(
            {"oracle": oracle, "chemsys": {"$in": missing}},
            properties=["chemsys", "energy_per_atom"],
        ):
            el, e = d["chemsys"], float(d["energy_per_atom"])
            best[el] = min(best.get(el, e), e)
        return best

    def phases(
        self, oracle: str, chemsys: Iterable[str], exclude: Iterable[str] = ()
    ) -> list[Phase]:
        """Return the ``oracle`` labels within these systems and their subsystems, as phases."""
        from pymatgen.core import Structure

        systems = sorted({sub for system in chemsys for sub in subsystems(system)})
        skip = set(exclude)
        out = []
        for d in self.store.query(
            {"oracle": oracle, "chemsys": {"$in": systems}},
            properties=["label_id", "subject_id", "formula", "structure", "energy", "nsites"],
        ):
            if d["subject_id"] in skip:
                continue
            comp = Structure.from_dict(d["structure"]).composition
            out.append(Phase(d["label_id"], comp, float(d["energy"])))
        return out

    def formation_energies(
        self, oracle: str, chemsys: Iterable[str]
    ) -> dict[str, list[tuple[Any, float]]]:
        """Return ``{system: [(composition, e_form per atom), ...]}`` of the ``oracle`` labels.

        For each system, the labels of it and of its subsystems that have a formation energy:
        the known phases a candidate of that system competes with.
        """
        from pymatgen.core import Composition

        wanted = {system: set(subsystems(system)) for system in set(chemsys)}
        every = sorted({sub for subs in wanted.values() for sub in subs})
        out: dict[str, list[tuple[Any, float]]] = {system: [] for system in wanted}
        for d in self.in_systems(oracle, every, ["chemsys", "formula", "e_form"]):
            if d.get("e_form") is None:
                continue
            comp = Composition(d["formula"])
            for system, subs in wanted.items():
                if d["chemsys"] in subs:
                    out[system].append((comp, float(d["e_form"])))
        return out

    def duplicate_keys(self, campaign: str | None = None) -> int:
        """Return how many (subject, oracle, calculation) keys occur in more than one document.

        Over the whole store, or the labels a ``campaign`` asked for.
        """
        criteria = {"campaign": campaign} if campaign is not None else {}
        seen: dict[tuple[str, str, str], int] = {}
        for d in self.store.query(criteria, properties=["subject_id", "oracle", "calc_id"]):
            key = (d["subject_id"], d["oracle"], d["calc_id"])
            seen[key] = seen.get(key, 0) + 1
        return sum(1 for n in seen.values() if n > 1)

    def count(self, criteria: dict[str, Any] | None = None) -> int:
        """Return the number of labels matching ``criteria``."""
        return self.store.count(criteria or {})

    def count_campaign(self, campaign: str) -> int:
        """Return the number of labels a campaign asked for (candidates and references)."""
        return self.store.count({"campaign": campaign})

    def count_stable(self, campaign: str, iteration: int, threshold: float) -> int:
        """Return an iteration's candidate labels with ``e_hull ≤ threshold``."""
        return self.store.count(
            {
                "campaign": campaign,
                "iteration": iteration,
                "kind": "candidate",
                "e_hull": {"$lte": threshold},
            }
        )

    def count_new(self, campaign: str, oracle: str, since: int) -> int:
        """Return the campaign's candidate labels by ``oracle`` from iteration ``since`` on."""
        return self.store.count(
            {
                "campaign": campaign,
                "kind": "candidate",
                "oracle": oracle,
                "iteration": {"$gte": since},
            }
        )

    def stable_since(
        self,
        campaign: str,
        oracle: str,
        since: int,
        threshold: float,
        properties: list[str] | None = None,
    ) -> list[dict[str, Any]]:
        """Return the campaign's candidate labels with ``e_hull ≤ threshold`` from ``since`` on."""
        return self.query(
            {
                "campaign": campaign,
                "kind": "candidate",
                "oracle": oracle,
                "iteration": {"$gte": since},
                "e_hull": {"$lte": threshold},
            },
            properties,
        )

    def training_set(
        self, oracle: str, targets: Iterable[str], limit: int = 0
    ) -> list[dict[str, Any]]:
        """Return the ``oracle`` labels that have every target (the newest ``limit``; 0: all).

        Documents carry ``subject_id``, ``kind``, ``oracle``, ``structure`` and the targets.
        """
        names = list(targets)
        docs = self.query(
            {"oracle": oracle, **{t: {"$ne": None} for t in names}},
            ["subject_id", "kind", "oracle", "structure", *names],
        )
        return docs[-limit:] if limit else docs

    def prelabel_predictions(
        self, campaign: str, oracle: str, targets: Iterable[str]
    ) -> list[dict[str, Any]]:
        """Return the campaign's candidate labels that carry a pre-label prediction.

        Documents carry ``predicted``, ``nsites`` and the targets' oracle values.
        """
        names = list(targets)
        return self.query(
            {
                "campaign": campaign,
                "kind": "candidate",
                "oracle": oracle,
                "predicted": {"$ne": None},
            },
            ["predicted", "nsites", *names],
        )

    def candidate_labels(
        self, campaign: str, properties: list[str] | None = None
    ) -> list[dict[str, Any]]:
        """Return the campaign's candidate labels in iteration, then subject order."""
        docs = self.query({"campaign": campaign, "kind": "candidate"}, properties)
        return sorted(docs, key=lambda d: (d["iteration"], d["subject_id"]))

    def in_systems(
        self, oracle: str, systems: Iterable[str], properties: list[str] | None = None
    ) -> list[dict[str, Any]]:
        """Return the ``oracle`` labels whose chemical system is one of ``systems``."""
        return self.query({"oracle": oracle, "chemsys": {"$in": sorted(set(systems))}}, properties)

    def all_labels(self, properties: list[str] | None = None) -> list[dict[str, Any]]:
        """Return every label (with ``properties`` only, when given)."""
        return self.query({}, properties)

    def of_formula(
        self,
        formula: str,
        oracle: str,
        max_eform: float,
        *,
        campaign: str,
        this_campaign: bool,
    ) -> list[str]:
        """Return subject ids of ``oracle`` labels of reduced ``formula`` with ``e_form ≤ max``.

        ``this_campaign``: the campaign's own candidate labels; otherwise every label asked
        for by another campaign (what was known before it).
        """
        criteria: dict[str, Any] = {
            "formula": formula,
            "oracle": oracle,
            "e_form": {"$lte": max_eform},
        }
        if this_campaign:
            criteria.update(campaign=campaign, kind="candidate")
        else:
            criteria["campaign"] = {"$ne": campaign}
        return [d["subject_id"] for d in self.query(criteria, ["subject_id"])]
