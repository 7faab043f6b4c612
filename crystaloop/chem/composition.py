"""Compositional validity: SMACT charge neutrality with the Pauling electronegativity test.

The test is the one CDVAE and DiffCSP report as "compositional validity": a composition passes
when some combination of the elements' common oxidation states balances the charge of its
reduced stoichiometry and orders the electronegativities correctly (Pauling test). Single
elements and all-metal compositions (alloys) pass.
"""

from __future__ import annotations

import itertools
from functools import lru_cache
from math import gcd
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pymatgen.core import Composition


@lru_cache(maxsize=4096)
def _smact_check(symbols: tuple[str, ...], counts: tuple[int, ...]) -> str | None:
    import smact
    from smact import screening

    if len(set(symbols)) == 1:
        return None
    if all(symbol in smact.metals for symbol in symbols):
        return None
    try:
        space = smact.element_dictionary(symbols)
    except (NameError, KeyError) as err:
        return f"no SMACT data for {err}"
    elements = [space[s] for s in symbols]
    electronegativities = [e.pauling_eneg for e in elements]
    ox_combos = [e.oxidation_states for e in elements]
    if any(not states for states in ox_combos):
        missing = [s for s, states in zip(symbols, ox_combos, strict=True) if not states]
        return f"no oxidation states known for {', '.join(missing)}"
    threshold = max(counts)
    stoichs = [(c,) for c in counts]
    charge_balanced = False
    for ox_states in itertools.product(*ox_combos):
        if not smact.neutral_ratios(ox_states, stoichs=stoichs, threshold=threshold):
            continue
        charge_balanced = True
        if None in electronegativities:
            return None  # no electronegativity data: the Pauling test cannot object
        if screening.pauling_test(ox_states, electronegativities):
            return None
    if charge_balanced:
        return "charge-balanced only with oxidation states that fail the Pauling test"
    return "no combination of oxidation states balances the charge"


def smact_problem(composition: Composition) -> str | None:
    """Return why ``composition`` fails the SMACT test, or ``None`` when it passes."""
    amounts = composition.get_el_amt_dict()
    symbols = tuple(sorted(amounts))
    counts = [int(round(amounts[s])) for s in symbols]
    if any(abs(amounts[s] - c) > 1e-6 for s, c in zip(symbols, counts, strict=True)):
        return "non-integer stoichiometry"
    divisor = 0
    for c in counts:
        divisor = gcd(divisor, c)
    return _smact_check(symbols, tuple(c // max(divisor, 1) for c in counts))


def smact_valid(composition: Composition) -> bool:
    """Return True when ``composition`` passes the SMACT charge-neutrality test."""
    return smact_problem(composition) is None


def atomic_numbers(formula: str, max_atoms: int, max_z: int = 100) -> list[int]:
    """Return the atomic numbers of ``formula`` as written (``Sr2Ti2O6`` is 10 atoms).

    Raises
    ------
    ValueError
        For an unknown element, one beyond ``max_z``, a non-integer amount, no atoms, or more
        than ``max_atoms`` atoms; the message says which.
    """
    from pymatgen.core import Composition, Element

    try:
        composition = Composition(formula)
    except Exception as err:  # pymatgen raises ValueError/KeyError for unparsable symbols
        raise ValueError(f"{formula!r} is not a composition of known elements ({err})") from err
    numbers: list[int] = []
    for element, amount in composition.items():
        if not isinstance(element, Element):
            raise ValueError(f"{formula!r} is not a composition of known elements ({element})")
        if max_z < element.Z:
            raise ValueError(f"{formula}: {element} (Z = {element.Z}) is beyond Z = {max_z}")
        if abs(amount - round(amount)) > 1e-6:
            raise ValueError(f"{formula}: non-integer amount of {element}")
        numbers += [element.Z] * int(round(amount))
    if not numbers:
        raise ValueError(f"{formula!r} has no atoms")
    if len(numbers) > max_atoms:
        raise ValueError(
            f"{formula} has {len(numbers)} atoms, more than the model's maximum {max_atoms}"
        )
    return numbers
