"""Noise schedules and the wrapped normal distribution on the torus.

* Lattice and types: DDPM with the cosine schedule of Nichol & Dhariwal (2021), as in DiffCSP.
* Fractional coordinates: a variance-exploding process on the 3-torus with an exponential
  (geometric) schedule ``σ_t``; its transition kernel is the wrapped normal, whose score is the
  training target (DiffCSP, Jiao et al. 2023).
"""

from __future__ import annotations

import functools
import math

import torch
from torch import Tensor

#: Images summed in the wrapped normal (|k| ≤ WRAP_IMAGES); ample for σ ≤ 1.
WRAP_IMAGES = 10


def cosine_alpha_bars(timesteps: int, s: float = 0.008) -> Tensor:
    """Return ``ᾱ_t`` for ``t = 0 … T`` (``ᾱ_0 = 1``) of the cosine schedule, float64.

    Betas are clipped at 0.999 as in Nichol & Dhariwal, so ``ᾱ_T`` stays positive.
    """
    t = torch.arange(timesteps + 1, dtype=torch.float64) / timesteps
    f = torch.cos((t + s) / (1 + s) * math.pi / 2) ** 2
    alpha_bar = f / f[0]
    betas = (1 - alpha_bar[1:] / alpha_bar[:-1]).clamp(max=0.999)
    return torch.cat([torch.ones(1, dtype=torch.float64), torch.cumprod(1 - betas, 0)])


def exponential_sigmas(timesteps: int, sigma_begin: float, sigma_end: float) -> Tensor:
    """Return ``σ_t`` for ``t = 0 … T``: ``σ_0 = 0``, then geometric ``σ_begin`` → ``σ_end``."""
    sigmas = torch.exp(
        torch.linspace(math.log(sigma_begin), math.log(sigma_end), timesteps, dtype=torch.float64)
    )
    return torch.cat([torch.zeros(1, dtype=torch.float64), sigmas])


def wrap(x: Tensor) -> Tensor:
    """Return ``x`` wrapped into [-0.5, 0.5) (minimum periodic image)."""
    return x - torch.floor(x + 0.5)


def wrapped_normal_score(x: Tensor, sigma: Tensor) -> Tensor:
    """Return ``∇_x log p(x)`` of the wrapped normal of scale ``sigma`` on the unit circle.

    ``p(x) ∝ Σ_k exp(-(x + k)² / 2σ²)``; computed with a log-sum-exp over images, so it is stable
    for small ``σ``. ``x`` and ``sigma`` broadcast.
    """
    k = torch.arange(-WRAP_IMAGES, WRAP_IMAGES + 1, dtype=x.dtype, device=x.device)
    shifted = x.unsqueeze(-1) + k
    sigma = sigma.unsqueeze(-1)
    weights = torch.softmax(-(shifted**2) / (2 * sigma**2), dim=-1)
    return -(weights * shifted).sum(-1) / sigma.squeeze(-1) ** 2


def wrapped_normal_score_norm(sigmas: Tensor, grid: int = 4001) -> Tensor:
    """Return ``E[s(x)²]`` under the wrapped normal for every ``σ`` (0 for ``σ = 0``).

    The coordinate loss divides its target by the square root of this, so every noise level
    contributes equally (DiffCSP's ``sigma_norm``). Computed by quadrature on [-0.5, 0.5) (on its
    even half, with only the images that matter), so it is deterministic; vectorised over the σ
    and cached by their values (1,000 noise levels: 0.7 s once per process, was 4.4 s).
    """
    values = tuple(float(v) for v in sigmas.detach().cpu().double().tolist())
    return _score_norms(values, grid).to(dtype=sigmas.dtype, device=sigmas.device, copy=True)


@functools.lru_cache(maxsize=16)
def _score_norms(sigmas: tuple[float, ...], grid: int) -> Tensor:
    """Quadrature of ``E[s²]`` on the ``grid - 1`` points of [-0.5, 0.5) for every positive σ.

    The integrand is even in x, so only [0, 0.5] is evaluated, each interior point standing for
    itself and its mirror (0 and 0.5 once each): the same sum as the whole grid. The images
    summed grow with σ (|k| ≤ 10 σ + 1, at most :data:`WRAP_IMAGES`; the next image's weight is
    below e^-40 for σ ≤ 0.5), the σ handled in sorted chunks. ``grid`` must be odd.
    """
    if grid % 2 == 0:
        raise ValueError(f"grid must be odd, not {grid}")
    half = (grid - 1) // 2
    x = torch.arange(half + 1, dtype=torch.float64) / (grid - 1)
    mirror = torch.full_like(x, 2.0)
    mirror[0] = mirror[-1] = 1.0
    all_sigmas = torch.tensor(sigmas, dtype=torch.float64)
    out = torch.zeros_like(all_sigmas)
    positive = torch.nonzero(all_sigmas > 0).flatten()
    order = positive[torch.argsort(all_sigmas[positive])]
    for start in range(0, len(order), 64):  # (64, G/2, K) doubles at a time
        index = order[start : start + 64]
        sigma = all_sigmas[index]
        images = min(WRAP_IMAGES, math.ceil(10 * float(sigma.max())) + 1)
        k = torch.arange(-images, images + 1, dtype=torch.float64)
        shifted = x.unsqueeze(-1) + k  # (G/2, K)
        log_terms = -(shifted**2) / (2 * sigma.view(-1, 1, 1) ** 2)
        density = torch.exp(log_terms).sum(-1) * mirror
        density = density / density.sum(-1, keepdim=True)
        weights = torch.softmax(log_terms, dim=-1)
        score = -(weights * shifted).sum(-1) / sigma.view(-1, 1) ** 2
        out[index] = (density * score**2).sum(-1)
    return out


def timestep_embedding(t: Tensor, dim: int) -> Tensor:
    """Return sinusoidal embeddings ``(B, dim)`` of times ``t`` in [0, 1]."""
    half = dim // 2
    freqs = torch.exp(
        -math.log(10000.0) * torch.arange(half, dtype=torch.float32, device=t.device) / half
    )
    angles = 1000.0 * t.float().unsqueeze(-1) * freqs
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)
