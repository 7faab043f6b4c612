"""Binary Crysformer classifiers: metrics, training, a backbone start, checkpoints."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import nacl, perovskite

from crystaloop.ml.checkpoint import CheckpointError
from crystaloop.ml.classifier_checkpoint import find_classifier, load_classifier, save_classifier
from crystaloop.ml.classifier_fit import binary_label, labelled_sets
from crystaloop.ml.crysformer.classifier import (
    ClassifierOptions,
    binary_metrics,
    classifier_config,
    from_backbone,
    predict_proba,
    roc_auc,
    train_classifier,
)
from crystaloop.ml.crysformer.config import CrysformerConfig
from crystaloop.ml.crysformer.model import Crysformer
from crystaloop.ml.data.split import SplitPlan

SMALL = {"scalar_channels": 16, "vector_channels": 4, "num_layers": 1, "heads": 2}


def test_roc_auc_counts_ties_half_and_needs_both_classes():
    assert roc_auc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1])) == 0.75
    assert roc_auc(np.array([0.5, 0.5]), np.array([0, 1])) == 0.5
    assert np.isnan(roc_auc(np.array([0.5, 0.6]), np.array([1, 1])))
    m = binary_metrics(np.array([0.9, 0.7, 0.2, 0.6]), np.array([1, 0, 0, 1]))
    assert m["precision"] == pytest.approx(2 / 3) and m["recall"] == 1.0 and m["accuracy"] == 0.75


def test_binary_labels_name_the_record():
    assert binary_label({"e_hull": 0.05}, "e_hull", 0.1, "a") == 1.0
    assert binary_label({"e_hull": 0.2}, "e_hull", 0.1, "a") == 0.0
    with pytest.raises(ValueError, match="b: no 'e_hull' label"):
        binary_label({}, "e_hull", 0.1, "b")
    with pytest.raises(ValueError, match="c: label 'stable' is 0.5, not 0 or 1"):
        binary_label({"stable": 0.5}, "stable", None, "c")


def _items():
    """Perovskites (label 1) and rock salts (label 0): a separable toy task."""
    out = []
    for i in range(24):
        if i % 2:
            out.append((f"p{i}", perovskite(3.8 + 0.02 * i), 1.0))
        else:
            out.append((f"r{i}", nacl(5.0 + 0.03 * i), 0.0))
    return out


def test_a_classifier_learns_a_separable_task_and_round_trips(tmp_path):
    sets = labelled_sets(_items(), SplitPlan(0.25, 0.0, 0), 12, 8.0, "kind")
    torch.manual_seed(0)
    model = Crysformer(classifier_config(CrysformerConfig(**SMALL), "kind"))
    options = ClassifierOptions(epochs=15, batch_size=8, lr=3e-3, patience=15)
    result = train_classifier(model, sets["train"], sets["val"], options)
    assert result.best_val["auc"] == 1.0
    card = save_classifier(model, tmp_path / "c", "stability", {"val": result.best_val})
    assert card["kind"] == "classifier" and card["task"] == "stability" and card["target"] == "kind"
    loaded = load_classifier(find_classifier(tmp_path / "c", "stability"))
    a, _, _ = predict_proba(model, sets["val"])
    b, _, _ = predict_proba(loaded, sets["val"])
    assert np.allclose(a, b, atol=1e-6)
    with pytest.raises(CheckpointError, match="a stability classifier, not a match one"):
        find_classifier(tmp_path / "c", "match")
    with pytest.raises(CheckpointError, match="unknown classifier 'nope'"):
        find_classifier("nope")


def test_labels_must_be_binary():
    items = [(sid, s, 0.5) for sid, s, _ in _items()]
    sets = labelled_sets(items, SplitPlan(0.25, 0.0, 0), 12, 8.0, "kind")
    model = Crysformer(classifier_config(CrysformerConfig(**SMALL), "kind"))
    with pytest.raises(ValueError, match="must be 0 or 1"):
        train_classifier(model, sets["train"], sets["val"])


def test_a_classifier_from_a_backbone_keeps_its_layers_and_gets_a_fresh_head():
    backbone = Crysformer(CrysformerConfig(targets=["pretraining"], **SMALL))
    model = from_backbone(backbone, "stable", seed=1)
    assert model.config.targets == ["stable"]
    for key, value in backbone.state_dict().items():
        if key.startswith(("embed", "layers")):
            assert torch.equal(model.state_dict()[key], value)
