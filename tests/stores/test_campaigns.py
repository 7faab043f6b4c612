"""The campaigns store: one record per campaign, per iteration, and the stop flag."""

from __future__ import annotations

import pytest

from crystaloop.schemas import CampaignRecord, IterationRecord


@pytest.fixture
def campaigns(settings):
    from crystaloop.stores.campaigns import CampaignStore
    from crystaloop.stores.factory import open_store

    return CampaignStore(open_store(settings, "campaigns"))


def _record(name: str, started: str) -> CampaignRecord:
    return CampaignRecord(
        campaign=name, kind="campaign", oracle="chgnet", started=started,
        plan={"stable_threshold": 0.05},
    )  # fmt: skip


def test_a_campaign_is_recorded_once_with_its_iterations(campaigns):
    campaigns.start(_record("a", "2026-01-01"))
    campaigns.start(_record("b", "2026-01-02"))
    it = IterationRecord(iteration=0, surrogate="s", generator="g", seed=0, finished="t")
    campaigns.record_iteration("a", it)
    campaigns.start(_record("a", "2026-02-01"))  # a rerun of the start job changes nothing
    record = campaigns.require("a")
    assert record.started == "2026-01-01" and list(record.history()) == [0]
    assert record.stable_threshold == 0.05 and record.state == "running"
    assert campaigns.latest() == "b" and campaigns.exists("a") and not campaigns.exists("z")
    campaigns.record_iteration("a", it.model_copy(update={"iteration": 1}), "iteration cap")
    record = campaigns.require("a")
    assert record.state == "finished" and record.stop_reason == "iteration cap"
    assert sorted(record.history()) == [0, 1]


def test_stop_flag_and_unknown_campaigns(campaigns):
    campaigns.start(_record("a", "t"))
    campaigns.request_stop("a")
    assert campaigns.require("a").stop_requested
    with pytest.raises(KeyError, match="no campaign 'zz'"):
        campaigns.request_stop("zz")
    with pytest.raises(KeyError, match="no campaign 'zz'"):
        campaigns.require("zz")
    campaigns.finish("a", "done")
    assert campaigns.get("a").state == "finished"
