from __future__ import annotations

import numpy as np
import pytest
from helpers import nacl, perovskite

from crystaloop.ml.crysformer.config import CrysformerConfig
from crystaloop.ml.data.dataset import InMemoryGraphs, build_samples


def small_config(targets=("x", "y")) -> CrysformerConfig:
    return CrysformerConfig(
        targets=list(targets),
        scalar_channels=16,
        vector_channels=4,
        num_layers=2,
        heads=2,
        readout_hidden=16,
        num_rbf=16,
    )


@pytest.fixture(scope="session")
def toy_data() -> InMemoryGraphs:
    """Cubic perovskites whose labels depend smoothly on the lattice constant (y partly missing)."""
    items = []
    for i in range(48):
        a = 3.6 + 0.02 * i
        y = np.nan if i % 4 == 0 else 2.0 - 0.5 * a
        items.append((f"p{i}", perovskite(a), np.array([0.5 * a, y], dtype=np.float32)))
    return InMemoryGraphs(list(build_samples(items, k=12, cutoff=8.0)), ["x", "y"])


@pytest.fixture(scope="session")
def crystals():
    """Three small crystals as generator arrays (perovskite, NaCl, a strained NaCl)."""
    from crystaloop.ml.generative.crystal import crystal_arrays

    return [
        crystal_arrays(perovskite(), spacegroup=221, eform=-1.0, source_id="p"),
        crystal_arrays(nacl(), spacegroup=225, eform=-2.0, source_id="n"),
        crystal_arrays(nacl(5.9), spacegroup=225, eform=-1.5, source_id="m"),
    ]


@pytest.fixture(scope="session")
def tiny_masked():
    """A tiny masked generator pre-trained for a few seconds on perovskites and rock salts."""
    import torch
    from helpers import graphs_of, tiny_structures

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
