"""``LabelMaker``: the collector of an iteration's oracle runs → formation energy and E_hull labels.

It runs even when some oracle runs failed (their outputs arrive as ``None``): those candidates are
marked ``oracle: failed``. Every label is upserted under ``(subject, oracle, calculation id)``,
so running the collector again changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jobflow import Maker

from crystaloop.makers.jobs import crystaloop_job
from crystaloop.schemas import LabelOutput

#: Why a candidate without an oracle result is marked failed.
FAILED_REASON = (
    "oracle run failed or was lost (see its Firework: crystaloop lpad get_fws -s FIZZLED)"
)


def _structure_of(value: Any) -> Any:
    from pymatgen.core import Structure

    return Structure.from_dict(value) if isinstance(value, dict) else value


def corrected_energy(result: dict[str, Any]) -> float:
    """Return the oracle energy of a sub-flow result (VASP: MP2020-compatible).

    Raises
    ------
    ValueError
        When MP2020 compatibility rejects a VASP entry.
    """
    if result["oracle"] != "vasp" or result.get("entry") is None:
        return float(result["energy"])
    from pymatgen.entries.compatibility import MaterialsProject2020Compatibility
    from pymatgen.entries.computed_entries import ComputedEntry

    entry = result["entry"]
    if isinstance(entry, dict):
        entry = ComputedEntry.from_dict(entry)
    processed = MaterialsProject2020Compatibility(check_potcar=False).process_entry(entry)
    if processed is None:
        raise ValueError("MP2020 compatibility rejected the VASP entry")
    return float(processed.energy)


@dataclass
class LabelMaker(Maker):
    """Turn oracle energies into labels with the oracle's own references.

    Attributes
    ----------
    name
        Job name.
    stable_threshold
        A candidate is stable when its energy above the hull is at most this (eV/atom).
    target
        Surrogate target whose pre-label prediction error is reported (``mae_before``).
    """

    name: str = "label"
    stable_threshold: float = 0.1
    target: str = "e_form"

    @crystaloop_job("label", LabelOutput, tolerate_missing=True)
    def make(
        self, results: list[Any], subjects: list[dict[str, Any]], campaign: str, iteration: int
    ) -> LabelOutput:
        """Label ``results`` (oracle sub-flow outputs, ``None`` where failed) of ``subjects``."""
        from crystaloop.chem.energies import (
            Phase,
            chemsys_of,
            energies_above_hull,
            formation_energy_per_atom,
        )
        from crystaloop.schemas import LabelDoc
        from crystaloop.settings import load_settings
        from crystaloop.stores.candidates import CandidateStore
        from crystaloop.stores.factory import open_store
        from crystaloop.stores.labels import LabelStore, label_id

        settings = load_settings()
        labels = LabelStore(open_store(settings, "labels"))
        candidates = CandidateStore(open_store(settings, "candidates"))
        kinds = {s["subject_id"]: s["kind"] for s in subjects}
        scored = {
            d["candidate_id"]: d
            for d in candidates.get(i for i, k in kinds.items() if k == "candidate")
        }
        docs: list[LabelDoc] = []
        failed: list[tuple[str, str]] = []
        oracle = settings.oracle
        for subject, result in zip(subjects, results, strict=True):
            sid = subject["subject_id"]
            ok = isinstance(result, dict) and None not in (
                result.get("energy"),
                result.get("structure"),
                result.get("calc_id"),
            )
            if not ok:
                failed.append((sid, FAILED_REASON))
                continue
            oracle = result["oracle"]
            try:
                energy = corrected_energy(result)
            except ValueError as err:
                failed.append((sid, str(err)))
                continue
            structure = _structure_of(result["structure"])
            elements = sorted({str(el) for el in structure.composition.elements})
            candidate = scored.get(sid, {})
            predicted = {
                name: {"mean": v["mean"], "std": v["std"]}
                for name, v in (candidate.get("scores") or {}).items()
            }
            docs.append(
                LabelDoc(
                    label_id=label_id(sid, oracle, str(result["calc_id"])),
                    subject_id=sid,
                    kind=subject["kind"],
                    campaign=campaign,
                    iteration=iteration,
                    oracle=oracle,
                    calc_id=str(result["calc_id"]),
                    structure=structure.as_dict(),
                    formula=structure.composition.reduced_formula,
                    chemsys=chemsys_of(elements),
                    elements=elements,
                    nsites=len(structure),
                    energy=energy,
                    energy_per_atom=energy / len(structure),
                    band_gap=result.get("band_gap"),
                    predicted=predicted or None,
                    surrogate=candidate.get("surrogate"),
                )
            )
        refs = labels.references(oracle, {el for d in docs for el in d.elements})
        for doc in docs:  # this batch's elemental phases count as references too
            if len(doc.elements) == 1:
                el = doc.elements[0]
                refs[el] = min(refs.get(el, doc.energy_per_atom), doc.energy_per_atom)
        targets = []
        for doc in docs:
            if all(el in refs for el in doc.elements):
                comp = _structure_of(doc.structure).composition
                doc.e_form = formation_energy_per_atom(comp, doc.energy, refs)
                if doc.kind != "element":
                    targets.append(Phase(doc.label_id, comp, doc.energy))
        ids = {d.subject_id for d in docs}
        others = labels.phases(oracle, {d.chemsys for d in docs}, exclude=ids)
        hull = energies_above_hull(targets, others, refs) if targets else {}
        for doc in docs:
            doc.e_hull = hull.get(doc.label_id)
        labels.upsert(docs)
        for sid, reason in failed:
            if kinds[sid] == "candidate":
                candidates.set_oracle(sid, "failed", reason)
        errors = []
        new_stable = []
        for doc in docs:
            if doc.kind != "candidate":
                continue
            candidates.set_oracle(doc.subject_id, "done")
            if doc.e_hull is not None and doc.e_hull <= self.stable_threshold:
                new_stable.append(doc.subject_id)
            mean = (doc.predicted or {}).get(self.target, {}).get("mean")
            if mean is not None and doc.e_form is not None:
                errors.append(abs(mean - doc.e_form))
        mae = {self.target: sum(errors) / len(errors)} if errors else {}
        return LabelOutput(
            campaign=campaign,
            iteration=iteration,
            oracle=oracle,
            labelled=[d.subject_id for d in docs],
            failed=[sid for sid, _ in failed],
            new_stable=new_stable,
            mae_before=mae,
        )
