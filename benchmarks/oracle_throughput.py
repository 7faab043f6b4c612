"""Oracle throughput: atomate2's per-structure force-field jobs against one batched TorchSim job.

The structures: ``--n`` cells of the bundled Perov-5 sample (5 atoms) and ``--n`` MP structures of
``matbench_dielectric`` with at most ``--max-atoms`` atoms (seeded draw), each rattled by 0.05 Å
so that every relaxation has work. For each set:

- ``atomate2``: the campaign's per-structure oracle sub-flow (``DFTMaker(oracle=...)``: guarded
  ``ForceFieldRelaxMaker`` + ``ForceFieldStaticMaker``), run with ``jobflow.run_locally`` one
  structure after another, as one worker runs them (the potential is loaded by every job, as on
  a worker);
- ``torchsim``: ``BatchOracleMaker`` (one job, SevenNet-0, FIRE + Fréchet cell, the same
  ``fmax`` 0.1 eV/Å and 300 steps), at each ``--batch-sizes``.

Reported: structures per second, mean relaxation steps (TorchSim), failures, and the energy per
atom of the batched result against atomate2's SevenNet one (mean absolute difference).

    python benchmarks/oracle_throughput.py [--n 16] [--max-atoms 20] [--batch-sizes 1,8,32]
        [--oracles sevennet,chgnet] [--device cpu] [--out benchmarks/results/oracle_throughput.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import warnings
from pathlib import Path

import numpy as np
from bench_common import hardware, package_structures

SEED = 0


def structures(n: int, max_atoms: int) -> dict[str, list]:
    """Return ``{"perov5": [...], "mp": [...]}``: ``n`` rattled cells each."""
    rng = np.random.default_rng(SEED)
    out: dict[str, list] = {}
    for name, key, limit in (("perov5", "perov_5", 5), ("mp", "matbench_dielectric", max_atoms)):
        pool = package_structures(limit, (key,))[: 50 * n]
        chosen = [pool[int(i)] for i in rng.choice(len(pool), size=n, replace=False)]
        rattled = []
        for s in chosen:
            cell = s.copy()
            cell.perturb(0.05)
            rattled.append(cell)
        out[name] = rattled
    return out


def per_structure(cells: list, oracle: str) -> dict[str, object]:
    """Run the campaign's per-structure sub-flow on each cell; return timings and energies."""
    from jobflow import run_locally

    from crystaloop.makers import DFTMaker

    energies: list[float | None] = []
    t0 = time.perf_counter()
    for i, cell in enumerate(cells):
        flow = DFTMaker(oracle=oracle).make(cell, f"s{i}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = run_locally(flow, log=False)
        result = out.get(flow.jobs[-1].uuid, {}).get(1)
        energy = result.output.output.energy if result is not None else None
        energies.append(None if energy is None else energy / len(cell))
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "per_s": len(cells) / seconds, "energies": energies}


def batched(cells: list, batch_size: int, device: str) -> dict[str, object]:
    """Run one batch job over the cells; return timings, steps and energies."""
    from crystaloop.makers.batch_oracle import BatchOracleMaker

    maker = BatchOracleMaker(batch_size=batch_size, device=device)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = BatchOracleMaker.make.original(maker, cells, [f"s{i}" for i in range(len(cells))])
    seconds = time.perf_counter() - t0
    energies = [
        r["energy"] / len(c) if "energy" in r else None for r, c in zip(results, cells, strict=True)
    ]
    steps = [r["relax_steps"] for r in results if "relax_steps" in r]
    return {
        "seconds": seconds,
        "per_s": len(cells) / seconds,
        "energies": energies,
        "mean_steps": statistics.mean(steps) if steps else None,
        "failed": sum(e is None for e in energies),
    }


def mean_abs_diff(a: list, b: list) -> float | None:
    pairs = [(x, y) for x, y in zip(a, b, strict=True) if x is not None and y is not None]
    return statistics.mean(abs(x - y) for x, y in pairs) if pairs else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=16)
    parser.add_argument("--max-atoms", type=int, default=20)
    parser.add_argument("--batch-sizes", default="1,8,32")
    parser.add_argument("--oracles", default="sevennet,chgnet", help="per-structure oracles")
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--out", type=Path, default=Path("benchmarks/results/oracle_throughput.json")
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.batch_sizes.split(",") if s.strip()]
    oracles = [s.strip() for s in args.oracles.split(",") if s.strip()]

    sets = structures(args.n, args.max_atoms)
    batched(sets["perov5"][:2], 2, args.device)  # first-call costs out of the table
    rows = []
    for name, cells in sets.items():
        atoms = statistics.mean(len(c) for c in cells)
        reference = None
        for oracle in oracles:
            r = per_structure(cells, oracle)
            if oracle == "sevennet":
                reference = r["energies"]
            failed = sum(e is None for e in r["energies"])
            rows.append(
                {"set": name, "atoms": atoms, "engine": f"atomate2 {oracle}", **r, "failed": failed}
            )
            print(f"  {name} atomate2 {oracle}: {r['per_s']:.3f} /s", flush=True)
        for size in sizes:
            r = batched(cells, size, args.device)
            diff = mean_abs_diff(r["energies"], reference) if reference else None
            rows.append(
                {
                    "set": name,
                    "atoms": atoms,
                    "engine": f"torchsim sevennet b{size}",
                    **r,
                    "vs_atomate2_sevennet_ev_per_atom": diff,
                }
            )
            print(f"  {name} torchsim b{size}: {r['per_s']:.3f} /s", flush=True)

    hw = hardware()
    print(
        f"\n{args.n} structures per set, device {args.device}; "
        f"{hw['cpu_model'] or hw['machine']}, {hw['cpus']} cores"
    )
    header = (
        f"{'set':<8}{'atoms':>6}  {'engine':<26}{'s':>8}{'struct/s':>10}{'steps':>7}"
        f"{'failed':>7}{'|ΔE| eV/at':>12}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        steps = f"{r['mean_steps']:.0f}" if r.get("mean_steps") else "-"
        diff = r.get("vs_atomate2_sevennet_ev_per_atom")
        print(
            f"{r['set']:<8}{r['atoms']:>6.1f}  {r['engine']:<26}{r['seconds']:>8.1f}"
            f"{r['per_s']:>10.3f}{steps:>7}{r['failed']:>7}"
            f"{(f'{diff:.4f}' if diff is not None else '-'):>12}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for r in rows:
        r.pop("energies", None)
    args.out.write_text(
        json.dumps({"meta": {**hw, **vars(args), "out": str(args.out)}, "results": rows}, indent=2)
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
