"""Reconstruction by masked generators on the held-out split of their own training data (seed 003).

For every test record of the first model's split (its card names the data file and the split
plan; every model compared must share them), each noise σ and each mask (``species``: all sites
of one random element; ``random``: 15 % of the sites, at least one), the record is masked and
every atom displaced by mean-free Gaussian noise of σ Å, and the model reconstructs it once
(k = 1, temperature 1). Per condition:

* **species recovery**: share of masked sites given back their own element;
* **structural validity** (no two atoms closer than 0.5 Å, CDVAE's test) and **compositional
  validity** (SMACT charge balance) of the reconstructions;
* **match** to the original crystal: DiffCSP's protocol (StructureMatcher stol 0.5, ltol 0.3,
  angle_tol 10, ``get_rms_dist(reconstruction, original)``), match rate and RMSE;
* **position error**: RMS distance (Å) between reconstructed and original positions, against
  the RMS displacement of the input (the part of the noise the model removed);
* **compositional similarity**: cosine similarity between the original and the reconstructed
  composition, each the fraction-weighted mean of its elements' atomic-property vectors
  (Crysformer's k-hot features: group, period, electronegativity, radius, valence, ...), so a
  chemically similar wrong element scores near 1. This is our definition: the seed's formula
  was not reachable.

Seeds vary the masks, the noise and the draws. Prints one row per (model, σ, mask) as the mean ±
std over seeds and writes JSON.

Usage::

    python benchmarks/masked_reconstruction.py --models perov5-masked perov5-masked-gan \
        --noise 0.1 0.2 --seeds 0 1 2 --max-records 300
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from bench_common import hardware


def held_out(model_dir: Path, max_records: int | None) -> tuple[list, dict]:
    """Return ``(id, primitive structure)`` of the test split of the model's data, and its card."""
    from crystaloop.ml.checkpoint import read_card
    from crystaloop.ml.data.split import SplitPlan
    from crystaloop.ml.generative.crystal import to_structure
    from crystaloop.stores.ingest.training_sets import read_crystal_sources

    card = read_card(model_dir)
    training = card["training"]
    data = training["data"]
    paths = data if isinstance(data, list) else [data]
    crystals, errors, _ = read_crystal_sources(paths, max_sites=500)
    if errors:
        raise SystemExit(f"{paths}: {len(errors)} invalid records")
    plan = SplitPlan.from_dict(training["split"])
    test = plan.partition(crystals, lambda c: c.source_id)["test"]
    records = [(c.source_id, to_structure(c.lattice, c.frac, c.numbers)) for c in test]
    return records[:max_records] if max_records else records, card


def composition_vector(structure) -> np.ndarray:
    """Return the fraction-weighted mean atomic-property vector of ``structure``'s composition."""
    from crystaloop.ml.data.features import khot_table

    table = khot_table()
    comp = structure.composition.fractional_composition
    return sum(float(x) * table[el.Z] for el, x in comp.items())


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Return the cosine similarity of two vectors."""
    return float(a @ b / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-12))


def evaluate(model, records, mask: str, noise: float, seed: int) -> dict[str, float]:
    """Reconstruct every record once and return the metrics of the module docstring."""
    from crystaloop.chem.metrics import compositional_validity, csp_match, structural_validity
    from crystaloop.ml.masked.sampling import mask_inputs, reconstruct

    start = time.perf_counter()
    inputs = mask_inputs(model, records, mask, noise, seed)
    recs = reconstruct(model, inputs, 1, seed)
    seconds = time.perf_counter() - start
    outputs = [r.structures()[0] for r in recs]
    originals = [s for _, s in records]
    hits = total = 0
    before, after = [], []
    similarity = []
    for rec, out, original in zip(recs, outputs, originals, strict=True):
        sites = np.flatnonzero(rec.input.mask)
        z = np.array([site.specie.Z for site in original])
        hits += int((rec.numbers[0][sites] == z[sites]).sum())
        total += len(sites)
        before.append(float(np.sqrt(np.mean(np.sum(rec.input.displacement**2, axis=1)))))
        diff = rec.positions - original.cart_coords
        after.append(float(np.sqrt(np.mean(np.sum(diff**2, axis=1)))))
        similarity.append(cosine(composition_vector(original), composition_vector(out)))
    match = csp_match([[o] for o in outputs], originals, 1)
    return {
        "species_recovery": hits / max(total, 1),
        "structural_validity": structural_validity(outputs),
        "compositional_validity": compositional_validity(outputs),
        "match_rate": match["match_rate"],
        "match_rmse": match["rmse"],
        "input_rms_displacement": float(np.mean(before)),
        "output_rms_error": float(np.mean(after)),
        "compositional_similarity": float(np.mean(similarity)),
        "records": len(records),
        "seconds": round(seconds, 2),
    }


def main() -> None:
    """Run every condition and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["perov5-masked", "perov5-masked-gan"])
    parser.add_argument("--noise", nargs="+", type=float, default=[0.1, 0.2])
    parser.add_argument("--masks", nargs="+", default=["species", "random"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--max-records", type=int, default=300)
    parser.add_argument(
        "--json", type=Path, default=Path("benchmarks/results/masked_reconstruction.json")
    )
    args = parser.parse_args()

    import torch

    from crystaloop.ml.masked.checkpoint import find_masked, load_masked

    torch.set_num_threads(1)
    dirs = [find_masked(name) for name in args.models]
    records, card = held_out(dirs[0], args.max_records)
    from crystaloop.ml.checkpoint import read_card

    for name, directory in zip(args.models[1:], dirs[1:], strict=True):
        training = read_card(directory)["training"]
        split = (training.get("pretraining") or training).get("split")
        if split != card["training"]["split"]:
            raise SystemExit(f"{name} was not pre-trained on {args.models[0]}'s split")
    rows = []
    for name, directory in zip(args.models, dirs, strict=True):
        model = load_masked(directory)
        for noise in args.noise:
            for mask in args.masks:
                runs = [evaluate(model, records, mask, noise, seed) for seed in args.seeds]
                row = {"model": name, "noise": noise, "mask": mask, "runs": runs}
                for key in runs[0]:
                    values = [r[key] for r in runs if r[key] is not None]
                    if values and key not in ("records",):
                        row[key] = {"mean": float(np.mean(values)), "std": float(np.std(values))}
                rows.append(row)
                print(json.dumps({k: v for k, v in row.items() if k != "runs"}), file=sys.stderr)
    keys = [
        "species_recovery", "structural_validity", "compositional_validity", "match_rate",
        "output_rms_error", "compositional_similarity",
    ]  # fmt: skip
    print(f"{len(records)} held-out records of {card['training']['data']}, seeds {args.seeds}")
    print("| model | σ Å | mask | " + " | ".join(keys) + " |")
    print("|" + "---|" * (3 + len(keys)))
    for row in rows:
        cells = [f"{row[k]['mean']:.3f} ± {row[k]['std']:.3f}" for k in keys]
        print(f"| {row['model']} | {row['noise']} | {row['mask']} | " + " | ".join(cells) + " |")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {
                "benchmark": "masked_reconstruction",
                "hardware": hardware(),
                "models": {n: str(d) for n, d in zip(args.models, dirs, strict=True)},
                "records": len(records),
                "seeds": args.seeds,
                "rows": rows,
            },
            indent=1,
        )
    )
    print(f"written {args.json}")


if __name__ == "__main__":
    main()
