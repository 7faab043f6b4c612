"""Building blocks of Crysformer: radial basis, scatter softmax, equivariant norm and attention.

The attention layer follows Liao & Smidt's equivariant graph attention (Equiformer) as the seed
describes it: source and target node features are combined by linear layers into a message; its
type-0 part, modulated by the radial embedding, goes through LeakyReLU and a dot product with a
trainable vector per head, and a softmax over each atom's neighbours gives the attention weights
α_ij; the whole message goes through an equivariant gate and a tensor product with the spherical
harmonics of r_ij, with weights computed from the radial embedding, giving the values υ_ij; the
atom receives Σ_j α_ij υ_ij, then a linear layer, dropout, the residual and a normalisation.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from e3nn import nn as e3nn_nn
from e3nn import o3
from torch import nn

from crystaloop.ml.data.batch import tensor_version


class GaussianRBF(nn.Module):
    """Gaussian radial basis on ``[0, cutoff]`` with a smooth cosine envelope."""

    def __init__(self, num: int, cutoff: float) -> None:
        super().__init__()
        self.cutoff = cutoff
        self.register_buffer("centers", torch.linspace(0.0, cutoff, num))
        self.width = cutoff / num

    def forward(self, distance: torch.Tensor) -> torch.Tensor:
        """Return ``(E, num)`` basis values of ``(E,)`` distances."""
        x = (distance[:, None] - self.centers[None, :]) / self.width
        envelope = 0.5 * (torch.cos(math.pi * (distance / self.cutoff).clamp(max=1.0)) + 1.0)
        return torch.exp(-0.5 * x * x) * envelope[:, None]


def scatter_softmax(logits: torch.Tensor, index: torch.Tensor, num_nodes: int) -> torch.Tensor:
    """Softmax of ``(E, H)`` logits over the edges that share a target ``index``."""
    heads = logits.shape[1]
    expanded = index[:, None].expand(-1, heads)
    maxima = torch.full((num_nodes, heads), -torch.inf, dtype=logits.dtype, device=logits.device)
    maxima = maxima.scatter_reduce(0, expanded, logits, reduce="amax", include_self=True)
    weights = torch.exp(logits - maxima.index_select(0, index))
    sums = torch.zeros((num_nodes, heads), dtype=logits.dtype, device=logits.device)
    sums = sums.index_add(0, index, weights)
    return weights / sums.index_select(0, index).clamp(min=1e-12)


class EquivariantLayerNorm(nn.Module):
    """Layer norm for irreps: standard on scalars, RMS of the norms for each ``l > 0`` block."""

    def __init__(self, irreps: o3.Irreps, eps: float = 1e-6) -> None:
        super().__init__()
        self.irreps = o3.Irreps(irreps)
        self.eps = eps
        num_scalars = sum(mul for mul, ir in self.irreps if ir.l == 0)
        self.scalar_weight = nn.Parameter(torch.ones(num_scalars))
        self.scalar_bias = nn.Parameter(torch.zeros(num_scalars))
        self.vector_weight = nn.Parameter(torch.ones(sum(m for m, ir in self.irreps if ir.l > 0)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise ``(N, irreps.dim)`` features."""
        out = []
        start = 0
        scalar_at = 0
        vector_at = 0
        for mul, ir in self.irreps:
            block = x[:, start : start + mul * ir.dim]
            start += mul * ir.dim
            if ir.l == 0:
                # (block - mean) / sqrt(var + eps) * w + b, biased variance
                w = self.scalar_weight[scalar_at : scalar_at + mul]
                b = self.scalar_bias[scalar_at : scalar_at + mul]
                out.append(torch.nn.functional.layer_norm(block, (mul,), w, b, self.eps))
                scalar_at += mul
            else:
                vec = block.reshape(-1, mul, ir.dim)
                rms = torch.sqrt(vec.pow(2).sum(-1).mean(-1, keepdim=True) + self.eps)
                w = self.vector_weight[vector_at : vector_at + mul]
                out.append((vec / rms[:, :, None] * w[None, :, None]).reshape(-1, mul * ir.dim))
                vector_at += mul
        return torch.cat(out, dim=1)


_HEAD_INDEX: dict[tuple[str, int], torch.Tensor] = {}


