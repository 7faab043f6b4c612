"""Pretrained models shipped inside the package.

Surrogates live in ``crystaloop/models/<name>/``; generators (bundles with ``csp/`` and
``abinitio/`` sub-directories, or single generators) in ``crystaloop/models/generators/<name>/``;
structure modifiers in ``crystaloop/models/modifiers/<name>/``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def _root() -> Path:
    return Path(str(resources.files("crystaloop") / "models"))


def shipped_model_names() -> list[str]:
    """Return the names of the shipped surrogate models."""
    root = _root()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "model.json").exists())


def shipped_model_dir(name: str) -> Path | None:
    """Return the directory of shipped surrogate model ``name``, or ``None``."""
    path = _root() / name
    return path if (path / "model.json").exists() else None


def _is_generator(path: Path) -> bool:
    return (path / "model.json").exists() or any(
        (path / mode / "model.json").exists() for mode in ("csp", "abinitio")
    )


def shipped_generator_names() -> list[str]:
    """Return the names of the shipped generators."""
    root = _root() / "generators"
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and _is_generator(p))


def shipped_generator_dir(name: str) -> Path | None:
    """Return the directory of shipped generator ``name`` (a generator or a bundle), or ``None``."""
    if not name or "/" in name or name.startswith("."):
        return None
    path = _root() / "generators" / name
    return path if path.is_dir() and _is_generator(path) else None


def shipped_modifier_names() -> list[str]:
    """Return the names of the shipped structure modifiers."""
    root = _root() / "modifiers"
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "model.json").exists())


def shipped_modifier_dir(name: str) -> Path | None:
    """Return the directory of shipped modifier ``name``, or ``None``."""
    if not name or "/" in name or name.startswith("."):
        return None
    path = _root() / "modifiers" / name
    return path if (path / "model.json").exists() else None
