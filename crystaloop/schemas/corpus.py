"""The corpus entry: one known crystal in the corpus store."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from crystaloop import __version__


class Property(BaseModel):
    """A labelled property with its unit (``None`` when the input gave none)."""

    model_config = ConfigDict(extra="forbid")

    value: float
    unit: str | None = None

    @field_validator("value")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("property values must be finite")
        return value


class SourceRef(BaseModel):
    """Where a record came from: a source name and the id it has there."""

    model_config = ConfigDict(extra="forbid")

    source: str
    source_id: str
    properties: dict[str, Property] = Field(default_factory=dict)


class Provenance(BaseModel):
    """How and when a record entered the corpus."""

    model_config = ConfigDict(extra="forbid")

    file: str
    record: int | str | None = None
    ingested_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    crystaloop_version: str = __version__


class CorpusEntry(BaseModel):
    """One crystal of the corpus.

    Attributes
    ----------
    material_id
        Corpus id, ``"<source>:<source_id>"``.
    source, source_id
        The input's name and the record's id in it (``material_id`` column, file name, entry id).
    structure
        ``pymatgen.core.Structure.as_dict()``.
    formula
        Reduced formula (``Fe2O3``); ``formula_pretty`` is the same, kept for MP-style queries.
    chemsys
        Elements joined by ``-`` in alphabetical order (``Fe-O``).
    elements, nelements, nsites
        Sorted element symbols, their number, the number of sites of the stored cell.
    spacegroup_number, spacegroup_symbol
        From spglib at ``symprec`` 0.1 Å.
    volume, density
        Cell volume (Å³) and density (g/cm³).
    fingerprint
        Dedup prefilter key: a hash of the reduced formula and the space group. Two structures
        can only be duplicates when their fingerprints are equal.
    properties
        Labels found in the input, each with its unit.
    aliases
        Other records of the same structure (another source or id), linked instead of stored.
    provenance
        File, record index, time and crystaloop version of the ingest.
    """

    model_config = ConfigDict(extra="forbid")

    material_id: str
    source: str
    source_id: str
    structure: dict[str, Any]
    formula: str
    formula_pretty: str
    chemsys: str
    elements: list[str]
    nelements: int
    nsites: int
    spacegroup_number: int = Field(ge=1, le=230)
    spacegroup_symbol: str
    volume: float = Field(gt=0)
    density: float = Field(gt=0)
    fingerprint: str
    properties: dict[str, Property] = Field(default_factory=dict)
    aliases: list[SourceRef] = Field(default_factory=list)
    provenance: Provenance

    @staticmethod
    def make_id(source: str, source_id: str) -> str:
        """Return the corpus id of a record."""
        return f"{source}:{source_id}"


class HullEntryDoc(BaseModel):
    """A corrected Materials Project entry of the ``mp2020`` hull (the ``hull_entries`` store).

    Attributes
    ----------
    hull_id
        Store key, ``"<source>:<entry_id>"``.
    entry_id
        The entry's own id (``mp-1960-GGA``, ``mp-1960``).
    material_id
        The corpus entry holding its structure (itself, or the stored crystal it was linked to
        as a duplicate); ``None`` when it has no structure in the corpus.
    source
        The input's name.
    compatibility
        The correction scheme (``MaterialsProject2020Compatibility``).
    formula, chemsys, elements, nsites
        Reduced formula, sorted elements joined by ``-``, the elements, atoms in the entry.
    energy, energy_per_atom
        Corrected total energy (eV) and per atom (eV/atom): what the hull uses.
    uncorrected_energy, correction
        The DFT total energy and the scheme's correction (eV); ``energy`` is their sum.
    entry
        The corrected ``ComputedStructureEntry.as_dict()`` (parameters, corrections, data).
    provenance
        File, record index, time and crystaloop version of the ingest.
    """

    model_config = ConfigDict(extra="forbid")

    hull_id: str
    entry_id: str
    material_id: str | None = None
    source: str
    compatibility: str
    formula: str
    chemsys: str
    elements: list[str]
    nsites: int
    energy: float
    energy_per_atom: float
    uncorrected_energy: float
    correction: float
    entry: dict[str, Any]
    provenance: Provenance
