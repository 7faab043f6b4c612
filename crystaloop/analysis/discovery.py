"""What a campaign found: stable, unique and novel (S.U.N.) discoveries and oracle calls per S.U.N.

A discovery is a candidate the oracle labelled. It is **stable** at ``E_hull ≤ 0.1`` eV/atom
(and reported separately at ``≤ 0``), **unique** when its oracle-relaxed structure matches no
earlier stable discovery of the same campaign (iteration order), and **novel** when it matches
no corpus structure (pymatgen's StructureMatcher behind the dedup prefilter, DESIGN.md §5).

E_hull comes either from the label (``hull="stored"``: the hull of the phases labelled when it
was written) or from one hull of every phase the oracle has labelled in the stores
(``hull="common"``), which compares campaigns on equal terms.
"""

from __future__ import annotations

from typing import Any, Literal

from crystaloop.settings import CrystaloopSettings
from crystaloop.stores.candidates import CandidateStore
from crystaloop.stores.corpus import CorpusStore
from crystaloop.stores.factory import open_store
from crystaloop.stores.labels import LabelStore

#: E_hull thresholds of S.U.N. (eV/atom): the usual one and the strict one.
STABLE_THRESHOLD = 0.1
STRICT_THRESHOLD = 0.0

HullChoice = Literal["stored", "common"]


def campaign_labels(settings: CrystaloopSettings, campaign: str) -> list[dict[str, Any]]:
    """Return the campaign's candidate labels in iteration, then subject order."""
    docs = LabelStore(open_store(settings, "labels")).query(
        {"campaign": campaign, "kind": "candidate"}
    )
    return sorted(docs, key=lambda d: (d["iteration"], d["subject_id"]))


def common_hull(settings: CrystaloopSettings, docs: list[dict[str, Any]]) -> dict[str, float]:
    """Return E_hull of each label against every phase its oracle has labelled (by label id)."""
    from pymatgen.core import Structure

    from crystaloop.chem.energies import Phase, energies_above_hull

    labels = LabelStore(open_store(settings, "labels"))
    out: dict[str, float] = {}
    for oracle in sorted({d["oracle"] for d in docs}):
        mine = [d for d in docs if d["oracle"] == oracle]
        refs = labels.references(oracle, {el for d in mine for el in d["elements"]})
        usable = [d for d in mine if all(el in refs for el in d["elements"])]
        targets = [
            Phase(d["label_id"], Structure.from_dict(d["structure"]).composition, d["energy"])
            for d in usable
        ]
        others = labels.phases(oracle, {d["chemsys"] for d in usable})
        out.update(energies_above_hull(targets, others, refs) if targets else {})
    return out


def novel_flags(settings: CrystaloopSettings, structures: list[Any]) -> list[bool]:
    """Return, for each structure, whether it matches no corpus structure."""
    from crystaloop.chem.dedup import first_match
    from crystaloop.chem.metrics import dedup_key

    corpus = CorpusStore(open_store(settings, "corpus"), open_store(settings, "corpus_aliases"))
    keys = [dedup_key(s) for s in structures]
    groups = corpus.dedup_lookup(sorted(set(keys)))
    return [
        first_match(s, groups.get(k, [])) is None for s, k in zip(structures, keys, strict=True)
    ]


