"""Reproducible train / validation / test splits."""

from __future__ import annotations

import numpy as np


def split_indices(
    n: int, val_fraction: float = 0.1, test_fraction: float = 0.1, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return disjoint sorted index arrays ``(train, val, test)`` covering ``range(n)``.

    The permutation depends only on ``n`` and ``seed``; validation and test each get at least one
    sample when their fraction is positive and ``n`` allows it.
    """
    if not 0 <= val_fraction < 1 or not 0 <= test_fraction < 1:
        raise ValueError("fractions must be in [0, 1)")
    if val_fraction + test_fraction >= 1:
        raise ValueError("validation and test fractions leave no training data")
    order = np.random.default_rng(seed).permutation(n)
    n_test = max(int(round(test_fraction * n)), 1 if test_fraction > 0 and n > 2 else 0)
    n_val = max(int(round(val_fraction * n)), 1 if val_fraction > 0 and n > 2 else 0)
    test = np.sort(order[:n_test])
    val = np.sort(order[n_test : n_test + n_val])
    train = np.sort(order[n_test + n_val :])
    return train, val, test
