"""A campaign with a structure modifier: near misses are modified into the next iteration.

Chosen by the campaign options alone (``modifier``, ``modify_margin``): the carbon24 generator
proposes carbon allotropes, CHGNet labels them, every labelled candidate above the (zero)
stability threshold is a near miss, and the modifier's outputs join iteration 1 with their
parent recorded, through the screens and scoring, and in the report.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from campaign_helpers import fresh_profile, ingest_small_corpus, isolated_home, quick_iteration

from crystaloop.launchpad.config import get_launchpad
from crystaloop.launchpad.submit import run_in_process, submit_flow
from crystaloop.stores.campaigns import campaign_status
from crystaloop.stores.candidates import CandidateStore
from crystaloop.stores.factory import open_store
from crystaloop.stores.labels import LabelStore

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    from crystaloop.ml.generative.config import GeneratorConfig
    from crystaloop.ml.modify.checkpoint import save_modifier
    from crystaloop.ml.modify.model import ModifierConfig, build_modifier
    from crystaloop.workflows.plan import CampaignOptions, build_campaign, campaign_plan

    root = tmp_path_factory.mktemp("modify")
    config = GeneratorConfig(
        kind="flow", mode="csp", cond_eform=True, elements=[6], max_atoms=24, hidden=16, layers=1
    )
    save_modifier(build_modifier(ModifierConfig(config, prior="source")), root / "mod")
    with isolated_home(root / "home") as settings:
        fresh_profile(settings)
        ingest_small_corpus(settings, n=20)
        options = CampaignOptions(
            iterations=2,
            dft_budget=4,
            per_iteration=2,
            n_generate=8,
            steps=50,
            bootstrap=0,
            generator="carbon24",
            selection="random",
            stable_threshold=0.0,
            modifier=str(root / "mod"),
            modify_margin=100.0,
            modify_samples=2,
        )
        campaign, maker = build_campaign(settings, options)
        maker = replace(maker, iteration=quick_iteration(maker.iteration, 0))
        submit_flow(settings, maker.make(campaign), {"crystaloop_campaign": campaign})
        run_in_process(settings)
        yield settings, campaign, campaign_plan(maker, campaign)


def test_the_campaign_finishes_with_a_modify_step(finished):
    settings, campaign, plan = finished
    assert campaign_status(settings, campaign).state == "finished"
    assert plan["modification"]["samples"] == 2
    fws = list(
        get_launchpad(settings).fireworks.find(
            {"spec.crystaloop.campaign": campaign, "spec.crystaloop.stage": "modify"},
            {"state": 1, "spec.crystaloop.iteration": 1},
        )
    )
    # the last iteration's near misses have no next iteration to join: not modified
    assert {fw["spec"]["crystaloop"]["iteration"] for fw in fws} == {0}
    assert {fw["state"] for fw in fws} == {"COMPLETED"}


def test_near_misses_come_back_as_candidates_with_their_parents(finished):
    settings, campaign, _ = finished
    labels = LabelStore(open_store(settings, "labels")).query(
        {"campaign": campaign, "iteration": 0, "kind": "candidate"}
    )
    near = {d["subject_id"] for d in labels if d["e_hull"] is not None and d["e_hull"] > 0}
    assert near, "iteration 0 labelled no near miss"
    docs = CandidateStore(open_store(settings, "candidates")).campaign_candidates(campaign)
    children = [d for d in docs if d.get("parent")]
    assert {d["parent"] for d in children} == near
    assert len(children) == 2 * len(near)
    assert {d["iteration"] for d in children} == {1}
    assert all(d["generator"].startswith("modifier mod@") for d in children)
    assert all(d["formula"] == "C" for d in children)
    assert all(d["status"] in ("passed", "screened_out") for d in children)
    rows = {r.iteration: r for r in campaign_status(settings, campaign).iterations}
    assert rows[1].modified == len(children) and rows[0].modified == 0


def test_the_report_shows_the_lineage(finished):
    from crystaloop.analysis.report import lineage_table
    from crystaloop.analysis.report_data import gather

    settings, campaign, _ = finished
    data = gather(settings, campaign)
    table = lineage_table(data)
    assert "Modified near misses" in table
    parents = {r["parent"] for r in data.generated if r["parent"]}
    assert parents and all(p in table for p in parents)
