"""Crysformer: an e3nn equivariant graph attention network for crystal properties (seed §3.1).

Atoms start from a linear embedding of their k-hot atomic-property vector; edges carry a Gaussian
radial basis of |r_ij| and the spherical harmonics of r_ij; several
:class:`~crystaloop.ml.crysformer.layers.EquivariantGraphAttention` layers update type-0 and type-L
features; the readout averages each atom's scalar features over its neighbours, then over the
atoms of the crystal, and one head per target maps the result to the (normalised) property.
The prediction is invariant to rotations, translations, atom order and the choice of unit cell.
"""

from __future__ import annotations

import torch
from e3nn import o3
from torch import nn

from crystaloop.ml.crysformer.config import CrysformerConfig
from crystaloop.ml.crysformer.layers import EquivariantGraphAttention, GaussianRBF
from crystaloop.ml.data.batch import GraphBatch
from crystaloop.ml.data.features import khot_table


class Crysformer(nn.Module):
    """The Crysformer surrogate.

    Parameters
    ----------
    config
        Hyper-parameters and target names.

    Notes
    -----
    ``forward`` returns normalised targets; :meth:`predict` returns them in the units of the
    training data, using the ``target_mean`` / ``target_std`` buffers set by training.
    """

    def __init__(self, config: CrysformerConfig) -> None:
        super().__init__()
        self.config = config
        table = torch.from_numpy(khot_table())
        self.register_buffer("khot", table)
        self.register_buffer("target_mean", torch.zeros(len(config.targets)))
        self.register_buffer("target_std", torch.ones(len(config.targets)))
        self.register_buffer("seen_elements", torch.zeros(table.shape[0], dtype=torch.bool))

        self.irreps_hidden = o3.Irreps(config.irreps_hidden)
        self.irreps_sh = o3.Irreps.spherical_harmonics(config.lmax)
        self.embed = nn.Linear(table.shape[1], config.scalar_channels)
        self.rbf = GaussianRBF(config.num_rbf, config.cutoff)
        self.layers = nn.ModuleList(
            EquivariantGraphAttention(
                self.irreps_hidden,
                self.irreps_sh,
                config.num_rbf,
                config.radial_hidden,
                config.heads,
                config.dropout,
            )
            for _ in range(config.num_layers)
        )
        self.heads = nn.ModuleList(
            nn.Sequential(
                nn.Linear(config.scalar_channels, config.readout_hidden),
                nn.SiLU(),
                nn.Dropout(config.dropout),
                nn.Linear(config.readout_hidden, 1),
            )
            for _ in config.targets
        )

    def node_features(self, batch: GraphBatch) -> torch.Tensor:
        """Return the ``(N, irreps_hidden.dim)`` features after the attention layers."""
        num_nodes = batch.atomic_numbers.shape[0]
        scalars = self.embed(self.khot[batch.atomic_numbers])
        x = torch.zeros(
            num_nodes, self.irreps_hidden.dim, dtype=scalars.dtype, device=scalars.device
        )
        x[:, : self.config.scalar_channels] = scalars
        vec = batch.edge_vec.to(scalars.dtype)
        edge_sh = o3.spherical_harmonics(
            self.irreps_sh, vec, normalize=True, normalization="component"
        )
        edge_rbf = self.rbf(vec.norm(dim=1))
        for layer in self.layers:
            x = layer(x, batch.edge_index, edge_sh, edge_rbf)
        return x

    def forward(self, batch: GraphBatch) -> torch.Tensor:
        """Return ``(num_graphs, n_targets)`` normalised predictions."""
        x = self.node_features(batch)
        scalars = x[:, : self.config.scalar_channels]
        src, dst = batch.edge_index[0], batch.edge_index[1]
        num_nodes = scalars.shape[0]
        ones = torch.ones_like(dst, dtype=scalars.dtype)
        degree = torch.zeros(num_nodes, dtype=scalars.dtype, device=scalars.device)
        degree = degree.index_add(0, dst, ones).clamp(min=1.0)
        neighbour_mean = torch.zeros_like(scalars).index_add(0, dst, scalars[src]) / degree[:, None]
        counts = torch.zeros(batch.num_graphs, dtype=scalars.dtype, device=scalars.device)
        counts = counts.index_add(0, batch.batch, torch.ones_like(batch.batch, dtype=scalars.dtype))
        pooled = torch.zeros(
            batch.num_graphs, scalars.shape[1], dtype=scalars.dtype, device=scalars.device
        )
        pooled = pooled.index_add(0, batch.batch, neighbour_mean) / counts.clamp(min=1.0)[:, None]
        return torch.cat([head(pooled) for head in self.heads], dim=1)

    def predict(self, batch: GraphBatch) -> torch.Tensor:
        """Return ``(num_graphs, n_targets)`` predictions in the units of the training data."""
        return self(batch) * self.target_std + self.target_mean
