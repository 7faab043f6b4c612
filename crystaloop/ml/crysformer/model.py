"""Crysformer: an e3nn equivariant graph attention network for crystal properties (seed §3.1).

Atoms start from a linear embedding of their k-hot atomic-property vector; edges carry a Gaussian
radial basis of |r_ij| and the spherical harmonics of r_ij; several
:class:`~crystaloop.ml.crysformer.layers.EquivariantGraphAttention` layers update type-0 and type-L
features; the readout averages each atom's scalar features over its neighbours, then over the
atoms of the crystal, and one head per target maps the result to the (normalised) property.
The prediction is invariant to rotations, translations, atom order and the choice of unit cell.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import torch
from e3nn import o3
from torch import nn

from crystaloop.ml.crysformer.config import CrysformerConfig
from crystaloop.ml.crysformer.layers import EquivariantGraphAttention, GaussianRBF
from crystaloop.ml.data.batch import GraphBatch, tensor_version
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

    def edge_features(
        self, batch: GraphBatch, dtype: torch.dtype
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Return the edges' spherical harmonics, radial basis and radial index.

        ``(E, sh dim)`` harmonics; the radial basis is ``(E, num_rbf)`` with index ``None``, or,
        without autograd and where many edges share a length (symmetric crystals), ``(U,
        num_rbf)`` on the ``U`` distinct lengths with the ``(E,)`` index of each edge's length.
        They depend on the batch and the configuration, not on the weights: without autograd
        they are kept in ``batch.cache``, so that the members of an ensemble, which predict the
        same batch one after the other, compute them once.
        """
        vec = batch.edge_vec
        if torch.is_grad_enabled():
            return *self._edge_features(vec.to(dtype)), None
        key = (
            "edge_features",
            str(self.irreps_sh),
            self.rbf.cutoff,
            self.rbf.width,
            tuple(self.rbf.centers.tolist()),
            dtype,
            self.rbf.centers.device,
        )
        return _cached(batch, key, (vec,), lambda: self._shared_edge_features(vec.to(dtype)))

    def _edge_features(self, vec: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        edge_sh = o3.spherical_harmonics(
            self.irreps_sh, vec, normalize=True, normalization="component"
        )
        return edge_sh, self.rbf(vec.norm(dim=1))

    def _shared_edge_features(
        self, vec: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        vec = vec.to(self.rbf.centers.device)
        edge_sh = o3.spherical_harmonics(
            self.irreps_sh, vec, normalize=True, normalization="component"
        )
        length = vec.norm(dim=1)
        distinct, index = torch.unique(length, return_inverse=True)
        if distinct.shape[0] <= MAX_DISTINCT_SHARE * length.shape[0]:
            return edge_sh, self.rbf(distinct), index
        return edge_sh, self.rbf(length), None

    def node_features(self, batch: GraphBatch, scalars: torch.Tensor | None = None) -> torch.Tensor:
        """Return the ``(N, irreps_hidden.dim)`` features after the attention layers.

        ``scalars`` replaces the atoms' initial ``(N, scalar_channels)`` embedding (the masked
        generator embeds its masked atoms with a mask token, :mod:`crystaloop.ml.masked`).
        """
        num_nodes = batch.atomic_numbers.shape[0]
        if scalars is None:
            scalars = self.embed(self.khot[batch.atomic_numbers])
        x = torch.zeros(
            num_nodes, self.irreps_hidden.dim, dtype=scalars.dtype, device=scalars.device
        )
        x[:, : self.config.scalar_channels] = scalars
        edge_sh, edge_rbf, radial_index = self.edge_features(batch, scalars.dtype)
        for layer in self.layers:
            x = layer(x, batch.edge_index, edge_sh, edge_rbf, radial_index)
        return x

    def readout_weights(self, batch: GraphBatch, dtype: torch.dtype) -> torch.Tensor:
        """Return the ``(N,)`` weight of each atom's scalars in its crystal's pooled vector.

        The readout averages each atom's neighbours' scalars, then the atoms of the crystal:
        ``pooled_g = 1/n_g Σ_i 1/deg_i Σ_(j→i) s_j = Σ_j w_j s_j`` with
        ``w_j = Σ_(j→i) 1 / (deg_i n_g)``, which depends on the graph only (cached in
        ``batch.cache`` without autograd).
        """

        def weights() -> torch.Tensor:
            src, dst = batch.edge_index[0], batch.edge_index[1]
            num_nodes = batch.atomic_numbers.shape[0]
            device = batch.edge_index.device
            degree = torch.zeros(num_nodes, dtype=dtype, device=device)
            degree = degree.index_add(0, dst, torch.ones_like(dst, dtype=dtype)).clamp(min=1.0)
            counts = torch.zeros(batch.num_graphs, dtype=dtype, device=device)
            counts = counts.index_add(0, batch.batch, torch.ones_like(batch.batch, dtype=dtype))
            per_edge = 1.0 / (degree * counts.clamp(min=1.0)[batch.batch])[dst]
            return torch.zeros(num_nodes, dtype=dtype, device=device).index_add(0, src, per_edge)

        if torch.is_grad_enabled():
            return weights()
        return _cached(batch, ("readout_weights", dtype), (batch.edge_index, batch.batch), weights)

    def forward(self, batch: GraphBatch, scalars: torch.Tensor | None = None) -> torch.Tensor:
        """Return ``(num_graphs, n_targets)`` normalised predictions.

        Without autograd or active dropout on the CPU, a batch with more than
        :data:`EDGE_CHUNK` edges runs in parts of whole crystals (the same predictions; the
        per-edge tensors of a part stay in the CPU's caches). ``scalars`` replaces the atoms'
        initial embedding (:meth:`node_features`; a GAN critic judges soft species this way).
        """
        if scalars is not None:
            return self._forward(batch, scalars)
        if (
            not torch.is_grad_enabled()
            and batch.edge_vec.device.type == "cpu"
            and batch.edge_index.shape[1] > EDGE_CHUNK
            and not self._dropout_active()
        ):
            parts = batch.parts(EDGE_CHUNK)
            if len(parts) > 1:
                return torch.cat([self._forward(part) for part in parts])
        return self._forward(batch)

    def _dropout_active(self) -> bool:
        return any(
            module.training and getattr(module, "p", 0) > 0
            for module in self.modules()
            if "Dropout" in type(module).__name__
        )

    def _forward(self, batch: GraphBatch, scalars: torch.Tensor | None = None) -> torch.Tensor:
        x = self.node_features(batch, scalars)
        scalars = x[:, : self.config.scalar_channels]
        weights = self.readout_weights(batch, scalars.dtype)
        pooled = torch.zeros(
            batch.num_graphs, scalars.shape[1], dtype=scalars.dtype, device=scalars.device
        )
        pooled = pooled.index_add(0, batch.batch, scalars * weights[:, None])
        return torch.cat([head(pooled) for head in self.heads], dim=1)

    def predict(self, batch: GraphBatch) -> torch.Tensor:
        """Return ``(num_graphs, n_targets)`` predictions in the units of the training data."""
        return self(batch) * self.target_std + self.target_mean


#: Edges per part of a batch in CPU inference (see :meth:`Crysformer.forward`).
EDGE_CHUNK = 4096

#: Radial features are computed per distinct edge length when at most this share of the edges
#: have distinct lengths (see :meth:`Crysformer.edge_features`).
MAX_DISTINCT_SHARE = 0.75


_T = TypeVar("_T")


def _cached(
    batch: GraphBatch,
    key: tuple[Any, ...],
    sources: tuple[torch.Tensor, ...],
    make: Callable[[], _T],
) -> _T:
    """Return ``batch.cache[key]``, computed by ``make()`` unless ``sources`` are unchanged."""
    stamp = tuple(
        (t.data_ptr(), tensor_version(t), tuple(t.shape), t.dtype, t.device) for t in sources
    )
    entry = batch.cache.get(key)
    if entry is not None and entry[0] == stamp:
        return entry[1]
    value = make()
    batch.cache[key] = (stamp, value)
    return value
