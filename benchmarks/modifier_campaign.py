"""What the modification branch adds to a campaign: S.U.N. per oracle call, by branch.

Per seed, two real campaigns (the library call behind ``crystaloop run``) in homes of their own,
the same in everything but the modifier: the ``carbon24`` generator proposes carbon allotropes,
CHGNet labels them on the carbon hull (CHGNet's elemental reference), the shipped ``eform``
surrogate routes them. ``modify`` adds the ``carbon24`` modifier: candidates labelled with
``0.1 < E_hull ≤ 0.1 + margin`` are modified (``samples`` each) and join the next iteration.

Reported per campaign: oracle calls and S.U.N. (stable at E_hull ≤ 0.1 eV/atom, unique within
the campaign, novel against the corpus) of the generated candidates and of the modified ones
(those with a ``parent``), near misses, modified structures and how many passed the screens;
then S.U.N. per oracle call per branch as mean ± std over the seeds.

Usage::

    python benchmarks/modifier_campaign.py --seeds 0 1 2 --iterations 3
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
from bench_common import copy_corpus, hardware, run_campaign_in


def branch_rows(home: Path, campaign: str) -> dict:
    """Count oracle calls, S.U.N. and modified candidates of one campaign, by branch."""
    os.environ["CRYSTALOOP_HOME"] = str(home)
    from crystaloop.analysis.discovery import discoveries
    from crystaloop.settings import load_settings
    from crystaloop.stores.candidates import CandidateStore
    from crystaloop.stores.factory import open_store

    settings = load_settings()
    candidates = CandidateStore(open_store(settings, "candidates")).campaign_candidates(
        campaign, ["candidate_id", "parent", "status", "selection", "audit", "oracle"]
    )
    parent = {d["candidate_id"]: d.get("parent") for d in candidates}
    rows = [r for r in discoveries(settings, campaign) if r["subject_id"] in parent]
    out: dict = {}
    for branch, keep in (("generated", lambda p: p is None), ("modified", lambda p: p is not None)):
        mine = [r for r in rows if keep(parent[r["subject_id"]])]
        calls = [
            d
            for d in candidates
            if keep(d.get("parent")) and (d.get("selection") == "dft" or d.get("audit"))
        ]
        out[branch] = {
            "oracle_calls": len(calls),
            "oracle_failed": sum(d.get("oracle") == "failed" for d in calls),
            "labelled": len(mine),
            "stable": sum(r["stable"] for r in mine),
            "sun": sum(r["sun"] for r in mine),
        }
    modified = [d for d in candidates if d.get("parent")]
    out["near_misses_modified"] = len({d["parent"] for d in modified})
    out["modified_candidates"] = len(modified)
    out["modified_passed_screens"] = sum(d["status"] == "passed" for d in modified)
    out["modified_to_oracle"] = sum(d.get("selection") == "dft" for d in modified)
    return out


def per_call(row: dict, branch: str, key: str = "sun") -> float | None:
    calls = row[branch]["oracle_calls"]
    return row[branch][key] / calls if calls else None


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--per-iteration", type=int, default=4)
    parser.add_argument("--samples", type=int, default=48)
    parser.add_argument("--margin", type=float, default=0.3)
    parser.add_argument("--modify-samples", type=int, default=2)
    parser.add_argument("--modifier", default="carbon24")
    parser.add_argument(
        "--selection",
        default="surrogate",
        choices=["surrogate", "random"],
        help="How candidates reach the oracle (both arms).",
    )
    parser.add_argument(
        "--arms", nargs="+", default=["plain", "modify"], choices=["plain", "modify"]
    )
    parser.add_argument("--home", help="Folder of the homes (default: a fresh temp folder).")
    parser.add_argument("--out", default="benchmarks/results/modifier_campaign.json")
    parser.add_argument(
        "--analyse-only", action="store_true", help="Read the campaigns already under --home."
    )
    args = parser.parse_args()
    root = Path(args.home or tempfile.mkdtemp(prefix="crystaloop-modify-")).resolve()
    common = {
        "generator": "carbon24",
        "iterations": args.iterations,
        "per_iteration": args.per_iteration,
        "dft_budget": args.iterations * args.per_iteration,
        "n_generate": args.samples,
        "freeze_generator": True,  # both arms sample the same generator
        "selection": args.selection,
    }
    results, corpus_from = [], None
    for seed in args.seeds:
        for arm in args.arms:
            home = root / f"seed{seed}" / arm
            options = {**common, "seed": seed, "campaign_id": f"bench-{arm}"}
            if arm == "modify":
                options |= {
                    "modifier": args.modifier,
                    "modify_margin": args.margin,
                    "modify_samples": args.modify_samples,
                }
            seconds = None
            if not args.analyse_only:
                if corpus_from is not None:
                    copy_corpus(corpus_from, home)
                seconds, _ = run_campaign_in(home, options)
                corpus_from = corpus_from or home
            row = {"seed": seed, "arm": arm, "seconds": seconds and round(seconds, 1)}
            row |= branch_rows(home, f"bench-{arm}")
            results.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    print(
        f"{'seed':>4} {'arm':7} {'calls gen':>9} {'SUN gen':>7} {'calls mod':>9} "
        f"{'SUN mod':>7} {'near':>5} {'modified':>8} {'passed':>6} {'seconds':>8}"
    )
    for r in results:
        print(
            f"{r['seed']:>4} {r['arm']:7} {r['generated']['oracle_calls']:>9} "
            f"{r['generated']['sun']:>7} {r['modified']['oracle_calls']:>9} "
            f"{r['modified']['sun']:>7} {r['near_misses_modified']:>5} "
            f"{r['modified_candidates']:>8} {r['modified_passed_screens']:>6} "
            f"{r['seconds'] or '–':>8}"
        )
    summary = {}
    for arm in args.arms:
        rows = [r for r in results if r["arm"] == arm]
        total = [
            (r["generated"]["sun"] + r["modified"]["sun"])
            / max(1, r["generated"]["oracle_calls"] + r["modified"]["oracle_calls"])
            for r in rows
        ]
        summary[arm] = {"sun_per_call": [float(np.mean(total)), float(np.std(total))]}
        for branch in ("generated", "modified"):
            for key in ("sun", "stable"):
                values = [v for r in rows if (v := per_call(r, branch, key)) is not None]
                summary[arm][f"{branch}_{key}_per_call"] = (
                    [float(np.mean(values)), float(np.std(values)), len(values)] if values else None
                )
    print(json.dumps(summary, indent=1))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(
        json.dumps(
            {
                "hardware": hardware(),
                "home": str(root),
                "options": common | vars(args),
                "rows": results,
                "summary": summary,
            },
            indent=1,
            default=str,
        )
    )


if __name__ == "__main__":
    main()
