"""Generator configuration: the defaults a library user and the command line both get."""

from __future__ import annotations

import pytest
from generator_helpers import tiny_config

from crystaloop.ml.generative.config import (
    DEFAULT_LAMBDA_TYPE,
    GeneratorConfig,
    GeneratorTrainOptions,
)
from crystaloop.ml.generative.training import GeneratorTrainOptions as FromTraining
from crystaloop.ml.generative.training import data_statistics, with_statistics


@pytest.mark.parametrize(("kind", "weight"), [("diffusion", 20.0), ("flow", 1.0)])
def test_the_type_loss_weight_defaults_to_the_kind(kind, weight):
    config = GeneratorConfig(kind=kind, mode="abinitio")
    assert config.lambda_type == weight == DEFAULT_LAMBDA_TYPE[kind]
    assert GeneratorConfig(kind=kind, lambda_type=3.0).lambda_type == 3.0
    saved = config.to_dict()
    assert saved["lambda_type"] == weight  # a checkpoint records the weight it trained with
    assert GeneratorConfig.from_dict(saved) == config


def test_a_saved_weight_is_kept_whatever_the_kind():
    old = GeneratorConfig(kind="flow", lambda_type=20.0).to_dict()
    assert GeneratorConfig.from_dict(old).lambda_type == 20.0


def test_the_architecture_defaults_are_those_of_the_shipped_generators():
    config = GeneratorConfig()
    assert (config.hidden, config.layers, config.timesteps) == (128, 4, 1000)
    assert GeneratorTrainOptions().epochs == 200 and FromTraining is GeneratorTrainOptions


def test_with_statistics_fits_the_held_out_crystals_too(crystals):
    train, held_out = crystals[1:], crystals[:1]  # two NaCl cells; a perovskite held out
    config = with_statistics(tiny_config(max_atoms=1), train, held_out)
    stats = data_statistics(train)
    assert stats["max_atoms"] == 2 and config.max_atoms == 5
    assert config.num_atoms_counts == stats["num_atoms_counts"]
    assert config.elements == stats["elements"]
    assert config.hidden == 16  # the model's own settings are kept
    assert with_statistics(tiny_config(), train).max_atoms == stats["max_atoms"]