def head_index(irreps: o3.Irreps, heads: int) -> torch.Tensor:
    """Return the ``(irreps.dim,)`` head of each feature component (see :func:`scale_by_head`).

    The channels of each ``mul x ir`` block are split into ``heads`` consecutive groups.
    """
    key = (str(irreps), heads)
    if key not in _HEAD_INDEX:
        parts = [torch.arange(heads).repeat_interleave(mul // heads * ir.dim) for mul, ir in irreps]
        _HEAD_INDEX[key] = torch.cat(parts) if parts else torch.zeros(0, dtype=torch.long)
    return _HEAD_INDEX[key]


def scale_by_head(
    values: torch.Tensor, alpha: torch.Tensor, irreps: o3.Irreps, heads: int
) -> torch.Tensor:
    """Multiply each head's channels of ``values`` (E, irreps.dim) by ``alpha`` (E, heads)."""
    index = head_index(o3.Irreps(irreps), heads).to(alpha.device)
    return values * alpha.index_select(1, index)


def _value_gate(irreps: o3.Irreps) -> e3nn_nn.Gate:
    """Gate whose scalar output has one block for the scalar path and one seed block per l > 0.

    For ``64x0e + 16x1o`` the gate outputs ``64x0e + 16x0e + 16x1o``: the first block feeds the
    scalar path of the tensor product, the second becomes vectors through ``0e ⊗ Y¹ → 1o``, so
    each path carries only as many channels as the features it produces (a cheap tensor product).
    """
    scalars = [(mul, ir) for mul, ir in irreps if ir.l == 0]
    seeds = [(mul, "0e") for mul, ir in irreps if ir.l > 0]
    gated = o3.Irreps([(mul, ir) for mul, ir in irreps if ir.l > 0])
    irreps_scalars = o3.Irreps(scalars + seeds)
    gates = o3.Irreps(f"{gated.num_irreps}x0e")
    acts = [torch.nn.functional.silu] * len(irreps_scalars)
    return e3nn_nn.Gate(irreps_scalars, acts, gates, [torch.sigmoid], gated)


def _value_instructions(
    irreps_in: o3.Irreps, irreps_sh: o3.Irreps, irreps_out: o3.Irreps
) -> tuple[list[tuple[int, int, int, str, bool]], o3.Irreps]:
    """Tensor-product paths of the value gate's output with the spherical harmonics."""
    wanted = [ir for _, ir in irreps_out]
    seed_for = {ir.l: ir for ir in wanted if ir.l > 0}
    n_scalar_blocks = sum(1 for _, ir in irreps_out if ir.l == 0)
    seed_ls = [ir.l for _, ir in irreps_out if ir.l > 0]
    instructions: list[tuple[int, int, int, str, bool]] = []
    mid: list[tuple[int, o3.Irrep]] = []
    for i, (mul, ir_in) in enumerate(irreps_in):
        for j, (_, ir_sh) in enumerate(irreps_sh):
            if ir_in.l == 0 and i < n_scalar_blocks:
                targets = [o3.Irrep("0e")] if ir_sh.l == 0 else []
            elif ir_in.l == 0:
                seed_l = seed_ls[i - n_scalar_blocks]
                targets = [seed_for[seed_l]] if ir_sh.l == seed_l else []
            else:
                targets = [ir for ir in ir_in * ir_sh if ir in wanted]
            for ir_out in targets:
                if ir_out in ir_in * ir_sh:
                    instructions.append((i, j, len(mid), "uvu", True))
                    mid.append((mul, ir_out))
    return instructions, o3.Irreps(mid)


class EquivariantGraphAttention(nn.Module):
    """One equivariant graph attention layer (see the module docstring).

    Parameters
    ----------
    irreps
        Node feature irreps (input and output).
    irreps_sh
        Spherical harmonics irreps of the edge directions.
    num_rbf
        Size of the radial embedding.
    radial_hidden
        Hidden width of the radial MLPs.
    heads
        Attention heads.
    dropout
        Equivariant dropout on the layer output.
    """

    def __init__(
        self,
        irreps: str | o3.Irreps,
        irreps_sh: str | o3.Irreps,
        num_rbf: int,
        radial_hidden: int,
        heads: int,
        dropout: float,
    ) -> None:
        super().__init__()
        self.irreps = o3.Irreps(irreps).simplify()
        self.irreps_sh = o3.Irreps(irreps_sh)
        self.heads = heads
        self.num_scalars = sum(mul for mul, ir in self.irreps if ir.l == 0)
        self.lin_src = o3.Linear(self.irreps, self.irreps)
        self.lin_dst = o3.Linear(self.irreps, self.irreps, biases=True)

        # attention weights from the type-0 part of the message
        self.radial_attention = nn.Sequential(
            nn.Linear(num_rbf, radial_hidden), nn.SiLU(), nn.Linear(radial_hidden, self.num_scalars)
        )
        self.attention_vector = nn.Parameter(
            torch.randn(heads, self.num_scalars // heads) / math.sqrt(self.num_scalars // heads)
        )

        # values: gate, then tensor product with the spherical harmonics
        self.gate = _value_gate(self.irreps)
        self.lin_pre_gate = o3.Linear(self.irreps, self.gate.irreps_in)
        irreps_gated = self.gate.irreps_out
        instructions, irreps_mid = _value_instructions(irreps_gated, self.irreps_sh, self.irreps)
        self.tp = o3.TensorProduct(
            irreps_gated,
            self.irreps_sh,
            irreps_mid,
            instructions,
            shared_weights=False,
            internal_weights=False,
        )
        self.radial_values = nn.Sequential(
            nn.Linear(num_rbf, radial_hidden),
            nn.SiLU(),
            nn.Linear(radial_hidden, self.tp.weight_numel),
        )
        self.lin_values = o3.Linear(self.tp.irreps_out, self.irreps)
        self.lin_out = o3.Linear(self.irreps, self.irreps)
        self.dropout = e3nn_nn.Dropout(self.irreps, dropout)
        self.norm = EquivariantLayerNorm(self.irreps)

    def forward(
        self,
        x: torch.Tensor,
        edge_index: torch.Tensor,
        edge_sh: torch.Tensor,
        edge_rbf: torch.Tensor,
        radial_index: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Update ``(N, irreps.dim)`` node features from their neighbours.

        ``edge_rbf`` is the ``(E, num_rbf)`` radial embedding of the edges or, with
        ``radial_index`` (``(E,)``), that of a set of distinct lengths, edge ``e`` taking row
        ``radial_index[e]``.

        Without autograd and without active dropout (inference), a layer of ``0e + 1o``
        features takes :meth:`_fused_forward`, the same function with the linear maps composed
        and the gate and tensor product written out; otherwise the e3nn modules run.
        """
        if not torch.is_grad_enabled() and not self._dropout_active():
            plan = self._fused_plan(x.dtype, x.device)
            if plan is not None:
                return self._fused_forward(x, edge_index, edge_sh, edge_rbf, plan, radial_index)
        if radial_index is not None:
            edge_rbf = edge_rbf.index_select(0, radial_index)
        src, dst = edge_index[0], edge_index[1]
        # message_ij = L_src x_j + L_dst x_i; the linear maps act per atom and the results are
        # gathered per edge (the same function, with the linear work done once per atom)
        x_src, x_dst = self.lin_src(x), self.lin_dst(x)
        c = self.num_scalars
        scalars = (x_src[src, :c] + x_dst[dst, :c]) * self.radial_attention(edge_rbf)
        scalars = torch.nn.functional.leaky_relu(scalars, 0.2)
        logits = (
            scalars.reshape(-1, self.heads, self.num_scalars // self.heads) * self.attention_vector
        ).sum(-1)
        alpha = scatter_softmax(logits, dst, x.shape[0])

        gated = self.gate(self.lin_pre_gate(x_src)[src] + self.lin_pre_gate(x_dst)[dst])
        values = self.tp(gated, edge_sh, self.radial_values(edge_rbf))
        values = scale_by_head(values, alpha, self.tp.irreps_out, self.heads)

        aggregated = values.new_zeros(x.shape[0], values.shape[1]).index_add(0, dst, values)
        update = self.lin_out(self.lin_values(aggregated))
        return self.norm(x + self.dropout(update))

    # -- the fused inference path -------------------------------------------------------------

    def _dropout_active(self) -> bool:
        return bool(self.dropout.training and self.dropout.p > 0)

    def _fused_constants(self) -> dict[str, float] | None:
        """Return the gate and tensor-product constants of the fused path (``None``: no fusion).

        The fused path handles node features ``S x 0e + V x 1o`` with ``0e + 1o`` harmonics. Its
        constants (e3nn's activation normalisation, path weights and Wigner 3j factors) are read
        off the e3nn modules by probing them, and the fused formulas are checked against the
        modules on random inputs, so that the fused path is the same function or is not used.
        """
        cached = getattr(self, "_fused_consts", None)
        if cached is not None:
            return cached or None
        from crystaloop.ml.crysformer.fused import probe_fused_constants

        consts = probe_fused_constants(self)
        object.__setattr__(self, "_fused_consts", consts or {})
        return consts

    def _fused_plan(self, dtype: torch.dtype, device: torch.device) -> Any:
        """Return the composed weights of the fused path, rebuilt when a parameter changes."""
        consts = self._fused_constants()
        if consts is None:
            return None
        key = (dtype, device) + tuple((p.data_ptr(), tensor_version(p)) for p in self.parameters())
        cached = getattr(self, "_fused_cache", None)
        if cached is not None and cached[0] == key:
            return cached[1]
        from crystaloop.ml.crysformer.fused import build_fused_plan

        plan = build_fused_plan(self, consts, dtype, device)
        object.__setattr__(self, "_fused_cache", (key, plan))
        return plan

    def _fused_forward(
        self,
        x: torch.Tensor,
        edge_index: torch.Tensor,
        edge_sh: torch.Tensor,
        edge_rbf: torch.Tensor,
        plan: Any,
        radial_index: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """:meth:`forward` for ``S x 0e + V x 1o`` features in inference (:mod:`.fused`)."""
        from crystaloop.ml.crysformer.fused import fused_forward

        return fused_forward(x, edge_index, edge_sh, edge_rbf, plan, radial_index)
