"""Stability labels of the oracle-labelled reference data: E_hull from CHGNet formation energies.

Reads ``label_eform_data.py``'s ``eform_labels.jsonl.gz`` (every Perov-5, Carbon-24 and
Matbench-dielectric structure with its CHGNet formation energy against the loop's references)
and writes each record's energy above the lower hull of all of them
(:func:`crystaloop.chem.energies.hull_formation_energies`, one hull per chemical system, the
elements at 0) and ``stable = e_hull ≤ --threshold``, as JSON lines ``{"source_id", "source",
"structure", "e_form", "e_hull", "stable"}`` readable by ``crystaloop train classifier``.

Run from the repository root (seconds)::

    python scripts/label_eform_data.py --from-labels scripts/data/eform_labels.csv.gz
    python scripts/label_stability.py --out build/stability/stability_labels.jsonl.gz
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from collections import defaultdict
from pathlib import Path


def main() -> None:
    """Label and write."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("build/eform-data/eform_labels.jsonl.gz"))
    parser.add_argument(
        "--out", type=Path, default=Path("build/stability/stability_labels.jsonl.gz")
    )
    parser.add_argument("--threshold", type=float, default=0.1, help="eV/atom above the hull.")
    parser.add_argument("--source", action="append", help="Write only these sources (repeat).")
    parser.add_argument(
        "--bare-ids",
        action="store_true",
        help="Write each record's id in its source file (18517, not perov_5:18517), so a seeded "
        "split of the output puts every record where the same split of its file puts it (a "
        "masked generator's test structures stay out of its classifier's and GAN's training).",
    )
    args = parser.parse_args()

    from pymatgen.core import Structure

    from crystaloop.chem.energies import chemsys_of, hull_formation_energies, subsystems

    with gzip.open(args.data, "rt", encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle]
    compositions = [Structure.from_dict(r["structure"]).composition for r in rows]
    phases = defaultdict(list)
    for comp, r in zip(compositions, rows, strict=True):
        phases[chemsys_of(str(el) for el in comp.elements)].append((comp, r["e_form"]))
    known = {}
    for comp in compositions:
        system = chemsys_of(str(el) for el in comp.elements)
        if system not in known:
            known[system] = [p for sub in subsystems(system) for p in phases.get(sub, [])]
    hulls = hull_formation_energies(compositions, known)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    with gzip.open(args.out, "wt", encoding="utf-8") as handle:
        for r, hull in zip(rows, hulls, strict=True):
            if args.source and r["source"] not in args.source:
                continue
            e_hull = max(0.0, r["e_form"] - hull)
            stable = e_hull <= args.threshold
            counts[r["source"]][0] += 1
            counts[r["source"]][1] += stable
            record = {k: r[k] for k in ("source_id", "source", "structure", "e_form")}
            if args.bare_ids:
                record["source_id"] = r["source_id"].split(":", 1)[1]
            handle.write(json.dumps({**record, "e_hull": e_hull, "stable": int(stable)}) + "\n")
    for source, (n, s) in sorted(counts.items()):
        print(f"{source}: {n} structures, {s} stable ({s / n:.1%})", file=sys.stderr)


if __name__ == "__main__":
    main()
