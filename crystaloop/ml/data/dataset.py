"""Graph datasets: in memory, or cached on disk in shards and streamed with bounded memory.

A sample is a crystal graph, its targets (NaN where a label is missing) and its id. Graphs are
built once (:func:`build_samples`, in a process pool) and either kept in memory
(:class:`InMemoryGraphs`) or written to ``.npz`` shards (:func:`write_shards`) that
:class:`ShardedGraphs` streams one shard at a time, so a corpus of a million structures trains
without being held in RAM. Shards hold plain arrays only and are read with
``allow_pickle=False``.
"""

from __future__ import annotations

import json
import multiprocessing
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import torch

from crystaloop.ml.data.batch import GraphBatch, collate
from crystaloop.ml.data.graph import CrystalGraph, knn_graph

if TYPE_CHECKING:
    from pymatgen.core import Structure

SHARD_FORMAT = "crystaloop.graphs/1"


@dataclass
class GraphSample:
    """One crystal: its graph, its ``(T,)`` float32 targets (NaN: missing) and its id."""

    graph: CrystalGraph
    targets: np.ndarray
    sample_id: str


Batch = tuple[GraphBatch, torch.Tensor, list[str]]


class GraphSource(Protocol):
    """Anything that yields batches of ``(graphs, targets (B, T), ids)``."""

    targets: list[str]

    def __len__(self) -> int:
        """Return the number of samples."""
        ...

    def batches(self, batch_size: int, shuffle: bool = False, seed: int = 0) -> Iterator[Batch]:
        """Yield batches; shuffled reproducibly by ``seed`` when ``shuffle``."""
        ...

    def target_values(self) -> np.ndarray:
        """Return the ``(n, T)`` targets (NaN: missing)."""
        ...

    def num_batches(self, batch_size: int) -> int:
        """Return how many batches :meth:`batches` yields."""
        ...


def _batch_of(samples: Sequence[GraphSample]) -> Batch:
    graphs = collate([s.graph for s in samples])
    targets = torch.from_numpy(np.stack([s.targets for s in samples]).astype(np.float32))
    return graphs, targets, [s.sample_id for s in samples]


