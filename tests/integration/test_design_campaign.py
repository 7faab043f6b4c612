"""The seed's own query, ``design Fe2O3 --max-eform 1``, finishes; a stalled run says so."""

from __future__ import annotations

from dataclasses import replace

import pytest

pytestmark = pytest.mark.slow


def test_the_fe2o3_design_reaches_generator_fine_tuning_and_finishes(profile):
    from crystaloop.launchpad.status import campaign_overview
    from crystaloop.launchpad.submit import run_in_process, submit_flow
    from crystaloop.workflows.plan import CampaignOptions, build_campaign

    options = CampaignOptions(
        campaign_id="fe",
        iterations=2,
        dft_budget=4,
        per_iteration=2,
        n_generate=6,
        steps=20,
        formula="Fe2O3",
        max_eform=1.0,
        n_wanted=50,
        # every labelled candidate counts as stable, so the CSP generator's fine-tune and its
        # screen-pass check (which once fizzled: a CSP model cannot sample without a
        # composition) run after iteration 0
        stable_threshold=10.0,
    )
    campaign, maker = build_campaign(profile, options)
    it = maker.iteration
    assert it.train_generator.mode == "csp" and it.train_generator.composition == "Fe2O3"
    from crystaloop.makers import DFTMaker
    from crystaloop.makers.guarded import GuardedForceFieldRelaxMaker

    short = GuardedForceFieldRelaxMaker(force_field_name="CHGNet", steps=60)
    maker = replace(
        maker,
        iteration=replace(
            it,
            oracle=DFTMaker(relax_maker=short),
            train_surrogate=replace(it.train_surrogate, min_new_labels=1, epochs=2, members=2),
            train_generator=replace(
                it.train_generator,
                min_new_stable=1,
                idealize=False,  # a P1 discovery counts too: the fine-tune must run
                epochs=1,
                seconds=10,
                check_samples=4,
                check_steps=20,
            ),
        ),
    )
    submit_flow(profile, maker.make(campaign), {"crystaloop_campaign": campaign})
    run_in_process(profile)
    status = campaign_overview(profile, campaign)
    assert status.failed_steps == [], status.failed_steps
    assert status.state == "finished" and "iteration cap" in status.stop_reason
    trained = [m for m in status.models if m["kind"] == "generator"]
    # iteration 0 labelled a candidate, stable at this campaign's threshold: the CSP generator
    # was fine-tuned after it and its screen-pass check sampled Fe2O3 (4 samples each)
    assert status.iterations[0].dft_done > 0, status.iterations
    assert trained and trained[0]["iteration"] == 0, status.models
    rates = trained[0]["metrics"]["screen_pass_rate"]
    assert set(rates) == {"parent", "fine_tuned"}
    for rate in rates.values():
        assert 0.0 <= rate <= 1.0 and rate * 4 == round(rate * 4), rates
    assert rates["parent"] > 0  # the shipped CSP model's Fe2O3 samples pass the screens
    # kept: its samples pass at least min_pass_ratio (0.75) × as often as the parent's
    ratio = maker.iteration.train_generator.min_pass_ratio
    assert rates["fine_tuned"] >= ratio * rates["parent"]
    found = maker.found(campaign, profile)
    assert set(found) == {"known", "labelled", "predicted"}


def test_a_stalled_run_exits_non_zero_naming_the_failed_step(profile, monkeypatch):
    from click.testing import CliRunner

    from crystaloop.cli import main

    # the carbon24 generator knows only carbon: no corpus compound to bootstrap on
    result = CliRunner().invoke(
        main, ["run", "--generator", "carbon24", "--bootstrap", "2", "--campaign", "st"]
    )
    assert result.exit_code == 1, result.output
    assert "campaign st is stalled: Firework" in result.output
    assert "no corpus structure of ≤ 10 sites uses only the generator's elements" in result.output
    status = CliRunner().invoke(main, ["status", "--campaign", "st"])
    assert "(stalled)" in status.output and "stalled at Firework" in status.output
    assert "Traceback" not in result.output + status.output
