"""The shipped masked generators and classifiers load (sha256 checked) and behave."""

from __future__ import annotations

import numpy as np
from helpers import perovskite

from crystaloop.ml.checkpoint import read_card
from crystaloop.ml.classifier_checkpoint import (
    find_classifier,
    load_classifier,
    shipped_classifier_names,
)
from crystaloop.ml.crysformer.classifier import predict_structures
from crystaloop.ml.masked.checkpoint import find_masked, load_masked
from crystaloop.ml.masked.proposals import propose
from crystaloop.ml.masked.sampling import mask_inputs, reconstruct
from crystaloop.ml.shipped import shipped_generator_names


def test_the_masked_models_are_shipped():
    assert {"perov5-masked", "perov5-masked-gan"} <= set(shipped_generator_names())
    assert {"perov5-stability", "perov5-match"} <= set(shipped_classifier_names())
    gan = read_card(find_masked("perov5-masked-gan"))
    assert gan["training"]["gan"]["critic_steps"] > 0
    assert gan["training"]["pretraining"]["data"].endswith("perov_5/val.csv")


def test_perov5_masked_restores_oxygen_and_proposes_substitutions():
    model = load_masked(find_masked("perov5-masked"))
    sto = [("sto", perovskite())]
    inputs = mask_inputs(model, sto, "species", 0.1, 0, species="O")
    (rec,) = reconstruct(model, inputs, 3, 0, top_k=1)
    assert all((numbers[2:] == 8).all() for numbers in rec.numbers)  # its most probable: O
    error = np.sqrt(np.mean(np.sum((rec.positions - perovskite().cart_coords) ** 2, axis=1)))
    assert error < 0.1  # the 0.1 Å noise mostly undone
    proposals = propose(model, sto, 6, seed=0)
    assert len(proposals) == 6 and all(p.element not in {"Sr", "Ti", "O"} for p in proposals)


def test_the_shipped_classifiers_give_probabilities():
    for name, task in (("perov5-stability", "stability"), ("perov5-match", "match")):
        model = load_classifier(find_classifier(name, task))
        p = predict_structures(model, [perovskite(), perovskite(4.2)])
        assert p.shape == (2,) and ((p > 0) & (p < 1)).all()
        card = read_card(find_classifier(name))
        assert card["metrics"]["test"]["auc"] > 0.6
