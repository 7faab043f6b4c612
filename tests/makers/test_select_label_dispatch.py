"""The select, label and dispatch steps: what they compute from their inputs, what they write."""

from __future__ import annotations

import pytest
from helpers import perovskite

from crystaloop.schemas import ArtifactRef, ScoreOutput, ScoreRecord


def _record(i: int, mean: float | None, std_raw: float = 0.01, conf: float = 0.99):
    scores = None
    if mean is not None:
        scores = {
            "e_form": {
                "mean": mean,
                "std": 2 * std_raw,
                "std_raw": std_raw,
                "confidence": conf,
                "tolerance": 0.12,
            }
        }
    return ScoreRecord(
        candidate_id=f"c:0:{i}", formula=f"Sr{i}TiO3", chemsys="O-Sr-Ti", nsites=5, scores=scores
    )


def _scored(records) -> ScoreOutput:
    ref = ArtifactRef(uri="file:///x", sha256="0" * 64, size=1, kind="candidates")
    return ScoreOutput(
        campaign="c", iteration=0, survivors=ref, surrogate="eform@abc", records=records
    )


def test_select_is_a_function_of_the_score_records(monkeypatch):
    import crystaloop.settings
    from crystaloop.makers import SelectMaker

    def no_settings(*args, **kwargs):
        raise AssertionError("routing must not read settings or stores")

    monkeypatch.setattr(crystaloop.settings, "load_settings", no_settings)
    records = [_record(i, -0.5) for i in range(4)]  # confident and promising: accepted
    records += [_record(10 + i, -0.2, std_raw=0.3, conf=0.2) for i in range(4)]  # uncertain
    records.append(_record(99, None))  # unscorable
    maker = SelectMaker(budget=3, audit_share=0.1, max_per_formula=5, max_per_chemsys=5)
    out, selection = maker.route(_scored(records))
    assert out.accepted == ["c:0:0", "c:0:1", "c:0:2", "c:0:3"]
    assert len(out.audit) == 1 and out.audit[0] in out.accepted
    assert len(out.dft) == 2 and set(out.dft) <= {f"c:0:{10 + i}" for i in range(4)}
    assert {p.candidate_id for p in out.picks} == set(out.dft) | set(out.audit)
    assert out.surrogate == "eform@abc" and out.target == "e_form"
    assert out.rejected == len(records) - len(out.dft) - len(out.accepted)
    assert selection.reasons["c:0:99"].startswith("unscorable")


def test_select_refuses_a_band_gap_and_a_missing_target():
    from crystaloop.makers import SelectMaker

    with pytest.raises(ValueError, match="never on a band gap"):
        SelectMaker(target="band_gap")
    with pytest.raises(ValueError, match="has no target 'heat_ref'"):
        SelectMaker(target="heat_ref").route(_scored([_record(0, -0.5)]))


def test_select_writes_every_route_in_one_bulk_write(settings, monkeypatch):
    from crystaloop.makers import SelectMaker
    from crystaloop.schemas import CandidateDoc
    from crystaloop.stores.candidates import CandidateStore
    from crystaloop.stores.factory import open_store

    store = CandidateStore(open_store(settings, "candidates"))
    records = [_record(i, -0.5) for i in range(2)] + [_record(5, -0.1, 0.3, 0.2)]
    store.upsert(
        CandidateDoc(
            candidate_id=r.candidate_id,
            campaign="c",
            iteration=0,
            index=k,
            structure=perovskite().as_dict(),
            formula=r.formula,
            nsites=5,
            generator="g",
            status="passed",
        )
        for k, r in enumerate(records)
    )
    calls = []
    original = type(store.store._collection).bulk_write
    monkeypatch.setattr(
        type(store.store._collection),
        "bulk_write",
        lambda self, ops, **kw: calls.append(len(ops)) or original(self, ops, **kw),
    )
    maker = SelectMaker(budget=2)
    out = SelectMaker.make.original(maker, _scored(records))
    assert calls == [3]
    docs = {d["candidate_id"]: d for d in store.get(r.candidate_id for r in records)}
    assert docs["c:0:5"]["selection"] == "dft"
    assert [docs[i]["selection"] for i in out.accepted] == ["predicted", "predicted"]
    assert sum(docs[i]["audit"] for i in out.accepted) == 1
    assert all(docs[i]["selection_reason"] for i in docs)


