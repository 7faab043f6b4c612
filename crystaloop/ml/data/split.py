"""Reproducible train / validation / test splits by a hash of each sample's id.

A sample's split depends only on its id and the seed, not on the order or size of the data, so
a split can be assigned while streaming a million records, and a sample keeps its split when the
data set grows (new labels never move an old test sample into training).
"""

from __future__ import annotations

import hashlib


def split_of(
    sample_id: str, val_fraction: float = 0.1, test_fraction: float = 0.1, seed: int = 0
) -> str:
    """Return ``"train"``, ``"val"`` or ``"test"`` for ``sample_id``.

    The id is hashed with the seed (sha256) to a number ``u`` uniform in [0, 1); ``u <
    test_fraction`` is test, the next ``val_fraction`` is validation, the rest is training.
    """
    check_fractions(val_fraction, test_fraction)
    digest = hashlib.sha256(f"{seed}:{sample_id}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    if u < test_fraction:
        return "test"
    if u < test_fraction + val_fraction:
        return "val"
    return "train"


def check_fractions(val_fraction: float, test_fraction: float) -> None:
    """Raise ``ValueError`` unless both fractions are in [0, 1) and leave training data."""
    if not 0 <= val_fraction < 1 or not 0 <= test_fraction < 1:
        raise ValueError("fractions must be in [0, 1)")
    if val_fraction + test_fraction >= 1:
        raise ValueError("validation and test fractions leave no training data")
