"""Reproducible train / validation / test splits by a hash of each sample's id.

A sample's split depends only on its id and the seed, not on the order or size of the data, so
a split can be assigned while streaming a million records, and a sample keeps its split when the
data set grows (new labels never move an old test sample into training).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

#: How :func:`split_of` assigns a split, as recorded with a model.
SPLIT_METHOD = "sha256(seed:id)"


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


#: The three splits, in the order they are reported.
SPLITS = ("train", "val", "test")

T = TypeVar("T")


@dataclass(frozen=True)
class SplitPlan:
    """Train / validation / test assignment by a seeded hash of each record's id (:func:`split_of`).

    Attributes
    ----------
    val_fraction, test_fraction
        Expected shares of validation and test records.
    seed
        Seeds the hash: another seed gives another split of the same ids.
    """

    val_fraction: float = 0.1
    test_fraction: float = 0.1
    seed: int = 0

    def __post_init__(self) -> None:
        check_fractions(self.val_fraction, self.test_fraction)

    def of(self, sample_id: str) -> str:
        """Return the split of one id: ``"train"``, ``"val"`` or ``"test"``."""
        return split_of(sample_id, self.val_fraction, self.test_fraction, self.seed)

    def partition(self, items: Iterable[T], id_of: Callable[[T], str]) -> dict[str, list[T]]:
        """Return ``items`` by split (every split present, each in input order)."""
        out: dict[str, list[T]] = {name: [] for name in SPLITS}
        for item in items:
            out[self.of(id_of(item))].append(item)
        return out

    def as_dict(self) -> dict[str, Any]:
        """Return the plan as recorded in ``split.json`` and the model cards."""
        return {
            "split_method": SPLIT_METHOD,
            "seed": self.seed,
            "val_fraction": self.val_fraction,
            "test_fraction": self.test_fraction,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SplitPlan:
        """Return the plan recorded by :meth:`as_dict` (a model card's ``split``)."""
        method = data.get("split_method", SPLIT_METHOD)
        if method != SPLIT_METHOD:
            raise ValueError(f"unknown split method {method!r}; this version knows {SPLIT_METHOD}")
        return cls(float(data["val_fraction"]), float(data["test_fraction"]), int(data["seed"]))


def hash_unit(sample_id: str, seed: int = 0) -> float:
    """Return the number in [0, 1) that :func:`split_of` assigns ``sample_id`` under ``seed``."""
    digest = hashlib.sha256(f"{seed}:{sample_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def holdout_ids(ids: Iterable[str], fraction: float, seed: int = 0, min_train: int = 2) -> set[str]:
    """Return the ids held out for validation when fine-tuning on a few labels.

    The same hash as :func:`split_of` (the ids with the smallest :func:`hash_unit`), with at
    least one held out from three labels on and at least ``min_train`` left for training; with
    fewer than ``min_train + 1`` labels none is held out (the caller validates on training).
    """
    unique = sorted(set(ids))
    if len(unique) <= min_train:
        return set()
    n_val = min(len(unique) - min_train, max(1, round(fraction * len(unique))))
    return set(sorted(unique, key=lambda i: hash_unit(i, seed))[:n_val])
