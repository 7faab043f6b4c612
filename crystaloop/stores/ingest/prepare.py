"""Turn a raw record into a validated :class:`~crystaloop.schemas.CorpusEntry`, or a reason.

This is the expensive, per-record part of an ingest (CIF parsing, the overlap check, spglib), so
it is a plain picklable function that a process pool can run.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

from crystaloop.chem.dedup import fingerprint
from crystaloop.chem.symmetry import DEFAULT_SYMPREC, SymmetryError, symmetry_info
from crystaloop.chem.validity import structure_problem
from crystaloop.schemas.corpus import CorpusEntry, Property, Provenance
from crystaloop.stores.ingest.readers import RawRecord
from crystaloop.stores.ingest.units import unit_of


@dataclass(frozen=True)
class PrepareOptions:
    """What :func:`prepare_record` needs besides the record."""

    source: str
    file: str
    max_sites: int
    symprec: float = DEFAULT_SYMPREC


@dataclass
class Prepared:
    """The result of preparing one record: an entry, or the reason it was rejected."""

    index: int
    source_id: str
    entry: CorpusEntry | None = None
    reason: str | None = None


def structure_from(record: RawRecord) -> Any:
    """Return the pymatgen Structure of a raw record (raises on malformed input)."""
    from pymatgen.core import Structure

    if record.kind == "cif":
        text = record.payload or ""
        if not text.strip():
            raise ValueError("empty CIF")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return Structure.from_str(text, fmt="cif")
    if record.kind == "structure":
        return Structure.from_dict(record.payload)
    if record.kind == "atoms":
        from pymatgen.io.ase import AseAtomsAdaptor

        return AseAtomsAdaptor.get_structure(record.payload)
    raise ValueError(str(record.payload))


def _short(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    first = text[0] if text else ""
    return f"{type(err).__name__}: {first}"[:300] if first else type(err).__name__


def parse_and_validate(record: RawRecord, max_sites: int) -> tuple[Any, str | None]:
    """Return ``(structure, None)`` for a valid record, ``(None, reason)`` otherwise."""
    if record.kind == "error":
        return None, str(record.payload)
    try:
        structure = structure_from(record)
    except Exception as err:  # pymatgen raises many types on malformed input
        message = _short(err)
        if "is not a valid Element" in message or "unknown element" in message.lower():
            return None, f"unknown element ({message})"
        return None, f"cannot parse structure ({message})"
    problem = structure_problem(structure, max_sites=max_sites)
    return (None, problem) if problem is not None else (structure, None)


def prepare_record(record: RawRecord, options: PrepareOptions) -> Prepared:
    """Parse, validate and describe one record.

    Never raises for a bad record: the reason comes back in :attr:`Prepared.reason`. A structure
    spglib cannot analyse is rejected (``spglib failed: ...``), never stored as P1.
    """
    source_id = record.source_id if record.source_id is not None else str(record.index)
    out = Prepared(index=record.index, source_id=source_id)
    structure, out.reason = parse_and_validate(record, options.max_sites)
    if structure is None:
        return out
    try:
        sym = symmetry_info(structure, symprec=options.symprec)
    except SymmetryError as err:
        out.reason = f"spglib failed: {err}"
        return out
    try:
        composition = structure.composition
        formula = composition.reduced_formula
        elements = sorted({el.symbol for el in composition.elements})
        properties = {
            name: Property(value=value, unit=unit_of(name))
            for name, value in record.properties.items()
        }
        out.entry = CorpusEntry(
            material_id=CorpusEntry.make_id(options.source, source_id),
            source=options.source,
            source_id=source_id,
            structure=structure.as_dict(),
            formula=formula,
            formula_pretty=formula,
            chemsys="-".join(elements),
            elements=elements,
            nelements=len(elements),
            nsites=len(structure),
            spacegroup_number=sym.number,
            spacegroup_symbol=sym.symbol,
            volume=float(structure.volume),
            density=float(structure.density),
            fingerprint=fingerprint(formula, sym.number, sym.n_primitive),
            properties=properties,
            provenance=Provenance(file=options.file, record=record.index),
        )
    except Exception as err:  # a structure that passed validation but cannot be described
        out.reason = f"cannot describe structure ({_short(err)})"
    return out
