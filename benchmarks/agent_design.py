"""Time from an agent's ``design`` call to its first returned result, on the embedded profile.

Starts ``crystaloop mcp`` over stdio on a fresh home (``--run-workers``: the server's background
worker runs the LaunchPad), calls ``design`` with the seed's query (Fe2O3, E_form ≤ 1 eV/atom,
50 structures), then polls ``campaign_status`` every second and records when the call returned,
when the first structure was found (known, labelled or predicted) and when the design finished.
The server start (imports, home preparation, sample-corpus ingest) is timed apart.

    python benchmarks/agent_design.py [--seeds 0,1,2] [--generator mp] [--iterations 2]
        [--dft-budget 8] [--out benchmarks/results/agent_design.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import anyio
from bench_common import hardware


async def one_design(home: Path, args: argparse.Namespace, seed: int) -> dict:
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    env = {k: v for k, v in os.environ.items() if not k.startswith("CRYSTALOOP_")}
    env["CRYSTALOOP_HOME"] = str(home)
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "crystaloop", "mcp", "--run-workers", "--oracle-budget", "1000"],
        env=env,
    )
    t0 = time.perf_counter()
    async with Client(params, read_timeout_seconds=3600) as client:
        started = time.perf_counter() - t0
        t1 = time.perf_counter()
        result = await client.call_tool(
            "design",
            {
                "formula": args.formula,
                "max_eform": args.max_eform,
                "n": args.n,
                "iterations": args.iterations,
                "dft_budget": args.dft_budget,
                "generator": args.generator,
                "seed": seed,
            },
        )
        if result.is_error:
            raise SystemExit(result.content[0].text)
        design = result.structured_content
        returned = time.perf_counter() - t1
        first = None
        while True:
            status = (
                await client.call_tool("campaign_status", {"campaign": design["campaign"]})
            ).structured_content
            count = (status.get("design") or {}).get("count", 0) + len(design["known"])
            if first is None and count:
                first = time.perf_counter() - t1
            if status["state"] in ("finished", "stalled"):
                break
            await anyio.sleep(1.0)
        finished = time.perf_counter() - t1
    return {
        "seed": seed,
        "campaign": design["campaign"],
        "server_start_s": round(started, 1),
        "design_returned_s": round(returned, 2),
        "first_result_s": None if first is None else round(first, 1),
        "finished_s": round(finished, 1),
        "state": status["state"],
        "found": {k: len(v) for k, v in status["design"]["found"].items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=lambda t: [int(x) for x in t.split(",")], default=[0])
    parser.add_argument("--formula", default="Fe2O3")
    parser.add_argument("--max-eform", type=float, default=1.0)
    parser.add_argument("--n", type=int, default=50)
    parser.add_argument("--iterations", type=int, default=2)
    parser.add_argument("--dft-budget", type=int, default=8)
    parser.add_argument("--generator", default="mp")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/agent_design.json"))
    args = parser.parse_args()
    runs = []
    for seed in args.seeds:
        with tempfile.TemporaryDirectory(prefix="crystaloop-agent-") as tmp:
            runs.append(anyio.run(one_design, Path(tmp) / "home", args, seed))
        print(json.dumps(runs[-1]))
    print(f"\n{'seed':>5}{'server start':>14}{'design returns':>16}{'first result':>14}"
          f"{'finished':>10}  found")  # fmt: skip
    for r in runs:
        first = "-" if r["first_result_s"] is None else f"{r['first_result_s']:.1f} s"
        print(
            f"{r['seed']:>5}{r['server_start_s']:>12.1f} s{r['design_returned_s']:>14.2f} s"
            f"{first:>14}{r['finished_s']:>8.1f} s  {r['found']}"
        )
    firsts = [r["first_result_s"] for r in runs if r["first_result_s"] is not None]
    summary = {
        "first_result_s_mean": statistics.mean(firsts) if firsts else None,
        "first_result_s_std": statistics.pstdev(firsts) if firsts else None,
        "design_returned_s_mean": statistics.mean(r["design_returned_s"] for r in runs),
    }
    print(json.dumps(summary))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "hardware": hardware(),
                "args": vars(args) | {"out": str(args.out)},
                "runs": runs,
                "summary": summary,
            },
            indent=2,
            default=str,
        )  # fmt: skip
    )
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
