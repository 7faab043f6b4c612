from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from generator_helpers import tiny_config

from crystaloop.ml.checkpoint import CheckpointError
from crystaloop.ml.generative.checkpoint import (
    load_generator,
    resolve_generator_dir,
    save_generator,
)
from crystaloop.ml.generative.crystal import collate_crystals
from crystaloop.ml.generative.model import build_model
from crystaloop.ml.generative.num_atoms import num_atoms_sampler
from crystaloop.ml.generative.samplers import SamplerOptions, sample_crystals
from crystaloop.ml.generative.training import (
    GeneratorTrainOptions,
    data_statistics,
    merge_statistics,
    replay_mix,
    train_generator,
    validation_loss,
)


@pytest.mark.parametrize("kind", ["diffusion", "flow"])
def test_save_and_load_give_the_same_samples(tmp_path, kind):
    torch.manual_seed(0)
    model = build_model(tiny_config(kind, "abinitio"))
    card = save_generator(model, tmp_path / "m", training={"epochs_run": 1})
    assert card["kind"] == "generator" and card["mode"] == "abinitio"
    loaded = load_generator(tmp_path / "m")
    assert loaded.config == model.config
    samples = []
    for m in (model, loaded):
        torch.manual_seed(3)
        samples.append(sample_crystals(m, [3, 2], options=SamplerOptions(steps=3)))
    for a, b in zip(*samples, strict=True):
        assert np.allclose(a.lattice, b.lattice) and (a.numbers == b.numbers).all()


def test_tampered_or_foreign_checkpoints_are_refused(tmp_path):
    save_generator(build_model(tiny_config()), tmp_path / "m")
    weights = tmp_path / "m" / "model.pt"
    weights.write_bytes(weights.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(CheckpointError, match="sha256"):
        load_generator(tmp_path / "m")
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "model.json").write_text(json.dumps({"kind": "crysformer"}))
    with pytest.raises(CheckpointError, match="not a generator"):
        load_generator(tmp_path / "s")


def test_a_bundle_resolves_by_mode(tmp_path):
    save_generator(build_model(tiny_config(mode="csp")), tmp_path / "b" / "csp")
    assert resolve_generator_dir(tmp_path / "b", "csp") == tmp_path / "b" / "csp"
    with pytest.raises(CheckpointError, match="no abinitio generator"):
        resolve_generator_dir(tmp_path / "b", "abinitio")
    with pytest.raises(CheckpointError, match="a csp generator, not abinitio"):
        resolve_generator_dir(tmp_path / "b" / "csp", "abinitio")


def test_data_statistics(crystals):
    stats = data_statistics(crystals)
    assert stats["num_atoms_counts"] == [0, 0, 2, 0, 0, 1]
    assert stats["max_atoms"] == 5 and stats["elements"] == [8, 11, 17, 22, 38]
    assert 2.0 < stats["lattice_scale"] < 3.5
    assert stats["eform_mean"] == pytest.approx(-1.5)


def test_fine_tuning_statistics_widen_elements_and_sizes(crystals):
    config = tiny_config(num_atoms_counts=[0, 0, 1], elements=[11, 17])
    merge_statistics(config, crystals)
    assert config.num_atoms_counts == [0, 0, 3, 0, 0, 1]
    assert config.elements == [8, 11, 17, 22, 38]


def test_replay_mix_adds_the_asked_share_of_old_data(crystals):
    mixed = replay_mix(crystals[:1], crystals[1:], replay_fraction=1.0, seed=0)
    assert len(mixed) == 2 and mixed[0] is crystals[0]


@pytest.mark.parametrize("kind", ["diffusion", "flow"])
def test_training_lowers_the_loss_and_keeps_the_best_state(crystals, kind):
    torch.manual_seed(0)
    model = build_model(tiny_config(kind, "csp", hidden=32))
    before = validation_loss(model, crystals)
    result = train_generator(
        model, crystals * 8, crystals, GeneratorTrainOptions(epochs=25, batch_size=8, lr=3e-3)
    )
    after = validation_loss(model, crystals)
    assert after < 0.8 * before
    assert after == pytest.approx(result.best_val_loss, rel=1e-5)
    assert len(result.history) == 25


def test_validation_loss_does_not_disturb_the_global_random_state(crystals):
    model = build_model(tiny_config())
    torch.manual_seed(5)
    validation_loss(model, crystals)
    a = torch.rand(1)
    torch.manual_seed(5)
    b = torch.rand(1)
    assert a == b
    assert collate_crystals(crystals).num_graphs == 3


def test_num_atoms_strategies():
    counts = [0, 0, 0, 10]
    assert set(num_atoms_sampler("training", counts, 8).sample(50).tolist()) == {3}
    uniform = num_atoms_sampler("uniform", counts, 8).sample(400)
    assert uniform.min() == 3 and uniform.max() == 8
    hybrid = num_atoms_sampler("hybrid", counts, 8, threshold=0.5)
    hybrid.report(0.9)
    assert set(hybrid.sample(50).tolist()) == {3}
    hybrid.report(0.2)
    assert len(set(hybrid.sample(200).tolist())) > 1
    with pytest.raises(ValueError, match="unknown atom-count strategy"):
        num_atoms_sampler("poisson", counts, 8)
