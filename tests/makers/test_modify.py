"""The modification branch of an iteration: near misses → ModifyMaker → the next batch."""

from __future__ import annotations

import pytest
from jobflow import Flow, run_locally
from pymatgen.core import Lattice, Structure

from crystaloop.makers import GenerateMaker, LabelMaker, ScreenMaker
from crystaloop.makers.modify import ModifyMaker
from crystaloop.stores.artifacts import artifact_store
from crystaloop.stores.candidates import CandidateStore, get_batch
from crystaloop.stores.factory import open_store
from crystaloop.stores.jobstore import job_store


def diamond(a: float = 3.57) -> Structure:
    return Structure.from_spacegroup("Fd-3m", Lattice.cubic(a), ["C"], [[0, 0, 0]])


def _result(structure: Structure, e_hull: float, calc: str) -> dict:
    from crystaloop.chem.energies import shipped_references

    per_atom = shipped_references("chgnet")["C"] + e_hull  # C's hull is its reference
    return {
        "oracle": "chgnet",
        "energy": per_atom * len(structure),
        "structure": structure.as_dict(),
        "calc_id": calc,
        "band_gap": None,
        "entry": None,
    }


@pytest.fixture
def carbon_modifier(tmp_path):
    from crystaloop.ml.generative.config import GeneratorConfig
    from crystaloop.ml.modify.checkpoint import save_modifier
    from crystaloop.ml.modify.model import ModifierConfig, build_modifier

    tiny = GeneratorConfig(
        kind="flow",
        mode="csp",
        cond_eform=True,
        elements=[6],
        max_atoms=8,
        hidden=16,
        layers=1,
        n_freq=4,
        time_dim=8,
    )
    save_modifier(build_modifier(ModifierConfig(tiny, prior="source")), tmp_path / "mod")
    return str(tmp_path / "mod")


def test_label_lists_the_near_misses_within_the_margin(settings):
    from crystaloop.stores.labels import LabelStore

    subjects = [{"subject_id": f"c:0:{i}", "kind": "candidate"} for i in range(4)]
    results = [
        _result(diamond(), 0.05, "a"),  # stable
        _result(diamond(3.6), 0.15, "b"),  # near miss
        _result(diamond(3.7), 0.45, "c"),  # too far above
        _result(diamond(3.65), 0.19, "d"),  # just inside the margin: a near miss
    ]
    labels = LabelStore(open_store(settings, "labels"))
    maker = LabelMaker(stable_threshold=0.1, near_miss_margin=0.1)
    out, _ = maker.label(results, subjects, "c", 0, labels)
    assert out.new_stable == ["c:0:0"]
    assert out.near_miss == ["c:0:1", "c:0:3"]
    assert (
        LabelMaker(stable_threshold=0.1).label(results, subjects, "c", 0, labels)[0].near_miss == []
    )


def test_near_misses_are_modified_into_the_next_batch_with_their_parents(settings, carbon_modifier):
    subjects = [
        {"subject_id": "c:0:0", "kind": "candidate"},
        {"subject_id": "c:0:1", "kind": "candidate"},
    ]
    results = [_result(diamond(3.6), 0.15, "a"), None]
    label = LabelMaker(stable_threshold=0.1, near_miss_margin=0.2).make(results, subjects, "c", 0)
    modify = ModifyMaker(model=carbon_modifier, samples=3).make(label.output, "c", 0)
    generate = GenerateMaker(model="perov5", n=2, steps=3).make("c", 1, modify.output)
    screen = ScreenMaker(allow_p1=True).make(generate.output)
    responses = run_locally(
        Flow([label, modify, generate, screen]), store=job_store(settings), ensure_success=True
    )
    modified = responses[modify.uuid][1].output
    assert modified.n == 3 and modified.parents == ["c:0:0"] and modified.skipped == {}
    assert modified.model.startswith("mod@")
    generated = responses[generate.uuid][1].output
    assert generated.n == 5 and generated.modified == 3
    rows = get_batch(artifact_store(settings), generated.batch)
    assert [r["candidate_id"] for r in rows] == [f"c:1:{k}" for k in range(5)]
    assert [r.get("parent") for r in rows] == [None, None, "c:0:0", "c:0:0", "c:0:0"]
    docs = {
        d["candidate_id"]: d
        for d in CandidateStore(open_store(settings, "candidates")).campaign_candidates("c")
    }
    assert docs["c:1:2"]["parent"] == "c:0:0"
    assert docs["c:1:2"]["generator"] == f"modifier {modified.model}"
    assert docs["c:1:0"]["parent"] is None
    assert Structure.from_dict(docs["c:1:4"]["structure"]).composition.reduced_formula == "C"