def _result(structure, energy: float, calc: str, oracle: str = "chgnet"):
    return {
        "oracle": oracle,
        "energy": energy,
        "structure": structure.as_dict(),
        "calc_id": calc,
        "band_gap": None,
        "entry": None,
    }


def test_label_uses_the_shipped_references_and_scores_the_audits(settings):
    from crystaloop.chem.energies import shipped_references
    from crystaloop.makers import LabelMaker
    from crystaloop.stores.factory import open_store
    from crystaloop.stores.labels import LabelStore

    refs = shipped_references("chgnet")
    sto = perovskite()
    reference_energy = refs["Sr"] + refs["Ti"] + 3 * refs["O"]
    e_form = -1.5  # eV/atom
    energy = reference_energy + 5 * e_form

    def row(i, mean, audit):
        return {
            "subject_id": f"c:0:{i}",
            "kind": "candidate",
            "scores": {"e_form": {"mean": mean, "std": 0.1, "std_raw": 0.05, "tolerance": 0.12}},
            "surrogate": "eform@abc",
            "audit": audit,
        }

    subjects = [row(0, -1.4, False), row(1, -1.45, True), row(2, -1.0, True), row(3, -1.5, False)]
    results = [
        _result(sto, energy, "a"),
        _result(sto, energy, "b"),
        _result(sto, energy, "c"),
        None,  # a failed oracle run
    ]
    labels = LabelStore(open_store(settings, "labels"))
    out, docs = LabelMaker().label(results, subjects, "c", 0, labels)
    assert out.labelled == ["c:0:0", "c:0:1", "c:0:2"] and out.failed == ["c:0:3"]
    assert "oracle run failed" in out.failures["c:0:3"]
    assert all(d.e_form == pytest.approx(e_form) for d in docs)
    assert out.mae_before == {"e_form": pytest.approx(0.1)}  # the routed one only
    assert out.audited == 2 and out.audit_within == 1  # -1.45 within 0.12, -1.0 not
    assert docs[1].audit and docs[1].predicted["e_form"]["std_raw"] == 0.05
    assert labels.count() == 0  # label() computes; make() writes
    with pytest.raises(ValueError, match="a vasp result in a chgnet campaign"):
        LabelMaker().label([_result(sto, energy, "d", "vasp")], subjects[:1], "c", 0, labels)


def test_label_refuses_a_relaxed_structure_with_fused_atoms(settings):
    from crystaloop.makers import LabelMaker
    from crystaloop.stores.factory import open_store
    from crystaloop.stores.labels import LabelStore

    fused = perovskite()
    fused.translate_sites([1], [0.45, 0.45, 0.45])  # Ti 0.34 Å from Sr: no physical minimum
    subjects = [{"subject_id": "c:0:0", "kind": "candidate"}]
    labels = LabelStore(open_store(settings, "labels"))
    out, docs = LabelMaker().label([_result(fused, 21.7, "a")], subjects, "c", 0, labels)
    assert docs == [] and out.failed == ["c:0:0"]
    assert "relaxed structure" in out.failures["c:0:0"]
    assert "not a physical structure" in out.failures["c:0:0"]


