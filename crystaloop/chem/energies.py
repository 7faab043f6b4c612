"""Formation energies and energies above the hull, with one oracle's own references.

DESIGN.md §3: a hull combines energies of one oracle only. The elemental references of an oracle
are the lowest energies per atom it finds among the corpus's elemental phases and one prototype
per element (ASE's reference crystal, a dimer lattice for the molecular elements, or a close-packed
guess), each relaxed by that oracle; :func:`element_prototype` gives the prototype.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pymatgen.core import Composition, Structure

#: Oracles with a shipped table of elemental references (``crystaloop/data/references``).
REFERENCE_TABLES = ("chgnet",)

#: Elements that form molecular solids: their prototype is a lattice of dimers.
MOLECULAR = {"H": 0.74, "N": 1.10, "O": 1.21, "F": 1.42, "Cl": 1.99, "Br": 2.28, "I": 2.67}


def chemsys_of(elements: Iterable[str]) -> str:
    """Return the chemical system ``A-B-C`` (sorted, unique) of some element symbols."""
    return "-".join(sorted(set(elements)))


def subsystems(chemsys: str) -> list[str]:
    """Return every non-empty subsystem of ``chemsys`` (``Ba-O``: ``Ba``, ``O``, ``Ba-O``)."""
    elements = sorted(chemsys.split("-"))
    return [
        "-".join(combo)
        for r in range(1, len(elements) + 1)
        for combo in itertools.combinations(elements, r)
    ]


def element_prototype(symbol: str) -> Structure:
    """Return a starting structure of a pure element for the oracle to relax.

    ASE's reference crystal where it has one; a simple-cubic lattice of dimers for the molecular
    elements (the oracle relaxes the cell into a molecular solid); otherwise an fcc cell sized
    from the covalent radius.
    """
    import numpy as np
    from ase.build import bulk
    from ase.data import atomic_numbers, covalent_radii
    from pymatgen.core import Lattice, Structure
    from pymatgen.io.ase import AseAtomsAdaptor

    if symbol in MOLECULAR:
        bond = MOLECULAR[symbol]
        a = bond + 2.6
        return Structure(Lattice.cubic(a), [symbol, symbol], [[0, 0, 0], [bond / a, 0, 0]])
    try:
        return AseAtomsAdaptor.get_structure(bulk(symbol))
    except (ValueError, KeyError, RuntimeError):
        radius = float(covalent_radii[atomic_numbers[symbol]])
        a = 2.0 * np.sqrt(2.0) * max(radius, 0.7)
        return Structure.from_spacegroup("Fm-3m", Lattice.cubic(a), [symbol], [[0, 0, 0]])


@functools.cache
def shipped_references(oracle: str) -> dict[str, float]:
    """Return the shipped elemental references of ``oracle`` (eV/atom), ``{}`` when none ship.

    ``crystaloop/data/references/<oracle>.json`` is written by ``scripts/label_eform_data.py``:
    for each element, the lowest energy per atom the oracle found among its prototype
    (:func:`element_prototype`) and the data's lowest-energy elemental phases, each relaxed by
    the loop's oracle sub-flow. The loop's label step and the shipped ``eform`` surrogate's
    training labels use the same table, so their formation energies agree.
    """
    import json
    from importlib import resources

    if oracle not in REFERENCE_TABLES:
        return {}
    path = resources.files("crystaloop") / "data" / "references" / f"{oracle}.json"
    if not path.is_file():
        return {}
    table = json.loads(path.read_text())
    if table.get("oracle") != oracle:
        raise ValueError(f"{path}: a reference table of {table.get('oracle')!r}, not {oracle!r}")
    return {el: float(v["energy_per_atom"]) for el, v in table["elements"].items()}


def formation_energy_per_atom(
    composition: Composition, energy: float, references: Mapping[str, float]
) -> float:
    """Return ``(E − Σ n_X μ_X) / N`` in eV/atom with elemental energies per atom ``μ_X``.

    Raises
    ------
    KeyError
        When an element has no reference energy (naming it).
    """
    missing = sorted(str(el) for el in composition.elements if str(el) not in references)
    if missing:
        raise KeyError(f"no elemental reference energy for {', '.join(missing)}")
    total = sum(float(n) * references[str(el)] for el, n in composition.element_composition.items())
    return (energy - total) / composition.num_atoms


@dataclass(frozen=True)
class Phase:
    """One phase for a hull: an id, its composition and its total energy (eV)."""

    phase_id: str
    composition: Composition
    energy: float


def energies_above_hull(
    targets: list[Phase], others: list[Phase], references: Mapping[str, float]
) -> dict[str, float]:
    """Return each target's energy above the hull of targets, others and references (eV/atom).

    One hull per chemical system of a target: the elemental references, every phase of
    ``others`` and ``targets`` within that system. A target on the hull gets 0.
    """
    from pymatgen.analysis.phase_diagram import PDEntry, PhaseDiagram
    from pymatgen.core import Composition

    pool = others + targets
    out: dict[str, float] = {}
    diagrams: dict[str, tuple[PhaseDiagram, dict[str, PDEntry]]] = {}
    for target in targets:
        system = chemsys_of(str(el) for el in target.composition.elements)
        if system not in diagrams:
            allowed = set(system.split("-"))
            entries = {
                f"element:{el}": PDEntry(Composition(el), references[el], name=f"element:{el}")
                for el in allowed
            }
            for phase in pool:
                if {str(el) for el in phase.composition.elements} <= allowed:
                    entries[phase.phase_id] = PDEntry(
                        phase.composition, phase.energy, name=phase.phase_id
                    )
            diagrams[system] = (PhaseDiagram(list(entries.values())), entries)
        diagram, entries = diagrams[system]
        out[target.phase_id] = float(diagram.get_e_above_hull(entries[target.phase_id]))
    return out


def _lower_hull(allowed: set[str], phases: Iterable[tuple[Composition, float]]) -> Any:
    """Return the PhaseDiagram of the elements (at 0) and the compounds within ``allowed``.

    ``None`` when no compound lies in the system (the hull is 0 everywhere).
    """
    from pymatgen.analysis.phase_diagram import PDEntry, PhaseDiagram
    from pymatgen.core import Composition as Comp

    entries = [PDEntry(Comp(el), 0.0) for el in sorted(allowed)]
    for comp, e_form in phases:
        if {str(el) for el in comp.elements} <= allowed and len(comp.elements) > 1:
            entries.append(PDEntry(comp, float(e_form) * comp.num_atoms))
    if len(allowed) == 1 or len(entries) == len(allowed):
        return None
    return PhaseDiagram(entries)


def hull_formation_energy(
    composition: Composition, phases: Iterable[tuple[Composition, float]]
) -> float:
    """Return the formation energy per atom of the lower hull at ``composition`` (eV/atom).

    ``phases`` are ``(composition, formation energy per atom)`` of the known phases; the
    elements are at 0. Phases with elements outside ``composition``'s system are ignored. A
    candidate with formation energy ``e`` lies ``e − hull_formation_energy`` above the hull.
    """
    diagram = _lower_hull({str(el) for el in composition.elements}, phases)
    return 0.0 if diagram is None else float(diagram.get_hull_energy_per_atom(composition))


def hull_formation_energies(
    compositions: Sequence[Composition],
    known: Mapping[str, Iterable[tuple[Composition, float]]],
) -> list[float]:
    """Return :func:`hull_formation_energy` of each composition, one hull per chemical system.

    ``known`` maps a chemical system (:func:`chemsys_of`) to the phases of it and its
    subsystems; systems missing from it have no known compound.
    """
    diagrams: dict[str, Any] = {}
    out = []
    for composition in compositions:
        elements = {str(el) for el in composition.elements}
        system = chemsys_of(elements)
        if system not in diagrams:
            diagrams[system] = _lower_hull(elements, known.get(system, ()))
        diagram = diagrams[system]
        out.append(0.0 if diagram is None else float(diagram.get_hull_energy_per_atom(composition)))
    return out
