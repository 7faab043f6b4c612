"""Train a modifier: polymorph groups → pairs split by group → training → checkpoint."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from crystaloop.ml.generative.config import GeneratorTrainOptions
from crystaloop.ml.generative.crystal import CrystalArrays
from crystaloop.ml.modify.model import ModifierConfig
from crystaloop.ml.modify.pairs import PolymorphPair, polymorph_groups, polymorph_pairs

SPLITS = ("train", "val", "test")


def pair_splits(
    crystals: Sequence[CrystalArrays], plan: Any, targets_per_source: int = 1
) -> dict[str, list[PolymorphPair]]:
    """Return the polymorph pairs of ``crystals`` split by group (formula per cell).

    ``plan`` is a :class:`~crystaloop.ml.data.split.SplitPlan`: a group goes whole to the split
    its formula hashes to, so no group is in two splits (seed 001's leakage rule).
    ``targets_per_source`` (:func:`~crystaloop.ml.modify.pairs.polymorph_pairs`) applies to
    train and validation; test pairs always point at the most stable member only (the metric).

    Raises
    ------
    ValueError
        When a crystal has no energy, or no group has two polymorphs.
    """
    groups = polymorph_groups(crystals)
    if not groups:
        raise ValueError("no polymorph group: no formula per cell has two structures")
    by_split = plan.partition(list(groups.items()), lambda item: item[0])
    return {
        name: polymorph_pairs(
            dict(by_split[name]), targets_per_source if name != "test" else 1, plan.seed
        )
        for name in SPLITS
    }


def new_modifier(
    config: ModifierConfig,
    splits: dict[str, Sequence[PolymorphPair]],
    seed: int,
    init_from: Any = None,
) -> Any:
    """Return a new modifier with the statistics of its training targets.

    ``init_from`` (a CSP generator of the same kind and size) gives the denoiser its weights and
    its lattice normalisation; the source encoder starts at zero, so the modifier starts as that
    generator.
    """
    import torch

    from crystaloop.ml.generative.training import with_statistics
    from crystaloop.ml.modify.model import build_modifier, init_from_generator

    if not splits["train"]:
        raise ValueError("no training pairs")
    held_out = [p.target for name in ("val", "test") for p in splits[name]]
    generator = with_statistics(config.generator, [p.target for p in splits["train"]], held_out)
    if init_from is not None:
        generator = dataclasses.replace(generator, lattice_scale=init_from.config.lattice_scale)
    with torch.random.fork_rng(devices=[]):  # seeded weights; the caller's generator untouched
        torch.manual_seed(seed)
        model = build_modifier(dataclasses.replace(config, generator=generator))
    if init_from is not None:
        init_from_generator(model, init_from)
    return model


def fit_modifier(
    model: Any,
    splits: dict[str, Sequence[PolymorphPair]],
    options: GeneratorTrainOptions,
    out_dir: str | Path,
    training: dict[str, Any],
    log: Callable[[str], None] | None = None,
) -> tuple[dict[str, Any], Any]:
    """Train ``model`` on the pair splits and write it to ``out_dir``; return ``(card, result)``.

    :func:`~crystaloop.ml.generative.fit.fit_generator` with the pairs' collation and the
    modifier's writer; the card also records the groups of each split.
    """
    from crystaloop.ml.generative.fit import fit_generator
    from crystaloop.ml.modify.checkpoint import save_modifier
    from crystaloop.ml.modify.pairs import collate_pairs

    groups = {k: sorted({p.group for p in v}) for k, v in splits.items()}
    return fit_generator(
        model,
        splits,
        options,
        out_dir,
        {**training, "groups": groups},
        log=log,
        collate=collate_pairs,
        save=save_modifier,
    )
