"""Units of the labels found in the crystal data sets crystaloop reads."""

from __future__ import annotations

#: Unit of each known label column (CDVAE MP-20, Perov-5, Carbon-24, Matbench, pymatgen entries).
KNOWN_UNITS: dict[str, str | None] = {
    "formation_energy_per_atom": "eV/atom",
    "e_above_hull": "eV/atom",
    "energy_above_hull": "eV/atom",
    "band_gap": "eV",
    "heat_ref": "eV",
    "heat_all": "eV",
    "dir_gap": "eV",
    "ind_gap": "eV",
    "energy_per_atom": "eV/atom",
    "energy": "eV",
    "uncorrected_energy": "eV",
    "correction": "eV",
    "n": "dimensionless",
    "e_form": "eV/atom",
    "gap pbe": "eV",
}

#: Columns that describe a record rather than label it; never stored as properties.
DESCRIPTIVE_COLUMNS = frozenset(
    {
        "",
        "cif",
        "material_id",
        "pretty_formula",
        "formula",
        "elements",
        "spacegroup.number",
        "spg_num",
        "spg_symbol",
        "crystal_sys",
        "volume",
        "structure",
        "source_id",
        "sample",
        "entry_id",
        "task_id",
        "index",
    }
)


def unit_of(name: str) -> str | None:
    """Return the unit of a label, or ``None`` when it is not known."""
    return KNOWN_UNITS.get(name)
