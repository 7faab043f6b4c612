"""Label the reference data with the embedded oracle: static energies → formation energies.

Every structure of ``../shared/data`` (Perov-5 val, Carbon-24 val, the Materials Project
structures of ``matbench_dielectric``) and of the bundled sample corpus (a subset of the same
files, checked to be identical) gets the CHGNet **static** energy of its DFT-relaxed structure,
converted to a formation energy per atom with the oracle's elemental references: the ones the
loop's label step uses (``crystaloop/data/references/chgnet.json``, written by this script).

The references follow the loop's own rule (``crystaloop.chem.energies``): for each element, the
lowest energy per atom among its prototype (:func:`~crystaloop.chem.energies.element_prototype`)
and the lowest-energy elemental phases of the data, each relaxed and then computed statically by
the loop's oracle sub-flow (:class:`~crystaloop.makers.DFTMaker`, run with jobflow here).

Outputs (``--out``, default ``build/eform-data``):

* ``eform_labels.jsonl.gz``: one line per structure ``{"source_id", "source", "structure",
  "e_form", "energy_per_atom"}``, readable by ``crystaloop train surrogate --data``;
* ``eform_labels.csv.gz``: the same labels without structures (committed under
  ``scripts/data/``);
* ``card.json``: sources, counts, oracle and versions, rejected records with their reasons;
* ``references.json``: the elemental references (copied into the package by ``--install``).

``--from-labels CSV`` rebuilds ``eform_labels.jsonl.gz`` from a committed label table and the
data files, without running the oracle (a few seconds).

Run from the repository root::

    python scripts/label_eform_data.py --data ../shared/data --out build/eform-data --install
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SOURCES = {
    "perov_5": "perov_5/val.csv",
    "carbon_24": "carbon_24/val.csv",
    "matbench_dielectric": "matbench_dielectric/matbench_dielectric.json.gz",
}
MAX_SITES = 500
#: Elemental phases of the data relaxed per element for the references (lowest static first).
PHASES_PER_ELEMENT = 3
#: Elements given a reference: hydrogen to plutonium (CHGNet's range).
MAX_Z = 94


def read_data(data: Path) -> tuple[dict[str, dict[str, Any]], list[dict[str, str]], dict]:
    """Return ``{id: record}``, the rejected records and per-source counts.

    The sample corpus files must hold the same structures under the same ids.
    """
    from crystaloop.schemas import CorpusEntry
    from crystaloop.stores.ingest import read_records
    from crystaloop.stores.ingest.prepare import parse_and_validate
    from crystaloop.stores.ingest.sample import sample_corpus_files

    records: dict[str, dict[str, Any]] = {}
    rejected: list[dict[str, str]] = []
    counts: dict[str, dict[str, int]] = {}
    files = [(source, data / rel, "shared") for source, rel in SOURCES.items()]
    files += [(source, path, "sample") for source, path in sample_corpus_files().items()]
    for source, path, origin in files:
        _, rows = read_records(path)
        n_read = n_new = 0
        for record in rows:
            n_read += 1
            sid = CorpusEntry.make_id(source, str(record.source_id))
            structure, reason = parse_and_validate(record, MAX_SITES)
            if structure is None:
                rejected.append({"source_id": sid, "file": str(path), "reason": str(reason)})
                continue
            known = records.get(sid)
            if known is not None:
                if origin == "sample" and known["structure"] != structure:
                    raise ValueError(f"{path}: record {sid} differs from the shared data's")
                continue
            records[sid] = {"source_id": sid, "source": source, "structure": structure}
            n_new += 1
        counts[f"{origin}:{source}"] = {"read": n_read, "new": n_new, "file": str(path)}
        print(f"{path}: {n_read} records, {n_new} new", file=sys.stderr)
    return records, rejected, counts


def static_energies(
    structures: dict[str, Any], batch_size: int = 32
) -> tuple[dict[str, float], dict[str, str]]:
    """Return CHGNet static energies per atom (eV/atom) and the failures with their reasons.

    CHGNet's batched prediction gives the energies of atomate2's ``ForceFieldStaticMaker``
    (the same model and weights; :func:`check_against_atomate2` verifies it).
    """
    from chgnet.model import CHGNet

    model = CHGNet.load(verbose=False)
    ids = sorted(structures, key=lambda i: len(structures[i]))
    out: dict[str, float] = {}
    failed: dict[str, str] = {}
    start = time.perf_counter()
    for k in range(0, len(ids), batch_size):
        chunk = ids[k : k + batch_size]
        try:
            preds = model.predict_structure(
                [structures[i] for i in chunk], task="e", batch_size=batch_size
            )
            for i, pred in zip(chunk, preds, strict=True):
                out[i] = float(pred["e"])
        except Exception:  # one bad structure fails its batch: retry one by one
            for i in chunk:
                try:
                    out[i] = float(model.predict_structure(structures[i], task="e")["e"])
                except Exception as err:
                    failed[i] = f"CHGNet static failed: {type(err).__name__}: {err}"
        if (k // batch_size) % 20 == 0:
            rate = (k + len(chunk)) / (time.perf_counter() - start)
            print(f"static {k + len(chunk)}/{len(ids)} ({rate:.1f}/s)", file=sys.stderr)
    return out, failed


def check_against_atomate2(structures: list[Any], energies: list[float]) -> float:
    """Return the largest |difference| (eV/atom) between batched CHGNet and atomate2's static."""
    from atomate2.forcefields.jobs import ForceFieldStaticMaker
    from jobflow import run_locally

    worst = 0.0
    for structure, energy in zip(structures, energies, strict=True):
        job = ForceFieldStaticMaker(force_field_name="CHGNet").make(structure)
        responses = run_locally(job, log=False, ensure_success=True)
        doc = responses[job.uuid][1].output
        worst = max(worst, abs(doc.output.energy / len(structure) - energy))
    return worst


