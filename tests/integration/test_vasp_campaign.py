"""A VASP-configured campaign through FireWorks, end to end, under atomate2's mock VASP.

The oracle comes from the settings only (``CRYSTALOOP_ORACLE=vasp``): the campaign is built by
the library call every entry point uses. The candidates are arranged so the silicon reference
runs apply: a design of Si2 cells (the perov5 CSP model knows silicon) on a corpus holding only
silicon. Every VASP run returns the reference outputs, so each label is the reference silicon,
and the campaign goes on through label, surrogate fine-tune (to the VASP targets, e_form and
band gap), generator fine-tune and a second iteration.
"""

from __future__ import annotations

from dataclasses import replace

import jobflow
import pytest
from vasp_helpers import mock_vasp

pytestmark = pytest.mark.slow

#: The candidates' first relaxation starts from their own cells: its KPOINTS and POSCAR differ
#: from the reference's; its INCAR and POTCAR must match. The later runs start from the copied
#: reference outputs, so every input is checked.
KWARGS = {
    "MP GGA relax 1": {"check_inputs": ("incar", "potcar")},
    "MP GGA relax 2": {"check_inputs": ("incar", "kpoints", "potcar", "poscar")},
    "MP GGA static": {"check_inputs": ("incar", "kpoints", "potcar", "poscar")},
}


def test_a_vasp_campaign_runs_end_to_end_under_the_mocks(home, shared_data, monkeypatch):
    from crystaloop.launchpad.config import initialize_launchpad, write_configuration
    from crystaloop.launchpad.status import campaign_overview
    from crystaloop.launchpad.submit import run_in_process, submit_flow
    from crystaloop.ml.checkpoint import load_ensemble
    from crystaloop.settings import load_settings
    from crystaloop.stores.campaigns import CampaignStore
    from crystaloop.stores.corpus import CorpusStore
    from crystaloop.stores.factory import open_store
    from crystaloop.stores.ingest import read_records
    from crystaloop.stores.ingest.prepare import PrepareOptions
    from crystaloop.stores.labels import LabelStore
    from crystaloop.workflows.plan import CampaignOptions, build_campaign

    monkeypatch.setenv("CRYSTALOOP_ORACLE", "vasp")
    settings = load_settings()
    write_configuration(settings)
    initialize_launchpad(settings)
    monkeypatch.setattr(jobflow.SETTINGS, "JOB_STORE", jobflow.SETTINGS.JOB_STORE)
    monkeypatch.setenv("JOBFLOW_CONFIG_FILE", str(settings.jobflow_config_file))
    si = shared_data / "vasp_reference" / "Si.cif"
    corpus = CorpusStore(open_store(settings, "corpus"), open_store(settings, "corpus_aliases"))
    corpus.ingest(read_records(si)[1], PrepareOptions(source="ref", file=str(si), max_sites=10))

    options = CampaignOptions(
        campaign_id="v",
        iterations=2,
        dft_budget=4,
        per_iteration=2,
        n_generate=8,
        steps=20,
        bootstrap=0,
        formula="Si2",
        max_eform=1.0,
        n_wanted=50,
    )
    campaign, maker = build_campaign(settings, options)
    it = maker.iteration
    assert maker.oracle == it.oracle.oracle == it.label.oracle == "vasp"
    assert it.train_surrogate.targets == ("e_form", "band_gap")
    maker = replace(  # fast retraining (a user's script composes the Makers the same way)
        maker,
        iteration=replace(
            it,
            train_surrogate=replace(it.train_surrogate, min_new_labels=1, epochs=2, members=2),
            train_generator=replace(
                it.train_generator,
                min_new_stable=1,
                epochs=1,
                seconds=10,
                check_samples=4,
                check_steps=10,
            ),
        ),
    )
    submit_flow(settings, maker.make(campaign), {"crystaloop_campaign": campaign})
    with mock_vasp(shared_data, KWARGS):
        run_in_process(settings)

    status = campaign_overview(settings, campaign)
    assert status.failed_steps == [] and status.state == "finished", status.failed_steps
    assert status.plan["oracle"] == "vasp"
    assert status.plan["oracle_makers"]["flow"].endswith("MPGGADoubleRelaxStaticMaker")
    assert [row.iteration for row in status.iterations] == [0, 1]
    labels = LabelStore(open_store(settings, "labels"))
    docs = labels.all_labels()
    assert docs and {d["oracle"] for d in docs} == {"vasp"}
    candidates = [d for d in docs if d["kind"] == "candidate"]
    assert {d["iteration"] for d in candidates} == {0, 1}
    assert all(d["e_form"] == pytest.approx(0.0, abs=1e-6) for d in candidates)
    assert all(d["band_gap"] is not None for d in candidates)
    models = {(m["kind"], m["iteration"]): m for m in status.models}
    surrogate = models[("surrogate", 0)]  # fine-tuned on the VASP labels of iteration 0
    assert load_ensemble(surrogate["path"]).config.targets == ["e_form", "band_gap"]
    assert ("generator", 0) in models  # the CSP fine-tune and its screen-pass check ran
    record = CampaignStore(open_store(settings, "campaigns")).require(campaign)
    assert record.oracle == "vasp"
    assert record.history()[0].surrogate == surrogate["path"]  # iteration 1 used the new model
