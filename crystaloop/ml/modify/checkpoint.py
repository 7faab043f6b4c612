"""Modifier checkpoints: ``model.pt`` (weights, ``weights_only`` loading) + ``model.json`` card.

The format of the generators' (:mod:`crystaloop.ml.generative.checkpoint`) with the card's
``kind`` ``modifier`` and the :class:`~crystaloop.ml.modify.model.ModifierConfig` as its
configuration. Shipped modifiers live in ``crystaloop/models/modifiers/<name>/``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from crystaloop.ml.checkpoint import (
    CARD,
    CheckpointError,
)
from crystaloop.ml.generative.checkpoint import read_model, write_checkpoint
from crystaloop.ml.generative.model import GenerativeModel
from crystaloop.ml.modify.model import ModifierConfig, build_modifier

FORMAT = "crystaloop.modifier/1"
KIND = "modifier"


def save_modifier(
    model: GenerativeModel,
    directory: str | os.PathLike[str],
    name: str | None = None,
    metrics: dict[str, Any] | None = None,
    training: dict[str, Any] | None = None,
    sampling: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write ``model.pt`` and ``model.json`` into ``directory``; return the card."""
    described = {"generator": model.config.kind, "prior": model.modifier_config.prior}
    return write_checkpoint(
        model, directory, KIND, FORMAT, model.modifier_config.to_dict(), described, name,
        metrics, training, sampling,
    )  # fmt: skip


def load_modifier(directory: str | os.PathLike[str], device: str = "cpu") -> GenerativeModel:
    """Load a modifier directory, checking the weights' sha256 against its card."""
    return read_model(
        directory, KIND, FORMAT, lambda c: build_modifier(ModifierConfig.from_dict(c)), device
    )


def find_modifier(name_or_dir: str | os.PathLike[str]) -> Path:
    """Return the directory of a modifier given as a directory or a shipped name.

    Raises
    ------
    CheckpointError
        When ``name_or_dir`` is neither a modifier directory nor a shipped modifier.
    """
    from crystaloop.ml.shipped import shipped_modifier_dir, shipped_modifier_names

    path = Path(name_or_dir).expanduser()
    if path.is_dir():
        if not (path / CARD).exists():
            raise CheckpointError(f"{path}: no modifier here (no {CARD})")
        return path
    shipped = shipped_modifier_dir(str(name_or_dir))
    if shipped is None:
        names = ", ".join(shipped_modifier_names()) or "none"
        raise CheckpointError(
            f"unknown modifier {str(name_or_dir)!r}: not a model directory, and not a shipped "
            f"modifier ({names})"
        )
    return shipped
