"""How a candidate travels from generation to the oracle: conversions and store reads per candidate.

Runs one iteration's static part (generate → screen → score → select) with jobflow's
``run_locally`` on the embedded profile, then the dispatch step up to the oracle sub-flows it would
add (nothing is sent to the oracle), while counting:

* ``Structure.from_dict`` and ``Structure.as_dict`` calls (dict ↔ Structure conversions),
* reads of crystaloop's stores (maggma ``query``/``query_one``/``count``/``distinct``, and the
  artifact store's ``get``) and writes to them (``update_one``/``bulk_write``... on a
  collection); jobflow's own JobStore traffic (job inputs and outputs) is not counted.

Divides by the number of candidates generated and prints a table; writes JSON. Both counts depend
on the code, not on the machine. The iteration's oracle references are not counted (they are
looked up per chemical system, not per candidate).

Usage: ``python benchmarks/data_path.py [--n 48] [--out FILE]``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import tempfile
from collections import Counter
from pathlib import Path

from bench_common import hardware


@contextlib.contextmanager
def counting(counter: Counter):
    """Count conversions and store accesses while the block runs."""
    from pymatgen.core import IStructure, Structure

    from crystaloop.stores.artifacts import FileArtifactStore

    patches = []

    from maggma.stores import MongoStore

    from crystaloop.stores.factory import COLLECTIONS

    def ours(obj) -> bool:  # a crystaloop store, not jobflow's JobStore
        name = obj.collection_name if isinstance(obj, MongoStore) else obj.name
        return name in COLLECTIONS

    def wrap(owner, name, key):
        original = owner.__dict__.get(name)
        if original is None:
            return
        if isinstance(original, classmethod):
            func = original.__func__

            def counted_cm(cls, *a, **k):
                counter[key] += 1
                return func(cls, *a, **k)

            setattr(owner, name, classmethod(counted_cm))
        else:

            def counted(*a, **k):
                if not key.startswith("store") or ours(a[0]):
                    counter[key] += 1
                return original(*a, **k)

            setattr(owner, name, counted)
        patches.append((owner, name, original))

    wrap(IStructure, "from_dict", "Structure.from_dict")
    wrap(Structure, "from_dict", "Structure.from_dict")
    wrap(IStructure, "as_dict", "Structure.as_dict")
    wrap(Structure, "as_dict", "Structure.as_dict")
    from litemongo._vendor.mongomock import collection as embedded_collection

    for name in ("query", "query_one", "count", "distinct"):
        wrap(MongoStore, name, "store read")
    wrap(FileArtifactStore, "get", "artifact read")
    wrap(FileArtifactStore, "put", "artifact write")
    for name in ("update_one", "update_many", "bulk_write", "insert_one", "insert_many"):
        wrap(embedded_collection.Collection, name, "store write")
    try:
        yield
    finally:
        for owner, name, original in reversed(patches):
            setattr(owner, name, original)


def main() -> None:
    """Run the iteration's static part and dispatch, print the per-candidate counts."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=48, help="Candidates generated.")
    parser.add_argument("--out", default="benchmarks/results/data_path.json")
    parser.add_argument("--surrogate", default="eform", help="Surrogate that scores.")
    parser.add_argument("--target", default="e_form", help="Its target the selection uses.")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="crystaloop-datapath-")) / "home"
    os.environ["CRYSTALOOP_HOME"] = str(home)
    from jobflow import run_locally

    from crystaloop.launchpad.config import initialize_launchpad, write_configuration
    from crystaloop.settings import load_settings
    from crystaloop.stores.corpus import CorpusStore
    from crystaloop.stores.factory import open_store
    from crystaloop.stores.ingest import read_records
    from crystaloop.stores.ingest.prepare import PrepareOptions
    from crystaloop.stores.ingest.sample import sample_corpus_files
    from crystaloop.stores.jobstore import job_store
    from crystaloop.workflows import IterationMaker
    from crystaloop.workflows.campaign import dispatch

    settings = load_settings()
    write_configuration(settings)
    initialize_launchpad(settings)
    path = sample_corpus_files()["perov_5"]
    _, records = read_records(path, max_bytes=2**30)
    corpus = CorpusStore(open_store(settings, "corpus"), open_store(settings, "corpus_aliases"))
    corpus.ingest(records, PrepareOptions(source="perov_5", file=str(path), max_sites=500))
    from crystaloop.makers import GenerateMaker, SelectMaker

    iteration = IterationMaker(
        generate=GenerateMaker(n=args.n), select=SelectMaker(target=args.target, budget=4)
    )
    surrogate = args.surrogate
    flow = iteration.make("bench", 0, surrogate, "perov5", 4)
    gen, scr, sco, sel, go = flow.jobs
    for made in (gen, scr, sco, sel):
        made.hosts = []  # each job runs on its own (dispatch is called below)
    store = job_store(settings)
    per_step: dict[str, Counter] = {}
    outputs = {}
    for made in (gen, scr, sco, sel):
        per_step[made.name] = Counter()
        with counting(per_step[made.name]):
            responses = run_locally(
                made, store=store, ensure_success=True, log=False, allow_external_references=True
            )
        outputs[made.name] = responses[made.uuid][1].output
    selected = outputs["select"]
    per_step["dispatch"] = Counter()
    with counting(per_step["dispatch"]):
        response = dispatch.original(iteration, selected, surrogate, "perov5", None)
    counter: Counter = sum(per_step.values(), Counter())
    n = outputs["generate"].n if hasattr(outputs["generate"], "n") else outputs["generate"]["n"]
    selected_ids = selected["dft"] if isinstance(selected, dict) else selected.dft
    rows = {key: value / n for key, value in sorted(counter.items())}
    print(f"{n} candidates generated, {len(selected_ids)} selected for the oracle")
    keys = sorted(counter)
    print(f"{'step':>10} " + " ".join(f"{k:>20}" for k in keys))
    for step, c in per_step.items():
        print(f"{step:>10} " + " ".join(f"{c.get(k, 0):>20}" for k in keys))
    print(f"{'total':>10} " + " ".join(f"{counter[k]:>20}" for k in keys))
    print(f"{'/candidate':>10} " + " ".join(f"{counter[k] / n:>20.2f}" for k in keys))
    report = {
        "hardware": hardware(),
        "generated": n,
        "selected": len(selected_ids),
        "totals": dict(counter),
        "per_step": {k: dict(v) for k, v in per_step.items()},
        "per_candidate": rows,
        "dispatch_output": response.output,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    main()
