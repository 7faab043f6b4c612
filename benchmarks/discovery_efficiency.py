"""Discovery efficiency: the loop against the peers a scientist would use, and its ablations.

Every strategy is a real campaign (the library call behind ``crystaloop run``) in a fresh
``CRYSTALOOP_HOME`` of its own (``HOME/seed<k>/<strategy>``), as if run by a separate user: the
same CHGNet oracle, the same shipped generator and surrogate, the same sample corpus and
bootstrap sample, the same seed, the same oracle budget per iteration and in all. Separate homes
keep one strategy's labels out of another's surrogate training (the surrogate trains on every
label of its home). Strategies:

``substitution``
    Ionic substitution on the corpus's prototypes in the generator's elements with pymatgen's
    data-mined substitution probabilities (Hautier et al. 2011): the oracle gets the most
    probable substitutions first (``source="substitution"``, ``selection="ranked"``). Iteration
    ``i`` proposes ranks ``i·w … (i+1)·w − 1`` of the deduplicated ranking (corpus structures
    left out) with ``w = 2 × per_iteration``, and the first ``per_iteration`` of them that pass
    the screens go to the oracle. Models frozen; no surrogate decides anything.
``masked``
    Seed 003's masked generator (``generator="perov5-masked"`` unless ``--options`` names
    another): substitutions of the same corpus prototypes, one element replaced on all its
    sites by a drawn one, in the generator's proposal order (``selection="ranked"``), the same
    window as ``substitution``. Models frozen. Compare it with ``substitution`` run with the
    same ``generator`` (``--options '{"generator": "perov5-masked"}'``), so both draw on the
    same prototypes and elements.
``random-search``
    Random symmetric structures (PyXtal, AIRSS-style) of the compositions the generator samples
    in that iteration, screened, drawn at random for the oracle (``source="random-search"``,
    ``selection="random"``). Models frozen.
``random``
    The generator's screened candidates drawn at random for the oracle; nothing retrained.
``frozen``
    The surrogate's confidence routing with the bootstrap surrogate frozen; generator frozen.
``loop``
    The full loop: surrogate retraining and generator fine-tuning on the discoveries.
``loop-surrogate``
    The loop with surrogate retraining; generator frozen (an extra ablation, not run by default).

With the generator frozen, ``random``, ``frozen`` and ``loop-surrogate`` see the same samples in
every iteration, and ``random-search`` their compositions.

The first home ingests the bundled sample corpus; every later home gets a copy of its corpus
collections instead of ingesting the same files again (``bench_common.copy_corpus``).

Afterwards, per seed, every strategy's oracle labels are put on one common hull (every phase the
oracle labelled in any of that seed's homes), and the script reports per iteration S.U.N.
(stable at E_hull ≤ 0.1 and ≤ 0 eV/atom, unique among the strategy's earlier stable finds,
novel against the corpus), oracle calls per S.U.N. and the surrogate's MAE on the new labels
before retraining; then, over the seeds, S.U.N. per oracle call per iteration and in all as
mean ± sample standard deviation. Prints the tables and writes JSON.

Usage: ``python benchmarks/discovery_efficiency.py [--home DIR] [--seeds 0 1 2] [--analyse-only]
[--strategies ...] [--options '{"iterations": 2}']`` (``--options``: CampaignOptions fields as
JSON, applied to every strategy; the seed comes from ``--seeds``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from bench_common import copy_corpus, hardware, run_campaign_in

#: Campaign options of each strategy (CampaignOptions fields).
STRATEGIES: dict[str, dict] = {
    "substitution": {
        "source": "substitution",
        "selection": "ranked",
        "freeze_surrogate": True,
        "freeze_generator": True,
    },
    "random-search": {
        "source": "random-search",
        "selection": "random",
        "freeze_surrogate": True,
        "freeze_generator": True,
    },
    "masked": {
        "generator": "perov5-masked",
        "selection": "ranked",
        "freeze_surrogate": True,
        "freeze_generator": True,
    },
    "random": {"selection": "random", "freeze_surrogate": True, "freeze_generator": True},
    "frozen": {"freeze_surrogate": True, "freeze_generator": True},
    "loop-surrogate": {"freeze_generator": True},
    "loop": {},
}

#: The strategies of the comparison (``loop-surrogate`` is an extra ablation).
DEFAULT_STRATEGIES = ["substitution", "random-search", "random", "frozen", "loop"]

#: Substitutions proposed per iteration, per oracle calculation of the iteration: the screens
#: may drop a proposal without costing the budget.
SUBSTITUTION_WINDOW = 2

#: Options shared by every strategy (the budget is the same for all), sized so that the five
#: strategies × three seeds take about an hour on 2 CPU cores.
COMMON = {
    "iterations": 3,
    "per_iteration": 4,
    "dft_budget": 12,
    "n_generate": 32,
    "steps": 50,
    "bootstrap": 4,
}


def strategy_options(name: str, seed: int, extra: dict) -> dict:
    """Return the CampaignOptions fields of strategy ``name`` for ``seed``."""
    options = {"campaign_id": f"bench-{name}", **COMMON, **STRATEGIES[name], **extra, "seed": seed}
    if options.get("source") == "substitution" or name == "masked":
        options["n_generate"] = SUBSTITUTION_WINDOW * options["per_iteration"]
    return options


def run_strategies(
    root: Path, names: list[str], seed: int, extra: dict, corpus_from: Path | None = None
) -> dict[str, float]:
    """Run each strategy's campaign in ``root/<name>``; return wall seconds per strategy.

    ``corpus_from``: a home whose ingested sample corpus is copied into each new home
    (:func:`bench_common.copy_corpus`); the first home run ingests it otherwise.
    """
    seconds = {}
    for name in names:
        if corpus_from is not None:
            copy_corpus(corpus_from, root / name)
        seconds[name], _ = run_campaign_in(root / name, strategy_options(name, seed, extra))
        corpus_from = corpus_from or root / name
        print(f"seed {seed} {name}: {seconds[name]:.0f} s", file=sys.stderr, flush=True)
    return seconds


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def print_seed_table(seed: int, rows: list[dict]) -> None:
    """Print one seed's rows (one per strategy and iteration)."""
    print(f"\nseed {seed} (common hull of this seed's homes)")
    print(
        f"{'strategy':>15} {'iter':>4} {'oracle':>6} {'failed':>6} {'stable≤0.1':>10} "
        f"{'SUN≤0.1':>7} {'SUN≤0':>5} {'cum SUN≤0.1':>11} {'calls/SUN':>9} {'MAE before':>10}"
    )
    for row in rows:
        print(
            f"{row['strategy']:>15} {row['iteration']:>4} {row['oracle_calls']:>6} "
            f"{row['failed']:>6} {row['stable']:>10} {row['sun']:>7} {row['sun_strict']:>5} "
            f"{row['cumulative_sun']:>11} {_fmt(row['calls_per_sun']):>9} "
            f"{_fmt(row['mae_before'], 3):>10}"
        )


