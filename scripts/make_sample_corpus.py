"""Build the sample corpus shipped in ``crystaloop/data/`` from ``../shared/data``.

Rows are copied unchanged from the public files (a fixed-seed random subset of each), so the
sample exercises the same readers as the full data sets:

    python scripts/make_sample_corpus.py --data ../shared/data --out crystaloop/data
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import random
import sys
from pathlib import Path

SEED = 20261123
PICKS = {"perov_5": 2000, "carbon_24": 600}
MATBENCH_PICK = 1000
MATBENCH_MAX_SITES = 40


def subset_csv(src: Path, dst: Path, n: int, rng: random.Random) -> int:
    """Copy ``n`` random rows of a CDVAE CSV to a gzipped CSV."""
    csv.field_size_limit(sys.maxsize)
    with open(src, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        rows = list(reader)
    chosen = sorted(rng.sample(range(len(rows)), min(n, len(rows))))
    with gzip.open(dst, "wt", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        writer.writerows(rows[i] for i in chosen)
    return len(chosen)


def subset_matbench(src: Path, dst: Path, n: int, rng: random.Random) -> int:
    """Copy ``n`` random small structures of the Matbench file, in its own column layout."""
    with gzip.open(src, "rt", encoding="utf-8") as handle:
        data = json.load(handle)
    keys = [k for k, s in data["structure"].items() if len(s["sites"]) <= MATBENCH_MAX_SITES]
    chosen = sorted(rng.sample(keys, min(n, len(keys))), key=int)
    subset = {column: {k: values[k] for k in chosen} for column, values in data.items()}
    with gzip.open(dst, "wt", encoding="utf-8") as out:
        json.dump(subset, out)
    return len(chosen)


def main() -> None:
    """Write the three sample files."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, default=Path("crystaloop/data"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(SEED)
    for name, n in PICKS.items():
        count = subset_csv(args.data / name / "val.csv", args.out / f"{name}.csv.gz", n, rng)
        print(f"{name}: {count} rows")
    count = subset_matbench(
        args.data / "matbench_dielectric" / "matbench_dielectric.json.gz",
        args.out / "matbench_dielectric.json.gz",
        MATBENCH_PICK,
        rng,
    )
    print(f"matbench_dielectric: {count} structures")


if __name__ == "__main__":
    main()
