"""A campaign whose oracle is SevenNet on the batched TorchSim engine, chosen by settings alone.

``CRYSTALOOP_ORACLE=sevennet`` and ``CRYSTALOOP_ORACLE_ENGINE=torchsim`` reach the plan, the
oracle step (one batch job per dispatch on the ``batch_oracle`` category), the label step and the
references: SevenNet ships no reference table, so the campaign labels elemental prototypes with
the same batched oracle and forms its formation energies against them.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from campaign_helpers import fresh_profile, ingest_small_corpus, isolated_home, quick_iteration

from crystaloop.launchpad.config import get_launchpad
from crystaloop.launchpad.submit import run_in_process, submit_flow
from crystaloop.stores.campaigns import campaign_status
from crystaloop.stores.factory import open_store
from crystaloop.stores.labels import LabelStore

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    from crystaloop.workflows.plan import CampaignOptions, build_campaign, campaign_plan

    home = tmp_path_factory.mktemp("batch") / "home"
    engine = {"CRYSTALOOP_ORACLE": "sevennet", "CRYSTALOOP_ORACLE_ENGINE": "torchsim"}
    with isolated_home(home, engine) as settings:
        fresh_profile(settings)
        ingest_small_corpus(settings)
        options = CampaignOptions(
            iterations=1, dft_budget=2, per_iteration=1, n_generate=8, steps=50, bootstrap=2
        )
        campaign, maker = build_campaign(settings, options)
        maker = replace(maker, iteration=quick_iteration(maker.iteration, 2), bootstrap_max_sites=5)
        submit_flow(settings, maker.make(campaign), {"crystaloop_campaign": campaign})
        run_in_process(settings)
        yield settings, campaign, campaign_plan(maker, campaign)


def test_the_plan_names_the_batched_sevennet_oracle(finished):
    _, _, plan = finished
    assert plan["oracle"] == "sevennet" and plan["oracle_engine"] == "torchsim"
    assert plan["oracle_makers"] == {"batch": "crystaloop.makers.batch_oracle.BatchOracleMaker"}


def test_every_oracle_firework_is_one_batch_job_on_its_category(finished):
    settings, campaign, _ = finished
    assert campaign_status(settings, campaign).state == "finished"
    oracle_fws = list(
        get_launchpad(settings).fireworks.find(
            {"spec.crystaloop.campaign": campaign, "spec.crystaloop.stage": "oracle"},
            {"spec._category": 1, "state": 1, "name": 1},
        )
    )
    assert oracle_fws and {fw["state"] for fw in oracle_fws} == {"COMPLETED"}
    assert {fw["spec"]["_category"] for fw in oracle_fws} == {settings.category_for("batch_oracle")}
    assert all(fw["name"] == "batch oracle" for fw in oracle_fws)


def test_labels_and_references_are_sevennets(finished):
    settings, campaign, _ = finished
    labels = LabelStore(open_store(settings, "labels"))
    docs = labels.query({"campaign": campaign})
    assert docs and {d["oracle"] for d in docs} == {"sevennet"}
    assert all("#" in d["calc_id"] for d in docs)  # made by a batch job
    elements = {el for d in docs if d["kind"] != "element" for el in d["chemsys"].split("-")}
    assert set(labels.references("sevennet", elements)) == elements
    assert all(d["e_form"] is not None for d in docs if d["kind"] != "element")
