"""Wall time of a default campaign by stage, run through FireWorks on the embedded profile.

Runs a campaign with ``crystaloop run``'s defaults (or the given options) in a fresh
``CRYSTALOOP_HOME``, through the library call behind ``crystaloop run``, and reads the Fireworks'
launch times back: per iteration and stage, the number of Fireworks, the summed run time and the
failures. Prints a table and writes JSON.

Usage: ``python benchmarks/campaign_stages.py [--out FILE] [--options '{"iterations": 3}']``
(``--options``: :class:`~crystaloop.workflows.plan.CampaignOptions` fields as JSON).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from bench_common import hardware, run_campaign_in


def main() -> None:
    """Run the campaign, print the stage table and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="benchmarks/results/campaign_stages.json")
    parser.add_argument("--home", help="CRYSTALOOP_HOME to use (default: a fresh temp folder).")
    parser.add_argument("--options", default="{}", help="CampaignOptions fields as JSON.")
    args = parser.parse_args()
    home = Path(args.home or tempfile.mkdtemp(prefix="crystaloop-bench-")) / "home"
    campaign = "bench-" + time.strftime("%Y%m%d-%H%M%S")
    options = {"campaign_id": campaign, **json.loads(args.options)}
    total, status = run_campaign_in(home, options)
    os.environ["CRYSTALOOP_HOME"] = str(home)
    from crystaloop.launchpad.submit import stage_seconds
    from crystaloop.settings import load_settings

    rows = stage_seconds(load_settings(), campaign)
    print(f"{'iteration':>9} {'stage':>10} {'Fireworks':>9} {'failed':>6} {'run s':>8}")
    for row in rows:
        print(
            f"{row['iteration']:>9} {row['stage']:>10} {row['fireworks']:>9} "
            f"{row['failed']:>6} {row['seconds']:>8.1f}"
        )
    print(
        f"{'iteration':>9} {'to oracle':>9} {'accepted':>8} {'audited':>7} {'coverage':>8} "
        f"{'MAE before':>10}"
    )
    for row in status["iterations"]:
        mae = row["mae_before"].get("e_form")
        cov = row["audit_coverage"]
        print(
            f"{row['iteration']:>9} {row['selected']:>9} {row['accepted']:>8} {row['audited']:>7} "
            f"{'-' if cov is None else f'{cov:.2f}':>8} {'-' if mae is None else f'{mae:.3f}':>10}"
        )
    fw_seconds = sum(r["seconds"] for r in rows)
    print(
        f"total wall time {total:.0f} s (corpus ingest included); "
        f"Fireworks' run time {fw_seconds:.0f} s"
    )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    result = {
        "hardware": hardware(),
        "options": options,
        "total_seconds": total,
        "fireworks_seconds": fw_seconds,
        "stages": rows,
        "status": status,
    }
    Path(args.out).write_text(json.dumps(result, indent=1, default=str))


if __name__ == "__main__":
    main()
