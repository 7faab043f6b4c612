"""Everything the campaign report shows, read from the stores and the LaunchPad in one place.

:func:`gather` returns plain data (lists and dicts of numbers and strings): the figures and the
HTML page are drawn from it and nothing else, so they can be tested on hand-made data.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from crystaloop.analysis.discovery import (
    STRICT_THRESHOLD,
    HullChoice,
    discoveries,
    found_counts,
    prediction_triples,
)
from crystaloop.settings import CrystaloopSettings
from crystaloop.stores.factory import open_store


@dataclass
class HullData:
    """The phases of one chemical system's hull: references, known phases and the campaign's."""

    chemsys: str
    oracle: str
    #: ``(label, composition dict, energy per atom)`` of the elemental references.
    references: list[tuple[str, dict[str, float], float]] = field(default_factory=list)
    #: ``(label id, composition dict, total energy)`` of phases labelled outside the campaign.
    known: list[tuple[str, dict[str, float], float]] = field(default_factory=list)
    #: ``(subject id, composition dict, total energy)`` of the campaign's candidates.
    new: list[tuple[str, dict[str, float], float]] = field(default_factory=list)


@dataclass
class ReportData:
    """A campaign as the report shows it."""

    campaign: str
    header: dict[str, Any]
    iterations: list[dict[str, Any]]
    #: One row per oracle-labelled candidate (see :func:`.discovery.discoveries`).
    labelled: list[dict[str, Any]]
    #: One row per generated candidate: iteration, formula, elements, status, stage, space group,
    #: selection, oracle state, the surrogate's predictions and the ``parent`` a modified
    #: candidate was made from (``None`` for a generated one).
    generated: list[dict[str, Any]]
    hull: HullData | None
    fireworks: dict[str, dict[str, int]]
    screens: tuple[str, ...]


def _elements(structure: dict[str, Any]) -> list[str]:
    return sorted({s["element"] for site in structure["sites"] for s in site["species"]})


def choose_chemsys(labelled: list[dict[str, Any]]) -> str | None:
    """Return the 2- or 3-element system with the most stable discoveries (then most labels).

    Only labels with an E_hull count: a system without one lacks an elemental reference.
    """
    stable: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for row in labelled:
        if row["e_hull"] is not None and 2 <= len(row["chemsys"].split("-")) <= 3:
            total[row["chemsys"]] += 1
            stable[row["chemsys"]] += bool(row["stable"])
    return min(total, key=lambda c: (-stable[c], -total[c], c)) if total else None


def parse_chemsys(text: str) -> str:
    """Return ``text`` as a sorted 2- or 3-element system (``Ti-O-Ba`` → ``Ba-O-Ti``).

    Raises
    ------
    ValueError
        For an unknown element, a repeated one, or fewer than 2 or more than 3 elements.
    """
    from pymatgen.core import Element

    parts = [p.strip() for p in text.split("-") if p.strip()]
    for part in parts:
        if not Element.is_valid_symbol(part):
            raise ValueError(f"{text!r}: {part!r} is not an element symbol")
    if len(set(parts)) != len(parts) or not 2 <= len(parts) <= 3:
        raise ValueError(f"{text!r}: give 2 or 3 different elements joined by '-', e.g. Ba-O-Ti")
    return "-".join(sorted(parts))


def hull_data(settings: CrystaloopSettings, oracle: str, chemsys: str, campaign: str) -> HullData:
    """Return the phases of ``chemsys`` (and its subsystems) labelled by ``oracle``."""
    from pymatgen.core import Composition

    from crystaloop.chem.energies import subsystems
    from crystaloop.stores.labels import LabelStore

    labels = LabelStore(open_store(settings, "labels"))
    elements = chemsys.split("-")
    refs = labels.references(oracle, elements)
    missing = sorted(set(elements) - set(refs))
    if missing:
        raise ValueError(
            f"chemical system {chemsys}: the oracle {oracle} has labelled no phase of "
            f"{', '.join(missing)}, so it has no hull"
        )
    out = HullData(chemsys, oracle, [(el, {el: 1.0}, refs[el]) for el in sorted(refs)])
    docs = labels.in_systems(
        oracle,
        subsystems(chemsys),
        ["label_id", "subject_id", "campaign", "kind", "formula", "energy", "nsites"],
    )
    for d in docs:
        comp = Composition(d["formula"])
        factor = d["nsites"] / comp.num_atoms
        amounts = {str(el): float(n) * factor for el, n in comp.items()}
        row = (d["label_id"], amounts, float(d["energy"]))
        if d["campaign"] == campaign and d["kind"] == "candidate":
            out.new.append((d["subject_id"], amounts, float(d["energy"])))
        elif len(amounts) > 1:
            out.known.append(row)
    return out


def iteration_rows(
    status: dict[str, Any],
    generated: list[dict[str, Any]],
    labelled: list[dict[str, Any]],
    screens: tuple[str, ...],
) -> list[dict[str, Any]]:
    """Return the report's per-iteration table (status counts, screens, S.U.N., errors)."""
    from crystaloop.chem.calibration import error_stats

    rows = []
    for base in status["iterations"]:
        i = base["iteration"]
        mine = [g for g in generated if g["iteration"] == i]
        dropped = Counter(g["stage"] for g in mine if g["status"] == "screened_out")
        left = len(mine)
        passed = {}
        for stage in screens:
            left -= dropped.get(stage, 0)
            passed[stage] = left
        found = [r for r in labelled if r["iteration"] == i]
        stats = error_stats(*prediction_triples(found))
        calls = base["selected"] + base.get("audited", 0)  # the oracle labels the audits too
        counts = found_counts(found)
        rows.append(
            {
                **base,
                "passed": passed,
                **counts,
                "hit_rate": counts["stable"] / calls if calls else None,
                "hit_rate_strict": counts["stable_strict"] / calls if calls else None,
                "mae": None if stats.n == 0 else stats.mae,
                "coverage_68": None if stats.n == 0 else stats.coverage_68,
                "coverage_95": None if stats.n == 0 else stats.coverage_95,
                "n_scored": stats.n,
            }
        )
    return rows


