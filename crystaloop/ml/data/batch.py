"""Batches of crystal graphs as torch tensors."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from crystaloop.ml.data.graph import CrystalGraph


def tensor_version(tensor: torch.Tensor) -> int:
    """Return the in-place modification counter of ``tensor`` (-1 for an inference tensor).

    Caches of values derived from a tensor compare it to see whether the tensor changed (views
    share the counter of their base). Inference tensors (made under ``torch.inference_mode``)
    keep no counter.
    """
    return -1 if tensor.is_inference() else tensor._version


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
    cache
        Quantities derived from the batch alone (edge lengths, spherical harmonics, radial
        basis), computed once by the first model that needs them and reused by the others,
        e.g. the members of an ensemble. Each entry records what it was computed from and is
        recomputed when that changed; ``dataclasses.replace`` and :meth:`to` start empty.
    """

    atomic_numbers: torch.Tensor
    edge_index: torch.Tensor
    edge_vec: torch.Tensor
    batch: torch.Tensor
    num_graphs: int
    cache: dict[Any, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

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

    def parts(self, max_edges: int) -> list[GraphBatch]:
        """Split the batch into batches of whole crystals with about ``max_edges`` edges each.

        A part ends at the first crystal that brings it to ``max_edges`` edges or more (a
        crystal with more edges is a part by itself). The parts are views of this batch, in
        order, kept in :attr:`cache`. A batch not laid out as :func:`collate` lays it out
        (atoms and edges grouped by crystal, in crystal order) is returned whole.
        """

        def split() -> list[GraphBatch]:
            nodes, edges = self._layout()
            if nodes is None or edges is None or self.num_graphs < 2:
                return [self]
            # a crystal joins the part of its first edge's position (integer division)
            first_edge = torch.cumsum(edges, 0) - edges
            part_of = torch.div(first_edge, max_edges, rounding_mode="floor")
            _, per_part = torch.unique_consecutive(part_of, return_counts=True)
            if len(per_part) < 2:
                return [self]
            node_end = torch.cumsum(nodes, 0).tolist()
            edge_end = torch.cumsum(edges, 0).tolist()
            out, g0 = [], 0
            for count in per_part.tolist():
                g1 = g0 + count
                n0 = node_end[g0 - 1] if g0 else 0
                e0 = edge_end[g0 - 1] if g0 else 0
                n1, e1 = node_end[g1 - 1], edge_end[g1 - 1]
                out.append(
                    GraphBatch(
                        atomic_numbers=self.atomic_numbers[n0:n1],
                        edge_index=self.edge_index[:, e0:e1] - n0,
                        edge_vec=self.edge_vec[e0:e1],
                        batch=self.batch[n0:n1] - g0,
                        num_graphs=count,
                    )
                )
                g0 = g1
            return out

        key = ("parts", max_edges)
        stamp = (self.num_graphs,) + tuple(
            (t.data_ptr(), tensor_version(t), tuple(t.shape), t.device)
            for t in (self.atomic_numbers, self.edge_index, self.edge_vec, self.batch)
        )
        entry = self.cache.get(key)
        if entry is None or entry[0] != stamp:
            entry = self.cache[key] = (stamp, split())
        return entry[1]

    def _layout(self) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Return the atom and edge counts per crystal, or ``None`` if not laid out by crystal."""
        graph = self.batch
        if graph.numel() and bool((graph[1:] < graph[:-1]).any()):
            return None, None
        nodes = torch.bincount(graph, minlength=self.num_graphs)
        src, dst = self.edge_index[0], self.edge_index[1]
        edge_graph = graph[dst]
        if bool((edge_graph[1:] < edge_graph[:-1]).any()) or not torch.equal(
            graph[src], edge_graph
        ):
            return None, None
        return nodes, torch.bincount(edge_graph, minlength=self.num_graphs)


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
