"""Inputs and outputs of the generator commands: models, devices, JSON lines out, screens.

Reading crystals from files is the library's (:mod:`crystaloop.stores.ingest.training_sets`).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterable
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


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> int:
    """Write ``rows`` as JSON lines, atomically (an existing file is replaced only on success)."""
    path = path.expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with tempfile.NamedTemporaryFile(
        "w", dir=path.parent, prefix=f".{path.name}.", delete=False
    ) as tmp:
        try:
            for row in rows:
                tmp.write(json.dumps(row, default=float) + "\n")
                count += 1
        except BaseException:
            tmp.close()
            os.unlink(tmp.name)
            raise
    os.replace(tmp.name, path)
    return count


def make_screener(
    settings: Any, *, corpus: bool, processes: int, allow_p1: bool
) -> Callable[[list[Any]], list[Any]]:
    """Return a function that screens a list of structures (the corpus store opened once)."""
    from crystaloop.chem.screens import ScreenConfig, screen_structures

    lookup = None
    if corpus:
        from crystaloop.cli.common import open_corpus

        lookup = open_corpus(settings).dedup_lookup
    config = ScreenConfig(max_sites=settings.max_sites, allow_p1=allow_p1)

    def screener(structures: list[Any]) -> list[Any]:
        return screen_structures(structures, config, corpus_lookup=lookup, processes=processes)

    return screener
