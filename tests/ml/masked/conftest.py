"""A tiny masked generator pre-trained for a few seconds on perovskites and rock salts."""

from __future__ import annotations

import pytest
from masked_helpers import graphs_of, tiny_structures


@pytest.fixture(scope="session")
def tiny_masked():
    import torch

    from crystaloop.ml.data.batch import collate
    from crystaloop.ml.generative.config import GeneratorTrainOptions
    from crystaloop.ml.generative.training import train_generator
    from crystaloop.ml.masked.config import MaskedConfig
    from crystaloop.ml.masked.fit import new_masked

    graphs = graphs_of(tiny_structures())
    small = {"scalar_channels": 16, "vector_channels": 4, "num_layers": 2, "heads": 2}
    model = new_masked(MaskedConfig(backbone=small, head_hidden=16), {"train": graphs}, 0)
    options = GeneratorTrainOptions(epochs=200, batch_size=8, lr=3e-3, ema_decay=None)
    torch.manual_seed(0)
    result = train_generator(model, graphs, [], options, collate=collate)
    return model, result
