"""Ab initio validity and throughput of the sampler's corrector settings and of resampling.

For one ab initio diffusion generator (the shipped ``perov5`` by default) and S steps, N crystals
per seed (``SeededSampler``, the sampler of campaigns and ``crystaloop generate``) are drawn
with:

* ``no corrector``: predictor only;
* ``1e-5 per step``: the corrector step used before it was scaled (1e-5 whatever the steps);
* ``1e-5 x T/S``: DiffCSP's default step, tuned for T steps, scaled to S steps;
* ``card``: the step of the model card (``sampling.step_lr``, scaled by T/S);
* ``card + resample R``: the same, crystals with overlapping atoms redrawn up to R times;
* ``--sweep``: extra rows at these per-step corrector sizes.

Reported per setting, mean ± sample std over the seeds: structural validity (periodic distance
≥ 0.5 Å, volume ≥ 0.1 Å³), compositional validity (SMACT with the Pauling test), both, the
redraws, and structures per hour generated and structurally valid, the sampling time counting
the redraws (the validity metrics' time is not counted).

    OMP_NUM_THREADS=1 python benchmarks/generator_sampling.py [--model perov5] [--n 256]
        [--seeds 0,1,2] [--steps 100] [--resample-rounds 3] [--sweep 2e-5,5e-5]
        [--out benchmarks/results/generator_sampling.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
from bench_common import hardware

from crystaloop.chem.metrics import _is_compositionally_valid, is_structurally_valid
from crystaloop.ml.generative.checkpoint import find_generator, load_generator
from crystaloop.ml.generative.crystal import to_structure
from crystaloop.ml.generative.samplers import UNTUNED_STEP_LR, SamplerOptions, step_size
from crystaloop.ml.generative.sampling import SeededSampler


def settings(model, args) -> list[tuple[str, SamplerOptions, int]]:
    """Return ``(label, options, resample_rounds)`` of every row."""
    t, s = model.config.timesteps, args.steps
    per_step = s / t  # a per-step size p is the tuned step p · S / T
    card = model.sampling_defaults.get("step_lr")
    rows = [
        ("no corrector", SamplerOptions(steps=s, corrector_steps=0), 0),
        ("1e-5 per step (before)", SamplerOptions(steps=s, step_lr=1e-5 * per_step), 0),
        ("1e-5 x T/S (DiffCSP)", SamplerOptions(steps=s, step_lr=1e-5), 0),
    ]
    if card is None:
        rows.append((f"untuned {UNTUNED_STEP_LR:g} per step", SamplerOptions(steps=s), 0))
    else:
        rows.append((f"card {card:g} x T/S", SamplerOptions(steps=s), 0))
    rows += [
        (f"{p:g} per step", SamplerOptions(steps=s, step_lr=p * per_step), 0) for p in args.sweep
    ]
    if args.resample_rounds:
        label = f"{rows[3][0]} + resample {args.resample_rounds}"
        rows.append((label, SamplerOptions(steps=s), args.resample_rounds))
    return rows


def run(model, options, rounds, seed, args) -> dict:
    """Sample one seed; return its validity, redraws and rates."""
    sampler = SeededSampler(
        model,
        args.n,
        seed,
        options=options,
        batch_size=args.batch_size,
        device=args.device,
        resample_rounds=rounds,
    )
    t0 = time.perf_counter()
    crystals = [c for chunk in sampler for c in chunk]
    seconds = time.perf_counter() - t0
    report = sampler.resampling
    structures = [to_structure(c.lattice, c.frac, c.numbers) for c in crystals]
    struct = [is_structurally_valid(x) for x in structures]
    comp = [_is_compositionally_valid(x) for x in structures]
    n = len(structures)
    return {
        "structural": sum(struct) / n,
        "compositional": sum(comp) / n,
        "both": sum(a and b for a, b in zip(struct, comp, strict=True)) / n,
        "redraws": report.redraws,
        "still_invalid": report.still_invalid,
        "seconds": seconds,
        "per_hour": n / seconds * 3600,
        "valid_per_hour": sum(struct) / seconds * 3600,
    }


def summary(values: list[float]) -> tuple[float, float]:
    """Mean and sample std (0 for one value)."""
    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="perov5")
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--resample-rounds", type=int, default=3)
    parser.add_argument("--sweep", default="", help="extra per-step corrector sizes, e.g. 5e-5")
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--out", type=Path, default=Path("benchmarks/results/generator_sampling.json")
    )
    args = parser.parse_args()
    args.sweep = [float(x) for x in args.sweep.split(",") if x]
    seeds = [int(s) for s in args.seeds.split(",")]
    directory = find_generator(args.model, "abinitio")
    model = load_generator(directory, device=args.device)
    info = {**hardware(), "torch": torch.__version__, "threads": torch.get_num_threads()}
    report: dict = {
        "hardware": info,
        "model": str(directory),
        "timesteps": model.config.timesteps,
        "args": {k: str(v) for k, v in vars(args).items()},
        "rows": [],
    }
    print(f"{directory} (T = {model.config.timesteps}), {args.steps} steps, N = {args.n}, ")
    print(f"seeds {seeds}, {info['cpu_model']}, {info['threads']} thread(s), {args.device}")
    header = (
        f"{'setting':<32}{'step/S':>9}{'struct %':>13}{'comp %':>13}{'both %':>13}"
        f"{'redraws':>9}{'left':>6}{'gen/h':>9}{'valid/h':>9}"
    )
    print(header)
    for label, options, rounds in settings(model, args):
        per_seed = [run(model, options, rounds, seed, args) for seed in seeds]
        step = 0.0 if options.corrector_steps == 0 else step_size(model, options, args.steps)
        row = {"setting": label, "step_per_sampling_step": step, "resample_rounds": rounds}
        for key in per_seed[0]:
            row[key] = summary([r[key] for r in per_seed])
        row["per_seed"] = per_seed
        report["rows"].append(row)

        def pct(key: str, row: dict = row) -> str:
            mean, std = row[key]
            return f"{100 * mean:5.1f} ± {100 * std:4.1f}"

        print(
            f"{label:<32}{step:>9.1e}{pct('structural'):>13}{pct('compositional'):>13}"
            f"{pct('both'):>13}{row['redraws'][0]:>9.0f}{row['still_invalid'][0]:>6.0f}"
            f"{row['per_hour'][0]:>9,.0f}{row['valid_per_hour'][0]:>9,.0f}",
            flush=True,
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, default=float))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
