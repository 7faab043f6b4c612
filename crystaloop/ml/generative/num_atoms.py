"""How many atoms an ab initio crystal gets: the seed's strategies for drawing ``N``.

* ``training``: ``N ~ p(N)``, the histogram of the training data (DiffCSP's default);
* ``uniform``: ``N`` uniform over ``[min, max]`` (more diverse sizes, lower validity);
* ``hybrid``: start with ``p(N)`` and switch to uniform when the valid rate reported through
  :meth:`HybridNumAtoms.report` drops below a threshold (the pool of likely sizes is exhausted).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

STRATEGIES = ("training", "uniform", "hybrid")


class TrainingNumAtoms:
    """Draw ``N`` from the training histogram ``counts`` (index = N)."""

    def __init__(self, counts: Sequence[int]) -> None:
        weights = torch.tensor(list(counts), dtype=torch.float64)
        if weights.numel() == 0 or weights.sum() <= 0:
            raise ValueError("the model has no atom-count histogram (was it trained?)")
        self.weights = weights / weights.sum()

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Return ``n`` atom counts."""
        return torch.multinomial(self.weights, n, replacement=True, generator=generator)


class UniformNumAtoms:
    """Draw ``N`` uniformly from ``[low, high]``."""

    def __init__(self, low: int, high: int) -> None:
        if not 1 <= low <= high:
            raise ValueError(f"need 1 <= low <= high, got {low}, {high}")
        self.low, self.high = low, high

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Return ``n`` atom counts."""
        return torch.randint(self.low, self.high + 1, (n,), generator=generator)


class HybridNumAtoms:
    """``p(N)`` first; uniform from the first reported valid rate below ``threshold`` on."""

    def __init__(self, counts: Sequence[int], low: int, high: int, threshold: float = 0.5) -> None:
        self.training = TrainingNumAtoms(counts)
        self.uniform = UniformNumAtoms(low, high)
        self.threshold = threshold
        self.switched = False

    def report(self, valid_rate: float) -> None:
        """Tell the sampler the fraction of the last batch that passed the screens."""
        if valid_rate < self.threshold:
            self.switched = True

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Return ``n`` atom counts from the current distribution."""
        source = self.uniform if self.switched else self.training
        return source.sample(n, generator)


def num_atoms_sampler(
    strategy: str, counts: Sequence[int], max_atoms: int, threshold: float = 0.5
) -> TrainingNumAtoms | UniformNumAtoms | HybridNumAtoms:
    """Return the sampler of ``strategy`` for a model's histogram and maximum size."""
    low = next((n for n, c in enumerate(counts) if c > 0), 1)
    if strategy == "training":
        return TrainingNumAtoms(counts)
    if strategy == "uniform":
        return UniformNumAtoms(max(low, 1), max_atoms)
    if strategy == "hybrid":
        return HybridNumAtoms(counts, max(low, 1), max_atoms, threshold)
    raise ValueError(f"unknown atom-count strategy {strategy!r}; choose one of {STRATEGIES}")
