"""What a campaign found: stable, unique and novel (S.U.N.) discoveries and oracle calls per S.U.N.

A discovery is a candidate the oracle labelled. It is **stable** at ``E_hull`` at most the
campaign's threshold (0.1 eV/atom by default; also reported separately at ``≤ 0``), **unique**
when its oracle-relaxed structure matches no earlier stable discovery of the same campaign
(iteration order), and **novel** when it matches no corpus structure (pymatgen's
StructureMatcher behind the dedup prefilter, DESIGN.md §5).

E_hull comes either from the label (``hull="stored"``: the hull of the phases labelled when it
was written) or from the current hull of every phase the oracle has labelled in the stores
(``hull="current"``); with the labels of other homes added, that is one common hull, which
compares campaigns on equal terms. A campaign whose hull source is ``mp2020`` (its plan's
``hull_source``) adds the corrected Materials Project entries of the ``hull_entries`` store to
the current hull, as its label step did.
"""

from __future__ import annotations

from typing import Any, Literal

from crystaloop.schemas import STABLE_THRESHOLD
from crystaloop.settings import CrystaloopSettings
from crystaloop.stores.candidates import CandidateStore
from crystaloop.stores.corpus import CorpusStore
from crystaloop.stores.factory import open_store
from crystaloop.stores.labels import LabelStore

#: The strict E_hull threshold of S.U.N. (eV/atom); the usual one is the campaign's (by default
#: :data:`~crystaloop.schemas.STABLE_THRESHOLD`).
STRICT_THRESHOLD = 0.0
#: Tolerance of the comparisons (a phase tied with the hull gets E_hull ≈ 1e-16, not 0).
HULL_TOLERANCE = 1e-8

#: Where a label's E_hull comes from: as stored when it was written, or the current hull.
HullChoice = Literal["stored", "current"]


def campaign_labels(settings: CrystaloopSettings, campaign: str) -> list[dict[str, Any]]:
    """Return the campaign's candidate labels in iteration, then subject order."""
    return LabelStore(open_store(settings, "labels")).candidate_labels(campaign)


def hull_source(settings: CrystaloopSettings, campaign: str) -> str:
    """Return the campaign's hull source (its plan's ``hull_source``; ``oracle`` by default)."""
    from crystaloop.stores.campaigns import CampaignStore

    record = CampaignStore(open_store(settings, "campaigns")).get(campaign)
    plan = record.plan if record is not None else {}
    return str(plan.get("hull_source") or "oracle")


def common_hull(
    settings: CrystaloopSettings,
    docs: list[dict[str, Any]],
    extra: list[dict[str, Any]] | None = None,
    source: str = "oracle",
) -> dict[str, float]:
    """Return E_hull of each label against every phase its oracle has labelled (by label id).

    ``extra`` adds labels kept elsewhere (another home's ``labels`` documents with
    ``label_id``, ``oracle``, ``chemsys``, ``formula``, ``nsites``, ``energy`` and
    ``energy_per_atom``) to the phases, so campaigns run apart share one hull. ``source``
    ``mp2020`` adds the ``hull_entries`` store's corrected entries to the VASP labels' hull.
    """
    from pymatgen.core import Composition, Structure

    from crystaloop.chem.energies import (
        Phase,
        energies_above_hull,
        shipped_references,
        subsystems,
    )

    labels = LabelStore(open_store(settings, "labels"))
    entries = None
    if source == "mp2020":
        from crystaloop.stores.hull_entries import HullEntryStore

        entries = HullEntryStore(open_store(settings, "hull_entries"))
    out: dict[str, float] = {}
    for oracle in sorted({d["oracle"] for d in docs}):
        mine = [d for d in docs if d["oracle"] == oracle]
        theirs = [d for d in extra or () if d["oracle"] == oracle]
        refs = labels.references(oracle, {el for d in mine for el in d["elements"]})
        with_entries = entries is not None and oracle == "vasp"
        if with_entries:
            for el, e in entries.references({el for d in mine for el in d["elements"]}).items():
                refs[el] = min(refs.get(el, e), e)
        shipped = shipped_references(oracle)
        for d in theirs:
            if "-" not in d["chemsys"] and d["chemsys"] not in shipped:
                el, e = d["chemsys"], float(d["energy_per_atom"])
                refs[el] = min(refs.get(el, e), e)
        usable = [d for d in mine if all(el in refs for el in d["elements"])]
        targets = [
            Phase(d["label_id"], Structure.from_dict(d["structure"]).composition, d["energy"])
            for d in usable
        ]
        systems = {d["chemsys"] for d in usable}
        within = {sub for system in systems for sub in subsystems(system)}
        others = labels.phases(oracle, systems)
        if with_entries:
            others += entries.phases(systems)
        for d in theirs:
            if d["chemsys"] in within:
                formula = Composition(d["formula"])
                cell = formula * (d["nsites"] / formula.num_atoms)
                others.append(Phase(d["label_id"], cell, float(d["energy"])))
        out.update(energies_above_hull(targets, others, refs) if targets else {})
    return out


