"""``LabelMaker``: the collector of an iteration's oracle runs → formation energy and E_hull labels.

It runs even when some oracle runs failed (their outputs arrive as ``None``): those candidates are
marked ``oracle: failed``. Every label is upserted under ``(subject, oracle, calculation id)``,
so running the collector again changes nothing. The surrogate's predictions made before the
label existed travel with the subjects: the label keeps them (``predicted``), the output reports
the pre-label MAE of the routed candidates and how many audited accepted predictions were within
the surrogate's tolerance.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jobflow import Maker

from crystaloop.makers.jobs import crystaloop_job
from crystaloop.ml.crysformer.targets import ENERGY_TOLERANCE as DEFAULT_TOLERANCE
from crystaloop.schemas import STABLE_THRESHOLD, LabelOutput

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
    oracle
        The oracle whose labels these are (set by the campaign from its plan; each result also
        names its oracle, and they must agree).
    stable_threshold
        A candidate is stable when its energy above the hull is at most this (eV/atom).
    target
        Surrogate target whose pre-label prediction error is reported (``mae_before``) and
        whose audits are scored.
    """

    name: str = "label"
    oracle: str = "chgnet"
    stable_threshold: float = STABLE_THRESHOLD
    target: str = "e_form"

    @crystaloop_job("label", LabelOutput, tolerate_missing=True)
    def make(
        self, results: list[Any], subjects: list[dict[str, Any]], campaign: str, iteration: int
    ) -> LabelOutput:
        """Label ``results`` (oracle sub-flow outputs, ``None`` where failed) of ``subjects``.

        ``subjects`` are ``{"subject_id", "kind"}`` rows; a candidate's row also carries the
        surrogate's ``scores`` made before the label existed, the ``surrogate`` and whether it
        is an ``audit`` of an accepted prediction.
        """
        from crystaloop.settings import load_settings
        from crystaloop.stores.candidates import CandidateStore
        from crystaloop.stores.factory import open_store
        from crystaloop.stores.labels import LabelStore

        settings = load_settings()
        labels = LabelStore(open_store(settings, "labels"))
        out, docs = self.label(results, subjects, campaign, iteration, labels)
        labels.upsert(docs)
        states: dict[str, tuple[str, str | None]] = {
            sid: ("failed", reason)
            for sid, reason in out.failures.items()
            if _kind(subjects, sid) == "candidate"
        }
        states.update({d.subject_id: ("done", None) for d in docs if d.kind == "candidate"})
        CandidateStore(open_store(settings, "candidates")).set_oracle(states)
        return out

    def label(
        self,
        results: list[Any],
        subjects: list[dict[str, Any]],
        campaign: str,
        iteration: int,
        labels: Any,
    ) -> tuple[LabelOutput, list[Any]]:
        """Return the output and the label documents (nothing is written; ``labels`` is read).

        Raises
        ------
        ValueError
            When a result comes from another oracle than :attr:`oracle`.
        """
        from crystaloop.chem.energies import (
            Phase,
            chemsys_of,
            energies_above_hull,
            formation_energy_per_atom,
            shipped_references,
        )
        from crystaloop.schemas import LabelDoc
        from crystaloop.stores.labels import label_id

        docs: list[LabelDoc] = []
        failures: dict[str, str] = {}
        rows = {}
        for subject, result in zip(subjects, results, strict=True):
            sid = subject["subject_id"]
            ok = isinstance(result, dict) and None not in (
                result.get("energy"),
                result.get("structure"),
                result.get("calc_id"),
            )
            if not ok:
                failures[sid] = FAILED_REASON
                continue
            if result["oracle"] != self.oracle:
                raise ValueError(
                    f"subject {sid}: a {result['oracle']} result in a {self.oracle} campaign"
                )
            try:
                energy = corrected_energy(result)
            except ValueError as err:
                failures[sid] = str(err)
                continue
            structure = _structure_of(result["structure"])
            elements = sorted({str(el) for el in structure.composition.elements})
            scores = subject.get("scores") or {}
            rows[sid] = subject
            docs.append(
                LabelDoc(
                    label_id=label_id(sid, self.oracle, str(result["calc_id"])),
                    subject_id=sid,
                    kind=subject["kind"],
                    campaign=campaign,
                    iteration=iteration,
                    oracle=self.oracle,
                    calc_id=str(result["calc_id"]),
                    structure=structure.as_dict(),
                    formula=structure.composition.reduced_formula,
                    chemsys=chemsys_of(elements),
                    elements=elements,
                    nsites=len(structure),
                    energy=energy,
                    energy_per_atom=energy / len(structure),
                    band_gap=result.get("band_gap"),
                    predicted={
                        name: {k: v[k] for k in ("mean", "std", "std_raw") if k in v}
                        for name, v in scores.items()
                    }
                    or None,
                    surrogate=subject.get("surrogate"),
                    audit=bool(subject.get("audit")),
                )
            )
        refs = labels.references(self.oracle, {el for d in docs for el in d.elements})
        shipped = shipped_references(self.oracle)
        for doc in docs:  # this batch's elemental phases count as references too
            el = doc.elements[0]
            if len(doc.elements) == 1 and el not in shipped:
                refs[el] = min(refs.get(el, doc.energy_per_atom), doc.energy_per_atom)
        targets = []
        for doc in docs:
            if all(el in refs for el in doc.elements):
                comp = _structure_of(doc.structure).composition
                doc.e_form = formation_energy_per_atom(comp, doc.energy, refs)
                if doc.kind != "element":
                    targets.append(Phase(doc.label_id, comp, doc.energy))
        ids = {d.subject_id for d in docs}
        others = labels.phases(self.oracle, {d.chemsys for d in docs}, exclude=ids)
        hull = energies_above_hull(targets, others, refs) if targets else {}
        errors, audited, within, new_stable = [], 0, 0, []
        for doc in docs:
            doc.e_hull = hull.get(doc.label_id)
            if doc.kind != "candidate":
                continue
            if doc.e_hull is not None and doc.e_hull <= self.stable_threshold:
                new_stable.append(doc.subject_id)
            score = (rows[doc.subject_id].get("scores") or {}).get(self.target)
            truth = getattr(doc, self.target, None)
            if score is None or truth is None:
                continue
            if doc.audit:
                audited += 1
                within += abs(score["mean"] - truth) <= score.get("tolerance", DEFAULT_TOLERANCE)
            else:
                errors.append(abs(score["mean"] - truth))
        output = LabelOutput(
            campaign=campaign,
            iteration=iteration,
            oracle=self.oracle,
            labelled=[d.subject_id for d in docs],
            failed=list(failures),
            failures=failures,
            new_stable=new_stable,
            mae_before={self.target: sum(errors) / len(errors)} if errors else {},
            audited=audited,
            audit_within=within,
        )
        return output, docs


def _kind(subjects: list[dict[str, Any]], subject_id: str) -> str | None:
    return next((s["kind"] for s in subjects if s["subject_id"] == subject_id), None)
