from __future__ import annotations

import torch

from crystaloop.ml.generative.schedules import (
    cosine_alpha_bars,
    exponential_sigmas,
    wrap,
    wrapped_normal_score,
    wrapped_normal_score_norm,
)


def test_cosine_alpha_bars_decrease_from_one_to_near_zero():
    ab = cosine_alpha_bars(1000)
    assert ab[0] == 1.0 and torch.all(ab[1:] < ab[:-1]) and 0 < ab[-1] < 1e-6


def test_exponential_sigmas_are_geometric():
    sigmas = exponential_sigmas(10, 0.005, 0.5)
    assert sigmas[0] == 0 and torch.isclose(sigmas[1], torch.tensor(0.005, dtype=torch.float64))
    ratios = sigmas[2:] / sigmas[1:-1]
    assert torch.allclose(ratios, ratios[0]) and torch.isclose(
        sigmas[-1], torch.tensor(0.5, dtype=torch.float64)
    )


def test_wrapped_normal_score_is_the_gradient_of_the_log_density_and_periodic():
    x = torch.linspace(-0.49, 0.49, 41, dtype=torch.float64, requires_grad=True)
    sigma = torch.tensor(0.3, dtype=torch.float64)
    k = torch.arange(-10, 11, dtype=torch.float64)
    log_p = torch.logsumexp(-((x.unsqueeze(-1) + k) ** 2) / (2 * sigma**2), dim=-1)
    (grad,) = torch.autograd.grad(log_p.sum(), x)
    score = wrapped_normal_score(x.detach(), sigma)
    assert torch.allclose(score, grad, atol=1e-8)
    assert torch.allclose(wrapped_normal_score(x.detach() + 1.0, sigma), score, atol=1e-8)


def test_score_norm_of_a_narrow_wrapped_normal_is_one_over_sigma_squared():
    norms = wrapped_normal_score_norm(torch.tensor([0.0, 0.01, 0.05], dtype=torch.float64))
    assert norms[0] == 0
    assert torch.allclose(
        norms[1:], 1 / torch.tensor([0.01, 0.05], dtype=torch.float64) ** 2, rtol=1e-3
    )


def test_wrap_gives_the_minimum_image():
    x = torch.tensor([0.7, -0.7, 0.2, 1.4, -0.5])
    assert torch.allclose(wrap(x), torch.tensor([-0.3, 0.3, 0.2, 0.4, -0.5]), atol=1e-6)
