"""Discovery efficiency: the full loop against a random and a no-retraining baseline.

Every strategy is a real campaign (the library call behind ``crystaloop run``) in a fresh
``CRYSTALOOP_HOME`` of its own
(``HOME/<strategy>``), as if run by a separate user: the same CHGNet oracle, the same shipped
generator and surrogate, the same sample corpus and bootstrap sample, the same seed, the same
oracle budget per iteration and in all. Separate homes keep one strategy's labels out of
another's surrogate training (the surrogate trains on every label of its home). Strategies:

``random``
    Screened candidates drawn at random for the oracle; nothing is retrained.
``frozen``
    The surrogate's confidence routing with the bootstrap surrogate frozen; generator frozen.
``loop-surrogate``
    The loop with surrogate retraining; generator frozen (an extra ablation, not run by default).
    With the generator frozen, every iteration's candidate pool is the same samples as in
    ``random`` and ``frozen``, so only the selection differs.
``loop``
    The full loop: surrogate retraining and generator fine-tuning on the discoveries.

Afterwards every strategy's oracle labels are put on one common hull (every phase the oracle
labelled in any of the homes, all strategies' candidates included), and per iteration the script
reports S.U.N. (stable at E_hull ≤ 0.1 and ≤ 0 eV/atom, unique among the strategy's earlier
stable finds, novel against the corpus), oracle calls per S.U.N. and the surrogate's MAE on the
new labels before retraining. Prints a table and writes JSON.

Usage: ``python benchmarks/discovery_efficiency.py [--home DIR] [--analyse-only] [--strategies
...] [--options '{"seed": 1}']`` (``--options``: CampaignOptions fields as JSON).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from bench_common import hardware, run_campaign_in

#: Campaign options of each strategy (CampaignOptions fields).
STRATEGIES: dict[str, dict] = {
    "random": {"selection": "random", "freeze_surrogate": True, "freeze_generator": True},
    "frozen": {"freeze_surrogate": True, "freeze_generator": True},
    "loop-surrogate": {"freeze_generator": True},
    "loop": {},
}

#: Options shared by every strategy (the budget is the same for all).
COMMON = {
    "iterations": 4,
    "per_iteration": 5,
    "dft_budget": 20,
    "n_generate": 64,
    "steps": 100,
    "bootstrap": 8,
    "seed": 0,
}


def run_strategies(root: Path, names: list[str], extra: dict) -> dict[str, float]:
    """Run each strategy's campaign in ``root/<name>``; return wall seconds per strategy."""
    seconds = {}
    for name in names:
        options = {"campaign_id": f"bench-{name}", **COMMON, **STRATEGIES[name], **extra}
        seconds[name], _ = run_campaign_in(root / name, options)
        print(f"{name}: {seconds[name]:.0f} s", file=sys.stderr, flush=True)
    return seconds


def main() -> None:
    """Run (or only analyse) the strategies, print the table and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="benchmarks/results/discovery_efficiency.json")
    parser.add_argument(
        "--home", help="Folder of the strategies' homes (default: a fresh temp folder)."
    )
    parser.add_argument(
        "--strategies",
        nargs="*",
        choices=list(STRATEGIES),
        default=["random", "frozen", "loop"],
        help="Strategies to run (default: the three of the comparison; loop-surrogate is an "
        "extra ablation).",
    )
    parser.add_argument(
        "--analyse-only", action="store_true", help="Analyse the campaigns already under --home."
    )
    parser.add_argument("--options", default="{}", help="Extra CampaignOptions fields as JSON.")
    args = parser.parse_args()
    extra = json.loads(args.options)
    home = Path(args.home or tempfile.mkdtemp(prefix="crystaloop-discovery-")).resolve()
    seconds: dict[str, float] = {}
    if not args.analyse_only:
        seconds = run_strategies(home, args.strategies, extra)
    from crystaloop.analysis.discovery import efficiency_table
    from crystaloop.settings import load_settings

    campaigns = {}
    for name in args.strategies:
        os.environ["CRYSTALOOP_HOME"] = str(home / name)
        campaigns[f"bench-{name}"] = load_settings()
    t0 = time.perf_counter()
    rows = efficiency_table(campaigns)
    analysis_seconds = time.perf_counter() - t0
    header = (
        f"{'strategy':>15} {'iter':>4} {'oracle':>6} {'failed':>6} {'stable≤0.1':>10} "
        f"{'SUN≤0.1':>7} {'SUN≤0':>5} {'cum SUN≤0.1':>11} {'calls/SUN':>9} {'MAE before':>10}"
    )
    print(header)
    for row in rows:
        mae = row["mae_before"]
        per = row["calls_per_sun"]
        print(
            f"{row['strategy']:>15} {row['iteration']:>4} {row['oracle_calls']:>6} "
            f"{row['failed']:>6} {row['stable']:>10} {row['sun']:>7} {row['sun_strict']:>5} "
            f"{row['cumulative_sun']:>11} {'-' if per is None else f'{per:.2f}':>9} "
            f"{'-' if mae is None else f'{mae:.3f}':>10}"
        )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    result = {
        "hardware": hardware(),
        "home": str(home),
        "common_options": {**COMMON, **extra},
        "strategies": {n: STRATEGIES[n] for n in args.strategies},
        "wall_seconds": seconds,
        "analysis_seconds": analysis_seconds,
        "rows": rows,
    }
    Path(args.out).write_text(json.dumps(result, indent=1, default=str))


if __name__ == "__main__":
    main()