def _spread(row: dict, key: str) -> str:
    mean, std = row[f"{key}_per_call"], row[f"{key}_per_call_std"]
    return _fmt(mean) + ("" if std is None else f" ± {std:.2f}")


def print_summary(summary: list[dict]) -> None:
    """Print S.U.N. per oracle call, mean ± std over the seeds."""
    print("\nS.U.N. per oracle call over the seeds (mean ± sample std)")
    print(
        f"{'strategy':>15} {'iter':>4} {'seeds':>5} {'calls':>6} "
        f"{'SUN≤0.1 / call':>16} {'SUN≤0 / call':>16}"
    )
    for row in summary:
        print(
            f"{row['strategy']:>15} {row['iteration']:>4} {row['seeds']:>5} "
            f"{_fmt(row['oracle_calls'], 1):>6} {_spread(row, 'sun'):>16} "
            f"{_spread(row, 'sun_strict'):>16}"
        )


def main() -> None:
    """Run (or only analyse) the strategies per seed, print the tables and write the JSON."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", default="benchmarks/results/discovery_efficiency.json")
    parser.add_argument(
        "--home", help="Folder of the strategies' homes (default: a fresh temp folder)."
    )
    parser.add_argument(
        "--strategies",
        nargs="+",
        choices=list(STRATEGIES),
        default=DEFAULT_STRATEGIES,
        help="Strategies to run (default: " + ", ".join(DEFAULT_STRATEGIES) + "; "
        "loop-surrogate is an extra ablation).",
    )
    parser.add_argument(
        "--seeds",
        nargs="+",
        type=int,
        default=[0, 1, 2],
        help="Seeds; each strategy runs once per seed in its own home (default: 0 1 2).",
    )
    parser.add_argument(
        "--analyse-only", action="store_true", help="Analyse the campaigns already under --home."
    )
    parser.add_argument(
        "--options", default="{}", help="Extra CampaignOptions fields as JSON (not the seed)."
    )
    args = parser.parse_args()
    extra = json.loads(args.options)
    if "seed" in extra:
        parser.error("give seeds with --seeds, not in --options")
    home = Path(args.home or tempfile.mkdtemp(prefix="crystaloop-discovery-")).resolve()
    from crystaloop.analysis.discovery import efficiency_table
    from crystaloop.analysis.efficiency import seed_summary
    from crystaloop.settings import load_settings

    seconds: dict[int, dict[str, float]] = {}
    tables: dict[int, list[dict]] = {}
    analysis_seconds = 0.0
    for seed in args.seeds:
        root = home / f"seed{seed}"
        if not args.analyse_only:
            first = home / f"seed{args.seeds[0]}" / args.strategies[0]
            corpus_from = first if first.exists() else None
            seconds[seed] = run_strategies(root, args.strategies, seed, extra, corpus_from)
        campaigns = {}
        for name in args.strategies:
            os.environ["CRYSTALOOP_HOME"] = str(root / name)
            campaigns[f"bench-{name}"] = load_settings()
        t0 = time.perf_counter()
        tables[seed] = [{"seed": seed, **row} for row in efficiency_table(campaigns)]
        analysis_seconds += time.perf_counter() - t0
        print_seed_table(seed, tables[seed])
    summary = seed_summary(tables)
    print_summary(summary)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    result = {
        "hardware": hardware(),
        "home": str(home),
        "common_options": {**COMMON, **extra},
        "strategies": {
            n: {k: v for k, v in strategy_options(n, 0, extra).items() if k != "seed"}
            for n in args.strategies
        },
        "seeds": args.seeds,
        "wall_seconds": seconds,
        "analysis_seconds": analysis_seconds,
        "rows": [row for seed in args.seeds for row in tables[seed]],
        "summary": summary,
    }
    Path(args.out).write_text(json.dumps(result, indent=1, default=str))


if __name__ == "__main__":
    main()
