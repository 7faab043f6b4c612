from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import small_config

from crystaloop.ml.checkpoint import CheckpointError, load_ensemble, save_ensemble
from crystaloop.ml.crysformer.ensemble import train_ensemble
from crystaloop.ml.crysformer.uncertainty import (
    confidence,
    fit_scale,
    miscalibration_area,
    spearman,
)
from crystaloop.ml.data.dataset import ShardedGraphs, write_shards
from crystaloop.ml.data.split import split_of
from crystaloop.ml.training import TrainOptions, evaluate, replay_mix, train


def _splits(data):
    return data.subset(range(0, len(data), 2)), data.subset(range(1, len(data), 2))


def test_training_reduces_error_and_is_reproducible(toy_data):
    tr, va = _splits(toy_data)
    options = TrainOptions(epochs=12, batch_size=8, lr=3e-3, seed=7)
    first = train(small_config(), tr, va, options)
    again = train(small_config(), tr, va, options)
    assert first.history[-1]["val"]["x"]["mae"] < first.history[0]["val"]["x"]["mae"]
    for a, b in zip(
        first.model.state_dict().values(), again.model.state_dict().values(), strict=True
    ):
        torch.testing.assert_close(a, b)
    # normalisation comes from the training labels, ignoring the missing ones
    y = tr.target_values()
    assert first.model.target_mean[1].item() == pytest.approx(np.nanmean(y[:, 1]), rel=1e-5)
    metrics = evaluate(first.model, va)
    assert metrics["y"]["n"] == int(np.isfinite(va.target_values()[:, 1]).sum())


def test_mismatched_or_unlabelled_targets_are_errors(toy_data):
    tr, va = _splits(toy_data)
    with pytest.raises(ValueError, match="differ"):
        train(small_config(("x", "z")), tr, va, TrainOptions(epochs=1))
    from dataclasses import replace

    from crystaloop.ml.data.dataset import InMemoryGraphs

    blank = InMemoryGraphs(
        [replace(s, targets=np.array([s.targets[0], np.nan], np.float32)) for s in tr.samples],
        tr.targets,
    )
    with pytest.raises(ValueError, match="no label"):
        train(small_config(), blank, va, TrainOptions(epochs=1))


def test_ensemble_calibration_and_checkpoint_roundtrip(toy_data, tmp_path):
    tr, va = _splits(toy_data)
    ensemble = train_ensemble(
        small_config(), tr, va, members=2, options=TrainOptions(epochs=6, batch_size=8, lr=3e-3)
    )
    assert ensemble.scale.shape == (2,) and np.all(ensemble.scale > 0)
    report = ensemble.metrics["calibration"]
    assert report["x"]["miscalibration_area"] <= report["x"]["miscalibration_area_raw"] + 1e-9
    pred = ensemble.predict(va)
    assert pred.mean.shape == (len(va), 2) and np.all(pred.std > 0)

    card = save_ensemble(ensemble, tmp_path / "m")
    assert card["targets"] == ["x", "y"] and len(card["sha256"]) == 64
    loaded = load_ensemble(tmp_path / "m")
    again = loaded.predict(va)
    np.testing.assert_allclose(again.mean, pred.mean, rtol=1e-6)
    np.testing.assert_allclose(again.std, pred.std, rtol=1e-6)
    assert loaded.unseen_elements([8, 22, 38]) == []
    assert loaded.unseen_elements([26]) == [26]

    weights = tmp_path / "m" / "model.pt"
    weights.write_bytes(weights.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(CheckpointError, match="sha256"):
        load_ensemble(tmp_path / "m")
    with pytest.raises(CheckpointError, match="not a crystaloop model"):
        load_ensemble(tmp_path)


def test_mc_dropout_gives_spread_for_a_single_member(toy_data):
    tr, va = _splits(toy_data)
    ensemble = train_ensemble(
        small_config(), tr, va, members=1, options=TrainOptions(epochs=2, batch_size=8)
    )
    with pytest.raises(ValueError, match="at least two"):
        ensemble.predict(va)
    pred = ensemble.predict(va, mc_samples=4)
    assert np.all(pred.std > 0)


def test_fine_tuning_with_replay_keeps_old_knowledge(toy_data):
    tr, va = _splits(toy_data)
    base = train(small_config(), tr.subset(range(12)), va, TrainOptions(epochs=10, batch_size=8))
    mixed = replay_mix(tr.subset(range(12, 24)), tr.subset(range(12)), replay_fraction=0.5)
    assert len(mixed) == 18
    tuned = train(
        small_config(),
        mixed,
        va,
        TrainOptions(epochs=4, batch_size=8),
        init_state=base.model.state_dict(),
    )
    torch.testing.assert_close(tuned.model.target_mean, base.model.target_mean)
    assert evaluate(tuned.model, va)["x"]["mae"] < 1.0


def test_shards_stream_the_same_samples(toy_data, tmp_path):
    write_shards(toy_data.samples, tmp_path / "cache", toy_data.targets, shard_size=10)
    sharded = ShardedGraphs(tmp_path / "cache")
    assert len(sharded) == len(toy_data)
    assert len(list((tmp_path / "cache").glob("shard_*.npz"))) == 5
    ids = [i for _, _, batch_ids in sharded.batches(7, shuffle=True, seed=1) for i in batch_ids]
    assert sorted(ids) == sorted(s.sample_id for s in toy_data.samples)
    np.testing.assert_array_equal(sharded.target_values(), toy_data.target_values())
    graphs, _, first_ids = next(sharded.batches(3))
    assert first_ids == ["p0", "p1", "p2"] and graphs.num_graphs == 3


def test_split_by_id_hash_is_stable_and_proportional():
    ids = [f"mp-{i}" for i in range(4000)]
    splits = [split_of(i, 0.1, 0.1, seed=3) for i in ids]
    assert splits == [split_of(i, 0.1, 0.1, seed=3) for i in ids]
    assert splits != [split_of(i, 0.1, 0.1, seed=4) for i in ids]
    counts = {k: splits.count(k) for k in ("train", "val", "test")}
    assert 3050 < counts["train"] < 3350 and 320 < counts["test"] < 480
    # adding data never moves an old sample
    assert split_of("mp-7", 0.1, 0.1, 3) == splits[7]
    with pytest.raises(ValueError):
        split_of("x", 0.6, 0.5)


def test_calibration_metrics_on_known_cases():
    rng = np.random.default_rng(0)
    std = rng.uniform(0.05, 0.5, 4000)
    err = rng.normal(0, std)
    assert miscalibration_area(err, std) < 0.03
    assert miscalibration_area(err, std * 5) > 0.2
    assert fit_scale(err, std / 3) == pytest.approx(3.0, rel=0.15)
    assert spearman(err, std) > 0.4
    assert confidence(0.06, 0.12) == pytest.approx(0.9545, abs=1e-3)
    assert confidence(1e-9, 0.12) == pytest.approx(1.0)
