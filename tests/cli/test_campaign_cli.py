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
