"""Export a campaign's discoveries as CIF files, JSON or CSV.

A discovery is an oracle-labelled candidate at or below an E_hull threshold; the structure
exported is the oracle-relaxed one. Every format carries the same properties and lineage:
formation energy and E_hull with the campaign's hull source (``oracle`` or ``mp2020``), S.U.N.
flags, the surrogate's prediction, the generator and surrogate it came through and the oracle
calculation id.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any, Literal

from crystaloop.analysis.discovery import STABLE_THRESHOLD, HullChoice, discoveries
from crystaloop.settings import CrystaloopSettings
from crystaloop.stores.candidates import CandidateStore
from crystaloop.stores.factory import open_store

ExportFormat = Literal["cif", "json", "csv"]
FORMATS: tuple[str, ...] = ("cif", "json", "csv")

#: Columns of the CSV (and the properties of the JSON records, plus ``structure``).
COLUMNS = (
    "candidate_id",
    "formula",
    "chemsys",
    "iteration",
    "e_form",
    "e_hull",
    "hull_source",
    "unique",
    "novel",
    "sun",
    "predicted_e_form",
    "predicted_e_form_std",
    "oracle",
    "calc_id",
    "generator",
    "surrogate",
)


def discovery_records(
    settings: CrystaloopSettings,
    campaign: str,
    max_ehull: float = STABLE_THRESHOLD,
    hull: HullChoice = "stored",
) -> list[dict[str, Any]]:
    """Return the export records of the campaign's labels with ``E_hull ≤ max_ehull``.

    ``hull``: E_hull as stored with each label, or against the ``current`` hull of everything
    the oracle has labelled in this home (see :func:`~crystaloop.analysis.discovery.discoveries`).

    Raises
    ------
    KeyError
        When no such campaign was started.
    """
    from crystaloop.stores.campaigns import CampaignStore

    CampaignStore(open_store(settings, "campaigns")).require(campaign)
    rows = [
        r
        for r in discoveries(settings, campaign, hull=hull)
        if r["e_hull"] is not None and r["e_hull"] <= max_ehull
    ]
    if not rows:
        return []
    candidates = {
        d["candidate_id"]: d
        for d in CandidateStore(open_store(settings, "candidates")).get(
            [r["subject_id"] for r in rows]
        )
    }
    records = []
    for r in sorted(rows, key=lambda r: (r["e_hull"], r["subject_id"])):
        predicted = r["predicted"].get("e_form") or {}
        candidate = candidates.get(r["subject_id"], {})
        records.append(
            {
                "candidate_id": r["subject_id"],
                "formula": r["formula"],
                "chemsys": r["chemsys"],
                "iteration": r["iteration"],
                "e_form": r["e_form"],
                "e_hull": r["e_hull"],
                "hull_source": r["hull_source"],
                "unique": r["unique"],
                "novel": r["novel"],
                "sun": r["sun"],
                "predicted_e_form": predicted.get("mean"),
                "predicted_e_form_std": predicted.get("std"),
                "oracle": r["oracle"],
                "calc_id": r["calc_id"],
                "generator": candidate.get("generator"),
                "surrogate": candidate.get("surrogate"),
                "structure": r["structure"],
            }
        )
    return records


def _file_name(candidate_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", candidate_id) + ".cif"


def write_export(records: list[dict[str, Any]], fmt: ExportFormat, out: Path) -> list[Path]:
    """Write ``records`` as ``fmt`` to ``out`` (a folder for CIF, a file otherwise).

    CIF: one file per discovery and ``index.csv`` beside them with the properties (the CSV
    columns plus ``file``).
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}: choose {', '.join(FORMATS)}")
    if fmt == "cif":
        from pymatgen.core import Structure
        from pymatgen.io.cif import CifWriter

        out.mkdir(parents=True, exist_ok=True)
        paths = []
        for record in records:
            path = out / _file_name(record["candidate_id"])
            CifWriter(Structure.from_dict(record["structure"])).write_file(path)
            paths.append(path)
        with (out / "index.csv").open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=(*COLUMNS, "file"), extrasaction="ignore")
            writer.writeheader()
            writer.writerows({**r, "file": p.name} for r, p in zip(records, paths, strict=True))
        return paths
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "json":
        out.write_text(json.dumps(records, indent=1))
        return [out]
    with out.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(records)
    return [out]
