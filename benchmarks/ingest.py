"""Ingest rate and query latency of the corpus on the embedded backend, at 5k and 20k structures.

The records are the real structures of ../shared/data (Perov-5, Carbon-24 and Matbench
dielectric: about 10.6k), followed by replicas with relabelled species (each element moved to
another of the same kind of site count, so every replica is a new composition and no duplicate) to
reach the larger size. Records are ingested through the same code as ``crystaloop corpus ingest``
(parse, validate, spglib, fingerprint, StructureMatcher dedup, batched upserts) in chunks; the
rate of each chunk shows how the cost grows with the size of the store. After each checkpoint
size the common queries are timed.

    python benchmarks/ingest.py [--sizes 5000,20000] [--workers 2]
        [--out benchmarks/results/ingest.json]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import itertools
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from bench_common import ELEMENT_GROUPS

from crystaloop.settings import load_settings
from crystaloop.stores.corpus import CorpusStore
from crystaloop.stores.factory import open_store
from crystaloop.stores.ingest.prepare import PrepareOptions
from crystaloop.stores.ingest.readers import RawRecord

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CHUNK = 1000
# Relabelling cycles within groups of elements, so replicas stay chemically plausible-ish.
CYCLES = ELEMENT_GROUPS


def _base_records() -> list[tuple[str, RawRecord]]:
    csv.field_size_limit(sys.maxsize)
    out: list[tuple[str, RawRecord]] = []
    for name in ("perov_5", "carbon_24"):
        with open(DATA / name / "val.csv", newline="", encoding="utf-8") as handle:
            for i, row in enumerate(csv.DictReader(handle)):
                out.append((name, RawRecord(i, row["material_id"], "cif", row["cif"])))
    with gzip.open(DATA / "matbench_dielectric" / "matbench_dielectric.json.gz", "rt") as handle:
        data = json.load(handle)
    for key, structure in data["structure"].items():
        out.append(("matbench", RawRecord(int(key), key, "structure", structure)))
    return out


def _relabel(record: RawRecord, shift: int) -> RawRecord:
    from pymatgen.core import Structure

    if record.kind == "cif":
        structure = Structure.from_str(record.payload, fmt="cif")
    else:
        structure = Structure.from_dict(record.payload)
    mapping = {}
    for cycle in CYCLES:
        for i, el in enumerate(cycle):
            mapping[el] = cycle[(i + shift) % len(cycle)]
    present = {el.symbol for el in structure.composition.elements}
    mapping = {k: v for k, v in mapping.items() if k in present}
    if len(set(mapping.values())) < len(mapping) or set(mapping.values()) & (
        present - set(mapping)
    ):
        return RawRecord(record.index, record.source_id, "error", "relabelling collides")
    structure.replace_species(mapping)
    return RawRecord(record.index, f"{record.source_id}~{shift}", "structure", structure.as_dict())


def records(total: int) -> Iterator[tuple[str, RawRecord]]:
    base = _base_records()
    count = 0
    for shift in itertools.count():
        for source, record in base:
            if count >= total:
                return
            if shift:
                record = _relabel(record, shift)
                source = f"{source}-relabel{shift}"
            yield source, record
            count += 1


def time_queries(store: CorpusStore) -> dict[str, float]:
    probes = {
        "formula": lambda: list(store.query(formula="SrTiO3")),
        "chemsys": lambda: list(store.query(chemsys="O-Sr-Ti")),
        "elements": lambda: list(store.query(elements=["Fe", "O"], limit=50)),
        "material_id": lambda: store.corpus.query_one({"material_id": "perov_5:18517"}),
        "fingerprint": lambda: list(store.corpus.query({"fingerprint": "0" * 16})),
        "count": lambda: store.count({"nelements": 3}),
    }
    out = {}
    for name, probe in probes.items():
        samples = []
        for _ in range(7):
            t0 = time.perf_counter()
            probe()
            samples.append(time.perf_counter() - t0)
        out[name] = 1000 * statistics.median(samples)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="5000,20000")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/ingest.json"))
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))

    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(home=tmp)
        store = CorpusStore(open_store(settings, "corpus"), open_store(settings, "corpus_aliases"))
        chunks = []
        checkpoints = []
        stream = records(sizes[-1])
        done = 0
        t_start = time.perf_counter()
        while done < sizes[-1]:
            batch = list(itertools.islice(stream, CHUNK))
            if not batch:
                break
            by_source: dict[str, list[RawRecord]] = {}
            for source, record in batch:
                by_source.setdefault(source, []).append(record)
            t0 = time.perf_counter()
            stored = dups = rejected = 0
            for source, recs in by_source.items():
                summary = store.ingest(
                    recs,
                    PrepareOptions(source=source, file=source, max_sites=settings.max_sites),
                    workers=args.workers,
                )
                stored += summary.stored
                dups += summary.duplicates
                rejected += summary.rejected
            dt = time.perf_counter() - t0
            done += len(batch)
            chunks.append(
                {
                    "records": done,
                    "rate": len(batch) / dt,
                    "stored": stored,
                    "duplicates": dups,
                    "rejected": rejected,
                }
            )
            print(
                f"  {done:>6} records  {len(batch) / dt:7.1f}/s  stored {stored} "
                f"duplicates {dups} rejected {rejected}",
                flush=True,
            )
            if done in sizes:
                checkpoints.append(
                    {
                        "records": done,
                        "stored_total": store.count(),
                        "elapsed_s": time.perf_counter() - t_start,
                        "rate_overall": done / (time.perf_counter() - t_start),
                        "rate_last_chunk": chunks[-1]["rate"],
                        "query_ms": time_queries(store),
                    }
                )

    print(
        f"\nembedded backend, {args.workers} ingest worker(s); "
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    qnames = list(checkpoints[0]["query_ms"])
    header = f"{'records':>8}{'stored':>8}{'overall/s':>11}{'last 1k/s':>11}" + "".join(
        f"{q + ' ms':>15}" for q in qnames
    )
    print(header)
    print("-" * len(header))
    for c in checkpoints:
        print(
            f"{c['records']:>8}{c['stored_total']:>8}{c['rate_overall']:>11.1f}"
            f"{c['rate_last_chunk']:>11.1f}" + "".join(f"{c['query_ms'][q]:>15.2f}" for q in qnames)
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "workers": args.workers,
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "chunk": CHUNK,
    }
    args.out.write_text(
        json.dumps({"meta": meta, "checkpoints": checkpoints, "chunks": chunks}, indent=2)
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
