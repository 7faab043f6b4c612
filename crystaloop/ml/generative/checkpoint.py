"""Generator checkpoints: ``model.pt`` (weights, ``weights_only`` loading) + ``model.json`` card.

The same directory format as the surrogate's (:mod:`crystaloop.ml.checkpoint`): the card holds
the kind, the configuration, metrics and the sha256 of the weights, checked on every load.
A *bundle* is a directory whose sub-directories ``csp/`` and ``abinitio/`` are generators, so one
name (``perov5``) serves both modes.
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from crystaloop import __version__
from crystaloop.ml.checkpoint import (
    CARD,
    CheckpointError,
    read_card,
    read_checkpoint,
    write_weights,
)
from crystaloop.ml.generative.config import GeneratorConfig
from crystaloop.ml.generative.model import GenerativeModel, build_model

FORMAT = "crystaloop.generator/1"
KIND = "generator"


def save_generator(
    model: GenerativeModel,
    directory: str | os.PathLike[str],
    name: str | None = None,
    metrics: dict[str, Any] | None = None,
    training: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write ``model.pt`` and ``model.json`` into ``directory``; return the card."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": FORMAT,
        "config": model.config.to_dict(),
        "state": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }
    data = write_weights(payload, out)
    card = {
        "name": name or out.name,
        "kind": KIND,
        "format": FORMAT,
        "generator": model.config.kind,
        "mode": model.config.mode,
        "config": model.config.to_dict(),
        "parameters": sum(p.numel() for p in model.parameters()),
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
        "metrics": json.loads(json.dumps(metrics or {}, default=float)),
        "training": json.loads(json.dumps(training or {}, default=float)),
        "created": datetime.now(UTC).isoformat(),
        "crystaloop_version": __version__,
    }
    (out / CARD).write_text(json.dumps(card, indent=2))
    return card


def load_generator(directory: str | os.PathLike[str], device: str = "cpu") -> GenerativeModel:
    """Load a generator directory, checking the weights' sha256 against its card."""
    card = read_card(directory)
    if card.get("kind") != KIND:
        raise CheckpointError(f"{directory}: a {card.get('kind')!r} model, not a generator")
    _, payload = read_checkpoint(directory, FORMAT, device)
    model = build_model(GeneratorConfig.from_dict(payload["config"]))
    model.load_state_dict(payload["state"])
    return model.to(device).eval()


def resolve_generator_dir(path: str | os.PathLike[str], mode: str | None) -> Path:
    """Return the generator directory for ``path`` (a generator or a bundle) and ``mode``.

    Raises
    ------
    CheckpointError
        When ``path`` holds no generator of ``mode``.
    """
    root = Path(path)
    if (root / CARD).exists():
        card = read_card(root)
        if mode is not None and card.get("mode") != mode:
            raise CheckpointError(f"{root}: a {card.get('mode')} generator, not {mode}")
        return root
    modes = [m for m in ("csp", "abinitio") if (root / m / CARD).exists()]
    if not modes:
        raise CheckpointError(f"{root}: no generator here (no {CARD})")
    if mode is None:
        return root / modes[0]
    if mode not in modes:
        raise CheckpointError(f"{root}: has no {mode} generator (it has {', '.join(modes)})")
    return root / mode


def find_generator(name_or_dir: str | os.PathLike[str], mode: str | None) -> Path:
    """Return the generator directory of a model directory or a shipped name, for ``mode``.

    Raises
    ------
    CheckpointError
        When ``name_or_dir`` is neither a generator directory nor a shipped generator, or has no
        generator of ``mode``.
    """
    from crystaloop.ml.shipped import shipped_generator_dir, shipped_generator_names

    path = Path(name_or_dir).expanduser()
    if not path.is_dir():
        shipped = shipped_generator_dir(str(name_or_dir))
        if shipped is None:
            names = ", ".join(shipped_generator_names()) or "none"
            raise CheckpointError(
                f"unknown generator {str(name_or_dir)!r}: not a model directory, and not a "
                f"shipped generator ({names})"
            )
        path = shipped
    return resolve_generator_dir(path, mode)
