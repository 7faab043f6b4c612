"""A campaign submitted once and worked by three ``crystaloop worker`` processes at the same time.

Each Firework runs once, every label is written once, and the labels are those one worker
(in-process) produces for the same campaign.
"""

from __future__ import annotations

import pytest
from campaign_helpers import fresh_profile, ingest_small_corpus, isolated_home, tiny_campaign

from crystaloop.launchpad.status import runs_per_firework
from crystaloop.launchpad.submit import firework_states, run_in_process, submit_flow
from crystaloop.launchpad.worker import spawn_workers
from crystaloop.stores.campaigns import campaign_status
from crystaloop.stores.factory import open_store
from crystaloop.stores.labels import LabelStore

pytestmark = pytest.mark.slow

CAMPAIGN = "many"
WORKERS = 3


def _run(tmp_path_factory, workers: int):
    """Submit the tiny campaign (one iteration) in a fresh home; run it with ``workers``."""
    home = tmp_path_factory.mktemp(f"workers{workers}") / "home"
    with isolated_home(home) as settings:
        fresh_profile(settings)
        ingest_small_corpus(settings)
        flow = tiny_campaign(iterations=1).make(CAMPAIGN)
        submit_flow(settings, flow, {"crystaloop_campaign": CAMPAIGN})
        if workers == 1:
            run_in_process(settings)
        else:
            procs = spawn_workers(settings, workers, timeout=900)
            codes = [p.wait(timeout=1000) for p in procs]
            assert codes == [0] * workers, (settings.home / "logs").glob("worker-*.log")
    return settings


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The same campaign run by one worker and by three."""
    return _run(tmp_path_factory, 1), _run(tmp_path_factory, WORKERS)


def test_every_firework_ran_once_and_the_campaign_finished(runs):
    _, many = runs
    counts = runs_per_firework(many, CAMPAIGN)
    assert counts and set(counts.values()) == {1}, counts
    totals: dict[str, int] = {}
    for per_iteration in firework_states(many, CAMPAIGN).values():
        for state, n in per_iteration.items():
            totals[state] = totals.get(state, 0) + n
    assert set(totals) <= {"COMPLETED", "FIZZLED"}  # a collapsing oracle run may fizzle
    assert campaign_status(many, CAMPAIGN).state == "finished"
    logs = sorted((many.home / "logs").glob("worker-*.log"))
    assert len(logs) == WORKERS


def test_the_workers_wrote_each_label_once_and_the_same_labels_as_one_worker(runs):
    one, many = runs
    labels = {}
    for name, settings in (("one", one), ("many", many)):
        store = LabelStore(open_store(settings, "labels"))
        assert store.duplicate_keys() == 0
        docs = store.query({"campaign": CAMPAIGN}, ["subject_id", "energy", "kind"])
        assert len({d["subject_id"] for d in docs}) == len(docs)
        labels[name] = {d["subject_id"]: d["energy"] for d in docs}
    assert labels["one"] and set(labels["many"]) == set(labels["one"])
    for subject, energy in labels["one"].items():
        assert labels["many"][subject] == pytest.approx(energy, abs=1e-4), subject
