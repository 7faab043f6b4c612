"""Inputs and outputs of the generator commands: crystals from files, JSON lines out, screens."""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import click

from crystaloop.cli.surrogate_data import SplitPlan, iter_records


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


def too_large(crystals: list[Any], max_atoms: int) -> list[dict[str, Any]]:
    """Return record errors for crystals with more atoms than ``max_atoms``."""
    return [
        {
            "source_id": c.source_id,
            "reason": f"{c.num_atoms} atoms in its primitive cell, more than the model's "
            f"maximum {max_atoms}",
        }
        for c in crystals
        if c.num_atoms > max_atoms
    ]


def load_generator_or_fail(directory: Path, device: str) -> Any:
    """Load a generator, or exit with the reason it cannot be loaded."""
    from crystaloop.ml.checkpoint import CheckpointError
    from crystaloop.ml.generative.checkpoint import load_generator

    try:
        return load_generator(directory, device=device)
    except (CheckpointError, ValueError) as err:
        raise click.ClickException(str(err)) from err


def read_crystals(
    path: Path,
    settings: Any,
    *,
    spacegroups: bool = False,
    eform_label: str | None = None,
) -> tuple[list[Any], list[Any], list[dict[str, Any]]]:
    """Read every record of ``path`` as generator data.

    Returns
    -------
    tuple
        ``(crystals, structures, errors)``: :class:`CrystalArrays` and the parsed structures of
        the valid records (same order), and ``{"source_id", "reason"}`` of the invalid ones.
    """
    from crystaloop.chem.symmetry import symmetry_info
    from crystaloop.ml.generative.crystal import NUM_TYPES, crystal_arrays

    crystals, structures, errors = [], [], []
    for sid, structure, labels, reason in iter_records(path, settings):
        if structure is None:
            errors.append({"source_id": sid, "reason": reason})
            continue
        eform = math.nan
        if eform_label is not None:
            value = labels.get(eform_label)
            value = getattr(value, "value", value)
            try:
                eform = float(value) if value is not None else math.nan
            except (TypeError, ValueError):
                errors.append({"source_id": sid, "reason": f"{eform_label} is not a number"})
                continue
        beyond = sorted({s.symbol for s in structure.species if s.Z > NUM_TYPES})
        if beyond:
            reason = (
                f"element(s) {', '.join(beyond)} beyond Z = {NUM_TYPES}, which no generator takes"
            )
            errors.append({"source_id": sid, "reason": reason})
            continue
        spacegroup = symmetry_info(structure).number if spacegroups else 0
        crystals.append(crystal_arrays(structure, spacegroup, eform, source_id=sid))
        structures.append(structure)
    return crystals, structures, errors


def split_crystals(crystals: list[Any], plan: SplitPlan) -> dict[str, list[Any]]:
    """Return the crystals by split (``train``, ``val``, ``test``) of the seeded hash plan."""
    out: dict[str, list[Any]] = {"train": [], "val": [], "test": []}
    for crystal in crystals:
        out[plan.of(crystal.source_id)].append(crystal)
    return out


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
