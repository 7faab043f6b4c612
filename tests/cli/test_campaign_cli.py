"""Bad input to the campaign commands: one line, non-zero exit, nothing submitted."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from crystaloop.cli import main


@pytest.fixture
def runner(home):
    return CliRunner()


def _fireworks(settings) -> int:
    from crystaloop.launchpad.config import get_launchpad

    return get_launchpad(settings).fireworks.count_documents({})


def _ready(settings) -> None:
    from crystaloop.launchpad.config import initialize_launchpad, write_configuration

    write_configuration(settings)
    initialize_launchpad(settings)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["submit", "--dft-budget", "0"], "0 is not in the range x>=1"),
        (["submit", "--iterations", "0"], "0 is not in the range x>=1"),
        (["submit", "--generator", "no-such-model"], "unknown generator 'no-such-model'"),
        (["submit", "--surrogate", "no-such-model"], "unknown model 'no-such-model'"),
        (["design", "Xx2O3", "--max-eform", "1", "--submit-only"], "Xx2O3"),
        (["design", "Fe2O3", "--submit-only"], "Missing option '--max-eform'"),
        (["submit", "--selection", "best"], "'best' is not one of 'surrogate', 'random'"),
    ],
)
def test_bad_campaign_input_is_one_line_and_submits_nothing(runner, settings, args, message):
    _ready(settings)
    result = runner.invoke(main, args)
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output
    assert _fireworks(settings) == 0


def test_an_unreachable_database_is_one_line(runner, monkeypatch):
    monkeypatch.setenv("CRYSTALOOP_BACKEND", "mongodb")
    monkeypatch.setenv("CRYSTALOOP_MONGO_URI", "mongodb://127.0.0.1:9/x")
    result = runner.invoke(main, ["submit"])
    assert result.exit_code == 1
    assert "cannot open store" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_status_without_a_campaign_says_so(runner, settings):
    _ready(settings)
    result = runner.invoke(main, ["status"])
    assert result.exit_code == 1
    assert "no campaign has been started" in result.output


def test_report_and_export_without_a_campaign_say_so(runner, settings):
    _ready(settings)
    for args in (["report"], ["export", "--format", "csv"]):
        result = runner.invoke(main, args)
        assert result.exit_code == 1
        assert "no campaign has been started" in result.output
    bad = runner.invoke(main, ["export", "--format", "xyz"])
    assert bad.exit_code == 2 and "'xyz' is not one of 'cif', 'json', 'csv'" in bad.output


def test_baseline_options_reach_the_makers(settings):
    from crystaloop.cli.campaign import build_campaign

    _ready(settings)
    options = {
        "campaign_id": "b",
        "iterations": 2,
        "dft_budget": 4,
        "per_iteration": 2,
        "n_generate": 8,
        "steps": 5,
        "bootstrap": 0,
        "generator": "perov5",
        "surrogate": "perov5",
        "patience": 0,
        "seed": 3,
    }
    _, loop = build_campaign(
        settings, **options, selection="surrogate", freeze_surrogate=False, freeze_generator=False
    )
    assert loop.iteration.select.strategy == "surrogate"
    assert not loop.iteration.train_surrogate.frozen and not loop.iteration.train_generator.frozen
    _, random = build_campaign(
        settings, **options, selection="random", freeze_surrogate=True, freeze_generator=True
    )
    assert random.iteration.select.strategy == "random" and random.iteration.select.seed == 3
    assert random.iteration.train_surrogate.frozen and random.iteration.train_generator.frozen