def relaxed_references(
    candidates: dict[str, Any],
) -> tuple[dict[str, float], dict[str, str]]:
    """Relax + static each elemental structure with the loop's oracle sub-flow (``DFTMaker``).

    Returns energies per atom by subject id and the failures with their reasons.
    """
    from jobflow import JobStore, run_locally
    from maggma.stores import MemoryStore

    from crystaloop.makers import DFTMaker

    maker = DFTMaker(oracle="chgnet")
    energies: dict[str, float] = {}
    failed: dict[str, str] = {}
    for k, (sid, structure) in enumerate(sorted(candidates.items())):
        flow = maker.make(structure, sid)
        store = JobStore(MemoryStore(), additional_stores={"data": MemoryStore()})
        try:
            run_locally(flow, store=store, log=False, ensure_success=True)
            energy = flow.output["energy"].resolve(store)
            final = flow.output["structure"].resolve(store)
            sites = final["sites"] if isinstance(final, dict) else final
            energies[sid] = float(energy) / len(sites)
        except Exception as err:
            failed[sid] = f"oracle relaxation failed: {type(err).__name__}: {err}"[:300]
        print(f"reference {k + 1}/{len(candidates)} {sid}", file=sys.stderr)
    return energies, failed


def build_references(
    records: dict[str, dict[str, Any]], static: dict[str, float], max_z: int = MAX_Z
) -> tuple[dict[str, Any], dict[str, str]]:
    """Return the reference table ``{element: {energy_per_atom, subject}}`` and the failures."""
    from pymatgen.core import Element

    from crystaloop.chem.energies import element_prototype

    candidates: dict[str, Any] = {}
    for z in range(1, max_z + 1):
        symbol = Element.from_Z(z).symbol
        candidates[f"element:{symbol}"] = element_prototype(symbol)
    by_element: dict[str, list[tuple[float, str]]] = {}
    for sid, rec in records.items():
        elements = rec["structure"].composition.elements
        if len(elements) == 1 and sid in static:
            by_element.setdefault(str(elements[0]), []).append((static[sid], sid))
    for phases in by_element.values():
        for _, sid in sorted(phases)[:PHASES_PER_ELEMENT]:
            candidates[sid] = records[sid]["structure"]
    energies, failed = relaxed_references(candidates)
    table: dict[str, Any] = {}
    for sid, energy in energies.items():
        structure = candidates[sid]
        symbol = str(structure.composition.elements[0])
        if symbol not in table or energy < table[symbol]["energy_per_atom"]:
            table[symbol] = {"energy_per_atom": energy, "subject": sid}
    return dict(sorted(table.items(), key=lambda kv: Element(kv[0]).Z)), failed


def write_outputs(
    out: Path,
    records: dict[str, dict[str, Any]],
    labels: dict[str, dict[str, float]],
) -> None:
    """Write the structure + label JSON lines and the label-only CSV."""
    with gzip.open(out / "eform_labels.jsonl.gz", "wt", encoding="utf-8") as handle:
        for sid in sorted(labels):
            rec = records[sid]
            row = {
                "source_id": sid,
                "source": rec["source"],
                "structure": rec["structure"].as_dict(),
                **labels[sid],
            }
            handle.write(json.dumps(row) + "\n")
    with gzip.open(out / "eform_labels.csv.gz", "wt", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["source_id", "source", "formula", "nsites", "energy_per_atom", "e_form"])
        for sid in sorted(labels):
            structure = records[sid]["structure"]
            writer.writerow(
                [
                    sid,
                    records[sid]["source"],
                    structure.composition.reduced_formula,
                    len(structure),
                    f"{labels[sid]['energy_per_atom']:.6f}",
                    f"{labels[sid]['e_form']:.6f}",
                ]
            )