def discoveries(
    settings: CrystaloopSettings, campaign: str, hull: HullChoice = "stored"
) -> list[dict[str, Any]]:
    """Return one row per oracle-labelled candidate with its S.U.N. flags.

    Rows hold ``subject_id``, ``label_id``, ``iteration``, ``formula``, ``chemsys``,
    ``e_form``, ``e_hull`` (per ``hull``), ``stable``, ``stable_strict``, ``unique``,
    ``novel``, ``sun``, ``sun_strict``, ``predicted`` and ``structure``. ``unique`` and
    ``novel`` are only computed for stable rows (``None`` otherwise).
    """
    from pymatgen.core import Structure

    from crystaloop.chem.metrics import unique_flags

    docs = campaign_labels(settings, campaign)
    e_hull = (
        common_hull(settings, docs)
        if hull == "common"
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
                "calc_id": d["calc_id"],
                "e_form": d.get("e_form"),
                "e_hull": value,
                "band_gap": d.get("band_gap"),
                "stable": value is not None and value <= STABLE_THRESHOLD,
                "stable_strict": value is not None and value <= STRICT_THRESHOLD,
                "unique": None,
                "novel": None,
                "predicted": d.get("predicted") or {},
                "surrogate": d.get("surrogate"),
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


def efficiency_table(
    settings: CrystaloopSettings, campaigns: list[str], hull: HullChoice = "common"
) -> list[dict[str, Any]]:
    """Return per campaign and iteration: oracle calls, S.U.N. found and calls per S.U.N.

    ``strategy`` is the campaign id without a ``bench-`` prefix. ``calls_per_sun`` is
    cumulative (oracle calls so far / S.U.N. so far); ``mae_before`` is the surrogate's MAE on
    the iteration's new labels before retraining (eV/atom). One more row per campaign,
    iteration ``"all"``, holds the totals.
    """
    from crystaloop.chem.calibration import error_stats

    candidates = CandidateStore(open_store(settings, "candidates"))
    rows = []
    for campaign in campaigns:
        found = discoveries(settings, campaign, hull)
        iterations = sorted(
            {d["iteration"] for d in candidates.store.query({"campaign": campaign}, ["iteration"])}
        )
        calls = sun = sun_strict = 0
        for i in iterations:
            q = {"campaign": campaign, "iteration": i}
            mine = [r for r in found if r["iteration"] == i]
            scored = [r for r in mine if "e_form" in r["predicted"] and r["e_form"] is not None]
            stats = error_stats(
                [r["predicted"]["e_form"]["mean"] for r in scored],
                [r["predicted"]["e_form"]["std"] for r in scored],
                [r["e_form"] for r in scored],
            )
            n_calls = candidates.count({**q, "selection": "dft"})
            calls += n_calls
            sun += sum(r["sun"] for r in mine)
            sun_strict += sum(r["sun_strict"] for r in mine)
            rows.append(
                {
                    "strategy": campaign.removeprefix("bench-"),
                    "campaign": campaign,
                    "iteration": i,
                    "oracle_calls": n_calls,
                    "failed": candidates.count({**q, "oracle": "failed"}),
                    "labelled": len(mine),
                    "stable": sum(r["stable"] for r in mine),
                    "stable_strict": sum(r["stable_strict"] for r in mine),
                    "sun": sum(r["sun"] for r in mine),
                    "sun_strict": sum(r["sun_strict"] for r in mine),
                    "cumulative_calls": calls,
                    "cumulative_sun": sun,
                    "cumulative_sun_strict": sun_strict,
                    "calls_per_sun": calls / sun if sun else None,
                    "calls_per_sun_strict": calls / sun_strict if sun_strict else None,
                    "mae_before": None if stats.n == 0 else stats.mae,
                }
            )
        last = [r for r in rows if r["campaign"] == campaign]
        scored = [r for r in found if "e_form" in r["predicted"] and r["e_form"] is not None]
        total = error_stats(
            [r["predicted"]["e_form"]["mean"] for r in scored],
            [r["predicted"]["e_form"]["std"] for r in scored],
            [r["e_form"] for r in scored],
        )
        rows.append(
            {
                "strategy": campaign.removeprefix("bench-"),
                "campaign": campaign,
                "iteration": "all",
                "oracle_calls": calls,
                "failed": sum(r["failed"] for r in last),
                "labelled": len(found),
                "stable": sum(r["stable"] for r in found),
                "stable_strict": sum(r["stable_strict"] for r in found),
                "sun": sun,
                "sun_strict": sun_strict,
                "cumulative_calls": calls,
                "cumulative_sun": sun,
                "cumulative_sun_strict": sun_strict,
                "calls_per_sun": calls / sun if sun else None,
                "calls_per_sun_strict": calls / sun_strict if sun_strict else None,
                "mae_before": None if total.n == 0 else total.mae,
            }
        )
    return rows