def gather(
    settings: CrystaloopSettings,
    campaign: str,
    chemsys: str | None = None,
    hull: HullChoice = "stored",
) -> ReportData:
    """Read a campaign for the report; ``chemsys`` picks the hull plot's system.

    ``hull``: the labels' E_hull as stored when they were written, or against the ``current``
    hull of everything the oracle has labelled in this home.

    Raises
    ------
    KeyError
        When no such campaign was started.
    ValueError
        When ``chemsys`` has no elemental reference labelled by the campaign's oracle.
    """
    from pymatgen.core import Composition

    from crystaloop.chem.screens import STAGES
    from crystaloop.launchpad.status import campaign_overview
    from crystaloop.stores.campaigns import CampaignStore
    from crystaloop.stores.candidates import CandidateStore

    overview = campaign_overview(settings, campaign)
    status = overview.model_dump(mode="json")
    doc = CampaignStore(open_store(settings, "campaigns")).require(campaign).model_dump()
    maker = doc.get("maker") or {}
    iteration = maker.get("iteration") or {}
    select = iteration.get("select") or {}
    train = iteration.get("train_surrogate") or {}
    header = {
        "campaign": campaign,
        "kind": doc.get("kind"),
        "state": status["state"],
        "stop_reason": status.get("stop_reason"),
        "oracle": status["oracle"],
        "started": doc.get("started"),
        "finished": doc.get("finished"),
        "surrogate": maker.get("surrogate"),
        "generator": maker.get("generator"),
        "selection": select.get("strategy", "surrogate"),
        "surrogate_frozen": bool(train.get("frozen")),
        "generator_frozen": bool((iteration.get("train_generator") or {}).get("frozen")),
        "oracle_budget": maker.get("oracle_budget"),
        "labels": status["labels"],
        "duplicate_labels": status["duplicate_labels"],
        "bootstrap_labels": status.get("bootstrap_labels"),
        "models": [
            {k: m[k] for k in ("model_id", "kind", "iteration", "parent")} for m in status["models"]
        ],
        "stable_threshold": overview.stable_threshold,
        "failed_steps": status["failed_steps"],
        "audit_share": select.get("audit_share", 0.0),
        "strict_threshold": STRICT_THRESHOLD,
        "hull": hull,
        "hull_source": (status.get("plan") or {}).get("hull_source", "oracle"),
        "hull_description": (status.get("plan") or {}).get("hull"),
    }
    generated = []
    for d in CandidateStore(open_store(settings, "candidates")).campaign_candidates(
        campaign,
        [
            "candidate_id",
            "iteration",
            "formula",
            "status",
            "stage",
            "spacegroup_number",
            "selection",
            "oracle",
            "audit",
            "scores",
            "parent",
        ],
    ):
        generated.append(
            {
                "candidate_id": d["candidate_id"],
                "iteration": d["iteration"],
                "formula": d["formula"],
                "elements": sorted(str(el) for el in Composition(d["formula"]).elements),
                "status": d.get("status"),
                "stage": d.get("stage"),
                "spacegroup_number": d.get("spacegroup_number"),
                "selection": d.get("selection"),
                "oracle": d.get("oracle"),
                "audit": bool(d.get("audit")),
                "scores": d.get("scores") or {},
                "parent": d.get("parent"),
            }
        )
    labelled = discoveries(settings, campaign, hull=hull)
    for row in labelled:
        row["elements"] = _elements(row.pop("structure"))
    oracle = status["oracle"] or settings.oracle
    hull = None
    if chemsys is not None:  # the user's choice: a system without references is an error
        hull = hull_data(settings, oracle, parse_chemsys(chemsys), campaign)
    elif (system := choose_chemsys(labelled)) is not None:
        hull = hull_data(settings, oracle, system, campaign)
    return ReportData(
        campaign=campaign,
        header=header,
        iterations=iteration_rows(status, generated, labelled, STAGES),
        labelled=labelled,
        generated=generated,
        hull=hull,
        fireworks=overview.fireworks,
        screens=STAGES,
    )