def test_dispatch_reads_the_structures_once_and_hands_the_scores_on(settings, monkeypatch):
    from crystaloop.makers import SelectMaker
    from crystaloop.schemas import CandidateDoc
    from crystaloop.stores.candidates import CandidateStore
    from crystaloop.stores.factory import open_store
    from crystaloop.workflows import IterationMaker
    from crystaloop.workflows.dispatch import dispatch

    records = [_record(i, -0.5) for i in range(3)] + [_record(7, -0.1, 0.3, 0.2)]
    store = CandidateStore(open_store(settings, "candidates"))
    store.upsert(
        CandidateDoc(
            candidate_id=r.candidate_id,
            campaign="c",
            iteration=0,
            index=k,
            structure=perovskite(3.9 + 0.01 * k).as_dict(),
            formula=r.formula,
            nsites=5,
            generator="g",
            status="passed",
        )
        for k, r in enumerate(records)
    )
    selected, _ = SelectMaker(budget=2).route(_scored(records))
    reads = []
    original = CandidateStore.structures
    monkeypatch.setattr(
        CandidateStore,
        "structures",
        lambda self, ids: reads.append(list(ids)) or original(self, ids),
    )
    maker = IterationMaker()
    response = dispatch.original(maker, selected.model_dump(), "eform", "perov5", None)
    assert len(reads) == 1
    assert response.output["candidates"] == 1 and response.output["audits"] == 1
    label = next(j for j in response.addition.jobs if j.name == "label")
    rows = label.function_args[1]
    candidates = [r for r in rows if r["kind"] == "candidate"]
    assert [r["subject_id"] for r in candidates] == [*selected.dft, *selected.audit]
    assert [r["audit"] for r in candidates] == [False, True]
    assert all(r["scores"]["e_form"]["std_raw"] for r in candidates)
    assert all(r["surrogate"] == "eform@abc" for r in candidates)
    # the shipped CHGNet references cover Sr, Ti, O: no elemental prototype is sent
    assert not [r for r in rows if r["kind"] == "element"]


def test_score_places_each_candidate_on_the_hull_of_known_phases(settings):
    from pymatgen.core import Composition, Lattice, Structure

    from crystaloop.makers import ScoreMaker
    from crystaloop.schemas import LabelDoc, ScreenOutput
    from crystaloop.stores.artifacts import artifact_store
    from crystaloop.stores.candidates import put_batch
    from crystaloop.stores.factory import open_store
    from crystaloop.stores.labels import LabelStore, label_id

    sro = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.2), ["Sr", "O"], [[0] * 3, [0.5] * 3])
    tio2 = Structure(Lattice.cubic(4.0), ["Ti", "O", "O"], [[0, 0, 0], [0.5, 0, 0], [0, 0.5, 0]])
    docs = []
    for sid, s, e_form in (("sro", sro, -3.0), ("tio2", tio2, -3.5)):
        comp = s.composition
        docs.append(
            LabelDoc(
                label_id=label_id(sid, "chgnet", "x"), subject_id=sid, kind="corpus",
                oracle="chgnet", calc_id="x", structure=s.as_dict(),
                formula=comp.reduced_formula, chemsys="-".join(sorted(map(str, comp.elements))),
                elements=sorted(map(str, comp.elements)), nsites=len(s), energy=0.0,
                energy_per_atom=0.0, e_form=e_form,
            )
        )  # fmt: skip
    LabelStore(open_store(settings, "labels")).upsert(docs)
    batch = put_batch(
        artifact_store(settings),
        [{"candidate_id": "c:0:0", "structure": perovskite().as_dict()}],
    )
    screened = ScreenOutput(
        campaign="c", iteration=0, survivors=batch, passed=1, total=1, dropped={}
    )
    out = ScoreMaker.make.original(ScoreMaker(), screened)
    (record,) = out.records
    # SrTiO3 = SrO + TiO2: the hull's formation energy is (2·−3.0 + 3·−3.5) / 5 = −3.3 eV/atom
    assert record.hull_e_form == pytest.approx(-3.3)
    assert record.chemsys == "O-Sr-Ti" and record.scores["e_form"]["std_raw"] > 0
    assert Composition(record.formula).reduced_formula == "SrTiO3"
    other = ScoreMaker.make.original(ScoreMaker(oracle="vasp"), screened)
    assert other.records[0].hull_e_form == 0.0  # no VASP phase known: the elements' hull