class InMemoryGraphs:
    """Samples held in a list."""

    def __init__(self, samples: Sequence[GraphSample], targets: Sequence[str]) -> None:
        self.samples = list(samples)
        self.targets = list(targets)

    def __len__(self) -> int:
        return len(self.samples)

    def batches(self, batch_size: int, shuffle: bool = False, seed: int = 0) -> Iterator[Batch]:
        """Yield batches of up to ``batch_size`` samples."""
        order = np.arange(len(self.samples))
        if shuffle:
            np.random.default_rng(seed).shuffle(order)
        for start in range(0, len(order), batch_size):
            yield _batch_of([self.samples[i] for i in order[start : start + batch_size]])

    def target_values(self) -> np.ndarray:
        """Return the ``(n, T)`` targets."""
        if not self.samples:
            return np.zeros((0, len(self.targets)), dtype=np.float32)
        return np.stack([s.targets for s in self.samples])

    def num_batches(self, batch_size: int) -> int:
        """Return how many batches :meth:`batches` yields."""
        return -(-len(self.samples) // batch_size)

    def subset(self, indices: Iterable[int]) -> InMemoryGraphs:
        """Return the samples at ``indices``."""
        return InMemoryGraphs([self.samples[i] for i in indices], self.targets)

    def __add__(self, other: InMemoryGraphs) -> InMemoryGraphs:
        if other.targets != self.targets:
            raise ValueError(f"targets differ: {self.targets} and {other.targets}")
        return InMemoryGraphs(self.samples + other.samples, self.targets)


def _sample(item: tuple[str, Structure, np.ndarray], k: int, cutoff: float) -> GraphSample:
    sample_id, structure, targets = item
    return GraphSample(knn_graph(structure, k=k, cutoff=cutoff), targets, sample_id)


def build_samples(
    items: Iterable[tuple[str, Structure, np.ndarray]],
    k: int,
    cutoff: float,
    workers: int = 1,
) -> Iterator[GraphSample]:
    """Build graphs for ``(id, structure, targets)`` items, in order, with ``workers`` processes."""
    work = partial(_sample, k=k, cutoff=cutoff)
    if workers <= 1:
        yield from map(work, items)
        return
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        yield from pool.imap(work, items, chunksize=32)


def _write_shard(path: Path, samples: list[GraphSample]) -> None:
    np.savez(
        path,
        atomic_numbers=np.concatenate([s.graph.atomic_numbers for s in samples]),
        node_counts=np.array([s.graph.num_nodes for s in samples], dtype=np.int64),
        edge_index=np.concatenate([s.graph.edge_index for s in samples], axis=1),
        edge_counts=np.array([s.graph.num_edges for s in samples], dtype=np.int64),
        edge_vec=np.concatenate([s.graph.edge_vec for s in samples]),
        targets=np.stack([s.targets for s in samples]).astype(np.float32),
        ids=np.array([s.sample_id for s in samples], dtype=np.str_),
    )


class ShardWriter:
    """Writes samples to ``out_dir/shard_#####.npz`` as they come, and ``meta.json`` at close."""

    def __init__(
        self,
        out_dir: str | Path,
        targets: Sequence[str],
        shard_size: int = 10_000,
        meta: dict[str, Any] | None = None,
    ) -> None:
        self.out = Path(out_dir)
        self.out.mkdir(parents=True, exist_ok=True)
        self.targets = list(targets)
        self.shard_size = shard_size
        self.meta = dict(meta or {})
        self._buffer: list[GraphSample] = []
        self._shards: list[dict[str, Any]] = []

    def add(self, sample: GraphSample) -> None:
        """Queue one sample; a full shard is written at once."""
        self._buffer.append(sample)
        if len(self._buffer) >= self.shard_size:
            self._flush()

    def _flush(self) -> None:
        if self._buffer:
            name = f"shard_{len(self._shards):05d}.npz"
            _write_shard(self.out / name, self._buffer)
            self._shards.append({"file": name, "size": len(self._buffer)})
            self._buffer = []

    def close(self) -> Path:
        """Write the last shard and ``meta.json``; return the folder."""
        self._flush()
        info = {
            "format": SHARD_FORMAT,
            "targets": self.targets,
            "shards": self._shards,
            **self.meta,
        }
        (self.out / "meta.json").write_text(json.dumps(info, indent=2))
        return self.out


def write_shards(
    samples: Iterable[GraphSample],
    out_dir: str | Path,
    targets: Sequence[str],
    shard_size: int = 10_000,
    meta: dict[str, Any] | None = None,
) -> Path:
    """Write samples to ``out_dir/shard_#####.npz`` plus ``meta.json``; return ``out_dir``."""
    writer = ShardWriter(out_dir, targets, shard_size, meta)
    for sample in samples:
        writer.add(sample)
    return writer.close()


def read_shard(path: str | Path) -> list[GraphSample]:
    """Read one shard back into samples (no pickle)."""
    with np.load(path, allow_pickle=False) as data:
        node_offsets = np.concatenate([[0], np.cumsum(data["node_counts"])])
        edge_offsets = np.concatenate([[0], np.cumsum(data["edge_counts"])])
        atomic_numbers, edge_index = data["atomic_numbers"], data["edge_index"]
        edge_vec, targets, ids = data["edge_vec"], data["targets"], data["ids"]
        out = []
        for i in range(len(ids)):
            n0, n1 = node_offsets[i], node_offsets[i + 1]
            e0, e1 = edge_offsets[i], edge_offsets[i + 1]
            graph = CrystalGraph(atomic_numbers[n0:n1], edge_index[:, e0:e1], edge_vec[e0:e1])
            out.append(GraphSample(graph, targets[i], str(ids[i])))
    return out


class ShardedGraphs:
    """Samples streamed from shards written by :func:`write_shards`, one shard in memory."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        meta = json.loads((self.directory / "meta.json").read_text())
        if meta.get("format") != SHARD_FORMAT:
            raise ValueError(f"{self.directory}: not a crystaloop graph cache")
        self.meta = meta
        self.targets = list(meta["targets"])
        self._shards = [s["file"] for s in meta["shards"]]
        self._size = sum(s["size"] for s in meta["shards"])

    def __len__(self) -> int:
        return self._size

    def batches(self, batch_size: int, shuffle: bool = False, seed: int = 0) -> Iterator[Batch]:
        """Yield batches shard by shard (shards and samples shuffled when ``shuffle``)."""
        rng = np.random.default_rng(seed)
        order = np.arange(len(self._shards))
        if shuffle:
            rng.shuffle(order)
        for index in order:
            source = InMemoryGraphs(read_shard(self.directory / self._shards[index]), self.targets)
            yield from source.batches(batch_size, shuffle, int(rng.integers(2**31)))

    def num_batches(self, batch_size: int) -> int:
        """Return how many batches :meth:`batches` yields (batches do not cross shards)."""
        return sum(-(-s["size"] // batch_size) for s in self.meta["shards"])

    def target_values(self) -> np.ndarray:
        """Return the ``(n, T)`` targets (reads only the target arrays)."""
        parts = []
        for name in self._shards:
            with np.load(self.directory / name, allow_pickle=False) as data:
                parts.append(data["targets"])
        return np.concatenate(parts) if parts else np.zeros((0, len(self.targets)), np.float32)
