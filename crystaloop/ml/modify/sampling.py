"""Modify crystals: ``K`` seeded outputs per source structure, in batches."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from crystaloop.ml.generative.crystal import CrystalArrays, collate_crystals, dense_edges
from crystaloop.ml.generative.model import GenerativeModel
from crystaloop.ml.generative.samplers import SamplerOptions, sample_batch


def check_sources(model: GenerativeModel, sources: Sequence[CrystalArrays]) -> None:
    """Raise ``ValueError`` naming the first source the modifier cannot take, and why.

    A source must have at least one atom, at most the model's ``max_atoms``, and only elements
    the model was trained on.
    """
    cfg = model.config
    known = set(cfg.elements)
    for source in sources:
        name = source.source_id or "a source"
        if source.num_atoms < 1:
            raise ValueError(f"{name}: no atoms")
        if source.num_atoms > cfg.max_atoms:
            raise ValueError(
                f"{name}: {source.num_atoms} atoms in its primitive cell, more than the "
                f"modifier's maximum {cfg.max_atoms}"
            )
        unseen = sorted({int(z) for z in source.numbers} - known)
        if unseen:
            from pymatgen.core.periodic_table import Element

            names = ", ".join(Element.from_Z(z).symbol for z in unseen)
            seen = ", ".join(Element.from_Z(z).symbol for z in sorted(known))
            raise ValueError(
                f"{name}: element(s) {names} the modifier never saw (it was trained on {seen})"
            )


@torch.no_grad()
def modify_crystals(
    model: GenerativeModel,
    sources: Sequence[CrystalArrays],
    samples: int,
    delta_e: Sequence[float] | float,
    *,
    seed: int = 0,
    spacegroup: int | None = None,
    options: SamplerOptions | None = None,
    batch_size: int = 256,
    device: str | torch.device = "cpu",
) -> list[list[CrystalArrays]]:
    """Return ``samples`` modified crystals of every source (``out[i][k]``: sample ``k`` of ``i``).

    Parameters
    ----------
    model
        A modifier (:mod:`crystaloop.ml.modify.model`).
    sources
        The structures to modify (their atoms are kept).
    samples
        Outputs per source.
    delta_e
        The energy drop to condition on (eV/atom), one per source or one for all.
    seed
        Seeds the draw (the global torch generator is restored afterwards).
    spacegroup
        Target space-group condition, when the model takes one.
    options
        Sampler options (default: the kind's; classifier-free guidance is not available).
    batch_size, device
        Crystals per network evaluation; where to run.

    Raises
    ------
    ValueError
        For a source the model cannot take (:func:`check_sources`), a ``samples`` below 1,
        ``delta_e`` of the wrong length or not finite, or a space group the model was not
        trained with.
    """
    if samples < 1:
        raise ValueError(f"samples must be at least 1, not {samples}")
    check_sources(model, sources)
    drops = np.asarray(delta_e, dtype=float)
    if drops.ndim == 0:
        drops = np.full(len(sources), float(drops))
    elif drops.shape != (len(sources),):
        raise ValueError(f"delta_e has {drops.size} values for {len(sources)} sources")
    if not np.all(np.isfinite(drops)):
        raise ValueError("delta_e must be finite")
    if spacegroup is not None and not model.config.cond_spacegroup:
        raise ValueError("this modifier was not trained with a space-group condition")
    jobs = [(i, source) for i, source in enumerate(sources) for _ in range(samples)]
    out: list[list[CrystalArrays]] = [[] for _ in sources]
    model = model.to(device).eval()
    cuda = [torch.device(device)] if torch.device(device).type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        torch.manual_seed(seed)
        for start in range(0, len(jobs), batch_size):
            chunk = jobs[start : start + batch_size]
            batch = collate_crystals([s for _, s in chunk]).to(device)
            context = model.source_context(
                batch.frac, batch.lattice, batch.num_atoms, dense_edges(batch.num_atoms)
            )
            prior = (
                model.source_prior(batch.frac, batch.lattice, batch.num_atoms)
                if model.starts_at_source
                else None
            )
            b = batch.num_graphs
            sg = (
                torch.full((b,), spacegroup, dtype=torch.long, device=device)
                if spacegroup is not None
                else None
            )
            ef = torch.tensor([drops[i] for i, _ in chunk], dtype=torch.float32, device=device)
            lattice, frac, z = sample_batch(
                model,
                batch.num_atoms,
                batch.numbers,
                options or SamplerOptions(),
                sg,
                ef,
                context,
                prior,
            )
            lattice, frac, z = lattice.cpu().numpy(), frac.cpu().numpy(), z.cpu().numpy()
            offsets = np.concatenate([[0], np.cumsum(batch.num_atoms.cpu().numpy())])
            for j, (i, source) in enumerate(chunk):
                lo, hi = offsets[j], offsets[j + 1]
                out[i].append(
                    CrystalArrays(
                        lattice=lattice[j].astype(np.float64),
                        frac=np.mod(frac[lo:hi], 1.0).astype(np.float64),
                        numbers=z[lo:hi].astype(np.int64),
                        spacegroup=int(spacegroup or 0),
                        eform=float(drops[i]),
                        source_id=source.source_id,
                    )
                )
    return out
