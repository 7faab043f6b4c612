"""``LabelMaker``: the collector of an iteration's oracle runs → formation energy and E_hull labels.

It runs even when some oracle runs failed (their outputs arrive as ``None``): those candidates are
marked ``oracle: failed``, as are those whose relaxed structure has two atoms fused (closer than
half their covalent radii: :func:`crystaloop.chem.validity.collapsed_pair`), whose energy is no
label. Every label is upserted under ``(subject, oracle, calculation id)``,
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


def corrected_energy(result: dict[str, Any], hull: str = "oracle") -> float:
    """Return the oracle energy of a sub-flow result (VASP: MP2020-compatible).

    With the ``mp2020`` hull the VASP entry is corrected exactly as the ingested Materials
    Project entries are (:func:`crystaloop.chem.mp2020.correct_entry`, POTCARs checked), and a
    result without an entry cannot be placed on that hull.

    Raises
    ------
    ValueError
        When MP2020 compatibility rejects a VASP entry (with the reason), or the ``mp2020``
        hull gets a result without a VASP entry.
    """
    from crystaloop.chem.mp2020 import correct_entry

    if hull == "mp2020":
        if result["oracle"] != "vasp" or result.get("entry") is None:
            raise ValueError(
                f"the mp2020 hull needs a VASP entry to correct; this {result['oracle']} "
                "result has none"
            )
        return float(correct_entry(result["entry"]).energy)
    if result["oracle"] != "vasp" or result.get("entry") is None:
        return float(result["energy"])
    # the oracle's own hull: the same scheme, POTCARs unchecked (all labels share them)
    return float(correct_entry(result["entry"], check_potcar=False).energy)


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
    hull
        Where the hull comes from (set by the campaign from its plan): ``oracle``, the oracle's
        labels of reference phases; ``mp2020``, the corrected Materials Project entries of the
        ``hull_entries`` store with the oracle's labels (VASP only, each label corrected by
        MP2020 compatibility like the entries).
    near_miss_margin
        Candidates with ``stable_threshold < E_hull ≤ stable_threshold + near_miss_margin``
        are near misses: the output lists them and hands their relaxed structures on (an
        artifact) to the structure modifier. 0 (the default): none.
    """

    name: str = "label"
    oracle: str = "chgnet"
    stable_threshold: float = STABLE_THRESHOLD
    target: str = "e_form"
    hull: str = "oracle"
    near_miss_margin: float = 0.0

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
        entries = None
        if self.hull == "mp2020":
            from crystaloop.stores.hull_entries import HullEntryStore

            entries = HullEntryStore(open_store(settings, "hull_entries"))
        out, docs = self.label(results, subjects, campaign, iteration, labels, entries)
        labels.upsert(docs)
        if out.near_miss:
            from crystaloop.stores.artifacts import artifact_store
            from crystaloop.stores.candidates import put_batch

            near = set(out.near_miss)
            out.near_misses = put_batch(
                artifact_store(settings),
                (
                    {"candidate_id": d.subject_id, "structure": d.structure, "e_hull": d.e_hull}
                    for d in docs
                    if d.subject_id in near
                ),
            )
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
        hull_entries: Any = None,
    ) -> tuple[LabelOutput, list[Any]]:
        """Return the output and the label documents (nothing is written; stores are read).

        ``hull_entries`` (a :class:`~crystaloop.stores.hull_entries.HullEntryStore`) is
        required by the ``mp2020`` hull: its entries of each label's system and subsystems join
        the hull, and their elemental entries the references.

        Raises
        ------
        ValueError
            When a result comes from another oracle than :attr:`oracle`, or the ``mp2020``
            hull is asked of another oracle than VASP or without ``hull_entries``.
        """
        if self.hull == "mp2020" and (self.oracle != "vasp" or hull_entries is None):
            raise ValueError(
                f"the mp2020 hull needs the vasp oracle (not {self.oracle}) and the hull_entries "
                "store"
            )
        if self.hull not in ("oracle", "mp2020"):
            raise ValueError(f"unknown hull source {self.hull!r}: choose oracle or mp2020")
        from crystaloop.chem.energies import (
            Phase,
            chemsys_of,
            energies_above_hull,
            formation_energy_per_atom,
            shipped_references,
        )
        from crystaloop.chem.validity import collapsed_pair
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
                error = result.get("error") if isinstance(result, dict) else None
                failures[sid] = f"oracle run failed: {error}" if error else FAILED_REASON
                continue
            if result["oracle"] != self.oracle:
                raise ValueError(
                    f"subject {sid}: a {result['oracle']} result in a {self.oracle} campaign"
                )
            try:
                energy = corrected_energy(result, self.hull)
            except ValueError as err:
                failures[sid] = str(err)
                continue
            structure = _structure_of(result["structure"])
            fused = collapsed_pair(structure)
            if fused is not None:  # the relaxation ended far from any physical minimum
                failures[sid] = f"oracle's relaxed structure: {fused}"
                continue
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
        if hull_entries is not None and self.hull == "mp2020":
            for el, e in hull_entries.references({el for d in docs for el in d.elements}).items():
                refs[el] = min(refs.get(el, e), e)
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
        if hull_entries is not None and self.hull == "mp2020":
            others += hull_entries.phases({d.chemsys for d in docs})
        hull = energies_above_hull(targets, others, refs) if targets else {}
        errors, audited, within, new_stable, near_miss = [], 0, 0, [], []
        for doc in docs:
            doc.e_hull = hull.get(doc.label_id)
            if doc.kind != "candidate":
                continue
            if doc.e_hull is not None and doc.e_hull <= self.stable_threshold:
                new_stable.append(doc.subject_id)
            elif (
                doc.e_hull is not None
                and doc.e_hull <= self.stable_threshold + self.near_miss_margin
            ):
                near_miss.append(doc.subject_id)
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
            near_miss=near_miss,
        )
        return output, docs


def _kind(subjects: list[dict[str, Any]], subject_id: str) -> str | None:
    return next((s["kind"] for s in subjects if s["subject_id"] == subject_id), None)
