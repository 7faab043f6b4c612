"""The VASP oracle end to end: ``DFTMaker(oracle="vasp")`` → ``LabelMaker`` with mock VASP.

atomate2's ``monkeypatch_vasp`` replaces ``run_vasp`` by a copy of reference outputs (and writes
``POTCAR.spec`` instead of POTCARs), checking the inputs each job writes against the reference
inputs. The patches live in this process only, so Fireworks are launched in-process
(``rapidfire``), never by a separate ``rlaunch``.
"""

from __future__ import annotations

from pathlib import Path

import jobflow
import pytest
from jobflow import Flow
from vasp_helpers import REF_PATHS, STATIC_ENERGY, mock_vasp

pytestmark = pytest.mark.slow


@pytest.fixture
def vasp_settings(home: Path, monkeypatch: pytest.MonkeyPatch):
    """Fresh settings whose oracle is ``vasp`` (the env var set before they are read)."""
    from crystaloop.settings import load_settings

    monkeypatch.setenv("CRYSTALOOP_ORACLE", "vasp")
    settings = load_settings()
    assert settings.oracle == "vasp"
    return settings


def _vasp_label_flow(shared_data: Path):
    """Return (flow, oracle sub-flow, label job) for the silicon candidate."""
    from pymatgen.core import Structure

    from crystaloop.makers.dft import DFTMaker
    from crystaloop.makers.label import LabelMaker

    structure = Structure.from_file(shared_data / "vasp_reference" / "Si.cif")
    oracle = DFTMaker(oracle="vasp").make(structure, "si-candidate")
    label = LabelMaker(oracle="vasp").make(
        [oracle.output], [{"subject_id": "si-candidate", "kind": "candidate"}], "camp", 0
    )
    return Flow([oracle, label], name="vasp oracle"), oracle, label


def _static_job(oracle: Flow):
    from crystaloop.makers.jobs import jobs_of

    jobs = {job.name: job for job in jobs_of(oracle)}
    assert set(jobs) == set(REF_PATHS)
    return jobs["MP GGA static"]


def _expected_energy(settings, static_uuid: str) -> float:
    """The MP2020-corrected energy of the static task document's entry, from the JobStore."""
    from crystaloop.makers.label import corrected_energy
    from crystaloop.stores.jobstore import job_store

    store = job_store(settings)
    store.connect()
    task = store.get_output(static_uuid)
    assert task["output"]["energy"] == pytest.approx(STATIC_ENERGY)
    return corrected_energy({"oracle": "vasp", "energy": None, "entry": task["entry"]})


def _assert_vasp_label(settings, static_uuid: str, output) -> None:
    from crystaloop.stores.factory import open_store
    from crystaloop.stores.labels import LabelStore

    assert output.oracle == "vasp"
    assert output.labelled == ["si-candidate"] and output.failed == []
    expected = _expected_energy(settings, static_uuid)
    # no MP2020 correction applies to elemental silicon: the corrected energy is the raw one
    assert expected == pytest.approx(STATIC_ENERGY)

    labels = LabelStore(open_store(settings, "labels")).query({})
    assert len(labels) == 1
    label = labels[0]
    assert label["oracle"] == "vasp"
    assert label["kind"] == "candidate"
    assert label["subject_id"] == "si-candidate" and label["campaign"] == "camp"
    assert label["calc_id"] == static_uuid
    assert label["energy"] == pytest.approx(expected)
    assert label["energy_per_atom"] == pytest.approx(expected / 2)
    assert label["structure"] is not None and label["nsites"] == 2
    assert label["formula"] == "Si" and label["elements"] == ["Si"]
    # silicon is its own (and only) elemental reference: on the hull with zero formation energy
    assert label["e_form"] == pytest.approx(0.0, abs=1e-9)
    assert label["e_hull"] == pytest.approx(0.0, abs=1e-9)


def test_vasp_oracle_labels_silicon_through_fireworks(vasp_settings, shared_data, monkeypatch):
    from crystaloop.launchpad.config import (
        get_launchpad,
        initialize_launchpad,
        write_configuration,
    )
    from crystaloop.launchpad.submit import run_in_process, submit_flow
    from crystaloop.stores.jobstore import job_store

    settings = vasp_settings
    write_configuration(settings)
    initialize_launchpad(settings)
    # use_job_store (called by submit_flow) sets the process-wide JobStore: restore it afterwards
    monkeypatch.setattr(jobflow.SETTINGS, "JOB_STORE", jobflow.SETTINGS.JOB_STORE)
    monkeypatch.setenv("JOBFLOW_CONFIG_FILE", str(settings.jobflow_config_file))

    flow, oracle, label = _vasp_label_flow(shared_data)
    static = _static_job(oracle)
    fw_ids = submit_flow(settings, flow, {"test": "vasp oracle"})
    assert len(fw_ids) == 4  # relax 1, relax 2, static, label
    with mock_vasp(shared_data):
        run_in_process(settings)

    launchpad = get_launchpad(settings)
    states = {fw_id: launchpad.get_fw_by_id(fw_id).state for fw_id in fw_ids}
    assert set(states.values()) == {"COMPLETED"}, states

    from crystaloop.schemas import LabelOutput

    store = job_store(settings)
    store.connect()
    output = LabelOutput(**store.get_output(label.uuid))
    _assert_vasp_label(settings, static.uuid, output)


def test_vasp_oracle_labels_silicon_with_run_locally(vasp_settings, shared_data):
    from jobflow import run_locally

    from crystaloop.stores.jobstore import job_store

    settings = vasp_settings
    flow, oracle, label = _vasp_label_flow(shared_data)
    static = _static_job(oracle)
    with mock_vasp(shared_data):
        responses = run_locally(
            flow, store=job_store(settings), create_folders=True, ensure_success=True
        )
    _assert_vasp_label(settings, static.uuid, responses[label.uuid][1].output)
