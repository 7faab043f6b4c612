"""A modifier named in the campaign options reaches the iteration, the label step and the plan."""

from __future__ import annotations

import pytest

from crystaloop.workflows.plan import CampaignError, CampaignOptions, build_campaign, campaign_plan


@pytest.fixture
def modifier_dir(tmp_path):
    from crystaloop.ml.generative.config import GeneratorConfig
    from crystaloop.ml.modify.checkpoint import save_modifier
    from crystaloop.ml.modify.model import ModifierConfig, build_modifier

    config = GeneratorConfig(
        kind="flow", mode="csp", cond_eform=True, elements=[6], hidden=8, layers=1, n_freq=2
    )
    save_modifier(build_modifier(ModifierConfig(config)), tmp_path / "mod")
    return str(tmp_path / "mod")


def test_the_modifier_reaches_the_steps_and_the_plan(settings, modifier_dir):
    options = CampaignOptions(
        generator="carbon24", modifier=modifier_dir, modify_margin=0.25, modify_samples=3
    )
    campaign, maker = build_campaign(settings, options, check_store=False)
    it = maker.iteration
    assert it.modify.model == modifier_dir and it.modify.samples == 3
    assert it.label.near_miss_margin == 0.25
    plan = campaign_plan(maker, campaign)
    assert plan["modification"] == {
        "modifier": modifier_dir,
        "near_miss": "0.1 < E_hull ≤ 0.35 eV/atom",
        "samples": 3,
    }
    plain = build_campaign(settings, CampaignOptions(), check_store=False)[1]
    assert plain.iteration.modify is None and plain.iteration.label.near_miss_margin == 0.0
    assert campaign_plan(plain, "x")["modification"] is None


def test_a_bad_modifier_option_is_refused(settings, modifier_dir):
    with pytest.raises(CampaignError, match="unknown modifier 'nope'"):
        build_campaign(settings, CampaignOptions(modifier="nope"), check_store=False)
    with pytest.raises(CampaignError, match="modify_samples"):
        build_campaign(
            settings, CampaignOptions(modifier=modifier_dir, modify_samples=0), check_store=False
        )
