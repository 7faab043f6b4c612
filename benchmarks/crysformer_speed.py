"""Inference throughput of a K-member Crysformer ensemble on small cells, graph building included.

Scores real structures (Perov-5 validation cells, 5 atoms, and Materials Project cells of at most
``--max-sites`` sites from Matbench dielectric) with a randomly initialised ensemble of the
configuration the campaign ships (``CrysformerConfig(targets=["e_form"], num_layers=2)``) and
reports structures per second for

* graph building (``knn_graph`` one structure at a time, and ``knn_graphs`` for many at once),
* collating a batch,
* one member's forward pass (``predict`` on collated batches),
* :func:`~crystaloop.ml.crysformer.scoring.score_structures` end to end (graph building included).

Each figure is the best of ``--repeat`` runs, in wall time or (``--clock cpu``) in the process's
CPU time, which other jobs on a busy machine disturb less (meaningful with one thread), e.g.::

    OMP_NUM_THREADS=1 python benchmarks/crysformer_speed.py [--threads 1] [--members 5]
        [--n 1024] [--batch-size 256] [--clock wall|cpu] [--data ../shared/data]
        [--out benchmarks/results/crysformer_speed.json]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from crystaloop.ml.crysformer.config import CrysformerConfig
from crystaloop.ml.crysformer.ensemble import CrysformerEnsemble
from crystaloop.ml.crysformer.model import Crysformer
from crystaloop.ml.crysformer.scoring import score_structures
from crystaloop.ml.data import graph as graph_module
from crystaloop.ml.data.batch import collate

ROOT = Path(__file__).resolve().parents[1]


def load_sets(data: Path, n: int, max_sites: int, seed: int = 0) -> dict[str, list]:
    """Return ``{name: [(id, structure), ...]}``: Perov-5 and small MP cells, ``n`` each."""
    from pymatgen.core import Structure

    rng = np.random.default_rng(seed)
    csv.field_size_limit(sys.maxsize)
    with open(data / "perov_5" / "val.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    pick = rng.choice(len(rows), min(n, len(rows)), replace=False)
    perov = [(f"perov-{i}", Structure.from_str(rows[i]["cif"], fmt="cif")) for i in pick]
    with gzip.open(data / "matbench_dielectric" / "matbench_dielectric.json.gz", "rt") as handle:
        table = json.load(handle)["structure"]
    small = [key for key, d in table.items() if len(d["sites"]) <= max_sites]
    pick = rng.choice(len(small), min(n, len(small)), replace=False)
    mp = [(f"mp-{small[i]}", Structure.from_dict(table[small[i]])) for i in pick]
    return {"perov5": perov, f"mp_le{max_sites}": mp}


def random_ensemble(members: int, seed: int = 0) -> CrysformerEnsemble:
    """Return a randomly initialised ensemble of the shipped configuration (all elements seen)."""
    torch.manual_seed(seed)
    config = CrysformerConfig(targets=["e_form"], num_layers=2)
    models = [Crysformer(config) for _ in range(members)]
    for model in models:
        model.seen_elements[:] = True
        model.eval()
    return CrysformerEnsemble(models)


CLOCK = {"wall": time.perf_counter, "cpu": time.process_time}
clock = time.perf_counter


def best_of(repeat: int, fn: Callable[[], object]) -> float:
    """Return the smallest time (of :data:`clock`) of ``repeat`` calls of ``fn``."""
    times = []
    for _ in range(repeat):
        start = clock()
        fn()
        times.append(clock() - start)
    return min(times)


def measure(
    name: str, items: list, ensemble: CrysformerEnsemble, batch_size: int, repeat: int
) -> dict[str, float]:
    """Return structures per second of each stage on ``items``."""
    config = ensemble.config
    structures = [s for _, s in items]
    n = len(items)
    row: dict[str, float] = {
        "structures": n,
        "mean_sites": float(np.mean([len(s) for s in structures])),
    }

    def one_by_one() -> list:
        return [graph_module.knn_graph(s, config.k, config.cutoff) for s in structures]

    row["graph_single_per_s"] = n / best_of(repeat, one_by_one)
    batched = getattr(graph_module, "knn_graphs", None)
    if batched is not None:
        row["graph_batched_per_s"] = n / best_of(
            repeat, lambda: batched(structures, config.k, config.cutoff)
        )
    graphs = one_by_one()
    chunks = [graphs[i : i + batch_size] for i in range(0, n, batch_size)]
    row["collate_per_s"] = n / best_of(repeat, lambda: [collate(c) for c in chunks])
    batches = [collate(c) for c in chunks]
    member = ensemble.members[0]

    def forward() -> None:
        with torch.inference_mode():
            for batch in batches:
                member.predict(batch)

    forward()
    row["member_forward_per_s"] = n / best_of(repeat, forward)
    row["score_structures_per_s"] = n / best_of(
        repeat, lambda: score_structures(ensemble, items, batch_size=batch_size)
    )
    print(
        f"{name:10s} {n:5d} cells, {row['mean_sites']:4.1f} sites: "
        + ", ".join(f"{k} {v:,.0f}" for k, v in row.items() if k.endswith("_per_s")),
        flush=True,
    )
    return row


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print a table and write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--n", type=int, default=1024)
    parser.add_argument("--max-sites", type=int, default=20)
    parser.add_argument("--members", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--clock",
        choices=sorted(CLOCK),
        default="wall",
        help="wall time, or the process's CPU time (less disturbed by other jobs; one thread)",
    )
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results" / "crysformer_speed.json"
    )
    args = parser.parse_args(argv)
    global clock
    clock = CLOCK[args.clock]
    torch.set_num_threads(args.threads)
    import crystaloop

    print(f"crystaloop from {Path(crystaloop.__file__).parent}, {args.threads} thread(s)")
    sets = load_sets(args.data, args.n, args.max_sites)
    ensemble = random_ensemble(args.members)
    results = {
        name: measure(name, items, ensemble, args.batch_size, args.repeat)
        for name, items in sets.items()
    }
    mixed = [item for items in sets.values() for item in items]
    results["mixed"] = measure("mixed", mixed, ensemble, args.batch_size, args.repeat)
    if args.out:
        from bench_common import hardware

        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(
            json.dumps(
                {"args": {k: str(v) for k, v in vars(args).items()}, "hardware": hardware()}
                | {"results": results},
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