def novel_flags(settings: CrystaloopSettings, structures: list[Any]) -> list[bool]:
    """Return, for each structure, whether it matches no corpus structure.

    A structure spglib cannot analyse is looked up with primitive-cell size 1, which every cell
    size is a multiple of: it is compared with every corpus structure of its formula.
    """
    from crystaloop.chem.dedup import first_match
    from crystaloop.chem.metrics import dedup_key
    from crystaloop.chem.symmetry import SymmetryError

    def key_of(structure: Any) -> tuple[str, int]:
        try:
            return dedup_key(structure)
        except SymmetryError:
            return structure.composition.reduced_formula, 1

    corpus = CorpusStore(open_store(settings, "corpus"), open_store(settings, "corpus_aliases"))
    keys = [key_of(s) for s in structures]
    groups = corpus.dedup_lookup(sorted(set(keys)))
    return [
        first_match(s, groups.get(k, [])) is None for s, k in zip(structures, keys, strict=True)
    ]


def discoveries(
    settings: CrystaloopSettings,
    campaign: str,
    hull: HullChoice = "stored",
    extra: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Return one row per oracle-labelled candidate with its S.U.N. flags.

    Rows hold ``subject_id``, ``label_id``, ``iteration``, ``formula``, ``chemsys``, ``audit``,
    ``e_form``, ``e_hull`` (per ``hull``), ``hull_source`` (the campaign's), ``stable``,
    ``stable_strict``, ``unique``, ``novel``, ``sun``, ``sun_strict``, ``predicted`` and
    ``structure``. ``unique`` and ``novel`` are only computed for stable rows (``None``
    otherwise, and ``unique`` is also ``None`` for a stable row the StructureMatcher failed on:
    undecided, so no S.U.N.); uniqueness is judged among the stable rows (E_hull at most the
    campaign's threshold), so a strictly stable duplicate of an earlier stable one is no
    strict S.U.N. either. ``extra``: labels from
    elsewhere that join the current hull (see :func:`common_hull`).

    Raises
    ------
    ValueError
        For a ``hull`` other than ``stored`` or ``current``.
    """
    from pymatgen.core import Structure

    from crystaloop.chem.metrics import unique_flags
    from crystaloop.stores.campaigns import CampaignStore

    if hull not in ("stored", "current"):
        raise ValueError(f"unknown hull {hull!r}: choose stored or current")
    record = CampaignStore(open_store(settings, "campaigns")).get(campaign)
    threshold = record.stable_threshold if record is not None else STABLE_THRESHOLD
    docs = campaign_labels(settings, campaign)
    source = hull_source(settings, campaign)
    e_hull = (
        common_hull(settings, docs, extra, source)
        if hull == "current"
        else {d["label_id"]: d["e_hull"] for d in docs}
    )
    rows = []
    for d in docs:
        value = e_hull.get(d["label_id"])
        rows.append(
            {
                "subject_id": d["subject_id"],
                "label_id": d["label_id"],
                "iteration": d["iteration"],
                "formula": d["formula"],
                "chemsys": d["chemsys"],
                "oracle": d["oracle"],
                "calc_id": d["calc_id"],
                "e_form": d.get("e_form"),
                "e_hull": value,
                "hull_source": source,
                "band_gap": d.get("band_gap"),
                "stable": value is not None and value <= threshold + HULL_TOLERANCE,
                "stable_strict": value is not None and value <= STRICT_THRESHOLD + HULL_TOLERANCE,
                "unique": None,
                "novel": None,
                "predicted": d.get("predicted") or {},
                "surrogate": d.get("surrogate"),
                "audit": bool(d.get("audit")),
                "structure": d["structure"],
            }
        )
    stable = [r for r in rows if r["stable"]]
    structures = [Structure.from_dict(r["structure"]) for r in stable]
    for row, unique, novel in zip(
        stable, unique_flags(structures), novel_flags(settings, structures), strict=True
    ):
        row["unique"], row["novel"] = unique, novel
    for row in rows:
        found = bool(row["stable"] and row["unique"] and row["novel"])
        row["sun"] = found
        row["sun_strict"] = found and row["stable_strict"]
    return rows


def prediction_triples(
    rows: list[dict[str, Any]], target: str = "e_form"
) -> tuple[list[float], list[float], list[float]]:
    """Return ``(means, stds, oracle values)`` of the rows the surrogate scored for ``target``."""
    scored = [r for r in rows if target in r["predicted"] and r.get(target) is not None]
    return (
        [r["predicted"][target]["mean"] for r in scored],
        [r["predicted"][target]["std"] for r in scored],
        [r[target] for r in scored],
    )


def prediction_mae(rows: list[dict[str, Any]], target: str = "e_form") -> float | None:
    """Return the surrogate's MAE on the rows' oracle values (``None`` when none was scored)."""
    from crystaloop.chem.calibration import error_stats

    stats = error_stats(*prediction_triples(rows, target))
    return None if stats.n == 0 else stats.mae


def found_counts(rows: list[dict[str, Any]]) -> dict[str, int]:
    """Return how many rows are stable, strictly stable, S.U.N. and strictly S.U.N."""
    keys = ("stable", "stable_strict", "sun", "sun_strict")
    return {k: sum(bool(r[k]) for r in rows) for k in keys}


def _efficiency_row(
    campaign: str, iteration: int | str, found: list[dict[str, Any]], calls: int, failed: int
) -> dict[str, Any]:
    return {
        "strategy": campaign.removeprefix("bench-"),
        "campaign": campaign,
        "iteration": iteration,
        "oracle_calls": calls,
        "failed": failed,
        "labelled": len(found),
        **found_counts(found),
        "mae_before": prediction_mae(found),
    }


def efficiency_table(
    campaigns: dict[str, CrystaloopSettings], hull: HullChoice = "current"
) -> list[dict[str, Any]]:
    """Return per campaign and iteration: oracle calls, S.U.N. found and calls per S.U.N.

    ``campaigns`` maps each campaign to the settings of the home it ran in; with
    ``hull="current"`` every home's labels of the same oracle join one hull, so campaigns run in
    separate homes are judged against the same phases. ``strategy`` is the campaign id without
    a ``bench-`` prefix. The ``cumulative_*`` counts
    and ``calls_per_sun`` (oracle calls so far / S.U.N. so far) run over the iterations;
    ``mae_before`` is the surrogate's MAE on the iteration's new labels before retraining
    (eV/atom). One more row per campaign, iteration ``"all"``, holds the totals.
    """
    homes = {str(s.home): s for s in campaigns.values()}
    fields = ["label_id", "oracle", "chemsys", "formula", "nsites", "energy", "energy_per_atom"]
    pools = {
        home: LabelStore(open_store(s, "labels")).all_labels(fields) for home, s in homes.items()
    }
    rows = []
    for campaign, settings in campaigns.items():
        extra = [d for home, pool in pools.items() if home != str(settings.home) for d in pool]
        candidates = CandidateStore(open_store(settings, "candidates"))
        found = discoveries(settings, campaign, hull, extra)
        iterations = sorted(candidates.iterations(campaign))
        mine: list[dict[str, Any]] = []
        calls = failed = 0
        for i in iterations:
            counts = candidates.route_counts(campaign, i)
            now = [r for r in found if r["iteration"] == i]
            row = _efficiency_row(
                campaign, i, now, counts["dft"] + counts["audited"], counts["failed"]
            )
            calls, failed = calls + row["oracle_calls"], failed + row["failed"]
            mine += now
            rows.append(row | _cumulative(mine, calls))
        rows.append(
            _efficiency_row(campaign, "all", found, calls, failed) | _cumulative(found, calls)
        )
    return rows


def _cumulative(found: list[dict[str, Any]], calls: int) -> dict[str, Any]:
    sun = sum(r["sun"] for r in found)
    strict = sum(r["sun_strict"] for r in found)
    return {
        "cumulative_calls": calls,
        "cumulative_sun": sun,
        "cumulative_sun_strict": strict,
        "calls_per_sun": calls / sun if sun else None,
        "calls_per_sun_strict": calls / strict if strict else None,
    }
