"""Pretrained models shipped inside the package (``crystaloop/models/<name>/``)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def _root() -> Path:
    return Path(str(resources.files("crystaloop") / "models"))


def shipped_model_names() -> list[str]:
    """Return the names of the shipped models."""
    root = _root()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "model.json").exists())


def shipped_model_dir(name: str) -> Path | None:
    """Return the directory of shipped model ``name``, or ``None``."""
    path = _root() / name
    return path if (path / "model.json").exists() else None
