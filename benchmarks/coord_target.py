"""Coordinate-loss floor with the old (raw) and the new (mean-free) coordinate target.

Trains the small generator (128 × 4, the shipped size) on Perov-5 (the seed-0 hash split of
``perov_5/val.csv``) for the same number of optimiser steps with ``coord_mean_free`` off (the old
target: the network must predict each crystal's mean score / velocity, a translation it cannot
see) and on (target and output mean-free), for the diffusion and the flow model. Then evaluates
each trained model on validation crystals with fixed noise, in two ways:

* ``coord (own)``: the coordinate loss the model trained on;
* ``coord (mean-free)``: the error of the mean-free part of the prediction against the mean-free
  target, for both models the same measure. The old loss is this plus the per-crystal mean part
  (``raw = mean-free + mean`` exactly: the decomposition is orthogonal).

Prints a table and writes JSON. Usage::

    OMP_NUM_THREADS=1 python benchmarks/coord_target.py [--steps 150] [--out FILE]
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import torch
from bench_common import hardware

from crystaloop.ml.data.split import split_of
from crystaloop.ml.generative.config import GeneratorConfig, GeneratorTrainOptions
from crystaloop.ml.generative.crystal import collate_crystals, crystal_arrays
from crystaloop.ml.generative.model import build_model
from crystaloop.ml.generative.training import train_generator, with_statistics

ROOT = Path(__file__).resolve().parents[1]


def read_perov5(path: Path, n_train: int, n_val: int) -> tuple[list, list]:
    """Return up to ``n_train`` / ``n_val`` crystals of the seed-0 train / val split."""
    from pymatgen.core import Structure

    csv.field_size_limit(sys.maxsize)
    train, val = [], []
    with open(path, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            part = split_of(row["material_id"], 0.1, 0.1, 0)
            target = {"train": (train, n_train), "val": (val, n_val)}.get(part)
            if target is None or len(target[0]) >= target[1]:
                continue
            structure = Structure.from_str(row["cif"], fmt="cif")
            target[0].append(crystal_arrays(structure, source_id=row["material_id"]))
            if len(train) >= n_train and len(val) >= n_val:
                break
    return train, val


@torch.no_grad()
def coord_losses(model, items, mean_free: bool, seed: int = 1234, batch_size: int = 256) -> float:
    """Return the mean coordinate loss over ``items`` with fixed noise, target as asked."""
    saved = model.config.coord_mean_free
    model.config.coord_mean_free = mean_free
    model.eval()
    total, count = 0.0, 0
    try:
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            for start in range(0, len(items), batch_size):
                batch = collate_crystals(items[start : start + batch_size])
                total += model.loss(batch)["coord"].item() * batch.num_graphs
                count += batch.num_graphs
    finally:
        model.config.coord_mean_free = saved
    return total / max(count, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/perov_5/val.csv")
    parser.add_argument("--kinds", default="diffusion,flow")
    parser.add_argument("--steps", type=int, default=150, help="optimiser steps per model")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--n-train", type=int, default=1024)
    parser.add_argument("--n-val", type=int, default=256)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/coord_target.json")
    args = parser.parse_args()

    torch.set_num_threads(1)
    train, val = read_perov5(args.data, args.n_train, args.n_val)
    batches = -(-len(train) // args.batch_size)
    epochs = max(1, args.steps // batches)
    rows = []
    for kind in args.kinds.split(","):
        for mean_free in (False, True):
            config = with_statistics(
                GeneratorConfig.sized("small", kind=kind, coord_mean_free=mean_free), train, val
            )
            torch.manual_seed(0)
            model = build_model(config)
            options = GeneratorTrainOptions(
                epochs=epochs, batch_size=args.batch_size, lr=args.lr, seed=0
            )
            start = time.perf_counter()
            result = train_generator(model, train, [], options)
            seconds = time.perf_counter() - start
            own = coord_losses(model, val, mean_free)
            free = coord_losses(model, val, True)
            rows.append(
                {
                    "kind": kind,
                    "target": "mean-free" if mean_free else "raw (old)",
                    "steps": result.steps,
                    "train_coord_last_epoch": result.history[-1]["train_coord"],
                    "val_coord_own": own,
                    "val_coord_mean_free": free,
                    "val_coord_mean_part": own - free,
                    "seconds": seconds,
                }
            )
            print(f"  {kind} {rows[-1]['target']}: {seconds:.0f} s", file=sys.stderr)
    header = (
        f"{'kind':<10} {'target':<10} {'steps':>5} {'train coord':>11} {'val coord (own)':>15} "
        f"{'val coord (mean-free)':>21} {'s':>5}"
    )
    print(header)
    for r in rows:
        print(
            f"{r['kind']:<10} {r['target']:<10} {r['steps']:>5} "
            f"{r['train_coord_last_epoch']:>11.4f} {r['val_coord_own']:>15.4f} "
            f"{r['val_coord_mean_free']:>21.4f} {r['seconds']:>5.0f}"
        )
    record = {
        "benchmark": "coord_target",
        "hardware": hardware(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "data": str(args.data),
        "n_train": len(train),
        "n_val": len(val),
        "batch_size": args.batch_size,
        "lr": args.lr,
        "config": "small (128 x 4), EMA 0.999, warm-up + cosine over the steps",
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
