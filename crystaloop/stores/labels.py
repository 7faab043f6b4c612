"""The ``labels`` store: oracle labels keyed by (subject, oracle, calculation), written once.

:meth:`LabelStore.upsert` keys every document by ``label_id = <subject>|<oracle>|<calc_id>``, so
writing a label again (a collector rerun, a lost run relaunched) replaces it instead of adding a
second one. :meth:`LabelStore.duplicate_keys` checks that from the documents themselves.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from crystaloop.chem.energies import Phase, subsystems
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
        """Return the lowest energy per atom of each element's phases labelled by ``oracle``."""
        wanted = sorted(set(elements))
        best: dict[str, float] = {}
        if not wanted:
            return best
        for d in self.store.query(
            {"oracle": oracle, "chemsys": {"$in": wanted}},
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

    def duplicate_keys(self, criteria: dict[str, Any] | None = None) -> int:
        """Return how many (subject, oracle, calculation) keys occur in more than one document."""
        seen: dict[tuple[str, str, str], int] = {}
        for d in self.store.query(criteria or {}, properties=["subject_id", "oracle", "calc_id"]):
            key = (d["subject_id"], d["oracle"], d["calc_id"])
            seen[key] = seen.get(key, 0) + 1
        return sum(1 for n in seen.values() if n > 1)

    def count(self, criteria: dict[str, Any] | None = None) -> int:
        """Return the number of labels matching ``criteria``."""
        return self.store.count(criteria or {})
