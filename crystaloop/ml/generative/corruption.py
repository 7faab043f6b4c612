"""Per-field corruption processes (MatterGen's factoring): each field noises and denoises itself.

Diffusion (DiffCSP):

* :class:`DDPMField` — lattice ``L`` and continuous one-hot types ``A``:
  ``x_t = √ᾱ_t x_0 + √(1-ᾱ_t) ε`` with the cosine schedule; the network
  predicts ``ε``; reverse steps are ancestral (strided with fewer steps than ``T``).
* :class:`WrappedNormalField` — fractional coordinates ``F`` on the torus:
  ``F_t = (F_0 + σ_t ε) mod 1``; the network predicts the wrapped-normal score
  divided by ``√E[s²]``; reverse steps: variance-exploding predictor, Langevin corrector.

Flow matching:

* :class:`LinearPath` — Gaussian prior, straight line to the data (``L``, ``A``).
* :class:`TorusPath` — uniform prior on the torus, minimum-image line to the data (``F``).

:func:`remove_crystal_mean` makes coordinate targets and outputs mean-free per crystal: a
translation of a whole crystal is no information (EquiCSP, FlowMM).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from crystaloop.ml.generative.schedules import (
    cosine_alpha_bars,
    exponential_sigmas,
    wrap,
    wrapped_normal_score,
    wrapped_normal_score_norm,
)


def _rows(values: Tensor, x: Tensor) -> Tensor:
    return values.view(-1, *([1] * (x.dim() - 1))).to(x.dtype)


def remove_crystal_mean(x: Tensor, batch: Tensor, num_atoms: Tensor) -> Tensor:
    """Return per-atom vectors ``x`` (N×3) minus the mean over the atoms of their crystal.

    Parameters
    ----------
    x
        ``(N, 3)`` per-atom vectors (a score, a velocity: tangent vectors, not positions).
    batch
        ``(N,)`` crystal index of each atom.
    num_atoms
        ``(B,)`` atoms per crystal.
    """
    sums = torch.zeros(num_atoms.shape[0], x.shape[-1], dtype=x.dtype, device=x.device)
    sums = sums.index_add(0, batch, x)
    mean = sums / num_atoms.clamp(min=1).to(x.dtype).unsqueeze(-1)
    return x - mean[batch]


class DDPMField(nn.Module):
    """DDPM corruption with the cosine schedule (lattice and types).

    Parameters
    ----------
    timesteps
        ``T``.
    clip
        Bound on the ``x_0`` implied by a predicted ``ε`` in reverse steps (data scale: the
        normalised lattice is O(1), one-hot types are in [0, 1]).
    """

    def __init__(self, timesteps: int, clip: float) -> None:
        super().__init__()
        self.timesteps = timesteps
        self.clip = clip
        self.register_buffer("alpha_bars", cosine_alpha_bars(timesteps), persistent=False)

    def corrupt(self, x0: Tensor, t: Tensor, noise: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Return ``(x_t, ε)`` for integer times ``t`` (one per row of ``x0``)."""
        eps = torch.randn_like(x0) if noise is None else noise
        ab = _rows(self.alpha_bars[t], x0)
        return ab.sqrt() * x0 + (1 - ab).sqrt() * eps, eps

    def step(self, xt: Tensor, eps: Tensor, t: Tensor, s: Tensor) -> Tensor:
        """Return a sample of ``x_s`` given ``x_t`` and predicted ``ε`` (ancestral, ``s < t``)."""
        ab_t = _rows(self.alpha_bars[t], xt)
        ab_s = _rows(self.alpha_bars[s], xt)
        # ᾱ_T is ~1e-9 with the cosine schedule: clip the implied x_0 so early steps stay bounded
        x0 = ((xt - (1 - ab_t).sqrt() * eps) / ab_t.sqrt()).clamp(-self.clip, self.clip)
        alpha_ts = ab_t / ab_s
        beta_ts = 1 - alpha_ts
        mean = (ab_s.sqrt() * beta_ts * x0 + alpha_ts.sqrt() * (1 - ab_s) * xt) / (1 - ab_t)
        var = (1 - ab_s) / (1 - ab_t) * beta_ts
        return mean + var.clamp(min=0).sqrt() * torch.randn_like(xt)


