"""The batched (TorchSim) oracle: one job, one result per structure, the label step's shape."""

from __future__ import annotations

import pytest
from helpers import perovskite
from jobflow import run_locally


def test_the_engines_and_oracles_are_checked():
    from crystaloop.makers import DFTMaker

    with pytest.raises(ValueError, match="no batched chgnet potential"):
        DFTMaker(oracle="chgnet", engine="torchsim")
    with pytest.raises(ValueError, match="no batched vasp potential"):
        DFTMaker(oracle="vasp", engine="torchsim")
    with pytest.raises(ValueError, match="unknown oracle engine"):
        DFTMaker(oracle="sevennet", engine="ase")
    with pytest.raises(ValueError, match="needs the torchsim engine"):
        DFTMaker(oracle="sevennet").make_batch([perovskite()], ["a"])
    # the per-structure path of an ML oracle is atomate2's, with that oracle's potential
    maker = DFTMaker(oracle="sevennet")
    assert maker.default_relax_maker().force_field_name.endswith("SevenNet")
    assert maker.default_static_maker().force_field_name.endswith("SevenNet")


def test_one_job_labels_every_structure_or_says_why_not(settings):
    from pymatgen.core import Lattice, Structure

    from crystaloop.makers import DFTMaker, LabelMaker
    from crystaloop.stores.factory import open_store
    from crystaloop.stores.labels import LabelStore

    good = perovskite()
    dense = Structure(Lattice.cubic(1.2), ["Sr", "Ti"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    job = DFTMaker(oracle="sevennet", engine="torchsim").make_batch(
        [good, dense.as_dict()], ["c:0:0", "c:0:1"]
    )
    assert job.config.manager_config == {"_category": settings.category_for("batch_oracle")}
    results = run_locally(job, log=False, ensure_success=True)[job.uuid][1].output
    assert [r["subject_id"] for r in results] == ["c:0:0", "c:0:1"]
    assert results[0]["oracle"] == "sevennet" and results[0]["calc_id"] == f"{job.uuid}#0"
    assert results[0]["energy"] < 0 and results[0]["converged"]
    assert "too dense" in results[1]["error"]

    subjects = [{"subject_id": s, "kind": "candidate"} for s in ("c:0:0", "c:0:1")]
    labels = LabelStore(open_store(settings, "labels"))
    maker = LabelMaker(oracle="sevennet")
    refs = {"Sr": -1.6, "Ti": -7.8, "O": -4.9}  # the test's own references
    labels.references = lambda oracle, elements: refs  # type: ignore[method-assign]
    out, docs = maker.label(results, subjects, "c", 0, labels)
    assert [d.subject_id for d in docs] == ["c:0:0"] and docs[0].oracle == "sevennet"
    assert out.failures["c:0:1"].startswith("oracle run failed: cell too dense")


def test_a_batch_job_refuses_mismatched_ids():
    from crystaloop.makers.batch_oracle import BatchOracleMaker

    with pytest.raises(ValueError, match="one id each"):
        BatchOracleMaker.make.original(BatchOracleMaker(), [perovskite()], ["a", "b"])
    with pytest.raises(ValueError, match="batch_size"):
        BatchOracleMaker(batch_size=0)


def test_a_batch_that_raises_fails_its_structures_with_the_reason(monkeypatch):
    import crystaloop.ml.batch_relax as batch_relax
    from crystaloop.makers.batch_oracle import BatchOracleMaker

    def broken(*args, **kwargs):
        raise RuntimeError("CUDA out of memory")

    monkeypatch.setattr(batch_relax, "relax_batch", broken)
    monkeypatch.setattr(batch_relax, "load_potential", lambda name, device: object())
    maker = BatchOracleMaker(batch_size=1)
    out = BatchOracleMaker.make.original(maker, [perovskite(), perovskite()], ["a", "b"])
    assert [r["subject_id"] for r in out] == ["a", "b"]
    assert all("CUDA out of memory" in r["error"] for r in out)
    with pytest.raises(ValueError, match="no prerelax_maker"):
        from crystaloop.makers import DFTMaker

        DFTMaker(oracle="sevennet", engine="torchsim", prerelax_maker=maker)
