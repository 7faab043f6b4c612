"""The shipped ``eform`` surrogate on its held-out split, per source, and its inference speed.

Reads the labelled data (``scripts/label_eform_data.py``'s JSON lines, rebuilt from the committed
label table if missing) and the model's ``split.json``, and reports on the test split, overall
and per source (Perov-5, Carbon-24, MP): MAE, RMSE, the 90 % interval coverage, miscalibration
area, Spearman ρ(|error|, σ), the share of predictions confident at the model's level and how
many of those were within 0.12 eV/atom, beside the baseline that predicts each source's
training mean. Then the inference throughput of the whole ensemble through the campaign's
scoring function (``crystaloop.ml.crysformer.scoring.score_structures``: graph building
included) on cells of at most 20 atoms, at batch 256.

    python benchmarks/surrogate_eform.py [--model eform] [--data build/eform-data/...]
        [--out benchmarks/results/surrogate_eform.json]
"""

from __future__ import annotations

import argparse
import gzip
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from bench_common import hardware

DATA = Path("build/eform-data/eform_labels.jsonl.gz")
LABELS = Path("scripts/data/eform_labels.csv.gz")


def load_rows(path: Path) -> list[dict]:
    """Return the labelled records, rebuilding the JSON lines from the label table if needed."""
    if not path.exists():
        subprocess.run(
            [sys.executable, "scripts/label_eform_data.py", "--from-labels", str(LABELS),
             "--out", str(path.parent)],
            check=True,
        )  # fmt: skip
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def main() -> None:
    """Evaluate, time, print the table and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="eform")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", default="benchmarks/results/surrogate_eform.json")
    parser.add_argument("--speed-n", type=int, default=2048, help="Structures timed.")
    args = parser.parse_args()

    from pymatgen.core import Structure

    from crystaloop.ml.checkpoint import find_surrogate, load_ensemble
    from crystaloop.ml.crysformer.scoring import score_structures
    from crystaloop.ml.data.dataset import InMemoryGraphs, build_samples

    directory = find_surrogate(args.model)
    ensemble = load_ensemble(directory)
    split = json.loads((directory / "split.json").read_text())
    test_ids = set(split["test"])
    rows = load_rows(args.data)
    by_id = {r["source_id"]: r for r in rows}
    train = [r for r in rows if r["source_id"] not in test_ids | set(split["val"])]
    test = [by_id[i] for i in sorted(test_ids)]
    items = (
        (r["source_id"], Structure.from_dict(r["structure"]), np.array([r["e_form"]], np.float32))
        for r in test
    )
    config = ensemble.config
    samples = list(build_samples(items, config.k, config.cutoff))
    graphs = InMemoryGraphs(samples, config.targets)
    report = {"all": ensemble.evaluate(graphs)["e_form"]}
    sources = sorted({r["source"] for r in test})
    means = {s: float(np.mean([r["e_form"] for r in train if r["source"] == s])) for s in sources}
    report["all"]["baseline_mae"] = float(
        np.mean([abs(r["e_form"] - means[r["source"]]) for r in test])
    )
    for source in sources:
        subset = graphs.subset(
            [k for k, s in enumerate(samples) if by_id[s.sample_id]["source"] == source]
        )
        report[source] = ensemble.evaluate(subset)["e_form"]
        truth = np.array([by_id[s.sample_id]["e_form"] for s in subset.samples])
        report[source]["baseline_mae"] = float(np.abs(truth - means[source]).mean())
    print(
        f"{'source':>20} {'n':>5} {'MAE':>7} {'RMSE':>7} {'cov90':>6} {'miscal':>6} "
        f"{'rho':>6} {'conf':>6} {'within':>6} {'mean-MAE':>8}"
    )
    for name, m in report.items():
        within = m["confident_within_tolerance"]
        print(
            f"{name:>20} {m['n']:>5} {m['mae']:>7.4f} {m['rmse']:>7.4f} "
            f"{m['coverage_90']:>6.3f} {m['miscalibration_area']:>6.3f} "
            f"{m['spearman_abs_error_std']:>6.2f} {m['confident_share']:>6.2f} "
            f"{within:>6.2f} {m['baseline_mae']:>8.4f}"
        )

    small = [
        Structure.from_dict(r["structure"]) for r in rows if len(r["structure"]["sites"]) <= 20
    ]
    picks = [(str(i), small[i % len(small)]) for i in range(args.speed_n)]
    score_structures(ensemble, picks[:64])  # warm-up
    speed = {}
    for workers in (1, 2):
        t0 = time.perf_counter()
        score_structures(ensemble, picks, batch_size=256, workers=workers)
        seconds = time.perf_counter() - t0
        speed[f"workers_{workers}"] = {"seconds": seconds, "per_second": len(picks) / seconds}
        print(
            f"scoring {len(picks)} cells of ≤ 20 atoms with {len(ensemble.members)} members, graph "
            f"building in {workers} process(es): {len(picks) / seconds:.0f} structures/s"
        )
    result = {
        "hardware": hardware(),
        "model": str(directory),
        "members": len(ensemble.members),
        "test": report,
        "speed": speed,
        "calibration": ensemble.calibration(),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1, default=float))


if __name__ == "__main__":
    main()
