"""Reconstruction and substitution proposals of a masked generator.

*Reconstruction* (the pre-training task at inference): mask a crystal's species (all atoms of
one species, or a share of its atoms), displace every atom by Gaussian noise, and let the model
fill the species in and move the atoms back: K species draws from its distribution, the
positions the displacement head gives.

*Proposals* (generation from prototypes): mask one species of a known crystal and draw a new
element for all its atoms from the model's distribution (the mean log-probability over those
atoms, with a temperature and top-k; the original element and, by default, the prototype's
other elements excluded), then place the atoms where the displacement head says. The lattice
is the prototype's; the oracle relaxes.

All draws are seeded (a ``torch.Generator`` per call).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from crystaloop.ml.data.batch import collate
from crystaloop.ml.data.graph import knn_graph
from crystaloop.ml.masked.corruption import displaced, mean_free_noise

if TYPE_CHECKING:
    from pymatgen.core import Structure

#: Crystals per network evaluation.
BATCH = 256


def symbols(numbers: Sequence[int]) -> str:
    """Return ``"O, Ti"`` for atomic numbers ``[8, 22]``."""
    from pymatgen.core import Element

    return ", ".join(Element.from_Z(int(z)).symbol for z in numbers)


@dataclass
class MaskedInput:
    """One masked and displaced crystal.

    Attributes
    ----------
    source_id
        The record it came from.
    structure
        The original crystal.
    mask
        ``(n,)`` bool: the masked sites.
    displacement
        ``(n, 3)`` Cartesian displacement applied (Å).
    """

    source_id: str
    structure: Structure
    mask: np.ndarray
    displacement: np.ndarray

    @property
    def masked_species(self) -> list[str]:
        """The original elements of the masked sites, sorted."""
        return sorted({self.structure[i].specie.symbol for i in np.flatnonzero(self.mask)})

    def masked_structure(self) -> Structure:
        """Return the input the model sees: masked sites as the dummy species ``X``, displaced."""
        from pymatgen.core import DummySpecies, Structure

        species = [
            DummySpecies("X") if m else site.specie
            for site, m in zip(self.structure, self.mask, strict=True)
        ]
        cart = self.structure.cart_coords + self.displacement
        return Structure(self.structure.lattice, species, cart, coords_are_cartesian=True)


@dataclass
class Reconstruction:
    """A masked input and the crystals the model made of it.

    ``numbers[k]`` are the atomic numbers of output ``k`` (the unmasked sites keep theirs);
    ``positions`` the Cartesian positions of every output (one displacement prediction).
    """

    input: MaskedInput
    numbers: list[np.ndarray] = field(default_factory=list)
    positions: np.ndarray | None = None

    def structures(self) -> list[Structure]:
        """Return the outputs as pymatgen structures (lattice of the input)."""
        from pymatgen.core import Structure

        lattice = self.input.structure.lattice
        return [
            Structure(lattice, z.tolist(), self.positions, coords_are_cartesian=True)
            for z in self.numbers
        ]


def check_known(model: Any, source_id: str, structure: Structure) -> None:
    """Raise ``ValueError`` naming the record when it holds elements the model never saw."""
    numbers = sorted({site.specie.Z for site in structure})
    unseen = [z for z in numbers if z not in set(model.config.elements)]
    if unseen:
        raise ValueError(
            f"{source_id}: element(s) {symbols(unseen)} the masked generator never saw (it was "
            f"trained on {len(model.config.elements)} elements: {symbols(model.config.elements)})"
        )
    if not structure.is_ordered:
        raise ValueError(f"{source_id}: a disordered structure (the model takes ordered sites)")


def site_mask(
    source_id: str,
    structure: Structure,
    mode: str,
    rng: np.random.Generator,
    species: str | None = None,
    fraction: float = 0.15,
) -> np.ndarray:
    """Return the masked sites of ``structure``.

    ``species`` mode masks every site of ``species`` (a random one of the crystal's elements
    when ``None``); ``random`` masks ``max(1, round(fraction · n))`` random sites.

    Raises
    ------
    ValueError
        When the mask would leave nothing to predict (an element the crystal does not have, a
        fraction ≤ 0) or names an unknown mode.
    """
    symbols_here = [site.specie.symbol for site in structure]
    if mode == "species":
        present = sorted(set(symbols_here))
        chosen = species if species is not None else present[int(rng.integers(len(present)))]
        if chosen not in present:
            raise ValueError(
                f"{source_id}: no {chosen} site to mask (it has {', '.join(present)}): the mask "
                "would leave nothing to predict"
            )
        return np.array([s == chosen for s in symbols_here])
    if mode == "random":
        if not 0 < fraction <= 1:
            raise ValueError(
                f"{source_id}: a mask fraction of {fraction} leaves nothing to predict "
                "(give one in (0, 1])"
            )
        n = len(symbols_here)
        picks = rng.choice(n, size=max(1, int(round(fraction * n))), replace=False)
        return np.isin(np.arange(n), picks)
    raise ValueError(f"unknown mask {mode!r}: choose species or random")


def predict_inputs(
    model: Any, inputs: Sequence[MaskedInput], device: str
) -> list[tuple[Tensor, Tensor]]:
    """Return each input's ``(n, V)`` log-probabilities and ``(n, 3)`` predicted moves."""
    out: list[tuple[Tensor, Tensor]] = []
    for start in range(0, len(inputs), BATCH):
        part = inputs[start : start + BATCH]
        graphs = [knn_graph(x.structure, model.backbone.config.k, model.backbone.config.cutoff)
                  for x in part]  # fmt: skip
        batch = collate(graphs).to(device)
        mask = torch.from_numpy(np.concatenate([x.mask for x in part])).to(device)
        move = torch.from_numpy(np.concatenate([x.displacement for x in part])).to(device)
        graph = displaced(batch, batch.atomic_numbers, move.to(batch.edge_vec.dtype))
        with torch.no_grad():
            logits, predicted = model(graph, mask)
        logp = torch.log_softmax(logits.double(), dim=1).cpu()
        predicted = predicted.double().cpu()
        sizes = [len(x.structure) for x in part]
        for lp, pr in zip(logp.split(sizes), predicted.split(sizes), strict=True):
            out.append((lp, pr))
    return out


