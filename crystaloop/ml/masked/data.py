"""The masked generator's training items: each crystal's periodic kNN graph."""

from __future__ import annotations

from collections.abc import Sequence

from crystaloop.ml.data.graph import CrystalGraph, knn_graphs
from crystaloop.ml.generative.crystal import CrystalArrays, to_structure


def crystal_graphs(
    crystals: Sequence[CrystalArrays], k: int = 12, cutoff: float = 8.0
) -> list[CrystalGraph]:
    """Return the Crysformer graph of each crystal (the backbone's ``k`` and ``cutoff``)."""
    structures = [to_structure(c.lattice, c.frac, c.numbers) for c in crystals]
    return knn_graphs(structures, k=k, cutoff=cutoff) if structures else []
