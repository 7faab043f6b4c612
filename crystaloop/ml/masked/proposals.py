"""Substitution proposals of a masked generator: new elements on known frameworks (seed 003).

Every prototype gives one masked input per element it holds (all sites of that element masked,
no displacement, or ``noise`` Å when asked). For each input the model's mean log-probability
over the masked sites ranks the elements that may replace it (temperature, top-k; the original
element and, by default, the prototype's other elements banned); a seeded Gumbel draw without
replacement orders them, so one input never proposes the same substitution twice. Inputs take
turns in a seeded order until ``n`` proposals are made. The atoms go where the displacement
head puts them; the lattice is the prototype's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from crystaloop.ml.masked.sampling import (
    MaskedInput,
    allowed_scores,
    check_known,
    check_sampling,
    crystal_noise,
    predict_inputs,
)

if TYPE_CHECKING:
    from pymatgen.core import Structure


@dataclass
class Proposal:
    """One substitution: ``original`` replaced by ``element`` on every such site of a prototype.

    ``log_prob`` is the model's mean log-probability of ``element`` over those sites (before
    temperature and exclusions).
    """

    source_id: str
    original: str
    element: str
    log_prob: float
    structure: Structure


def propose(
    model: Any,
    prototypes: Sequence[tuple[str, Structure]],
    n: int,
    seed: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    exclude_present: bool = True,
    noise: float = 0.0,
    device: str = "cpu",
) -> list[Proposal]:
    """Return up to ``n`` substitutions of ``prototypes`` (fewer when they run out).

    Raises
    ------
    ValueError
        On an empty prototype list, a prototype with an element the model never saw (named),
        or bad sampling options.
    """
    check_sampling(temperature, top_k)
    if not prototypes:
        raise ValueError("no prototypes to substitute")
    if n < 1:
        raise ValueError(f"n must be at least 1, not {n}")
    generator = torch.Generator().manual_seed(seed)
    inputs: list[MaskedInput] = []
    for source_id, structure in prototypes:
        check_known(model, source_id, structure)
        here = [site.specie.symbol for site in structure]
        for element in sorted(set(here)):
            move = crystal_noise(len(structure), noise, generator)
            mask = np.array([s == element for s in here])
            inputs.append(MaskedInput(source_id, structure, mask, move))
    queues = []
    for x, (logp, move) in zip(inputs, predict_inputs(model, inputs, device), strict=True):
        present = {site.specie.Z for site in x.structure}
        original = x.structure[int(np.flatnonzero(x.mask)[0])].specie.Z
        banned = present if exclude_present else {original}
        mean_logp = logp[x.mask].mean(dim=0)
        scores = allowed_scores(model, temperature, top_k, banned, mean_logp.clone())
        uniform = torch.rand(scores.shape, generator=generator, dtype=scores.dtype)
        gumbel = -torch.log(-torch.log(uniform.clamp(1e-12, 1.0)))
        keys = scores + gumbel
        order = [int(j) for j in torch.argsort(keys, descending=True) if torch.isfinite(keys[j])]
        queues.append((x, move.numpy(), mean_logp, order))
    turn = np.random.default_rng(seed).permutation(len(queues))
    out: list[Proposal] = []
    while len(out) < n and any(q[3] for q in queues):
        for i in turn:
            x, move, mean_logp, order = queues[i]
            if not order or len(out) >= n:
                continue
            j = order.pop(0)
            out.append(_proposal(model, x, move, j, float(mean_logp[j])))
    return out


def _proposal(model: Any, x: MaskedInput, move: np.ndarray, j: int, log_prob: float) -> Proposal:
    from pymatgen.core import Element, Structure

    element = Element.from_Z(int(model.config.elements[j])).symbol
    species = [
        element if m else site.specie.symbol for site, m in zip(x.structure, x.mask, strict=True)
    ]
    cart = x.structure.cart_coords + x.displacement + move
    structure = Structure(x.structure.lattice, species, cart, coords_are_cartesian=True)
    return Proposal(x.source_id, x.masked_species[0], element, log_prob, structure)
