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
    from crystaloop.workflows.plan import CampaignOptions, build_campaign

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
        settings,
        CampaignOptions(
            **options, selection="surrogate", freeze_surrogate=False, freeze_generator=False
        ),
    )
    assert loop.iteration.select.strategy == "surrogate"
    assert not loop.iteration.train_surrogate.frozen and not loop.iteration.train_generator.frozen
    _, random = build_campaign(
        settings,
        CampaignOptions(
            **options, selection="random", freeze_surrogate=True, freeze_generator=True
        ),
    )
    assert random.iteration.select.strategy == "random" and random.iteration.select.seed == 3
    assert random.iteration.train_surrogate.frozen and random.iteration.train_generator.frozen


@pytest.mark.parametrize("oracle", ["chgnet", "vasp"])
def test_the_settings_oracle_reaches_every_step(home, monkeypatch, oracle):
    from crystaloop.settings import load_settings
    from crystaloop.workflows.plan import CampaignOptions, build_campaign

    monkeypatch.setenv("CRYSTALOOP_ORACLE", oracle)
    settings = load_settings()
    _ready(settings)
    _, maker = build_campaign(settings, CampaignOptions(campaign_id="o"))
    it = maker.iteration
    assert maker.oracle == it.oracle.oracle == oracle
    assert it.label.oracle == it.train_surrogate.oracle == it.train_generator.oracle == oracle
    design = build_campaign(
        settings, CampaignOptions(campaign_id="d", formula="SrTiO3", max_eform=0.5)
    )[1]
    assert design.iteration.train_generator.oracle == oracle
    assert design.iteration.train_generator.composition == "SrTiO3"
    # a Maker built by hand follows its oracle sub-flow Maker too
    from dataclasses import replace

    from crystaloop.makers import DFTMaker

    other = "vasp" if oracle == "chgnet" else "chgnet"
    moved = replace(it, oracle=DFTMaker(oracle=other))
    assert moved.label.oracle == moved.train_surrogate.oracle == moved.oracle.oracle == other
    assert moved.train_generator.oracle == other


def test_run_dry_run_prints_the_resolved_plan_and_submits_nothing(runner, settings, monkeypatch):
    import json

    monkeypatch.setenv("CRYSTALOOP_ORACLE", "vasp")
    result = runner.invoke(main, ["run", "--dry-run", "--json", "--campaign", "p"])
    assert result.exit_code == 0, result.output
    plan = json.loads(result.output)
    assert plan["oracle"] == "vasp"
    assert plan["oracle_makers"] == {"flow": "atomate2.vasp.flows.mp.MPGGADoubleRelaxStaticMaker"}
    assert plan["surrogate"] == "eform" and plan["generator"] == "perov5"
    assert plan["iterations"] == 2 and plan["oracle_budget"] == 8 and plan["per_iteration"] == 4
    assert plan["selection"]["strategy"] == "surrogate" and plan["selection"]["audit_share"] == 0.1
    assert plan["retraining"]["surrogate_targets"] == ["e_form", "band_gap"]
    # eform learnt CHGNet energies: a VASP campaign bootstraps on VASP labels first
    assert plan["bootstrap"] == 8
    assert not settings.launchpad_file.exists()  # nothing configured, nothing submitted
    monkeypatch.setenv("CRYSTALOOP_ORACLE", "chgnet")
    text = runner.invoke(main, ["run", "--dry-run", "--campaign", "p"])
    assert text.exit_code == 0 and "nothing submitted" in text.output
    assert "acquisition': 'ucb'" in text.output and "objective': 'e_hull'" in text.output
    assert "shipped chgnet elemental references" in text.output
    assert "oracle: chgnet" in text.output and "bootstrap: 0" in text.output
    design = runner.invoke(
        main, ["design", "Fe2O3", "--max-eform", "1", "--dry-run", "--json", "--campaign", "q"]
    )
    assert design.exit_code == 0, design.output
    designed = json.loads(design.output)
    assert designed["design"] == {"formula": "Fe2O3", "max_eform": 1.0, "n": 10}
    assert designed["selection"]["objective"] == "e_form"
    assert designed["selection"]["threshold"] == 1.0


def test_a_typo_in_the_settings_file_is_an_error_naming_the_key(runner, settings):
    settings.home.mkdir(parents=True)
    settings.settings_file.write_text("oracl: vasp\n")
    result = runner.invoke(main, ["status"])
    assert result.exit_code == 1
    assert "oracl: unknown setting" in result.output
    assert str(settings.settings_file) in result.output
