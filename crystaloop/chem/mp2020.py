"""Materials Project 2020 compatibility: corrected VASP entries and the hull they make.

In the production profile the hull of a candidate's chemical system can come from Materials
Project ``ComputedStructureEntry`` records (MP's API, ``mp-api``, or a JSON file of them) instead
of reference phases the oracle labels itself. Both sides are corrected by pymatgen's
``MaterialsProject2020Compatibility``: the ingested entries and the campaign's VASP labels
(atomate2's task document gives the ``ComputedEntry`` with ``run_type``, ``hubbards`` and
``potcar_spec``), so a candidate is placed on MP's hull with MP's own corrections. The POTCAR
check is on: an entry without POTCAR information, or with other POTCARs than MP's, is
rejected, never placed on the hull with energies that cannot be compared.

Everything here is plain pymatgen and raises :class:`CompatibilityRejected`, naming the entry
and the reason, for an entry the scheme rejects.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from crystaloop.chem.energies import Phase

if TYPE_CHECKING:
    from pymatgen.entries.computed_entries import ComputedEntry

#: Where a campaign's hull comes from: the oracle's own labels of reference phases
#: (``oracle``), or the MP2020-corrected Materials Project entries of the corpus (``mp2020``).
HULL_SOURCES = ("oracle", "mp2020")

#: The compatibility scheme of the ``mp2020`` hull, as recorded with every corrected entry.
COMPATIBILITY = "MaterialsProject2020Compatibility"


class CompatibilityRejected(ValueError):
    """MP2020 compatibility rejected an entry (wrong run type, POTCARs, U values, ...).

    Attributes
    ----------
    entry_id
        The rejected entry's id (``None`` when it has none).
    reason
        The scheme's reason.
    """

    def __init__(self, entry_id: str | None, reason: str) -> None:
        self.entry_id = entry_id
        self.reason = reason
        super().__init__(f"entry {entry_id}: MP2020 compatibility rejected it: {reason}")


def compatibility(check_potcar: bool = True) -> Any:
    """Return pymatgen's ``MaterialsProject2020Compatibility`` (POTCARs checked by default)."""
    from pymatgen.entries.compatibility import MaterialsProject2020Compatibility

    return MaterialsProject2020Compatibility(check_potcar=check_potcar)


def entry_from(value: Any) -> ComputedEntry:
    """Return a ``ComputedEntry`` / ``ComputedStructureEntry`` from itself or its dict.

    Raises
    ------
    ValueError
        When ``value`` is not an entry or its dict cannot be read as one.
    """
    from pymatgen.entries.computed_entries import ComputedEntry, ComputedStructureEntry

    if isinstance(value, ComputedEntry):
        return value
    if not isinstance(value, Mapping):
        raise ValueError(f"expected a ComputedEntry or its dict, got {type(value).__name__}")
    cls = ComputedStructureEntry if "structure" in value else ComputedEntry
    try:
        return cls.from_dict(dict(value))
    except Exception as err:  # pymatgen raises KeyError, TypeError, ValueError on bad dicts
        raise ValueError(f"not a {cls.__name__}: {type(err).__name__}: {err}") from err


def correct_entry(value: Any, check_potcar: bool = True) -> ComputedEntry:
    """Return a corrected copy of an entry under MP2020 compatibility (the input is unchanged).

    Earlier corrections are removed first, so an MP entry that already carries MP2020
    corrections gets the same ones again, and an uncorrected VASP entry gets them for the
    first time.

    Raises
    ------
    CompatibilityRejected
        When the scheme rejects the entry (naming it and why; an entry without POTCAR
        information counts as rejected when ``check_potcar``).
    ValueError
        When ``value`` is not an entry.
    """
    from pymatgen.entries.compatibility import CompatibilityError

    entry = copy.deepcopy(entry_from(value))
    entry_id = None if entry.entry_id is None else str(entry.entry_id)
    try:
        processed = compatibility(check_potcar).process_entry(entry, on_error="raise")
    except CompatibilityError as err:
        raise CompatibilityRejected(entry_id, str(err)) from err
    except KeyError as err:  # PotcarCorrection reads parameters["potcar_symbols"] directly
        raise CompatibilityRejected(
            entry_id, f"no POTCAR information (parameters lack potcar_spec and {err})"
        ) from err
    if processed is None:  # pragma: no cover - process_entry raises with on_error="raise"
        raise CompatibilityRejected(entry_id, "entry discarded")
    return processed


def elemental_references(entries: Iterable[ComputedEntry]) -> dict[str, float]:
    """Return the lowest corrected energy per atom of each element's entries (eV/atom)."""
    out: dict[str, float] = {}
    for entry in entries:
        if len(entry.composition.elements) == 1:
            el = str(entry.composition.elements[0])
            out[el] = min(out.get(el, entry.energy_per_atom), entry.energy_per_atom)
    return out


def phases_of(entries: Iterable[ComputedEntry]) -> list[Phase]:
    """Return the entries as hull phases (id, composition, corrected total energy)."""
    return [Phase(str(e.entry_id), e.composition, float(e.energy)) for e in entries]


def formation_energies(
    entries: Iterable[ComputedEntry], references: Mapping[str, float] | None = None
) -> list[tuple[Any, float]]:
    """Return ``(composition, formation energy per atom)`` of the compound entries.

    Against ``references`` (eV/atom), by default the entries' own
    :func:`elemental_references`. Entries with an element without reference are left out.
    """
    from crystaloop.chem.energies import formation_energy_per_atom

    entries = list(entries)
    refs = dict(references) if references is not None else elemental_references(entries)
    out = []
    for e in entries:
        els = [str(el) for el in e.composition.elements]
        if len(els) > 1 and all(el in refs for el in els):
            out.append((e.composition, formation_energy_per_atom(e.composition, e.energy, refs)))
    return out
