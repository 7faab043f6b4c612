"""Substitution proposals of a masked generator against pymatgen's substitution predictor.

Both propose new compositions on the same prototypes: the held-out (test) records of the masked
model's own split (crystals it never saw). The masked generator replaces one element of a
prototype on all its sites by an element it draws (:func:`crystaloop.ml.masked.proposals.propose`,
temperature 1, the prototype's own elements excluded; one seed per run); pymatgen's data-mined
substitution predictor (Hautier et al. 2011, :mod:`crystaloop.chem.substitution`, threshold
1e-3) ranks its substitutions by probability (the same for every seed, ties aside). The first
N proposals of each are scored:

* **structural validity** (no atoms closer than 0.5 Å) and **compositional validity** (SMACT);
* **uniqueness** within the batch and **novelty** against every structure of the data file
  (DiffCSP/CDVAE protocol: StructureMatcher on same formula and size);
* **predicted stable**: mean p(E_hull ≤ 0.1) of the shipped stability classifier (a cheap proxy,
  not a label; S.U.N. per oracle call comes from ``discovery_efficiency.py --strategies
  substitution masked``).

Prints mean ± std over seeds and writes JSON.

Usage::

    python benchmarks/substitution_proposals.py --model perov5-masked --n 200 --prototypes 100
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from bench_common import hardware
from masked_reconstruction import held_out


def metrics(structures, reference, stability) -> dict[str, float]:
    """Return the scores of the module docstring for one batch."""
    from crystaloop.chem.metrics import (
        compositional_validity,
        novelty,
        structural_validity,
        uniqueness,
    )
    from crystaloop.ml.crysformer.classifier import predict_structures

    return {
        "n": len(structures),
        "structural_validity": structural_validity(structures),
        "compositional_validity": compositional_validity(structures),
        "uniqueness": uniqueness(structures),
        "novelty": novelty(structures, reference),
        "predicted_stable": float(np.mean(predict_structures(stability, structures))),
    }


def main() -> None:
    """Propose with both, score, print."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="perov5-masked")
    parser.add_argument("--stability", default="perov5-stability")
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--prototypes", type=int, default=100)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument(
        "--json", type=Path, default=Path("benchmarks/results/substitution_proposals.json")
    )
    args = parser.parse_args()

    import torch
    from pymatgen.core import Element

    from crystaloop.chem.substitution import ranked_substitutions
    from crystaloop.ml.classifier_checkpoint import find_classifier, load_classifier
    from crystaloop.ml.masked.checkpoint import find_masked, load_masked
    from crystaloop.ml.masked.proposals import propose
    from crystaloop.stores.ingest.training_sets import read_crystals

    torch.set_num_threads(1)
    directory = find_masked(args.model)
    model = load_masked(directory)
    stability = load_classifier(find_classifier(args.stability, "stability"))
    prototypes, card = held_out(directory, args.prototypes)
    _, reference, _ = read_crystals(Path(card["training"]["data"]), max_sites=500)
    elements = {Element.from_Z(z).symbol for z in model.config.elements}
    rows: dict[str, list[dict]] = {"masked": [], "pymatgen": []}
    for seed in args.seeds:
        mine = [p.structure for p in propose(model, prototypes, args.n, seed)]
        rows["masked"].append({"seed": seed, **metrics(mine, reference, stability)})
        batch = ranked_substitutions(prototypes, elements, n=args.n, seed=seed)
        theirs = [p.structure for p in batch.proposals]
        row = {"seed": seed, "skipped_prototypes": len(batch.skipped)}
        rows["pymatgen"].append({**row, **metrics(theirs, reference, stability)})
        print(json.dumps({k: v[-1] for k, v in rows.items()}), file=sys.stderr)
    keys = [
        "n", "structural_validity", "compositional_validity", "uniqueness", "novelty",
        "predicted_stable",
    ]  # fmt: skip
    print(f"{len(prototypes)} held-out prototypes, {args.n} proposals each, seeds {args.seeds}")
    print("| proposer | " + " | ".join(keys) + " |")
    print("|" + "---|" * (1 + len(keys)))
    for name, runs in rows.items():
        cells = [f"{np.mean([r[k] for r in runs]):.3f} ± {np.std([r[k] for r in runs]):.3f}"
                 for k in keys]  # fmt: skip
        print(f"| {name} | " + " | ".join(cells) + " |")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {
                "benchmark": "substitution_proposals",
                "hardware": hardware(),
                "model": str(directory),
                "rows": rows,
            },
            indent=1,
        )  # fmt: skip
    )
    print(f"written {args.json}")


if __name__ == "__main__":
    main()
