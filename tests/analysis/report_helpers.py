"""A hand-made campaign for the report tests: two iterations, a ternary hull."""

from __future__ import annotations

from crystaloop.analysis.report_data import HullData, ReportData
from crystaloop.chem.screens import STAGES


def _label(i: int, iteration: int, e_form: float, e_hull: float, mean: float, std: float) -> dict:
    return {
        "subject_id": f"c:{iteration}:{i}",
        "label_id": f"c:{iteration}:{i}|chgnet|u{i}",
        "iteration": iteration,
        "formula": "BaTiO3" if i % 2 else "SrTiO3",
        "chemsys": "Ba-O-Ti" if i % 2 else "O-Sr-Ti",
        "calc_id": f"u{i}",
        "e_form": e_form,
        "e_hull": e_hull,
        "band_gap": None,
        "stable": e_hull <= 0.1,
        "stable_strict": e_hull <= 0.0,
        "unique": e_hull <= 0.1 or None,
        "novel": e_hull <= 0.1 or None,
        "sun": e_hull <= 0.1,
        "sun_strict": e_hull <= 0.0,
        "predicted": {"e_form": {"mean": mean, "std": std}},
        "surrogate": "s@abc",
        "elements": ["Ba", "O", "Ti"] if i % 2 else ["O", "Sr", "Ti"],
    }


def sample_report_data(hull: HullData | None = None) -> ReportData:
    """Return a small, complete ReportData."""
    labelled = [
        _label(0, 0, -2.9, 0.0, -2.5, 0.4),
        _label(1, 0, -2.1, 0.3, -2.6, 0.3),
        _label(2, 1, -3.0, 0.05, -2.9, 0.2),
        _label(3, 1, -2.8, 0.0, -2.75, 0.1),
    ]
    generated = []
    for iteration in (0, 1):
        for k in range(10):
            stage = STAGES[k % len(STAGES)] if k < 4 else None
            generated.append(
                {
                    "candidate_id": f"c:{iteration}:{k}",
                    "iteration": iteration,
                    "formula": ["BaTiO3", "SrTiO3", "KNbO3", "LaAlO3"][k % 4],
                    "elements": [
                        ["Ba", "O", "Ti"],
                        ["O", "Sr", "Ti"],
                        ["K", "Nb", "O"],
                        ["Al", "La", "O"],
                    ][k % 4],
                    "status": "screened_out" if stage else "passed",
                    "stage": stage,
                    "spacegroup_number": [221, 99, 38, 160][k % 4] if k >= 1 else None,
                    "selection": "dft" if k in (4, 5) else "rejected",
                    "oracle": "done" if k in (4, 5) else None,
                    "scores": {"e_form": {"mean": -2.0 - 0.1 * k, "std": 0.3, "confidence": 0.4}},
                }
            )
    iterations = []
    for iteration in (0, 1):
        mine = [r for r in labelled if r["iteration"] == iteration]
        iterations.append(
            {
                "iteration": iteration,
                "generated": 10,
                "valid": 6,
                "selected": 2,
                "dft_done": 2,
                "dft_failed": 0,
                "accepted": 1,
                "new_stable": sum(r["stable"] for r in mine),
                "mae_before": {"e_form": 0.3},
                "surrogate": "s",
                "finished": True,
                "passed": {s: 10 - k for k, s in enumerate(STAGES)},
                "stable": sum(r["stable"] for r in mine),
                "stable_strict": sum(r["stable_strict"] for r in mine),
                "sun": sum(r["sun"] for r in mine),
                "sun_strict": sum(r["sun_strict"] for r in mine),
                "hit_rate": sum(r["stable"] for r in mine) / 2,
                "hit_rate_strict": sum(r["stable_strict"] for r in mine) / 2,
                "mae": 0.3 - 0.2 * iteration,
                "coverage_68": 0.5,
                "coverage_95": 1.0,
                "n_scored": 2,
            }
        )
    if hull is None:
        hull = HullData(
            "Ba-O-Ti",
            "chgnet",
            references=[
                ("Ba", {"Ba": 1.0}, -1.9),
                ("O", {"O": 1.0}, -4.9),
                ("Ti", {"Ti": 1.0}, -7.8),
            ],
            known=[
                ("l:BaO", {"Ba": 1.0, "O": 1.0}, -13.0),
                ("l:TiO2", {"Ti": 1.0, "O": 2.0}, -26.5),
            ],
            new=[
                ("c:0:1", {"Ba": 1.0, "Ti": 1.0, "O": 3.0}, -40.5),
                ("c:1:3", {"Ba": 2.0, "Ti": 1.0, "O": 4.0}, -50.0),
            ],
        )
    header = {
        "campaign": "demo",
        "kind": "campaign",
        "state": "finished",
        "stop_reason": "iteration cap 2 reached",
        "oracle": "chgnet",
        "started": "2026-11-23T10:00:00",
        "finished": "2026-11-23T10:10:00",
        "surrogate": "perov5",
        "generator": "perov5",
        "selection": "surrogate",
        "surrogate_frozen": False,
        "oracle_budget": 4,
        "labels": 12,
        "duplicate_labels": 0,
        "bootstrap_labels": 8,
        "models": [
            {
                "model_id": "demo:surrogate:0",
                "kind": "surrogate",
                "iteration": 0,
                "parent": "perov5",
            }
        ],
        "stable_threshold": 0.1,
        "strict_threshold": 0.0,
    }
    return ReportData(
        campaign="demo",
        header=header,
        iterations=iterations,
        labelled=labelled,
        generated=generated,
        hull=hull,
        fireworks={"-1": {"COMPLETED": 10}, "0": {"COMPLETED": 12, "FIZZLED": 1}},
        screens=STAGES,
    )
