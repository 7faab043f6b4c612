"""The surrogate's validation hold-out."""

from __future__ import annotations

from crystaloop.makers.train import validation_ids


def test_validation_ids_hold_out_at_least_one_and_are_seeded():
    ids = [f"l{i}" for i in range(10)]
    held = validation_ids(ids, 0.2, seed=0)
    assert len(held) == 2 and held <= set(ids)
    assert held == validation_ids(list(reversed(ids)), 0.2, seed=0)  # order does not matter
    assert len(validation_ids(ids[:3], 0.01, seed=0)) == 1
    assert validation_ids(ids[:2], 0.5, seed=0) == set()
