"""The campaign's stop rules."""

from __future__ import annotations

from crystaloop.workflows.stop import stop_reason

BASE = {
    "iteration": 0,
    "max_iterations": 5,
    "oracle_used": 1,
    "oracle_budget": 10,
    "new_stable": [1],
    "patience": 2,
    "stop_requested": False,
}


def test_goes_on_when_no_rule_holds():
    assert stop_reason(**BASE) is None


def test_each_rule_stops():
    assert "cap" in stop_reason(**{**BASE, "iteration": 4})
    assert "budget" in stop_reason(**{**BASE, "oracle_used": 10})
    assert "no new stable" in stop_reason(**{**BASE, "iteration": 2, "new_stable": [1, 0, 0]})
    assert stop_reason(**{**BASE, "stop_requested": True}) == "stop requested"
    assert stop_reason(**{**BASE, "new_stable": [0, 0], "patience": 0, "iteration": 1}) is None