def test_nothing_to_modify_gives_an_empty_output(settings, carbon_modifier):
    from crystaloop.schemas import LabelOutput

    empty = LabelOutput(
        campaign="c", iteration=0, oracle="chgnet", labelled=[], failed=[], new_stable=[]
    )
    made = ModifyMaker(model=carbon_modifier).make(empty.model_dump(), "c", 0)
    responses = run_locally(made, store=job_store(settings), ensure_success=True)
    out = responses[made.uuid][1].output
    assert out.n == 0 and out.batch is None and out.parents == []


def test_a_near_miss_of_unseen_elements_is_skipped_with_its_reason(settings, carbon_modifier):
    from crystaloop.schemas import LabelOutput
    from crystaloop.stores.candidates import put_batch

    nacl = Structure(Lattice.cubic(3.0), ["Na", "Cl"], [[0] * 3, [0.5] * 3])
    ref = put_batch(
        artifact_store(settings),
        [
            {"candidate_id": "c:0:1", "structure": nacl.as_dict(), "e_hull": 0.15},
            {"candidate_id": "c:0:2", "structure": diamond().as_dict(), "e_hull": 0.12},
        ],
    )
    label = LabelOutput(
        campaign="c",
        iteration=0,
        oracle="chgnet",
        labelled=["c:0:1", "c:0:2"],
        failed=[],
        new_stable=[],
        near_miss=["c:0:1", "c:0:2"],
        near_misses=ref,
    )
    made = ModifyMaker(model=carbon_modifier, samples=1).make(label.model_dump(), "c", 0)
    out = run_locally(made, store=job_store(settings), ensure_success=True)[made.uuid][1].output
    assert out.parents == ["c:0:2"] and out.n == 1
    assert "c:0:1: element(s) Na, Cl the modifier never saw" in out.skipped["c:0:1"]


def test_modify_maker_checks_its_samples():
    with pytest.raises(ValueError, match="samples must be at least 1"):
        ModifyMaker(samples=0)


def test_outputs_that_are_their_parent_again_are_dropped(settings, carbon_modifier, monkeypatch):
    import crystaloop.ml.modify.sampling as sampling
    from crystaloop.schemas import LabelOutput
    from crystaloop.stores.candidates import put_batch

    def echo(model, sources, samples, delta_e, **kw):  # a modifier that changes nothing
        return [[s] * samples for s in sources]

    monkeypatch.setattr(sampling, "modify_crystals", echo)
    ref = put_batch(
        artifact_store(settings),
        [{"candidate_id": "c:0:2", "structure": diamond().as_dict(), "e_hull": 0.12}],
    )
    label = LabelOutput(
        campaign="c",
        iteration=0,
        oracle="chgnet",
        labelled=["c:0:2"],
        failed=[],
        new_stable=[],
        near_miss=["c:0:2"],
        near_misses=ref,
    )
    made = ModifyMaker(model=carbon_modifier, samples=2).make(label.model_dump(), "c", 0)
    out = run_locally(made, store=job_store(settings), ensure_success=True)[made.uuid][1].output
    assert out.copies == 2 and out.n == 0 and out.batch is None and out.parents == ["c:0:2"]


def test_a_failed_modify_step_says_so_and_adds_nothing(settings):
    from crystaloop.schemas import LabelOutput

    empty = LabelOutput(
        campaign="c", iteration=0, oracle="chgnet", labelled=[], failed=[], new_stable=[]
    )
    made = ModifyMaker(model="no-such-modifier").make(empty.model_dump(), "c", 0)
    out = run_locally(made, store=job_store(settings), ensure_success=True)[made.uuid][1].output
    assert out.n == 0 and out.batch is None
    assert out.error.startswith("CheckpointError: unknown modifier 'no-such-modifier'")
