"""Wall time of a default campaign by stage, run through FireWorks on the embedded profile.

Runs ``crystaloop run`` with its defaults (or the given options) in a fresh ``CRYSTALOOP_HOME``
and reads the Fireworks' launch times back: per iteration and stage, the number of Fireworks, the
summed run time and the failures. Prints a table and writes JSON.

Usage: ``python benchmarks/campaign_stages.py [--out FILE] [-- extra 'crystaloop run' options]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_common import hardware


def main() -> None:
    """Run the campaign, print the stage table and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="benchmarks/results/campaign_stages.json")
    parser.add_argument("--home", help="CRYSTALOOP_HOME to use (default: a fresh temp folder).")
    parser.add_argument("run_args", nargs="*", help="Options passed to 'crystaloop run'.")
    args = parser.parse_args()
    home = Path(args.home or tempfile.mkdtemp(prefix="crystaloop-bench-")) / "home"
    env = {**os.environ, "CRYSTALOOP_HOME": str(home)}
    campaign = "bench-" + time.strftime("%Y%m%d-%H%M%S")
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "crystaloop", "run", "--campaign", campaign, *args.run_args],
        env=env,
        check=True,
        stdout=sys.stderr,
    )
    total = time.perf_counter() - t0
    os.environ["CRYSTALOOP_HOME"] = str(home)
    from crystaloop.launchpad.submit import stage_seconds
    from crystaloop.settings import load_settings
    from crystaloop.workflows.status import campaign_status

    settings = load_settings()
    rows = stage_seconds(settings, campaign)
    status = campaign_status(settings, campaign)
    print(f"{'iteration':>9} {'stage':>10} {'Fireworks':>9} {'failed':>6} {'run s':>8}")
    for row in rows:
        print(
            f"{row['iteration']:>9} {row['stage']:>10} {row['fireworks']:>9} "
            f"{row['failed']:>6} {row['seconds']:>8.1f}"
        )
    fw_seconds = sum(r["seconds"] for r in rows)
    print(
        f"total wall time {total:.0f} s (corpus ingest included); "
        f"Fireworks' run time {fw_seconds:.0f} s"
    )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    result = {
        "hardware": hardware(),
        "run_args": args.run_args,
        "total_seconds": total,
        "fireworks_seconds": fw_seconds,
        "stages": rows,
        "status": status,
    }
    Path(args.out).write_text(json.dumps(result, indent=1, default=str))


if __name__ == "__main__":
    main()
