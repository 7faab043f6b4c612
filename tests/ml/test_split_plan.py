"""The split plan: a record's split depends only on its id and the seed, and never moves."""

from __future__ import annotations

import random

import pytest

from crystaloop.ml.data.split import SPLIT_METHOD, SplitPlan, split_of

IDS = [f"m{i}" for i in range(12)]


def test_the_plan_assigns_the_recorded_splits():
    # pinned: a change here moves records between the splits of models already trained
    assert [SplitPlan(0.2, 0.2, 0).of(i) for i in IDS] == [
        "train", "train", "test", "val", "train", "test",
        "train", "val", "val", "test", "train", "test",
    ]  # fmt: skip
    assert [SplitPlan(0.2, 0.2, 7).of(i) for i in IDS] == [
        "test", "val", "train", "test", "train", "val",
        "train", "train", "train", "train", "val", "test",
    ]  # fmt: skip
    assert all(SplitPlan(0.1, 0.2, 3).of(i) == split_of(i, 0.1, 0.2, 3) for i in IDS)


def test_a_record_keeps_its_split_whatever_the_order_and_size_of_the_data():
    plan = SplitPlan(0.1, 0.1, 0)
    ids = [f"x{i}" for i in range(500)]
    first = plan.partition(ids, str)
    assert set(first) == {"train", "val", "test"} and sum(map(len, first.values())) == 500
    grown = ids + [f"y{i}" for i in range(500)]
    random.Random(1).shuffle(grown)
    again = plan.partition(grown, str)
    for split, members in first.items():
        assert set(members) <= set(again[split])
    assert 25 < len(first["test"]) < 75 and 25 < len(first["val"]) < 75


def test_partition_keeps_the_input_order_within_a_split():
    plan = SplitPlan(0.3, 0.3, 0)
    items = [(i, f"id{i}") for i in range(60)]
    parts = plan.partition(items, lambda item: item[1])
    assert sorted(m for members in parts.values() for m in members) == items
    assert set(parts) == {"train", "val", "test"}
    assert all(len(members) > 1 for members in parts.values())  # an order to keep in each
    for members in parts.values():
        assert members == sorted(members)


def test_the_plan_is_recorded_and_read_back():
    plan = SplitPlan(0.15, 0.05, 4)
    recorded = plan.as_dict()
    assert recorded == {
        "split_method": SPLIT_METHOD,
        "seed": 4,
        "val_fraction": 0.15,
        "test_fraction": 0.05,
    }
    assert SplitPlan.from_dict(recorded) == plan
    with pytest.raises(ValueError, match="unknown split method"):
        SplitPlan.from_dict({**recorded, "split_method": "random"})


@pytest.mark.parametrize(("val", "test"), [(0.5, 0.5), (-0.1, 0.1), (0.1, 1.0)])
def test_fractions_that_leave_no_training_data_are_refused(val, test):
    with pytest.raises(ValueError, match="fractions"):
        SplitPlan(val, test, 0)
