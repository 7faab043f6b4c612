"""The hull source setting reaches the plan, the score and label steps, and is checked."""

from __future__ import annotations

import json

import pytest


def test_the_mp2020_hull_is_in_the_plan_and_on_the_steps(settings, monkeypatch):
    from click.testing import CliRunner

    from crystaloop.cli import main
    from crystaloop.settings import load_settings
    from crystaloop.workflows.plan import CampaignOptions, build_campaign, campaign_plan

    monkeypatch.setenv("CRYSTALOOP_ORACLE", "vasp")
    monkeypatch.setenv("CRYSTALOOP_HULL", "mp2020")
    result = CliRunner().invoke(main, ["run", "--dry-run", "--json", "--campaign", "p"])
    assert result.exit_code == 0, result.output
    plan = json.loads(result.output)
    assert plan["hull_source"] == "mp2020"
    assert "MP2020-corrected Materials Project entries" in plan["hull"]
    _, maker = build_campaign(load_settings(), CampaignOptions(campaign_id="q"), check_store=False)
    it = maker.iteration
    assert it.hull == it.label.hull == it.score.hull == "mp2020"
    assert campaign_plan(maker, "q")["hull_source"] == "mp2020"
    # the default: the oracle's own reference phases
    monkeypatch.setenv("CRYSTALOOP_HULL", "oracle")
    _, maker = build_campaign(load_settings(), CampaignOptions(campaign_id="r"), check_store=False)
    assert campaign_plan(maker, "r")["hull_source"] == "oracle"
    assert maker.iteration.label.hull == "oracle"


def test_the_mp2020_hull_needs_the_vasp_oracle(settings, monkeypatch):
    from crystaloop.makers import DFTMaker
    from crystaloop.settings import load_settings
    from crystaloop.workflows import IterationMaker
    from crystaloop.workflows.plan import CampaignError, CampaignOptions, build_campaign

    monkeypatch.setenv("CRYSTALOOP_HULL", "mp2020")
    with pytest.raises(CampaignError, match="needs the vasp oracle, not chgnet"):
        build_campaign(load_settings(), CampaignOptions(campaign_id="s"), check_store=False)
    with pytest.raises(ValueError, match="needs the vasp oracle"):
        IterationMaker(oracle=DFTMaker(oracle="chgnet"), hull="mp2020")
    with pytest.raises(ValueError, match="unknown hull source"):
        IterationMaker(hull="mp2023")
