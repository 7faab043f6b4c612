"""Samplers: predictor–corrector diffusion sampling and Euler flow integration, batched.

Both take the atom counts (and, for CSP, the atomic numbers) of the crystals to generate, start
from each field's prior and integrate to the data; fewer steps than the diffusion's ``T`` give a
strided ancestral sampler. A condition (space group, formation energy) with ``guidance != 1``
applies classifier-free guidance: ``v = v_∅ + w (v_c - v_∅)``.

The Langevin corrector's ``step_lr`` is the step size tuned for sampling with all ``T`` steps, as
DiffCSP samples (one corrector step per diffusion step, step ``step_lr · (σ_t / σ_begin)²``, noise
``√(2·step)``). With ``steps < T`` each corrector step stands for ``T / steps`` of them, so the
sampler uses ``step_lr · T / steps`` and the corrector's Langevin time over the trajectory stays
that of the tuned sampler (:func:`corrector_step_lr`). The tuned value comes from
:attr:`SamplerOptions.step_lr`, else from the model card's ``sampling.step_lr``
(:func:`~crystaloop.ml.generative.checkpoint.load_generator` puts it on the model as
``sampling_defaults``); a model with neither samples with :data:`UNTUNED_STEP_LR` per step, at
any number of steps, as every model did before (:func:`step_size`).

Flow matching can anti-anneal the coordinate velocity at inference as FlowMM does:
``v_F ← v_F · (1 + s·t)`` with ``t`` going from 0 (prior) to 1 (data) and ``s`` =
:attr:`SamplerOptions.anti_annealing` (0: off).

To draw ``n`` seeded crystals (atom counts included) as campaigns and the command line do, use
:mod:`crystaloop.ml.generative.sampling`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from crystaloop.ml.generative.crystal import (
    NUM_TYPES,
    CrystalArrays,
    batch_index,
    dense_edges,
)
from crystaloop.ml.generative.model import CrystalDiffusion, CrystalFlow, GenerativeModel


@dataclass(frozen=True)
class SamplerOptions:
    """How to sample.

    Attributes
    ----------
    steps
        Integration steps (diffusion: at most ``T``; ``None``: ``T`` for diffusion, 50 for flow).
    corrector_steps
        Langevin corrector steps per diffusion step on the coordinates.
    step_lr
        Corrector step size at ``σ_begin`` tuned for sampling with all ``T`` steps (DiffCSP:
        1e-5 for MP-20, 5e-7 for Perov-5 CSP); used as ``step_lr · T / steps`` with fewer steps.
        ``None``: the model card's ``sampling.step_lr``; without one, :data:`UNTUNED_STEP_LR`
        per step, unscaled.
    guidance
        Classifier-free guidance scale ``w`` (1: plain conditional).
    bf16
        Run the network under bfloat16 autocast (GPU).
    anti_annealing
        Flow matching: the coordinate velocity is multiplied by ``1 + anti_annealing · t``
        (FlowMM's inference anti-annealing; 0: off).
    """

    steps: int | None = None
    corrector_steps: int = 1
    step_lr: float | None = None
    guidance: float = 1.0
    bf16: bool = False
    anti_annealing: float = 0.0


#: Corrector step per sampling step of a model with no tuned value (neither the options nor its
#: card give one), at any number of steps: the value every model sampled with before the step was
#: tuned and scaled, so an unmeasured model samples exactly as it did.
UNTUNED_STEP_LR = 1e-5


def tuned_step_lr(model: GenerativeModel, options: SamplerOptions) -> float | None:
    """Return the corrector step size tuned for ``T`` steps (the options', else the card's).

    The card's value is ``model.sampling_defaults["step_lr"]``, set by
    :func:`~crystaloop.ml.generative.checkpoint.load_generator` from the card's ``sampling``
    block. ``None`` for a model without one (an old card, a model built in memory): it samples
    with :data:`UNTUNED_STEP_LR` per step (:func:`step_size`).
    """
    if options.step_lr is not None:
        return float(options.step_lr)
    card = getattr(model, "sampling_defaults", None) or {}
    return None if card.get("step_lr") is None else float(card["step_lr"])


def step_size(model: GenerativeModel, options: SamplerOptions, steps: int) -> float:
    """Return the corrector step per sampling step for ``steps`` steps of ``model``.

    A tuned value is scaled by ``T / steps`` (:func:`corrector_step_lr`); without one,
    :data:`UNTUNED_STEP_LR`.
    """
    tuned = tuned_step_lr(model, options)
    if tuned is None:
        return UNTUNED_STEP_LR
    return corrector_step_lr(tuned, model.config.timesteps, steps)


def corrector_step_lr(step_lr: float, timesteps: int, steps: int) -> float:
    """Return the corrector step size for ``steps`` sampling steps of a ``T = timesteps`` model.

    ``step_lr`` is tuned for all ``T`` steps; each of ``steps < T`` strided steps stands for
    ``T / steps`` corrector steps of that sampler, so the step grows by ``T / steps`` and the
    Langevin time integrated by the corrector stays the same.
    """
    if steps < 1:
        raise ValueError(f"steps must be at least 1, not {steps}")
    return step_lr * timesteps / min(steps, timesteps)


def anti_annealing_factor(time: Tensor, slope: float) -> Tensor:
    """Return FlowMM's inference factor ``1 + slope · t`` on the coordinate velocity."""
    return 1.0 + slope * time


class _Evaluator:
    """Evaluates the network on one batch, with classifier-free guidance when asked."""

    def __init__(
        self,
        model: GenerativeModel,
        num_atoms: Tensor,
        spacegroup: Tensor | None,
        eform: Tensor | None,
        options: SamplerOptions,
        context: dict[str, Tensor] | None = None,
    ) -> None:
        self.model = model
        self.context = context or {}
        self.num_atoms = num_atoms
        self.batch = batch_index(num_atoms)
        self.edges = dense_edges(num_atoms)
        self.spacegroup, self.eform = spacegroup, eform
        conditioned = spacegroup is not None or eform is not None
        self.guided = conditioned and options.guidance != 1.0 and model.conditions is not None
        self.guidance = options.guidance
        if self.guided and self.context:
            raise ValueError("classifier-free guidance is not available with a context condition")
        device = num_atoms.device
        self.autocast = (
            torch.autocast(device.type, dtype=torch.bfloat16)
            if options.bf16
            else contextlib.nullcontext()
        )
        if self.guided:
            b, n = num_atoms.shape[0], int(num_atoms.sum())
            self.num_atoms2 = torch.cat([num_atoms, num_atoms])
            self.batch2 = torch.cat([self.batch, self.batch + b])
            src, dst = self.edges
            self.edges2 = (torch.cat([src, src + n]), torch.cat([dst, dst + n]))
            null_sg = torch.zeros(b, dtype=torch.long, device=device)
            null_ef = torch.full((b,), float("nan"), device=device)
            sg = spacegroup if spacegroup is not None else null_sg
            ef = eform if eform is not None else null_ef
            self.sg2 = torch.cat([sg, null_sg])
            self.ef2 = torch.cat([ef, null_ef])

    def __call__(
        self, types: Tensor, frac: Tensor, lattice: Tensor, time: Tensor
    ) -> tuple[Tensor, Tensor, Tensor | None]:
        with self.autocast:
            if not self.guided:
                out = self.model.network(
                    types,
                    frac,
                    lattice,
                    time,
                    self.num_atoms,
                    self.batch,
                    self.edges,
                    self.spacegroup,
                    self.eform,
                    **self.context,
                )
                return tuple(o.float() if o is not None else None for o in out)  # type: ignore[return-value]
            out = self.model.network(
                torch.cat([types, types]),
                torch.cat([frac, frac]),
                torch.cat([lattice, lattice]),
                torch.cat([time, time]),
                self.num_atoms2,
                self.batch2,
                self.edges2,
                self.sg2,
                self.ef2,
            )
        w = self.guidance
        combined = []
        for o in out:
            if o is None:
                combined.append(None)
                continue
            cond, uncond = o.float().chunk(2, dim=0)
            combined.append(uncond + w * (cond - uncond))
        return tuple(combined)  # type: ignore[return-value]


def _priors(
    model: GenerativeModel, num_atoms: Tensor, numbers: Tensor | None
) -> tuple[Tensor, Tensor, Tensor]:
    """Return prior samples ``(lattice, frac, types)``: normal, uniform, normal (or given)."""
    device = num_atoms.device
    b, n = num_atoms.shape[0], int(num_atoms.sum())
    lattice = torch.randn(b, 3, 3, device=device)
    frac = torch.rand(n, 3, device=device)
    return lattice, frac, _initial_types(model, numbers, n, device)


def _initial_types(model: GenerativeModel, numbers: Tensor | None, n: int, device) -> Tensor:
    if model.config.predicts_types:
        return torch.randn(n, NUM_TYPES, device=device)
    if numbers is None:
        raise ValueError("a CSP model needs the atomic numbers of the crystals to generate")
    return torch.nn.functional.one_hot(numbers - 1, NUM_TYPES).float()


def _final_numbers(model: GenerativeModel, types: Tensor, numbers: Tensor | None) -> Tensor:
    if not model.config.predicts_types:
        assert numbers is not None
        return numbers
    mask = torch.full((NUM_TYPES,), float("-inf"), device=types.device)
    allowed = model.config.elements or list(range(1, NUM_TYPES + 1))
    mask[torch.tensor(allowed, device=types.device) - 1] = 0.0
    return (types + mask).argmax(dim=-1) + 1


@torch.no_grad()
def sample_diffusion(
    model: CrystalDiffusion,
    num_atoms: Tensor,
    numbers: Tensor | None = None,
    options: SamplerOptions = SamplerOptions(),
    spacegroup: Tensor | None = None,
    eform: Tensor | None = None,
    context: dict[str, Tensor] | None = None,
    prior: tuple[Tensor, Tensor] | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Return ``(lattice Å (B,3,3), frac (N,3), numbers (N,))`` by predictor–corrector sampling.

    ``context`` goes to every network evaluation (a modifier's source structure); diffusion
    always starts from its priors (``prior`` must be ``None``).
    """
    if prior is not None:
        raise ValueError("diffusion samples from its priors: no starting structure")
    cfg = model.config
    device, b = num_atoms.device, num_atoms.shape[0]
    evaluate = _Evaluator(model, num_atoms, spacegroup, eform, options, context)
    steps = min(options.steps or cfg.timesteps, cfg.timesteps)
    times = torch.linspace(cfg.timesteps, 1, steps).round().long().unique_consecutive().tolist()
    step_lr = step_size(model, options, len(times))
    lattice, frac, types = _priors(model, num_atoms, numbers)
    atom = evaluate.batch
    for i, t_int in enumerate(times):
        s_int = times[i + 1] if i + 1 < len(times) else 0
        t = torch.full((b,), t_int, dtype=torch.long, device=device)
        s = torch.full((b,), s_int, dtype=torch.long, device=device)
        time = t.float() / cfg.timesteps
        for _ in range(options.corrector_steps):
            _, coord_out, _ = evaluate(types, frac, lattice, time)
            score = model.coord_field.score(coord_out, t[atom])
            frac = model.coord_field.corrector(frac, score, t[atom], step_lr)
        lattice_out, coord_out, type_out = evaluate(types, frac, lattice, time)
        score = model.coord_field.score(coord_out, t[atom])
        frac = model.coord_field.predictor(frac, score, t[atom], s[atom])
        lattice = model.lattice_field.step(lattice, lattice_out, t, s)
        if type_out is not None:
            types = model.type_field.step(types, type_out, t[atom], s[atom])
    return lattice * model.lattice_factor(num_atoms), frac, _final_numbers(model, types, numbers)


@torch.no_grad()
def sample_flow(
    model: CrystalFlow,
    num_atoms: Tensor,
    numbers: Tensor | None = None,
    options: SamplerOptions = SamplerOptions(),
    spacegroup: Tensor | None = None,
    eform: Tensor | None = None,
    context: dict[str, Tensor] | None = None,
    prior: tuple[Tensor, Tensor] | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Return ``(lattice Å, frac, numbers)`` by Euler integration of the learnt velocity.

    ``context`` goes to every network evaluation; ``prior`` (normalised lattice ``(B,3,3)``,
    frac ``(N,3)``) replaces the lattice and coordinate priors (a modifier starts from its
    source structure).
    """
    device, b = num_atoms.device, num_atoms.shape[0]
    evaluate = _Evaluator(model, num_atoms, spacegroup, eform, options, context)
    steps = options.steps or 50
    lattice, frac, types = _priors(model, num_atoms, numbers)
    if prior is not None:
        lattice, frac = prior
    atom = evaluate.batch
    dt = 1.0 / steps
    for i in range(steps):
        time = torch.full((b,), i * dt, device=device)
        lattice_v, coord_v, type_v = evaluate(types, frac, lattice, time)
        if options.anti_annealing:
            coord_v = coord_v * anti_annealing_factor(time, options.anti_annealing)[atom, None]
        lattice = model.lattice_path.step(lattice, lattice_v, dt)
        frac = model.coord_path.step(frac, coord_v, dt)
        if type_v is not None:
            types = model.type_path.step(types, type_v, dt)
    return lattice * model.lattice_factor(num_atoms), frac, _final_numbers(model, types, numbers)


def sample_batch(
    model: GenerativeModel,
    num_atoms: Tensor,
    numbers: Tensor | None = None,
    options: SamplerOptions = SamplerOptions(),
    spacegroup: Tensor | None = None,
    eform: Tensor | None = None,
    context: dict[str, Tensor] | None = None,
    prior: tuple[Tensor, Tensor] | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Sample one batch with the model's own sampler (``context``, ``prior``: as theirs)."""
    sampler = sample_diffusion if isinstance(model, CrystalDiffusion) else sample_flow
    return sampler(model, num_atoms, numbers, options, spacegroup, eform, context, prior)  # type: ignore[arg-type]


def check_request(
    model: GenerativeModel,
    num_atoms: Sequence[int],
    numbers: Sequence[Sequence[int]] | None = None,
    *,
    spacegroup: int | None = None,
    eform: float | None = None,
) -> None:
    """Raise ``ValueError`` saying why ``model`` cannot generate these crystals, if it cannot.

    The arguments are those of :func:`sample_crystals`: atoms per crystal, atomic numbers per
    crystal (CSP), and the conditions.
    """
    cfg = model.config
    if numbers is not None and (
        len(numbers) != len(num_atoms)
        or any(len(z) != k for z, k in zip(numbers, num_atoms, strict=True))
    ):
        raise ValueError("numbers must hold num_atoms[i] atomic numbers for every crystal i")
    if numbers is not None and any(not 1 <= z <= NUM_TYPES for zs in numbers for z in zs):
        raise ValueError(f"atomic numbers must be between 1 and {NUM_TYPES}")
    too_big = [k for k in num_atoms if k > cfg.max_atoms or k < 1]
    if too_big:
        raise ValueError(
            f"cannot generate a crystal of {too_big[0]} atoms: the model takes 1 to {cfg.max_atoms}"
        )
    if numbers is None and not cfg.predicts_types:
        raise ValueError("a CSP model needs the atomic numbers of the crystals to generate")
    if spacegroup is not None and not cfg.cond_spacegroup:
        raise ValueError("this model was not trained with a space-group condition")
    if eform is not None and not cfg.cond_eform:
        raise ValueError("this model was not trained with a formation-energy condition")


def sample_crystals(
    model: GenerativeModel,
    num_atoms: Sequence[int],
    numbers: Sequence[Sequence[int]] | None = None,
    *,
    options: SamplerOptions = SamplerOptions(),
    spacegroup: int | None = None,
    eform: float | None = None,
    batch_size: int = 512,
    device: str | torch.device = "cpu",
) -> list[CrystalArrays]:
    """Generate one crystal per entry of ``num_atoms``, ``batch_size`` crystals at a time.

    Parameters
    ----------
    model
        A trained generator.
    num_atoms
        Atoms of every crystal to generate.
    numbers
        Atomic numbers of every crystal (CSP models; ignored by ab initio ones).
    options
        Sampler options.
    spacegroup, eform
        Conditions applied to every crystal (conditional models only).
    batch_size
        Crystals per network evaluation.
    device
        Where to run.
    """
    cfg = model.config
    check_request(model, num_atoms, numbers, spacegroup=spacegroup, eform=eform)
    model = model.to(device).eval()
    out: list[CrystalArrays] = []
    for start in range(0, len(num_atoms), batch_size):
        counts = torch.tensor(
            num_atoms[start : start + batch_size], dtype=torch.long, device=device
        )
        chunk_numbers = None
        if numbers is not None and not cfg.predicts_types:
            flat = [z for zs in numbers[start : start + batch_size] for z in zs]
            chunk_numbers = torch.tensor(flat, dtype=torch.long, device=device)
        b = counts.shape[0]
        sg = (
            torch.full((b,), spacegroup, dtype=torch.long, device=device)
            if spacegroup is not None
            else None
        )
        ef = torch.full((b,), float(eform), device=device) if eform is not None else None
        lattice, frac, z = sample_batch(model, counts, chunk_numbers, options, sg, ef)
        lattice, frac, z = lattice.cpu().numpy(), frac.cpu().numpy(), z.cpu().numpy()
        offsets = np.concatenate([[0], np.cumsum(counts.cpu().numpy())])
        for i in range(b):
            lo, hi = offsets[i], offsets[i + 1]
            out.append(
                CrystalArrays(
                    lattice=lattice[i].astype(np.float64),
                    frac=frac[lo:hi].astype(np.float64),
                    numbers=z[lo:hi].astype(np.int64),
                    spacegroup=int(spacegroup or 0),
                    eform=float("nan") if eform is None else float(eform),
                )
            )
    return out