def allowed_scores(
    model: Any, temperature: float, top_k: int | None, banned: set[int], scores: Tensor
) -> Tensor:
    """Return tempered log-weights over the vocabulary with banned and non-top-k set to -inf."""
    scores = scores / temperature
    elements = model.config.elements
    for j, z in enumerate(elements):
        if z in banned:
            scores[..., j] = -torch.inf
    if top_k is not None and top_k < scores.shape[-1]:
        kth = torch.topk(scores, top_k, dim=-1).values[..., -1:]
        scores = torch.where(scores < kth, torch.full_like(scores, -torch.inf), scores)
    return scores


def check_sampling(temperature: float, top_k: int | None) -> None:
    """Raise ``ValueError`` on a temperature ≤ 0 or a top-k < 1."""
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, not {temperature}")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top-k must be at least 1, not {top_k}")


def mask_inputs(
    model: Any,
    records: Sequence[tuple[str, Structure]],
    mask: str,
    noise: float,
    seed: int,
    species: str | None = None,
    fraction: float = 0.15,
) -> list[MaskedInput]:
    """Return each record masked (:func:`site_mask`) and displaced by mean-free noise (σ Å).

    Raises ``ValueError`` naming the first record the model cannot take.
    """
    if noise < 0:
        raise ValueError(f"noise must be ≥ 0 Å, not {noise}")
    rng = np.random.default_rng(seed)
    generator = torch.Generator().manual_seed(2 * seed)  # reconstruct draws from 2 · seed + 1
    inputs = []
    for source_id, structure in records:
        check_known(model, source_id, structure)
        sites = site_mask(source_id, structure, mask, rng, species, fraction)
        move = crystal_noise(len(structure), noise, generator)
        inputs.append(MaskedInput(source_id, structure, sites, move))
    return inputs


def crystal_noise(n: int, sigma: float, generator: torch.Generator) -> np.ndarray:
    """Return ``(n, 3)`` mean-free Gaussian displacements of one crystal's atoms (Å)."""
    zeros = torch.zeros(n, dtype=torch.long)
    return mean_free_noise(zeros, 1, sigma, generator, torch.float64).numpy()


def reconstruct(
    model: Any,
    inputs: Sequence[MaskedInput],
    samples: int,
    seed: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    exclude_original: bool = False,
    device: str = "cpu",
) -> list[Reconstruction]:
    """Return ``samples`` reconstructions of each masked input.

    A species-masked input (all sites of one element masked) gets one element per draw for all
    its masked sites (the mean log-probability over them); a randomly masked one a draw per
    site. ``exclude_original`` bans each site's original element.
    """
    check_sampling(temperature, top_k)
    if samples < 1:
        raise ValueError(f"samples must be at least 1, not {samples}")
    generator = torch.Generator().manual_seed(2 * seed + 1)  # mask_inputs' noise: 2 · seed
    out = []
    for x, (logp, move) in zip(inputs, predict_inputs(model, inputs, device), strict=True):
        sites = np.flatnonzero(x.mask)
        original = np.array([site.specie.Z for site in x.structure])
        joint = len(set(original[sites])) == 1 and len(sites) == int(
            (original == original[sites[0]]).sum()
        )
        rec = Reconstruction(x, positions=x.structure.cart_coords + x.displacement + move.numpy())
        if joint:
            banned = {int(original[sites[0]])} if exclude_original else set()
            scores = allowed_scores(model, temperature, top_k, banned, logp[sites].mean(dim=0))
            _check_any(scores, x.source_id)
            picks = torch.multinomial(torch.softmax(scores, -1), samples, replacement=True,
                                      generator=generator)  # fmt: skip
            draws = [np.full(len(sites), model.config.elements[int(p)]) for p in picks]
        else:
            rows = torch.stack([
                allowed_scores(model, temperature, top_k,
                         {int(original[i])} if exclude_original else set(), logp[i].clone())
                for i in sites
            ])  # fmt: skip
            _check_any(rows, x.source_id)
            picks = torch.multinomial(torch.softmax(rows, -1), samples, replacement=True,
                                      generator=generator)  # fmt: skip
            elements = np.array(model.config.elements)
            draws = [elements[picks[:, k].numpy()] for k in range(samples)]
        for drawn in draws:
            numbers = original.copy()
            numbers[sites] = drawn
            rec.numbers.append(numbers)
        out.append(rec)
    return out


def _check_any(scores: Tensor, source_id: str) -> None:
    if bool(torch.isinf(scores).all(dim=-1).any()):
        raise ValueError(f"{source_id}: every element is excluded: nothing left to draw")
