"""Train the shipped ``eform`` surrogate: a Crysformer ensemble on the oracle-labelled data.

The data are ``scripts/label_eform_data.py``'s JSON lines (structures with ``e_form``, the CHGNet
formation energy per atom against the loop's references). The split is fixed: a seeded hash of
each record's id (:class:`~crystaloop.ml.data.split.SplitPlan`, 80/10/10, seed 0); the ensemble
trains on the first, is calibrated on the second and scored on the third, per source. Each
member trains for ``--epochs`` with a linear warm-up and a cosine decay of the learning rate to
1 % of its peak at the last epoch (the schedule decays within the budget), keeping the weights of
its best validation epoch.

Run from the repository root (about 1.5 h on 2 idle CPU cores with the defaults)::

    python scripts/label_eform_data.py --from-labels scripts/data/eform_labels.csv.gz
    python scripts/train_eform.py --out crystaloop/models/eform
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from pathlib import Path

import numpy as np


def read(path: Path) -> list[dict]:
    """Return the JSON-lines records of ``path``."""
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def main() -> None:
    """Train, calibrate, evaluate and save the ensemble."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("build/eform-data/eform_labels.jsonl.gz"))
    parser.add_argument("--out", type=Path, default=Path("crystaloop/models/eform"))
    parser.add_argument("--members", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--limit", type=int, help="Use only this many records (a test run).")
    args = parser.parse_args()

    from pymatgen.core import Structure

    from crystaloop.ml.checkpoint import save_ensemble
    from crystaloop.ml.crysformer.config import CrysformerConfig
    from crystaloop.ml.crysformer.ensemble import train_ensemble
    from crystaloop.ml.data.dataset import InMemoryGraphs, build_samples
    from crystaloop.ml.data.split import SplitPlan
    from crystaloop.ml.training import TrainOptions

    started = time.perf_counter()
    rows = read(args.data)
    if args.limit:
        rows = rows[:: max(1, len(rows) // args.limit)][: args.limit]
    plan = SplitPlan(0.1, 0.1, args.seed)
    source = {r["source_id"]: r["source"] for r in rows}
    items = (
        (r["source_id"], Structure.from_dict(r["structure"]), np.array([r["e_form"]], np.float32))
        for r in rows
    )
    config = CrysformerConfig(targets=["e_form"], num_layers=args.layers)
    groups: dict[str, list] = {"train": [], "val": [], "test": []}
    for sample in build_samples(items, config.k, config.cutoff, args.workers):
        groups[plan.of(sample.sample_id)].append(sample)
    splits = {k: InMemoryGraphs(v, config.targets) for k, v in groups.items()}
    print({k: len(v) for k, v in splits.items()}, file=sys.stderr, flush=True)
    options = TrainOptions(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        patience=args.epochs,
        schedule="cosine",
        warmup_epochs=2,
        seed=args.seed,
    )

    def progress(member: int, entry: dict) -> None:
        mae = entry["val"]["e_form"]["mae"]
        print(
            f"member {member} epoch {entry['epoch']:>3} loss {entry['train_loss']:.4f} "
            f"val MAE {mae:.4f} lr {entry['lr']:.2e}",
            file=sys.stderr,
            flush=True,
        )

    ensemble = train_ensemble(
        config, splits["train"], splits["val"], args.members, options, progress=progress
    )
    ensemble.metrics["test"] = ensemble.evaluate(splits["test"])
    by_source = {}
    for name in sorted(set(source.values())):
        subset = splits["test"].subset(
            [k for k, s in enumerate(splits["test"].samples) if source[s.sample_id] == name]
        )
        if len(subset):
            by_source[name] = ensemble.evaluate(subset)
    ensemble.metrics["test_by_source"] = by_source
    ensemble.metrics["data"] = {
        "path": str(args.data),
        "card": "scripts/data/eform_labels.card.json",
        **{f"n_{k}": len(v) for k, v in splits.items()},
        **plan.as_dict(),
        "training_seconds": round(time.perf_counter() - started, 1),
        "options": {
            "epochs": args.epochs,
            "lr": args.lr,
            "batch_size": args.batch_size,
            "schedule": "cosine",
            "warmup_epochs": 2,
        },
    }
    card = save_ensemble(ensemble.to("cpu"), args.out, name="eform", label_oracle="chgnet")
    split_ids = {k: [s.sample_id for s in splits[k].samples] for k in ("val", "test")}
    (args.out / "split.json").write_text(json.dumps({**plan.as_dict(), **split_ids}))
    print(json.dumps({"sha256": card["sha256"], "test": ensemble.metrics["test"]}, indent=1))


if __name__ == "__main__":
    main()
