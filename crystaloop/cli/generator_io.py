"""Inputs of the generator commands: models, devices, screens (the library's, with CLI errors).

Reading crystals from files is the library's (:mod:`crystaloop.stores.ingest.training_sets`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click


def resolve_generator(name_or_dir: str, mode: str | None) -> Path:
    """Return the generator directory of a shipped name or a directory, for ``mode``."""
    from crystaloop.ml.checkpoint import CheckpointError
    from crystaloop.ml.generative.checkpoint import find_generator

    try:
        return find_generator(name_or_dir, mode)
    except CheckpointError as err:
        raise click.ClickException(str(err)) from err


def check_device(device: str) -> str:
    """Return ``device`` if torch can use it here, or exit saying why not."""
    import torch

    try:
        parsed = torch.device(device)
    except RuntimeError as err:
        raise click.BadParameter(
            f"{device!r} is not a torch device", param_hint="--device"
        ) from err
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise click.BadParameter(f"{device}: no CUDA device here", param_hint="--device")
    return device


def load_generator_or_fail(directory: Path, device: str) -> Any:
    """Load a generator, or exit with the reason it cannot be loaded."""
    from crystaloop.ml.checkpoint import CheckpointError
    from crystaloop.ml.generative.checkpoint import load_generator

    try:
        return load_generator(directory, device=device)
    except (CheckpointError, ValueError) as err:
        raise click.ClickException(str(err)) from err


def make_screener(
    settings: Any, *, corpus: bool, processes: int, allow_p1: bool
) -> Callable[[list[Any]], list[Any]]:
    """Return the library's screener, or exit with one line when the corpus cannot be opened.

    See :func:`crystaloop.workflows.generation.make_screener`.
    """
    from crystaloop.workflows.generation import make_screener as screener_of

    try:
        return screener_of(settings, corpus=corpus, processes=processes, allow_p1=allow_p1)
    except ConnectionError as err:
        raise click.ClickException(str(err)) from err