class WrappedNormalField(nn.Module):
    """Variance-exploding score matching on the torus (fractional coordinates)."""

    def __init__(self, timesteps: int, sigma_begin: float, sigma_end: float) -> None:
        super().__init__()
        sigmas = exponential_sigmas(timesteps, sigma_begin, sigma_end)
        self.sigma_begin = sigma_begin
        self.register_buffer("sigmas", sigmas, persistent=False)
        self.register_buffer("norms", wrapped_normal_score_norm(sigmas), persistent=False)

    def corrupt(self, f0: Tensor, t: Tensor, noise: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Return ``(F_t, target)``: noisy coordinates and the normalised score to predict."""
        eps = torch.randn_like(f0) if noise is None else noise
        sigma = _rows(self.sigmas[t], f0)
        displacement = sigma * eps
        target = wrapped_normal_score(displacement, sigma) / _rows(self.norms[t], f0).sqrt()
        return torch.remainder(f0 + displacement, 1.0), target

    def score(self, output: Tensor, t: Tensor) -> Tensor:
        """Return the score from the network's normalised output."""
        return output * _rows(self.norms[t], output).sqrt()

    def predictor(self, ft: Tensor, score: Tensor, t: Tensor, s: Tensor) -> Tensor:
        """Reverse ancestral step of the VE process from ``σ_t`` to ``σ_s``."""
        var_t = _rows(self.sigmas[t], ft) ** 2
        var_s = _rows(self.sigmas[s], ft) ** 2
        step = var_t - var_s
        std = (var_s * step / var_t).clamp(min=0).sqrt()
        return torch.remainder(ft + step * score + std * torch.randn_like(ft), 1.0)

    def corrector(self, ft: Tensor, score: Tensor, t: Tensor, step_lr: float) -> Tensor:
        """One Langevin step at ``σ_t`` with step ``step_lr · (σ_t / σ_begin)²``."""
        step = step_lr * (_rows(self.sigmas[t], ft) / self.sigma_begin) ** 2
        return torch.remainder(ft + step * score + (2 * step).sqrt() * torch.randn_like(ft), 1.0)


class LinearPath:
    """Straight path from a standard normal prior to the data: ``x_t = (1-t) x_0 + t x_1``."""

    @staticmethod
    def prior(like: Tensor) -> Tensor:
        """Return a prior sample shaped like ``like``."""
        return torch.randn_like(like)

    @staticmethod
    def interpolate(x0: Tensor, x1: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        """Return ``(x_t, u)`` with the conditional velocity ``u = x_1 - x_0``."""
        tt = _rows(t, x1)
        return (1 - tt) * x0 + tt * x1, x1 - x0

    @staticmethod
    def step(xt: Tensor, velocity: Tensor, dt: float) -> Tensor:
        """Euler step."""
        return xt + dt * velocity


class TorusPath:
    """Geodesic path on the torus from a uniform prior: ``F_t = F_0 + t·wrap(F_1 - F_0) mod 1``."""

    @staticmethod
    def prior(like: Tensor) -> Tensor:
        """Return uniform fractional coordinates shaped like ``like``."""
        return torch.rand_like(like)

    @staticmethod
    def interpolate(f0: Tensor, f1: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        """Return ``(F_t, u)`` with ``u`` the minimum-image difference ``wrap(F_1 - F_0)``."""
        u = wrap(f1 - f0)
        return torch.remainder(f0 + _rows(t, f1) * u, 1.0), u

    @staticmethod
    def step(ft: Tensor, velocity: Tensor, dt: float) -> Tensor:
        """Euler step on the torus."""
        return torch.remainder(ft + dt * velocity, 1.0)
