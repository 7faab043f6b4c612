r"""Train a generator at DiffCSP size on a GPU machine that has torch but no pymatgen.

Two steps, one on each machine:

1. Here (pymatgen): read the data files, split them with the seed-0 hash split of the shipped
   models and save the crystals as plain tensors::

       python scripts/gpu_generator.py export --data ../shared/data/perov_5/val.csv \\
           --out build/gpu/perov5.pt

2. On the GPU machine (the repository is copied there; carry ``build/gpu``)::

       python scripts/gpu_generator.py train --tensors build/gpu/perov5.pt --mode csp \\
           --size diffcsp --minutes 8 --device cuda --out $OUT/perov5/csp

   It trains with the recipe of ``crystaloop train generator`` (warm-up, cosine over the budget,
   EMA weights) through the same library call, and writes the same checkpoint and card.

Back here, the checkpoint loads and samples on the CPU (``load_generator(dir, "cpu")``), and
``python benchmarks/generators.py --models DIR_OF_BUNDLE`` measures it. The tensors file is read
with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository, not installed

FORMAT = "crystaloop.generator-data/1"


def export(args: argparse.Namespace) -> None:
    """Read, split and save the crystals as tensors."""
    import numpy as np
    import torch

    from crystaloop.ml.data.split import SplitPlan
    from crystaloop.stores.ingest.labelled import check_records
    from crystaloop.stores.ingest.training_sets import read_crystal_sources

    crystals, errors, sources = read_crystal_sources(
        args.data, max_sites=500, max_atoms=args.max_atoms
    )
    check_records(errors, ", ".join(map(str, args.data)))
    plan = SplitPlan(seed=args.seed)
    splits = plan.partition(crystals, lambda c: c.source_id)
    payload = {
        "format": FORMAT,
        "split": plan.as_dict(),
        "data": [str(p) for p in args.data],
        "sources": sources,
        "splits": {
            name: {
                "lattice": torch.from_numpy(
                    np.array([c.lattice for c in items], dtype=np.float64).reshape(-1, 3, 3)
                ),
                "frac": [torch.tensor(c.frac, dtype=torch.float64) for c in items],
                "numbers": [torch.tensor(c.numbers, dtype=torch.long) for c in items],
                "source_id": [c.source_id for c in items],
            }
            for name, items in splits.items()
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(payload, args.out)
    sizes = {k: len(v) for k, v in splits.items()}
    print(f"wrote {args.out}: {sizes}")


def load_splits(path: Path) -> tuple[dict, dict]:
    """Return ``(splits of CrystalArrays, the file's metadata)``."""
    import torch

    from crystaloop.ml.generative.crystal import CrystalArrays

    payload = torch.load(path, weights_only=True)
    if payload.get("format") != FORMAT:
        raise SystemExit(f"{path}: not a {FORMAT} file")
    splits = {}
    for name, part in payload["splits"].items():
        splits[name] = [
            CrystalArrays(
                lattice=part["lattice"][i].numpy(),
                frac=part["frac"][i].numpy(),
                numbers=part["numbers"][i].numpy(),
                source_id=part["source_id"][i],
            )
            for i in range(len(part["source_id"]))
        ]
    return splits, {k: payload[k] for k in ("split", "data", "sources")}


def train(args: argparse.Namespace) -> None:
    """Train a new generator on the tensors and write its checkpoint."""
    from crystaloop.ml.generative.config import GeneratorConfig, GeneratorTrainOptions
    from crystaloop.ml.generative.fit import fit_generator, new_generator

    splits, meta = load_splits(args.tensors)
    config = GeneratorConfig.sized(args.size, kind=args.kind, mode=args.mode)
    model = new_generator(config, splits, args.seed)
    options = GeneratorTrainOptions(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        device=args.device,
        time_limit=args.minutes * 60,
        eval_every=1,
    )
    card, result = fit_generator(
        model, splits, options, args.out, {**meta, "tensors": str(args.tensors)}, log=print
    )
    print(
        f"{card['parameters']:,} parameters, {card['training']['epochs_run']} epochs, best "
        f"validation loss {result.best_val_loss:.4f}, written to {args.out}"
    )


def main() -> None:
    """Parse the command line and run ``export`` or ``train``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("export", help="read and split the data here, save tensors")
    ex.add_argument("--data", type=Path, action="append", required=True)
    ex.add_argument("--max-atoms", type=int)
    ex.add_argument("--seed", type=int, default=0)
    ex.add_argument("--out", type=Path, required=True)
    tr = sub.add_parser("train", help="train on the tensors (GPU machine)")
    tr.add_argument("--tensors", type=Path, required=True)
    tr.add_argument("--kind", default="diffusion", choices=["diffusion", "flow"])
    tr.add_argument("--mode", default="csp", choices=["csp", "abinitio"])
    tr.add_argument("--size", default="diffcsp", choices=["small", "diffcsp"])
    tr.add_argument("--minutes", type=float, default=8.0)
    tr.add_argument("--epochs", type=int, default=3000)
    tr.add_argument("--batch-size", type=int, default=256)
    tr.add_argument("--lr", type=float, default=1e-3)
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--device", default="cuda")
    tr.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    export(args) if args.command == "export" else train(args)


if __name__ == "__main__":
    main()
