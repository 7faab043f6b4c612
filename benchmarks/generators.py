"""Generator quality and speed on each model's held-out split (DESIGN.md §5).

For every generator bundle (the shipped ``perov5`` and ``carbon24`` by default; ``mp`` too) the
script rebuilds the seed-0 hash split recorded in the model card from its data files (a model
trained on several files is tested on the held-out records of the first, the MP structures of
``mp``), and reports:

* CSP on the test split: match rate and RMSE at k = 1 and k = K, mean and std over the sampling
  seeds (DiffCSP's protocol, ``StructureMatcher(stol=0.5, angle_tol=10, ltol=0.3)``, both sides
  structurally valid), with the card's tuned corrector step, else DiffCSP's for the data set;
* ab initio: structural / compositional validity, uniqueness, novelty against the training
  split and distribution distances, for N crystals drawn with the training p(N) and the model
  card's corrector step (no resampling: ``benchmarks/generator_sampling.py`` measures it);
* speed: structures per hour generated (batch B, S steps; 100, 50 and 20 steps for one batch)
  and passing every screen (no corpus dedup: the novelty above covers it), and the screens'
  time per stage.

    python benchmarks/generators.py [--models perov5,carbon24,mp] [--data ../shared/data]
        [--k 20] [--n-test 100] [--seeds 0,1,2] [--step-lr X] [--n-abinitio 500] [--steps 100]
        [--batch-size 512] [--skip-abinitio] [--speed-only] [--bf16] [--device cpu]
        [--out benchmarks/results/generators.json]
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

from crystaloop.chem.metrics import csp_metrics, de_novo_metrics
from crystaloop.chem.screens import ScreenConfig, screen_structures, screen_summary
from crystaloop.ml.checkpoint import read_card
from crystaloop.ml.data.split import split_of
from crystaloop.ml.generative.checkpoint import load_generator
from crystaloop.ml.generative.crystal import crystal_arrays, to_structure
from crystaloop.ml.generative.samplers import SamplerOptions, sample_crystals
from crystaloop.ml.shipped import shipped_generator_dir

DATA_FILES = {"perov5": "perov_5/val.csv", "carbon24": "carbon_24/val.csv"}
#: DiffCSP's CSP corrector step sizes per data set, tuned for T = 1000 steps; the sampler scales
#: them by T / steps (before the scaling they were used as given, per step, at 100 steps).
STEP_LR = {"perov5": 5e-7, "carbon24": 5e-6, "mp": 1e-5}


def device_info(device: str) -> dict:
    """The machine (:func:`bench_common.hardware`), torch and the device, GPU named."""
    info = {**hardware(), "torch": torch.__version__, "device": device}
    if device.startswith("cuda"):
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def read_split(path: Path, split: dict) -> dict[str, list]:
    """Return the structures of ``path`` by split, as the training command split them."""
    from pymatgen.core import Structure

    csv.field_size_limit(sys.maxsize)
    out: dict[str, list] = {"train": [], "val": [], "test": []}
    with open(path, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            part = split_of(
                row["material_id"], split["val_fraction"], split["test_fraction"], split["seed"]
            )
            out[part].append((row["material_id"], Structure.from_str(row["cif"], fmt="cif")))
    return out


def read_card_splits(card: dict, data: Path) -> dict[str, list]:
    """Return the card's training data by split; test = held-out records of its first file.

    A model trained on several files (``mp``) is evaluated on the held-out structures of its first
    file (the Materials Project ones); its training split (for novelty) is every file's.
    """
    from crystaloop.ml.data.split import SplitPlan
    from crystaloop.stores.ingest.training_sets import read_crystal_sources

    training = card["training"]
    paths = training["data"] if isinstance(training["data"], list) else [training["data"]]
    paths = [
        Path(p) if Path(p).exists() else data / Path(p).relative_to("../shared/data") for p in paths
    ]
    plan = SplitPlan.from_dict(training["split"])
    out: dict[str, list] = {"train": [], "val": [], "test": []}
    for i, path in enumerate(paths):
        crystals, errors, _ = read_crystal_sources(
            [path], max_sites=500, max_atoms=training.get("max_atoms")
        )
        if errors:
            raise SystemExit(f"{path}: {len(errors)} invalid records, e.g. {errors[0]}")
        for part, items in plan.partition(crystals, lambda c: c.source_id).items():
            if part == "train" or i == 0:
                out[part] += [(c.source_id, structures_of([c])[0]) for c in items]
    return out


def timed_sample(model, counts, numbers, options, batch_size, device):
    """Sample and return (crystals, seconds)."""
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    crystals = sample_crystals(
        model, counts, numbers, options=options, batch_size=batch_size, device=device
    )
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return crystals, time.perf_counter() - t0


def structures_of(crystals):
    return [to_structure(c.lattice, c.frac, c.numbers) for c in crystals]


def bench_csp(name, directory, splits, args) -> dict:
    """CSP match rate and RMSE at k = 1 and k = K for each sampling seed, with mean and std."""
    import numpy as np

    model = load_generator(directory, device=args.device)
    test = splits["test"][: args.n_test]
    arrays = [crystal_arrays(s, source_id=mid) for mid, s in test]
    counts = [a.num_atoms for a in arrays for _ in range(args.k)]
    numbers = [a.numbers.tolist() for a in arrays for _ in range(args.k)]
    step_lr = args.step_lr  # else the card's tuned step, else DiffCSP's for the data set
    if step_lr is None:
        step_lr = model.sampling_defaults.get("step_lr") or STEP_LR.get(name, 1e-5)
    options = SamplerOptions(steps=args.steps, step_lr=step_lr, bf16=args.bf16)
    runs, seconds_total, samples = [], 0.0, 0
    for seed in args.seeds:
        torch.manual_seed(seed)
        crystals, seconds = timed_sample(
            model, counts, numbers, options, args.batch_size, args.device
        )
        seconds_total += seconds
        generated = structures_of(crystals)
        samples += len(generated)
        per_ref = [generated[i * args.k : (i + 1) * args.k] for i in range(len(test))]
        t0 = time.perf_counter()
        metrics = csp_metrics(per_ref, [s for _, s in test], ks=sorted({1, args.k}))
        runs.append(
            {
                "seed": seed,
                "metrics": metrics,
                "sampling_s": round(seconds, 2),
                "metrics_s": round(time.perf_counter() - t0, 1),
            }
        )
    summary = {}
    for key in runs[0]["metrics"]:
        match = [r["metrics"][key]["match_rate"] for r in runs]
        rmse = [r["metrics"][key]["rmse"] for r in runs if r["metrics"][key]["rmse"] is not None]
        summary[key] = {
            "match_rate": float(np.mean(match)),
            "match_rate_std": float(np.std(match)),
            "rmse": float(np.mean(rmse)) if rmse else None,
            "rmse_std": float(np.std(rmse)) if rmse else None,
        }
    return {
        "test_structures": len(test),
        "samples": samples,
        "seeds": list(args.seeds),
        "steps": model.config.timesteps if args.steps is None else args.steps,
        "step_lr": step_lr,
        "sampling_s": round(seconds_total, 2),
        "structures_per_hour": round(samples / seconds_total * 3600),
        "metrics": summary,
        "runs": runs,
    }


def bench_abinitio(name, directory, splits, args) -> dict:
    model = load_generator(directory, device=args.device)
    from crystaloop.ml.generative.num_atoms import TrainingNumAtoms

    torch.manual_seed(0)
    counts = TrainingNumAtoms(model.config.num_atoms_counts).sample(args.n_abinitio).tolist()
    options = SamplerOptions(steps=args.steps)  # the card's tuned corrector step, else the default
    crystals, seconds = timed_sample(model, counts, None, options, args.batch_size, args.device)
    generated = structures_of(crystals)
    timings: dict[str, float] = {}
    verdicts = screen_structures(
        generated, ScreenConfig(), processes=args.processes, timings=timings
    )
    summary = screen_summary(verdicts)
    t0 = time.perf_counter()
    metrics = de_novo_metrics(generated, [s for _, s in splits["train"]])
    passed_rate = summary["passed"] / len(generated)
    return {
        "generated": len(generated),
        "steps": model.config.timesteps if args.steps is None else args.steps,
        "sampling_s": round(seconds, 2),
        "structures_per_hour": round(len(generated) / seconds * 3600),
        "passing_screens_per_hour": round(summary["passed"] / seconds * 3600),
        "passing_screens_per_hour_incl_screening": round(
            summary["passed"] / (seconds + timings.get("total", 0.0)) * 3600
        ),
        "screens": summary,
        "screen_pass_rate": passed_rate,
        "screen_timings_s": {k: round(v, 3) for k, v in timings.items()},
        "metrics": metrics,
        "metrics_s": round(time.perf_counter() - t0, 1),
    }


def bench_speed(directory, args) -> list[dict]:
    """Structures per hour of ab initio sampling at several step counts (one batch each)."""
    model = load_generator(directory, device=args.device)
    from crystaloop.ml.generative.num_atoms import TrainingNumAtoms

    rows = []
    for steps in (100, 50, 20):  # the cost is linear in steps: 1000 steps take 10x the 100
        torch.manual_seed(0)
        counts = TrainingNumAtoms(model.config.num_atoms_counts).sample(args.batch_size).tolist()
        options = SamplerOptions(steps=steps, bf16=args.bf16)
        numbers = None
        if not model.config.predicts_types:  # CSP: any atoms of the training elements will do
            numbers = [
                [model.config.elements[i % len(model.config.elements)] for i in range(n)]
                for n in counts
            ]
        _, seconds = timed_sample(model, counts, numbers, options, args.batch_size, args.device)
        rows.append(
            {
                "steps": steps,
                "batch": args.batch_size,
                "seconds": round(seconds, 2),
                "structures_per_hour": round(args.batch_size / seconds * 3600),
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="perov5,carbon24")
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--n-test", type=int, default=100)
    parser.add_argument("--n-abinitio", type=int, default=500)
    parser.add_argument("--steps", type=int, default=100, help="0: the model's T")
    parser.add_argument(
        "--seeds",
        type=lambda t: [int(x) for x in t.split(",")],
        default=[0, 1, 2],
        help="CSP sampling seeds (mean and std over them)",
    )
    parser.add_argument(
        "--step-lr",
        type=float,
        default=None,
        help="CSP corrector step for T steps (default: DiffCSP's per data set, 1e-5 otherwise)",
    )
    parser.add_argument("--skip-abinitio", action="store_true")
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--bf16", action="store_true", help="bfloat16 autocast (GPU)")
    parser.add_argument("--speed-only", action="store_true", help="only the speed table")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/generators.json"))
    args = parser.parse_args()
    args.steps = args.steps or None
    report = {
        "hardware": device_info(args.device),
        "args": {k: str(v) for k, v in vars(args).items()},
    }
    for name in args.models.split(","):
        bundle = Path(name) if Path(name).is_dir() else shipped_generator_dir(name)
        if bundle is None:
            raise SystemExit(f"no generator {name}")
        modes = [m for m in ("csp", "abinitio") if (bundle / m / "model.json").exists()]
        card = read_card(bundle / modes[0])
        split = card["training"]["split"]
        if bundle.name in DATA_FILES:
            splits = read_split(args.data / DATA_FILES[bundle.name], split)
        else:
            splits = read_card_splits(card, args.data)
        result = {"sizes": {k: len(v) for k, v in splits.items()}}
        result["speed"] = bench_speed(bundle / modes[-1], args)
        print(
            f"\n{bundle.name} {modes[-1]} sampling speed ({args.device}, batch {args.batch_size})"
        )
        for row in result["speed"]:
            print(
                f"  {row['steps']:>5} steps  {row['seconds']:>8.2f} s  "
                f"{row['structures_per_hour']:>12,}/h"
            )
        report[bundle.name] = result
        if args.speed_only:
            continue
        print(f"\n{bundle.name} ({report['hardware']['cpu_model']}, {args.device})")
        if "csp" in modes:
            result["csp"] = bench_csp(bundle.name, bundle / "csp", splits, args)
            seeds = ",".join(map(str, args.seeds))
            print(f"{'CSP (seeds ' + seeds + ')':<28}{'match':>16}{'RMSE':>18}")
            for key, m in result["csp"]["metrics"].items():
                rmse = "-" if m["rmse"] is None else f"{m['rmse']:.4f} ± {m['rmse_std']:.4f}"
                match = f"{100 * m['match_rate']:.1f} ± {100 * m['match_rate_std']:.1f}%"
                print(f"  {key:<26}{match:>16}{rmse:>18}")
            print(f"  CSP sampling {result['csp']['structures_per_hour']:,}/h")
        if "abinitio" not in modes or args.skip_abinitio:
            continue
        result["abinitio"] = bench_abinitio(bundle.name, bundle / "abinitio", splits, args)
        ab = result["abinitio"]
        m = ab["metrics"]
        print(
            f"ab initio: struct {100 * m['structural_validity']:.1f}%  comp "
            f"{100 * m['compositional_validity']:.1f}%  unique {100 * m['uniqueness']:.1f}%  "
            f"novel {100 * m['novelty']:.1f}%  pass screens {100 * ab['screen_pass_rate']:.1f}%"
        )
        print(
            f"speed: ab initio {ab['structures_per_hour']:,}/h generated, "
            f"{ab['passing_screens_per_hour']:,}/h "
            f"passing screens ({ab['steps']} steps, batch {args.batch_size})"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, default=float))
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()
