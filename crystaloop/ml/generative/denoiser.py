"""CSPNet: the periodic E(3)-invariant message-passing denoiser of DiffCSP / EquiCSP.

Messages use node features, the lattice Gram matrix ``L Lᵀ`` (invariant to rotations of the
lattice) and Fourier features of fractional differences ``F_j - F_i`` (invariant to periodic
translations), on fully connected graphs. So the coordinate and type outputs are invariant to
rotations and periodic translations and equivariant to permutations of atoms; the lattice output
``M · L`` (``M`` predicted from invariants) rotates with the lattice.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from crystaloop.ml.generative.crystal import NUM_TYPES, scatter_mean


def fourier_features(diff: Tensor, n_freq: int) -> Tensor:
    """Return ``sin``/``cos`` of ``2πk·d`` for ``k = 1 … n_freq`` of fractional differences."""
    k = torch.arange(1, n_freq + 1, dtype=diff.dtype, device=diff.device)
    angles = 2 * math.pi * diff.unsqueeze(-1) * k
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1).flatten(1)


class CSPLayer(nn.Module):
    """One message-passing layer: edge MLP, mean aggregation, node MLP, residual (pre-norm)."""

    def __init__(self, hidden: int, n_freq: int) -> None:
        super().__init__()
        self.n_freq = n_freq
        self.norm = nn.LayerNorm(hidden)
        self.edge_mlp = nn.Sequential(
            nn.Linear(2 * hidden + 9 + 6 * n_freq, hidden),
            nn.SiLU(),
            nn.Linear(hidden, hidden),
            nn.SiLU(),
        )
        self.node_mlp = nn.Sequential(
            nn.Linear(2 * hidden, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU()
        )

    def forward(
        self,
        h: Tensor,
        frac: Tensor,
        gram: Tensor,
        src: Tensor,
        dst: Tensor,
        batch: Tensor,
        edge_extra: Tensor | None = None,
    ) -> Tensor:
        """Update node features ``h`` (``gram``: ``(B, 9)`` flattened ``L Lᵀ``).

        ``edge_extra`` (``(E, hidden)``), when given, is added to every message (a condition
        per edge, e.g. the source structure of a modifier).
        """
        hn = self.norm(h)
        fourier = fourier_features(frac[src] - frac[dst], self.n_freq)
        messages = self.edge_mlp(torch.cat([hn[dst], hn[src], gram[batch[dst]], fourier], dim=-1))
        if edge_extra is not None:
            messages = messages + edge_extra
        aggregated = scatter_mean(messages, dst, h.shape[0])
        return h + self.node_mlp(torch.cat([hn, aggregated], dim=-1))


class CSPNet(nn.Module):
    """The denoiser / velocity network shared by the diffusion and flow-matching generators.

    Parameters
    ----------
    hidden, layers, n_freq, time_dim
        Width, depth, Fourier frequencies and time-embedding width.
    predict_types
        Add the type head (ab initio).
    """

    def __init__(
        self, hidden: int, layers: int, n_freq: int, time_dim: int, predict_types: bool
    ) -> None:
        super().__init__()
        self.type_embedding = nn.Linear(NUM_TYPES, hidden)
        self.input = nn.Linear(hidden + time_dim, hidden)
        self.layers = nn.ModuleList(CSPLayer(hidden, n_freq) for _ in range(layers))
        self.out_norm = nn.LayerNorm(hidden)
        self.coord_head = nn.Linear(hidden, 3, bias=False)
        self.lattice_head = nn.Linear(hidden, 9, bias=False)
        self.type_head = nn.Linear(hidden, NUM_TYPES) if predict_types else None

    def forward(
        self,
        types: Tensor,
        frac: Tensor,
        lattice: Tensor,
        time: Tensor,
        batch: Tensor,
        edges: tuple[Tensor, Tensor],
        node_extra: Tensor | None = None,
        edge_extra: Tensor | None = None,
    ) -> tuple[Tensor, Tensor, Tensor | None]:
        """Return ``(lattice_out (B,3,3), coord_out (N,3), type_out (N,NUM_TYPES) or None)``.

        Parameters
        ----------
        types
            ``(N, NUM_TYPES)`` one-hot or noisy continuous types.
        frac
            ``(N, 3)`` fractional coordinates.
        lattice
            ``(B, 3, 3)`` (normalised) lattice rows.
        time
            ``(B, time_dim)`` time (and condition) embedding.
        batch
            ``(N,)`` crystal of every atom.
        edges
            ``(src, dst)`` of the fully connected graphs.
        node_extra, edge_extra
            Optional ``(N, hidden)`` / ``(E, hidden)`` condition features added to the input
            node features and to every layer's messages (a modifier's source structure).
        """
        src, dst = edges
        h = self.input(torch.cat([self.type_embedding(types), time[batch]], dim=-1))
        if node_extra is not None:
            h = h + node_extra
        gram = (lattice @ lattice.transpose(1, 2)).flatten(1)
        for layer in self.layers:
            h = layer(h, frac, gram, src, dst, batch, edge_extra)
        h = self.out_norm(h)
        graph = scatter_mean(h, batch, lattice.shape[0])
        lattice_out = self.lattice_head(graph).view(-1, 3, 3) @ lattice
        type_out = self.type_head(h) if self.type_head is not None else None
        return lattice_out, self.coord_head(h), type_out