def from_labels(csv_path: Path, data: Path, out: Path) -> None:
    """Rebuild ``eform_labels.jsonl.gz`` from a label table and the data files."""
    records, _, _ = read_data(data)
    labels = {}
    with gzip.open(csv_path, "rt", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["source_id"] not in records:
                raise ValueError(f"{csv_path}: record {row['source_id']} is not in {data}")
            labels[row["source_id"]] = {
                "e_form": float(row["e_form"]),
                "energy_per_atom": float(row["energy_per_atom"]),
            }
    out.mkdir(parents=True, exist_ok=True)
    write_outputs(out, records, labels)
    print(f"wrote {out / 'eform_labels.jsonl.gz'} ({len(labels)} structures)", file=sys.stderr)


def main() -> None:
    """Label the data; write the outputs and (``--install``) the package's reference table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, default=Path("build/eform-data"))
    parser.add_argument("--from-labels", type=Path, help="Rebuild the JSON lines from this CSV.")
    parser.add_argument(
        "--install",
        action="store_true",
        help="Copy references.json to crystaloop/data/references/chgnet.json and the label "
        "table and card to scripts/data/.",
    )
    parser.add_argument("--limit", type=int, help="Label only this many structures (a test run).")
    args = parser.parse_args()
    if args.from_labels:
        from_labels(args.from_labels, args.data, args.out)
        return
    import chgnet

    from crystaloop.chem.energies import formation_energy_per_atom

    started = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    records, rejected, counts = read_data(args.data)
    if args.limit:
        records = dict(list(records.items())[:: max(1, len(records) // args.limit)][: args.limit])
    structures = {sid: rec["structure"] for sid, rec in records.items()}
    static, failed = static_energies(structures)
    probe = sorted(static)[:: max(1, len(static) // 5)][:5]
    worst = check_against_atomate2([structures[i] for i in probe], [static[i] for i in probe])
    print(f"batched CHGNet vs atomate2 static: max |ΔE| {worst:.2e} eV/atom", file=sys.stderr)
    max_z = MAX_Z if not args.limit else 10
    table, ref_failed = build_references(records, static, max_z)
    labels: dict[str, dict[str, float]] = {}
    for sid, energy in static.items():
        comp = structures[sid].composition
        try:
            e_form = formation_energy_per_atom(comp, energy * comp.num_atoms, _flat(table))
        except KeyError as err:
            failed[sid] = str(err)
            continue
        labels[sid] = {"e_form": e_form, "energy_per_atom": energy}
    write_outputs(args.out, records, labels)
    references = {
        "oracle": "chgnet",
        "model": "CHGNet (weights bundled with the chgnet wheel, CHGNet.load() default)",
        "chgnet_version": chgnet.__version__,
        "method": (
            "lowest energy per atom of the element's prototype (crystaloop.chem.energies."
            "element_prototype) and of its lowest-static-energy elemental phases in the data "
            f"(at most {PHASES_PER_ELEMENT}), each through the loop's oracle sub-flow "
            "(DFTMaker(oracle='chgnet'): guarded CHGNet relax, then CHGNet static)"
        ),
        "created": datetime.now(UTC).isoformat(),
        "failed": ref_failed,
        "elements": table,
    }
    (args.out / "references.json").write_text(json.dumps(references, indent=2))
    by_source: dict[str, int] = {}
    for sid in labels:
        by_source[records[sid]["source"]] = by_source.get(records[sid]["source"], 0) + 1
    card = {
        "name": "eform-chgnet",
        "what": "formation energy per atom (eV/atom) from the CHGNet static energy of each "
        "DFT-relaxed structure, against the oracle's elemental references",
        "oracle": "chgnet",
        "chgnet_version": chgnet.__version__,
        "sources": {
            "perov_5": "Perov-5 CDVAE validation split (Castelli et al. 2012)",
            "carbon_24": "Carbon-24 CDVAE validation split (Pickard, AIRSS 2020)",
            "matbench_dielectric": "Materials Project structures of Matbench "
            "matbench_dielectric (Dunn et al. 2020; Jain et al. 2013), CC BY 4.0",
            "sample corpus": "crystaloop/data (a subset of the three files above, identical)",
        },
        "files": counts,
        "labelled": len(labels),
        "labelled_by_source": by_source,
        "rejected": rejected,
        "failed": failed,
        "batched_vs_atomate2_max_abs_diff_ev_per_atom": worst,
        "references": "crystaloop/data/references/chgnet.json",
        "seconds": round(time.perf_counter() - started, 1),
        "created": datetime.now(UTC).isoformat(),
    }
    (args.out / "card.json").write_text(json.dumps(card, indent=2))
    if args.install:
        import shutil

        root = Path(__file__).resolve().parents[1]
        target = root / "crystaloop" / "data" / "references"
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy(args.out / "references.json", target / "chgnet.json")
        (root / "scripts" / "data").mkdir(exist_ok=True)
        shutil.copy(args.out / "eform_labels.csv.gz", root / "scripts/data/eform_labels.csv.gz")
        shutil.copy(args.out / "card.json", root / "scripts/data/eform_labels.card.json")
    print(f"labelled {len(labels)} structures in {card['seconds']} s", file=sys.stderr)


def _flat(table: dict[str, Any]) -> dict[str, float]:
    return {el: v["energy_per_atom"] for el, v in table.items()}


if __name__ == "__main__":
    main()
