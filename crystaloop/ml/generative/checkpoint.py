"""Generator checkpoints: ``model.pt`` (weights, ``weights_only`` loading) + ``model.json`` card.

The same directory format as the surrogate's (:mod:`crystaloop.ml.checkpoint`): the card holds
the kind, the configuration, metrics and the sha256 of the weights, checked on every load.
A *bundle* is a directory whose sub-directories ``csp/`` and ``abinitio/`` are generators, so one
name (``perov5``) serves both modes.

A card may hold a ``sampling`` block of tuned sampler defaults, ``{"step_lr": x}`` (the diffusion
corrector step tuned for the model's ``T`` steps, see :mod:`crystaloop.ml.generative.samplers`);
:func:`load_generator` puts it on the model as ``model.sampling_defaults`` (``{}`` for a card
without it, which then samples with the sampler's defaults).
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
#: The card kind of a masked generator (:mod:`crystaloop.ml.masked.checkpoint`).
MASKED = "masked"


def save_generator(
    model: GenerativeModel,
    directory: str | os.PathLike[str],
    name: str | None = None,
    metrics: dict[str, Any] | None = None,
    training: dict[str, Any] | None = None,
    sampling: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write ``model.pt`` and ``model.json`` into ``directory``; return the card.

    ``sampling`` holds tuned sampler defaults (``{"step_lr": x}``), written to the card only
    when given.
    """
    described = {"generator": model.config.kind, "mode": model.config.mode}
    return write_checkpoint(
        model, directory, KIND, FORMAT, model.config.to_dict(), described, name,
        metrics, training, sampling,
    )  # fmt: skip


def write_checkpoint(
    model: GenerativeModel,
    directory: str | os.PathLike[str],
    kind: str,
    fmt: str,
    config: dict[str, Any],
    described: dict[str, Any],
    name: str | None = None,
    metrics: dict[str, Any] | None = None,
    training: dict[str, Any] | None = None,
    sampling: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write the weights and the card of a generator-family model (``kind``, format ``fmt``).

    ``config`` is saved with the weights and in the card; ``described`` adds the card's
    descriptive keys (the generator kind, mode or prior). Returns the card.
    """
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": fmt,
        "config": config,
        "state": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }
    data = write_weights(payload, out)
    card = {
        "name": name or out.name,
        "kind": kind,
        "format": fmt,
        **described,
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


def load_generator(directory: str | os.PathLike[str], device: str = "cpu") -> GenerativeModel:
    """Load a generator directory, checking the weights' sha256 against its card."""
    return read_model(
        directory, KIND, FORMAT, lambda c: build_model(GeneratorConfig.from_dict(c)), device
    )


def read_model(
    directory: str | os.PathLike[str],
    kind: str,
    fmt: str,
    build: Any,
    device: str = "cpu",
) -> GenerativeModel:
    """Load a generator-family model of ``kind``: ``build(config)``, weights checked and loaded.

    The card's ``sampling`` block goes on the model as ``sampling_defaults``.
    """
    card = read_card(directory)
    if card.get("kind") == MASKED and kind == KIND:
        raise CheckpointError(
            f"{directory}: a masked generator, which proposes substitutions of prototypes "
            "(generate --prototypes PATH); it does not sample crystals from noise"
        )
    if card.get("kind") != kind:
        raise CheckpointError(f"{directory}: a {card.get('kind')!r} model, not a {kind}")
    _, payload = read_checkpoint(directory, fmt, device)
    model = build(payload["config"])
    model.load_state_dict(payload["state"])
    model.sampling_defaults = sampling_block(card.get("sampling") or {}, strict=False)
    return model.to(device).eval()


#: Sampler defaults a card's ``sampling`` block may hold.
SAMPLING_KEYS = ("step_lr",)


def sampling_block(sampling: dict[str, Any], strict: bool = True) -> dict[str, Any]:
    """Return a card's ``sampling`` block checked: known keys, a ``step_lr`` in (0, 1).

    With ``strict=False`` (loading) keys this version does not know are left out rather than
    refused, so a card written by a later version still loads.

    Raises
    ------
    CheckpointError
        On an unknown key (``strict``) or a ``step_lr`` that is not a number in (0, 1).
    """
    unknown = sorted(set(sampling) - set(SAMPLING_KEYS))
    if unknown and strict:
        raise CheckpointError(f"unknown sampling default(s) in the card: {', '.join(unknown)}")
    out = {k: v for k, v in sampling.items() if k in SAMPLING_KEYS}
    if "step_lr" in out:
        value = out["step_lr"]
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1:
            raise CheckpointError(f"sampling.step_lr must be a number in (0, 1), not {value!r}")
        out["step_lr"] = float(value)
    return out


def write_sampling_defaults(
    directory: str | os.PathLike[str], sampling: dict[str, Any]
) -> dict[str, Any]:
    """Set the ``sampling`` block of an existing generator card (the weights are unchanged).

    Returns the new card.
    """
    card = read_card(directory)
    if card.get("kind") != KIND:
        raise CheckpointError(f"{directory}: a {card.get('kind')!r} model, not a generator")
    card["sampling"] = sampling_block({**(card.get("sampling") or {}), **sampling})
    (Path(directory) / CARD).write_text(json.dumps(card, indent=2))
    return card


def resolve_generator_dir(path: str | os.PathLike[str], mode: str | None) -> Path:
    """Return the generator directory for ``path`` (a generator or a bundle) and ``mode``.

    A masked generator (:mod:`crystaloop.ml.masked`) has no mode: it proposes substitutions
    in every campaign, so it is returned whatever ``mode`` asks for.

    Raises
    ------
    CheckpointError
        When ``path`` holds no generator of ``mode``.
    """
    root = Path(path)
    if (root / CARD).exists():
        card = read_card(root)
        if mode is not None and card.get("mode") != mode and card.get("kind") != MASKED:
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


def generator_elements(directory: str | os.PathLike[str]) -> list[int]:
    """Return the atomic numbers a generator (of any kind, masked too) was trained on."""
    config = read_card(directory).get("config") or {}
    elements = config.get("elements")
    if not isinstance(elements, list) or not all(isinstance(z, int) for z in elements):
        raise CheckpointError(f"{directory}: the card lists no elements")
    return elements


def is_masked(directory: str | os.PathLike[str]) -> bool:
    """Return whether ``directory`` holds a masked generator (its card's kind)."""
    path = Path(directory)
    return (path / CARD).exists() and read_card(path).get("kind") == MASKED
