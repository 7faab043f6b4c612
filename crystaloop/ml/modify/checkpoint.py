"""Modifier checkpoints: ``model.pt`` (weights, ``weights_only`` loading) + ``model.json`` card.

The format of the generators' (:mod:`crystaloop.ml.generative.checkpoint`) with the card's
``kind`` ``modifier`` and the :class:`~crystaloop.ml.modify.model.ModifierConfig` as its
configuration. Shipped modifiers live in ``crystaloop/models/modifiers/<name>/``.
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
from crystaloop.ml.generative.checkpoint import sampling_block
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
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    config = model.modifier_config.to_dict()
    payload = {
        "format": FORMAT,
        "config": config,
        "state": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }
    data = write_weights(payload, out)
    card = {
        "name": name or out.name,
        "kind": KIND,
        "format": FORMAT,
        "generator": model.config.kind,
        "prior": model.modifier_config.prior,
        "config": config,
        "parameters": sum(p.numel() for p in model.parameters()),
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
        "metrics": json.loads(json.dumps(metrics or {}, default=float)),
        "training": json.loads(json.dumps(training or {}, default=float)),
        **({"sampling": sampling_block(sampling)} if sampling else {}),
        "created": datetime.now(UTC).isoformat(),
        "crystaloop_version": __version__,
    }
    (out / CARD).write_text(json.dumps(card, indent=2))
    return card


def load_modifier(directory: str | os.PathLike[str], device: str = "cpu") -> GenerativeModel:
    """Load a modifier directory, checking the weights' sha256 against its card."""
    card = read_card(directory)
    if card.get("kind") != KIND:
        raise CheckpointError(f"{directory}: a {card.get('kind')!r} model, not a modifier")
    _, payload = read_checkpoint(directory, FORMAT, device)
    model = build_modifier(ModifierConfig.from_dict(payload["config"]))
    model.load_state_dict(payload["state"])
    model.sampling_defaults = sampling_block(card.get("sampling") or {}, strict=False)
    return model.to(device).eval()


def update_card(directory: str | os.PathLike[str], **blocks: dict[str, Any]) -> dict[str, Any]:
    """Merge ``blocks`` (``metrics=...``, ``sampling=...``) into a modifier's card; return it."""
    card = read_card(directory)
    if card.get("kind") != KIND:
        raise CheckpointError(f"{directory}: a {card.get('kind')!r} model, not a modifier")
    for key, value in blocks.items():
        if key == "sampling":
            value = sampling_block({**(card.get("sampling") or {}), **value})
        card[key] = json.loads(json.dumps({**(card.get(key) or {}), **value}, default=float))
    (Path(directory) / CARD).write_text(json.dumps(card, indent=2))
    return card


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
