"""The training recipe's moving parts: a learning rate tied to the real budget, and weight EMA.

* :class:`BudgetSchedule` — linear warm-up, then cosine decay, over the *progress* of the
  budget: the larger of the fraction of optimiser steps done (of ``epochs × batches``) and the
  fraction of the time limit spent. A run stopped by its time limit after 100 of 2,000 epochs
  still ends at the lowest rate.
* :class:`WeightEMA` — an exponential moving average of the weights (decay ≈ 0.999, with the
  usual warm-up of the decay so short fine-tuning runs move it), the weights that are
  validated and shipped.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn


class BudgetSchedule:
    """Learning-rate factor of the budget's progress: linear warm-up, then cosine decay.

    Parameters
    ----------
    total_steps
        Optimiser steps in the epoch budget (``epochs × batches per epoch``).
    time_limit
        Seconds of the time budget (``None``: none).
    warmup
        Fraction of the progress spent warming up linearly from 0.
    min_ratio
        Factor at the end of the budget.
    """

    def __init__(
        self,
        total_steps: int,
        time_limit: float | None = None,
        warmup: float = 0.05,
        min_ratio: float = 0.1,
    ) -> None:
        if total_steps < 1:
            raise ValueError("total_steps must be at least 1")
        self.total_steps = total_steps
        self.time_limit = time_limit
        self.warmup = warmup
        self.min_ratio = min_ratio

    def progress(self, step: int, elapsed: float = 0.0) -> float:
        """Return the budget's progress in [0, 1] when optimiser step ``step`` (0-based) runs."""
        done = (step + 1) / self.total_steps
        if self.time_limit is not None and self.time_limit > 0:
            done = max(done, elapsed / self.time_limit)
        return min(done, 1.0)

    def factor(self, progress: float) -> float:
        """Return the learning-rate factor at ``progress`` (0: start, 1: end of the budget)."""
        if progress < self.warmup:
            return progress / self.warmup
        span = 1.0 - self.warmup
        x = (progress - self.warmup) / span if span > 0 else 1.0
        return self.min_ratio + (1.0 - self.min_ratio) * 0.5 * (1.0 + math.cos(math.pi * x))

    def __call__(self, step: int, elapsed: float = 0.0) -> float:
        """Return the factor of optimiser step ``step`` after ``elapsed`` seconds."""
        return self.factor(self.progress(step, elapsed))


class WeightEMA:
    """Exponential moving average of a model's floating-point weights and buffers.

    ``average`` is a frozen copy of the model whose parameters follow
    ``θ̄ ← d θ̄ + (1 − d) θ`` with ``d = min(decay, (1 + n) / (10 + n))`` after ``n`` updates,
    so the first updates follow the model closely; other state (integer buffers) is copied.

    Parameters
    ----------
    model
        The model being trained.
    decay
        The long-run decay.
    """

    def __init__(self, model: nn.Module, decay: float = 0.999) -> None:
        if not 0.0 <= decay < 1.0:
            raise ValueError("decay must be in [0, 1)")
        self.decay = decay
        self.updates = 0
        self.average = copy.deepcopy(model).eval()
        self.average.requires_grad_(False)

    def current_decay(self) -> float:
        """Return the decay the next update uses."""
        return min(self.decay, (1.0 + self.updates) / (10.0 + self.updates))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Move the average towards ``model``'s current weights."""
        decay = self.current_decay()
        live = model.state_dict()
        for name, value in self.average.state_dict().items():
            new = live[name]
            if value.is_floating_point():
                value.lerp_(new.to(value.dtype), 1.0 - decay)
            else:
                value.copy_(new)
        self.updates += 1
