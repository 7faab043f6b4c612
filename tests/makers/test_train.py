"""The surrogate's validation hold-out."""

from __future__ import annotations

import pytest

from crystaloop.makers.train import TrainGeneratorMaker, TrainSurrogateMaker, validation_ids


def test_validation_ids_hold_out_at_least_one_and_are_seeded():
    ids = [f"l{i}" for i in range(10)]
    held = validation_ids(ids, 0.2, seed=0)
    assert len(held) == 2 and held <= set(ids)
    assert held == validation_ids(list(reversed(ids)), 0.2, seed=0)  # order does not matter
    assert len(validation_ids(ids[:3], 0.01, seed=0)) == 1
    assert validation_ids(ids[:2], 0.5, seed=0) == set()


def test_frozen_makers_keep_the_model_but_the_bootstrap_still_trains(monkeypatch):
    import crystaloop.settings

    def no_store(*args, **kwargs):
        raise AssertionError("a frozen maker must not read the stores")

    monkeypatch.setattr(crystaloop.settings, "load_settings", no_store)
    out = TrainSurrogateMaker(frozen=True).train("perov5", "c", 2)
    assert not out.trained and out.model == "perov5" and "frozen" in out.reason
    out = TrainGeneratorMaker(frozen=True).train("perov5", "c", 2)
    assert not out.trained and out.model == "perov5" and "frozen" in out.reason
    with pytest.raises(AssertionError, match="must not read"):  # forced: the bootstrap trains
        TrainSurrogateMaker(frozen=True).train("perov5", "c", -1, force=True)


def test_an_unknown_selection_strategy_is_refused():
    from crystaloop.makers.select import SelectMaker

    with pytest.raises(ValueError, match="unknown selection strategy 'best'"):
        SelectMaker(strategy="best")
