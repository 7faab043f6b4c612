"""Masked-generator checkpoints: ``model.pt`` (weights, ``weights_only`` loading) + ``model.json``.

The generators' format (:mod:`crystaloop.ml.generative.checkpoint`) with the card's ``kind``
``masked`` and the :class:`~crystaloop.ml.masked.config.MaskedConfig` as its configuration.
Shipped masked generators live beside the other generators, in
``crystaloop/models/generators/<name>/``, so a campaign names them the same way.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from crystaloop.ml.checkpoint import CheckpointError, read_card
from crystaloop.ml.generative.checkpoint import MASKED as KIND
from crystaloop.ml.generative.checkpoint import (
    find_generator,
    is_masked,
    read_model,
    write_checkpoint,
)
from crystaloop.ml.masked.config import MaskedConfig

FORMAT = "crystaloop.masked/1"


def save_masked(
    model: Any,
    directory: str | os.PathLike[str],
    name: str | None = None,
    metrics: dict[str, Any] | None = None,
    training: dict[str, Any] | None = None,
    sampling: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write ``model.pt`` and ``model.json`` into ``directory``; return the card."""
    described = {"generator": KIND, "mode": "prototypes", "noise": model.config.noise}
    return write_checkpoint(
        model, directory, KIND, FORMAT, model.config.to_dict(), described, name,
        metrics, training, sampling,
    )  # fmt: skip


def load_masked(directory: str | os.PathLike[str], device: str = "cpu") -> Any:
    """Load a masked-generator directory, checking the weights' sha256 against its card."""
    from crystaloop.ml.masked.model import MaskedDenoiser

    return read_model(
        directory, KIND, FORMAT, lambda c: MaskedDenoiser(MaskedConfig.from_dict(c)), device
    )


def find_masked(name_or_dir: str | os.PathLike[str]) -> Path:
    """Return the directory of a masked generator given as a directory or a shipped name.

    Raises
    ------
    CheckpointError
        When ``name_or_dir`` is no generator, or a generator of another kind.
    """
    directory = find_generator(name_or_dir, None)
    if not is_masked(directory):
        kind = read_card(directory).get("generator", read_card(directory).get("kind"))
        raise CheckpointError(
            f"{name_or_dir}: a {kind} generator, not a masked one (train one with "
            "'crystaloop train generator --kind masked')"
        )
    return directory


__all__ = ["FORMAT", "KIND", "find_masked", "is_masked", "load_masked", "save_masked"]
