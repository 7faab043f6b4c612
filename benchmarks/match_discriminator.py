"""The match discriminator on fresh CSP samples of its held-out compositions (seed 000 §3.3).

The discriminator's card names its generator, data, rms threshold, sampling steps and split;
the compositions of its test split (compositions neither the generator nor the discriminator
trained on, no polymorph of a generator training composition either) are sampled afresh (K
samples each, one seed per run, not the seed of the training samples), each sample labelled by
DiffCSP's protocol (match when the normalised rms distance to the true structure is below the
card's ``rmsd``) and scored by the discriminator. Reported per seed and as mean ± std over
seeds:

* ROC AUC, and precision / recall at ``p_match > 0.5``;
* for each floor ``f``: the oracle calls the floor saves (share of samples with
  ``p_match < f``: a CSP campaign would not compute them) and what it costs (share of the true
  matches among them, and compositions whose every match was below the floor);
* the match rate of what the floor keeps against the plain match rate.

Usage::

    python benchmarks/match_discriminator.py --model perov5-match --samples 5 --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from bench_common import hardware

FLOORS = (0.02, 0.05, 0.1, 0.2, 0.3)


def test_compositions(card: dict, generator_dir: Path) -> list:
    """Return ``(id, structure)`` of the discriminator's test compositions, as it split them."""
    from crystaloop.ml.checkpoint import read_card
    from crystaloop.ml.data.split import SplitPlan
    from crystaloop.ml.generative.crystal import to_structure
    from crystaloop.stores.ingest.training_sets import read_crystals
    from crystaloop.workflows.discriminator import GROUP_KEY, held_out_records

    training = card["training"]
    if training["split"].get("group") != GROUP_KEY:
        raise SystemExit(f"the card's split groups by {training['split'].get('group')!r}, "
                         f"not {GROUP_KEY!r}: trained by another version")  # fmt: skip
    generator = read_card(generator_dir)["training"]

    def records(path: str) -> list:
        crystals, _, errors = read_crystals(Path(path), max_sites=500)
        if errors:
            raise SystemExit(f"{path}: {len(errors)} invalid records")
        return [(c.source_id, to_structure(c.lattice, c.frac, c.numbers)) for c in crystals]

    own = records(generator["data"])
    data = own if training["data"] == generator["data"] else records(training["data"])
    held_out, _ = held_out_records(data, own, SplitPlan.from_dict(generator["split"]))
    plan = SplitPlan.from_dict(training["split"])
    return [
        r for r in held_out
        if plan.of(GROUP_KEY.format(reduced_formula=r[1].composition.reduced_formula)) == "test"
    ]  # fmt: skip


def run(model, generator, records, samples: int, rmsd: float, seed: int, steps: int) -> dict:
    """Sample, label, score; return the metrics of one seed."""
    from crystaloop.ml.crysformer.classifier import binary_metrics, predict_structures
    from crystaloop.workflows.discriminator import match_examples

    examples = match_examples(generator, records, samples, rmsd, seed=1000 + seed, steps=steps)
    structures = [s for _, s, _ in examples.items]
    labels = np.array([y for _, _, y in examples.items], dtype=bool)
    ids = [sid for sid, _, _ in examples.items]
    p = predict_structures(model, structures)
    out = {"seed": seed, "samples": len(labels), **binary_metrics(p, labels)}
    out["match_rate"] = float(labels.mean())
    out["matcher_errors"] = len(examples.matcher_errors)
    floors = {}
    for floor in FLOORS:
        below = p < floor
        kept = ~below
        lost = {sid for sid, b, y in zip(ids, below, labels, strict=True) if y and b}
        found = {sid for sid, b, y in zip(ids, below, labels, strict=True) if y and not b}
        floors[str(floor)] = {
            "calls_saved": float(below.mean()),
            "matches_missed": float((below & labels).sum() / max(labels.sum(), 1)),
            "compositions_lost": len(lost - found),
            "kept_match_rate": float(labels[kept].mean()) if kept.any() else float("nan"),
        }
    out["floors"] = floors
    return out


def main() -> None:
    """Run every seed and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="perov5-match")
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--steps", type=int, help="Sampling steps (default: the card's).")
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/match.json"))
    args = parser.parse_args()

    import torch

    from crystaloop.ml.checkpoint import read_card
    from crystaloop.ml.classifier_checkpoint import find_classifier, load_classifier
    from crystaloop.ml.generative.checkpoint import find_generator, load_generator

    torch.set_num_threads(1)
    directory = find_classifier(args.model, "match")
    card = read_card(directory)
    model = load_classifier(directory)
    generator_dir = find_generator(card["generator"], "csp")
    if read_card(generator_dir)["sha256"] != card.get("generator_sha256"):
        raise SystemExit(f"{generator_dir} is not the generator {args.model} was trained on")
    generator = load_generator(generator_dir)
    records = test_compositions(card, generator_dir)
    steps = args.steps or card.get("steps")
    if not steps:
        raise SystemExit(f"{args.model}'s card records no sampling steps: give --steps")
    runs = [
        run(model, generator, records, args.samples, card["rmsd"], s, steps) for s in args.seeds
    ]
    for r in runs:
        print(json.dumps({k: v for k, v in r.items() if k != "floors"}), file=sys.stderr)

    def ms(values) -> str:
        return f"{np.mean(values):.3f} ± {np.std(values):.3f}"

    print(f"{len(records)} test compositions × {args.samples} samples, seeds {args.seeds}, "
          f"rmsd < {card['rmsd']}")  # fmt: skip
    for key in ("match_rate", "auc", "precision", "recall"):
        print(f"{key}: {ms([r[key] for r in runs])}")
    print(
        "| floor | oracle calls saved | true matches missed | compositions lost | kept match rate |"
    )
    print("|---|---|---|---|---|")
    for floor in FLOORS:
        rows = [r["floors"][str(floor)] for r in runs]
        print(
            f"| {floor} | {ms([x['calls_saved'] for x in rows])} | "
            f"{ms([x['matches_missed'] for x in rows])} | "
            f"{ms([x['compositions_lost'] for x in rows])} | "
            f"{ms([x['kept_match_rate'] for x in rows])} |"
        )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "benchmark": "match_discriminator",
        "hardware": hardware(),
        "model": str(directory),
        "compositions": len(records),
        "samples": args.samples,
        "runs": runs,
    }
    args.json.write_text(json.dumps(result, indent=1))
    print(f"written {args.json}")


if __name__ == "__main__":
    main()
