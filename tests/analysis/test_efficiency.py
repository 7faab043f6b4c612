"""S.U.N. per oracle call over seeds: mean and sample spread per strategy and iteration."""

from __future__ import annotations

import math

import pytest

from crystaloop.analysis.efficiency import seed_summary


def _row(strategy, iteration, calls, sun, strict):
    return {
        "strategy": strategy,
        "iteration": iteration,
        "oracle_calls": calls,
        "sun": sun,
        "sun_strict": strict,
    }


def test_seed_summary_gives_mean_and_sample_std_per_iteration_and_in_all():
    tables = {
        0: [_row("loop", 0, 4, 2, 1), _row("loop", "all", 4, 2, 1), _row("random", 0, 4, 0, 0)],
        1: [_row("loop", 0, 4, 4, 2), _row("loop", "all", 4, 4, 2), _row("random", 0, 0, 0, 0)],
    }
    rows = {(r["strategy"], r["iteration"]): r for r in seed_summary(tables)}
    assert list(rows) == [("loop", 0), ("loop", "all"), ("random", 0)]
    loop = rows[("loop", 0)]
    assert loop["seeds"] == 2 and loop["oracle_calls"] == 4 and loop["sun"] == 3
    assert loop["sun_per_call"] == pytest.approx(0.75)
    assert loop["sun_per_call_std"] == pytest.approx(math.sqrt(0.125))
    assert loop["sun_strict_per_call"] == pytest.approx(0.375)
    # a seed without oracle calls in an iteration has no ratio: left out, not counted as 0
    random = rows[("random", 0)]
    assert random["sun_per_call"] == 0.0 and random["sun_per_call_std"] is None


def test_one_seed_has_no_spread():
    rows = seed_summary({3: [_row("substitution", 0, 2, 1, 0)]})
    assert rows[0]["sun_per_call"] == 0.5 and rows[0]["sun_per_call_std"] is None
