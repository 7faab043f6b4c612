"""Binary-classifier checkpoints: ``model.pt`` (weights, ``weights_only``) + ``model.json`` card.

The generator family's format (:func:`~crystaloop.ml.generative.checkpoint.write_checkpoint`)
with the card's ``kind`` ``classifier``, its ``task`` (``stability``, ``match``) and the
Crysformer configuration. Shipped classifiers live in ``crystaloop/models/classifiers/<name>/``.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Any

from crystaloop.ml.checkpoint import CARD, CheckpointError, read_card
from crystaloop.ml.crysformer.config import CrysformerConfig
from crystaloop.ml.crysformer.model import Crysformer
from crystaloop.ml.generative.checkpoint import read_model, write_checkpoint

FORMAT = "crystaloop.classifier/1"
KIND = "classifier"


def save_classifier(
    model: Crysformer,
    directory: str | os.PathLike[str],
    task: str,
    metrics: dict[str, Any] | None = None,
    training: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write the classifier and its card (``task`` and ``extra`` descriptive keys); return it."""
    described = {"task": task, "target": model.config.targets[0], **(extra or {})}
    return write_checkpoint(
        model, directory, KIND, FORMAT, model.config.to_dict(), described,
        metrics=metrics, training=training,
    )  # fmt: skip


def load_classifier(directory: str | os.PathLike[str], device: str = "cpu") -> Crysformer:
    """Load a classifier directory, checking the weights' sha256 against its card."""
    return read_model(
        directory, KIND, FORMAT, lambda c: Crysformer(CrysformerConfig.from_dict(c)), device
    )


def shipped_classifier_names() -> list[str]:
    """Return the names of the shipped classifiers."""
    root = Path(str(resources.files("crystaloop") / "models" / "classifiers"))
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / CARD).exists())


def find_classifier(name_or_dir: str | os.PathLike[str], task: str | None = None) -> Path:
    """Return the directory of a classifier given as a directory or a shipped name.

    Raises
    ------
    CheckpointError
        When it is neither, or (``task`` given) a classifier of another task.
    """
    path = Path(name_or_dir).expanduser()
    if not path.is_dir():
        name = str(name_or_dir)
        shipped = Path(str(resources.files("crystaloop") / "models" / "classifiers" / name))
        if "/" in name or name.startswith(".") or not (shipped / CARD).exists():
            names = ", ".join(shipped_classifier_names()) or "none"
            raise CheckpointError(
                f"unknown classifier {name!r}: not a model directory, and not a shipped "
                f"classifier ({names})"
            )
        path = shipped
    card = read_card(path)
    if card.get("kind") != KIND:
        raise CheckpointError(f"{path}: a {card.get('kind')!r} model, not a classifier")
    if task is not None and card.get("task") != task:
        raise CheckpointError(f"{path}: a {card.get('task')} classifier, not a {task} one")
    return path
