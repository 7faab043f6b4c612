"""A campaign as the LaunchPad sees it: stalled steps, quiet runs, one line per event."""

from __future__ import annotations

import jobflow
import pytest
from jobflow import Flow
from jobs_for_tests import broken, noisy

from crystaloop.launchpad.config import initialize_launchpad, write_configuration
from crystaloop.launchpad.status import CampaignWatcher, campaign_overview, failed_steps
from crystaloop.launchpad.submit import run_in_process, submit_flow
from crystaloop.workflows.tags import tag


@pytest.fixture
def profile(settings, monkeypatch):
    write_configuration(settings)
    initialize_launchpad(settings)
    monkeypatch.setattr(jobflow.SETTINGS, "JOB_STORE", jobflow.SETTINGS.JOB_STORE)
    monkeypatch.setenv("JOBFLOW_CONFIG_FILE", str(settings.jobflow_config_file))
    return settings


def _record(settings, campaign: str) -> None:
    from crystaloop.schemas import CampaignRecord
    from crystaloop.stores.campaigns import CampaignStore, now
    from crystaloop.stores.factory import open_store

    CampaignStore(open_store(settings, "campaigns")).start(
        CampaignRecord(campaign=campaign, kind="campaign", oracle="chgnet", started=now())
    )


def test_a_failed_loop_step_stalls_the_campaign_and_is_named(profile):
    _record(profile, "c")
    oracle = noisy(1.0)
    tag(oracle, "c", 0, "oracle", subject="c:0:1")
    failed_oracle = broken(2.0)
    tag(failed_oracle, "c", 0, "oracle", subject="c:0:2")
    step = broken(oracle.output)
    tag(step, "c", 0, "score")
    after = noisy(step.output)
    tag(after, "c", 0, "select")
    submit_flow(profile, Flow([oracle, failed_oracle, step, after]), {})
    watcher = CampaignWatcher(profile, "c")
    lines: list[str] = []
    run_in_process(
        profile,
        log_file=profile.home / "logs" / "c.log",
        on_launch=lambda: lines.extend(watcher.poll()),
    )
    steps = failed_steps(profile, "c")
    assert [s.stage for s in steps] == ["score"]  # the failed oracle run is tolerated
    assert "the score step broke on 1.0" in steps[0].error
    status = campaign_overview(profile, "c")
    assert status.state == "stalled" and status.failed_steps == steps
    assert status.fireworks["0"] == {"COMPLETED": 1, "FIZZLED": 2, "WAITING": 1}
    assert any(
        "oracle run of c:0:2 failed: RuntimeError: the score step broke on 2.0" in x for x in lines
    )
    assert any("step broken failed" in x for x in lines)
    assert len(lines) == 2  # a completed oracle job prints nothing; each failure one line


def test_the_jobs_output_goes_to_the_log_file_not_the_terminal(profile, capfd):
    oracle = noisy(1.0)
    tag(oracle, "q", 0, "oracle", subject="s")
    submit_flow(profile, Flow([oracle]), {})
    log = profile.home / "logs" / "q.log"
    assert run_in_process(profile, log_file=log) == 1
    out, err = capfd.readouterr()
    assert "CHGNet will run on cpu" not in out + err
    assert "a library warning" not in out + err
    text = log.read_text()
    assert "CHGNet will run on cpu" in text and "a library warning" in text
