"""The ``hull_entries`` store: MP2020-corrected Materials Project entries, the ``mp2020`` hull.

Written by :func:`crystaloop.stores.ingest.mp_entries.ingest_entries`; read by the label and
score steps and the reference-subject step of a campaign whose hull source is ``mp2020``
(:data:`crystaloop.chem.mp2020.HULL_SOURCES`). A chemical system holding entries here needs no
reference calculation: its phases (and elements) come from these entries.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from crystaloop.chem.energies import Phase, subsystems
from crystaloop.schemas.corpus import HullEntryDoc

if TYPE_CHECKING:
    from maggma.core import Store
    from pymatgen.entries.computed_entries import ComputedEntry


class HullEntryStore:
    """Corrected entries keyed by ``hull_id`` (``<source>:<entry_id>``)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def upsert(self, docs: Iterable[HullEntryDoc]) -> int:
        """Write entries (idempotent by ``hull_id``); return how many were given."""
        rows = [d.model_dump(mode="json") for d in docs]
        if rows:
            self.store.update(rows, key="hull_id")
        return len(rows)

    def count(self, criteria: dict[str, Any] | None = None) -> int:
        """Return the number of entries matching ``criteria``."""
        return self.store.count(criteria or {})

    def query(self, criteria: dict[str, Any], properties: list[str] | None = None) -> list[dict]:
        """Return entry documents matching ``criteria`` (without ``_id``)."""
        return [
            {k: v for k, v in d.items() if k != "_id"}
            for d in self.store.query(criteria, properties=properties)
        ]

    def covered(self, systems: Iterable[str]) -> set[str]:
        """Return which of these exact chemical systems hold at least one entry."""
        wanted = sorted(set(systems))
        if not wanted:
            return set()
        docs = self.store.query({"chemsys": {"$in": wanted}}, properties=["chemsys"])
        return {d["chemsys"] for d in docs}

    def entries(self, chemsys: Iterable[str]) -> list[ComputedEntry]:
        """Return the corrected entries of these systems and all their subsystems."""
        from crystaloop.chem.mp2020 import entry_from

        systems = sorted({sub for system in chemsys for sub in subsystems(system)})
        if not systems:
            return []
        docs = self.store.query({"chemsys": {"$in": systems}}, properties=["hull_id", "entry"])
        out = []
        for d in sorted(docs, key=lambda d: d["hull_id"]):
            entry = entry_from(d["entry"])
            entry.entry_id = d["hull_id"]
            out.append(entry)
        return out

    def phases(self, chemsys: Iterable[str]) -> list[Phase]:
        """Return the entries of these systems and their subsystems as hull phases.

        Phase ids are the ``hull_id``; energies are the corrected totals.
        """
        from pymatgen.core import Composition

        systems = sorted({sub for system in chemsys for sub in subsystems(system)})
        if not systems:
            return []
        docs = self.store.query(
            {"chemsys": {"$in": systems}}, properties=["hull_id", "entry", "energy"]
        )
        return [
            Phase(d["hull_id"], Composition(d["entry"]["composition"]), float(d["energy"]))
            for d in sorted(docs, key=lambda d: d["hull_id"])
        ]

    def references(self, elements: Iterable[str]) -> dict[str, float]:
        """Return the lowest corrected energy per atom of each element's entries (eV/atom)."""
        wanted = sorted(set(elements))
        best: dict[str, float] = {}
        if not wanted:
            return best
        for d in self.store.query(
            {"chemsys": {"$in": wanted}}, properties=["chemsys", "energy_per_atom"]
        ):
            el, e = d["chemsys"], float(d["energy_per_atom"])
            best[el] = min(best.get(el, e), e)
        return best

    def formation_energies(self, chemsys: Iterable[str]) -> dict[str, list[tuple[Any, float]]]:
        """Return ``{system: [(composition, e_form per atom), ...]}`` of the entries.

        For each system, its compound entries and those of its subsystems, against the
        entries' own elemental references (MP's formation energies); a system lacking an
        element's entry gets no phases with that element.
        """
        from crystaloop.chem.mp2020 import formation_energies

        out: dict[str, list[tuple[Any, float]]] = {}
        for system in sorted(set(chemsys)):
            entries = self.entries([system])
            out[system] = formation_energies(entries)
        return out
