"""Batches of crystal graphs as torch tensors."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from crystaloop.ml.data.graph import CrystalGraph


@dataclass
class GraphBatch:
    """Several crystal graphs concatenated into one disconnected graph.

    Attributes
    ----------
    atomic_numbers
        ``(N,)`` atomic numbers of every atom of the batch.
    edge_index
        ``(2, E)`` edges (neighbour, receiving atom), offset into the batch.
    edge_vec
        ``(E, 3)`` edge vectors in Å.
    batch
        ``(N,)`` index of the graph each atom belongs to.
    num_graphs
        Number of graphs.
    """

    atomic_numbers: torch.Tensor
    edge_index: torch.Tensor
    edge_vec: torch.Tensor
    batch: torch.Tensor
    num_graphs: int

    def to(self, device: torch.device | str, dtype: torch.dtype | None = None) -> GraphBatch:
        """Return the batch on ``device`` (edge vectors in ``dtype`` when given)."""
        vec = self.edge_vec.to(device)
        return GraphBatch(
            atomic_numbers=self.atomic_numbers.to(device),
            edge_index=self.edge_index.to(device),
            edge_vec=vec if dtype is None else vec.to(dtype),
            batch=self.batch.to(device),
            num_graphs=self.num_graphs,
        )


def collate(graphs: Sequence[CrystalGraph]) -> GraphBatch:
    """Concatenate ``graphs`` into one :class:`GraphBatch`."""
    sizes = np.array([g.num_nodes for g in graphs], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    edge_index = np.concatenate(
        [g.edge_index + off for g, off in zip(graphs, offsets, strict=True)], axis=1
    )
    return GraphBatch(
        atomic_numbers=torch.from_numpy(np.concatenate([g.atomic_numbers for g in graphs])),
        edge_index=torch.from_numpy(edge_index),
        edge_vec=torch.from_numpy(np.concatenate([g.edge_vec for g in graphs])),
        batch=torch.from_numpy(np.repeat(np.arange(len(graphs)), sizes)),
        num_graphs=len(graphs),
    )
