"""Checkpoints: weights + configuration + normalisation + calibration, addressed by sha256.

A model directory holds ``model.pt`` (``torch.save`` of plain containers and tensors, loaded with
``torch.load(weights_only=True)``, never unpickled: the members' weights, the σ calibration and
the validation residuals it was fitted on) and ``model.json`` (kind, targets,
configuration, metrics and the sha256 of ``model.pt``, checked on every load).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from crystaloop import __version__
from crystaloop.ml.crysformer.config import CrysformerConfig
from crystaloop.ml.crysformer.ensemble import CrysformerEnsemble
from crystaloop.ml.crysformer.model import Crysformer

FORMAT = "crystaloop.crysformer/1"
WEIGHTS = "model.pt"
CARD = "model.json"
MAX_CHECKPOINT_BYTES = 512 * 2**20


class CheckpointError(Exception):
    """A checkpoint is missing, corrupt, tampered with or of an unknown format."""


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Return the hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _json_safe(data: Any) -> Any:
    return json.loads(json.dumps(data, default=float, allow_nan=True))


def write_weights(payload: dict[str, Any], directory: Path) -> bytes:
    """Write ``torch.save(payload)`` to ``directory/model.pt`` atomically; return the bytes."""
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    data = buffer.getvalue()
    with tempfile.NamedTemporaryFile(dir=directory, delete=False) as tmp:
        tmp.write(data)
    os.chmod(tmp.name, 0o644)  # shipped and shared checkpoints are read by other users
    os.replace(tmp.name, directory / WEIGHTS)
    return data


def save_ensemble(
    ensemble: CrysformerEnsemble,
    directory: str | os.PathLike[str],
    name: str | None = None,
    label_oracle: str | None = None,
) -> dict[str, Any]:
    """Write ``model.pt`` and ``model.json`` into ``directory``; return the card.

    ``label_oracle``: the oracle whose labels the model learnt (recorded in the card, so a
    campaign of that oracle needs no bootstrap labels).
    """
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": FORMAT,
        "config": ensemble.config.to_dict(),
        "members": [
            {k: v.detach().cpu() for k, v in m.state_dict().items()} for m in ensemble.members
        ],
        "scale": torch.as_tensor(np.asarray(ensemble.scale), dtype=torch.float64),
        "level": float(ensemble.level),
        "mc_samples": int(ensemble.mc_samples),
    }
    if ensemble.accept_std is not None:
        payload["accept_std"] = torch.as_tensor(
            np.asarray(ensemble.accept_std), dtype=torch.float64
        )
    if ensemble.residuals is not None:
        payload["residuals"] = torch.as_tensor(ensemble.residuals, dtype=torch.float32)
    data = write_weights(payload, out)
    card = {
        "name": name or out.name,
        "kind": "crysformer",
        "format": FORMAT,
        "targets": list(ensemble.config.targets),
        "members": len(ensemble.members),
        "config": ensemble.config.to_dict(),
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
        "metrics": _json_safe(ensemble.metrics),
        "created": datetime.now(UTC).isoformat(),
        "crystaloop_version": __version__,
    }
    if label_oracle is not None:
        card["label_oracle"] = label_oracle
    (out / CARD).write_text(json.dumps(card, indent=2))
    return card


def read_card(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """Return ``model.json`` of a model directory."""
    path = Path(directory) / CARD
    try:
        return json.loads(path.read_text())
    except FileNotFoundError as err:
        raise CheckpointError(f"{directory}: no {CARD} (not a crystaloop model)") from err
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{path}: not valid JSON") from err


def read_checkpoint(
    directory: str | os.PathLike[str], fmt: str, device: str = "cpu"
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return ``(card, payload)`` of a model directory whose weights are of format ``fmt``.

    The weights must exist, be at most :data:`MAX_CHECKPOINT_BYTES`, match the card's sha256
    and load with ``torch.load(weights_only=True)``: nothing is ever unpickled.
    """
    card = read_card(directory)
    weights = Path(directory) / WEIGHTS
    if not weights.exists():
        raise CheckpointError(f"{directory}: {WEIGHTS} is missing")
    if weights.stat().st_size > MAX_CHECKPOINT_BYTES:
        raise CheckpointError(f"{weights}: larger than {MAX_CHECKPOINT_BYTES} bytes")
    digest = sha256_file(weights)
    if digest != card.get("sha256"):
        raise CheckpointError(f"{weights}: sha256 {digest} does not match its card")
    try:
        payload = torch.load(weights, map_location=device, weights_only=True)
    except Exception as err:  # corrupt file or disallowed type
        raise CheckpointError(f"{weights}: cannot load ({type(err).__name__})") from err
    if not isinstance(payload, dict) or payload.get("format") != fmt:
        raise CheckpointError(f"{weights}: unknown checkpoint format")
    return card, payload


def load_ensemble(directory: str | os.PathLike[str], device: str = "cpu") -> CrysformerEnsemble:
    """Load a model directory, checking the weights' sha256 against its card."""
    card, payload = read_checkpoint(directory, FORMAT, device)
    config = CrysformerConfig.from_dict(payload["config"])
    members = []
    for state in payload["members"]:
        model = Crysformer(config)
        model.load_state_dict(state)
        members.append(model.to(device).eval())
    accept = payload.get("accept_std")
    residuals = payload.get("residuals")
    return CrysformerEnsemble(
        members,
        scale=payload["scale"].cpu().numpy(),
        accept_std=accept.cpu().numpy() if accept is not None else None,
        level=float(payload.get("level", 0.9)),
        mc_samples=int(payload.get("mc_samples", 0)),
        residuals=residuals.cpu().numpy() if residuals is not None else None,
        metrics=card.get("metrics", {}),
    )


def find_surrogate(name_or_dir: str | os.PathLike[str]) -> Path:
    """Return the directory of a surrogate model directory or a shipped surrogate name."""
    from crystaloop.ml.shipped import shipped_model_dir, shipped_model_names

    path = Path(name_or_dir).expanduser()
    if (path / CARD).exists():
        return path
    shipped = shipped_model_dir(str(name_or_dir))
    if shipped is not None:
        return shipped
    names = ", ".join(shipped_model_names()) or "none"
    raise CheckpointError(
        f"unknown model {str(name_or_dir)!r}: not a directory with {CARD}, and not a shipped "
        f"model ({names})"
    )
