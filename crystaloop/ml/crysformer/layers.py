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

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass

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
        consts = _probe_fused_constants(self)
        object.__setattr__(self, "_fused_consts", consts or {})
        return consts

    def _fused_plan(self, dtype: torch.dtype, device: torch.device) -> _FusedPlan | None:
        """Return the composed weights of the fused path, rebuilt when a parameter changes."""
        consts = self._fused_constants()
        if consts is None:
            return None
        key = (dtype, device) + tuple((p.data_ptr(), tensor_version(p)) for p in self.parameters())
        cached = getattr(self, "_fused_cache", None)
        if cached is not None and cached[0] == key:
            return cached[1]
        plan = _build_fused_plan(self, consts, dtype, device)
        object.__setattr__(self, "_fused_cache", (key, plan))
        return plan

    def _fused_forward(
        self,
        x: torch.Tensor,
        edge_index: torch.Tensor,
        edge_sh: torch.Tensor,
        edge_rbf: torch.Tensor,
        plan: _FusedPlan,
        radial_index: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """:meth:`forward` for ``S x 0e + V x 1o`` features in inference (see ``_FusedPlan``)."""
        s, v = plan.scalars, plan.vectors
        src, dst = edge_index[0], edge_index[1]
        n = x.shape[0]
        silu = torch.nn.functional.silu

        # radial MLPs (on the distinct lengths when radial_index is given)
        r = plan.radial_hidden
        hidden = silu(torch.addmm(plan.b_radial, edge_rbf, plan.w_radial))
        radial_attention = torch.addmm(plan.b_attention, hidden[:, :r], plan.w_attention)
        coef = torch.addmm(plan.b_values, hidden[:, r:], plan.w_values)
        if radial_index is not None:
            radial_attention = radial_attention.index_select(0, radial_index)
            coef = coef.index_select(0, radial_index)

        # messages L_src x_j + L_dst x_i and the gate input lin_pre_gate of them: linear maps
        # per atom (scalars and vectors apart), gathered per edge into contiguous blocks
        x_s, x_v = x[:, :s], x[:, s:]
        node_src = torch.addmm(plan.b_src, x_s, plan.w_src)  # [silu in | gates | attention]
        node_dst = torch.addmm(plan.b_dst, x_s, plan.w_dst)
        vec_src, vec_dst = x_v @ plan.w_vec_src, x_v @ plan.w_vec_dst

        def gather(table_src: torch.Tensor, table_dst: torch.Tensor) -> torch.Tensor:
            out = table_src.index_select(0, src)
            return out.add_(table_dst.index_select(0, dst))

        act = gather(node_src[:, : s + v], node_dst[:, : s + v])
        gates = gather(node_src[:, s + v : s + 2 * v], node_dst[:, s + v : s + 2 * v])
        scalars = gather(node_src[:, s + 2 * v :], node_dst[:, s + 2 * v :])
        vec = gather(vec_src, vec_dst)  # component-major

        scalars = torch.nn.functional.leaky_relu_(scalars.mul_(radial_attention), 0.2)
        logits = (plan.attention @ scalars.T).T
        alpha = scatter_softmax(logits, dst, n)

        # tensor-product weights [0e⊗Y0 (S) | 0e⊗Y1 (V) | 1o⊗Y0 (V) | 1o⊗Y1 (V)] with the
        # constants folded in, times α of their head (and Y0 where it is not 1)
        coef *= alpha @ plan.head_expand
        sh0, sh1 = edge_sh[:, :1], edge_sh[:, 1:4]
        if not bool((sh0 == 1).all()):
            coef[:, :s] *= sh0
            coef[:, s + v : s + 2 * v] *= sh0
        act = silu(act)
        vec = vec.view(-1, 3, v).mul_(torch.sigmoid(gates)[:, None, :])

        # values [0e (S) | 0e (V) | 1o (V, component-major) | 1o (V, component-major)]
        values = x.new_empty(act.shape[0], s + 7 * v)
        torch.mul(coef[:, :s], act[:, :s], out=values[:, :s])
        dot = vec[:, 0] * sh1[:, :1]
        dot.addcmul_(vec[:, 1], sh1[:, 1:2]).addcmul_(vec[:, 2], sh1[:, 2:3])
        torch.mul(coef[:, s + 2 * v :], dot, out=values[:, s : s + v])
        seed = coef[:, s : s + v] * act[:, s:]
        for m in range(3):
            at = s + v + m * v
            torch.mul(seed, sh1[:, m : m + 1], out=values[:, at : at + v])
            at += 3 * v
            torch.mul(coef[:, s + v : s + 2 * v], vec[:, m], out=values[:, at : at + v])

        aggregated = x.new_zeros(n, values.shape[1]).index_add_(0, dst, values)
        update = torch.cat(
            [
                torch.addmm(plan.b_out, aggregated[:, : s + v], plan.w_out_scalars),
                aggregated[:, s + v :] @ plan.w_out_vectors,
            ],
            dim=1,
        )
        return plan.norm(update.add_(x))


@dataclass
class _FusedPlan:
    """Composed weights of :meth:`EquivariantGraphAttention._fused_forward`.

    With ``S`` scalar and ``V`` vector channels: ``w_src`` / ``w_dst`` map an atom's scalars to
    its part of the messages' scalars (``lin_src`` / ``lin_dst`` composed with
    ``lin_pre_gate``): ``[S + V silu inputs of the gate | V gates | S attention scalars]``;
    ``w_vec_src`` / ``w_vec_dst`` its vectors (e3nn layout, channel-major) to the gated
    vectors, component-major. ``w_radial`` is the first layer of both radial MLPs; ``w_values``
    the last layer of the value MLP times the constants of its paths; ``attention`` the
    ``(heads, S)`` block matrix of the attention vectors; ``head_expand`` the ``(heads, S + 3
    V)`` one-hot map from heads to the tensor-product weights; ``w_out_scalars`` /
    ``w_out_vectors`` are ``lin_out ∘ lin_values`` from the scalar / vector values.
    """

    scalars: int
    vectors: int
    radial_hidden: int
    w_src: torch.Tensor
    b_src: torch.Tensor
    w_dst: torch.Tensor
    b_dst: torch.Tensor
    w_vec_src: torch.Tensor
    w_vec_dst: torch.Tensor
    w_radial: torch.Tensor
    b_radial: torch.Tensor
    w_attention: torch.Tensor
    b_attention: torch.Tensor
    attention: torch.Tensor
    head_expand: torch.Tensor
    w_values: torch.Tensor
    b_values: torch.Tensor
    w_out_scalars: torch.Tensor
    b_out: torch.Tensor
    w_out_vectors: torch.Tensor
    norm: Callable[[torch.Tensor], torch.Tensor]


def _dense(linear: o3.Linear) -> tuple[torch.Tensor, torch.Tensor]:
    """Return the ``(d_in, d_out)`` matrix and ``(d_out,)`` bias of an e3nn linear map.

    In float64 on the CPU, whatever the map's own dtype and device.
    """
    d_in = linear.irreps_in.dim
    eye = torch.eye(d_in, dtype=linear.weight.dtype, device=linear.weight.device)
    if linear.bias_numel > 0:
        matrix = linear(eye, bias=torch.zeros_like(linear.bias))
    else:
        matrix = linear(eye)
    bias = linear(torch.zeros_like(eye[:1]))[0]
    return matrix.to("cpu", torch.float64), bias.to("cpu", torch.float64)


def _fused_layout(layer: EquivariantGraphAttention) -> tuple[int, int] | None:
    """Return ``(S, V)`` when the layer's irreps are what the fused path handles."""
    irreps = layer.irreps
    if len(irreps) != 2 or irreps[0].ir != o3.Irrep("0e") or irreps[1].ir != o3.Irrep("1o"):
        return None
    s, v = irreps[0].mul, irreps[1].mul
    ok = (
        layer.irreps_sh == o3.Irreps("0e + 1o")
        and layer.gate.irreps_in == o3.Irreps(f"{s + 2 * v}x0e + {v}x1o")
        and layer.gate.irreps_out == o3.Irreps(f"{s}x0e + {v}x0e + {v}x1o")
        and layer.tp.irreps_out == o3.Irreps(f"{s}x0e + {v}x1o + {v}x1o + {v}x0e")
        and [(i.i_in1, i.i_in2, i.i_out, i.connection_mode) for i in layer.tp.instructions]
        == [(0, 0, 0, "uvu"), (1, 1, 1, "uvu"), (2, 0, 2, "uvu"), (2, 1, 3, "uvu")]
        and isinstance(layer.radial_attention[1], nn.SiLU)
        and isinstance(layer.radial_values[1], nn.SiLU)
    )
    return (s, v) if ok else None


def _probe_fused_constants(layer: EquivariantGraphAttention) -> dict[str, float] | None:
    """Read the fused path's constants off the e3nn gate and tensor product, and check them."""
    layout = _fused_layout(layer)
    if layout is None:
        return None
    s, v = layout
    f64 = torch.float64
    gen = torch.Generator().manual_seed(0)
    gate = copy.deepcopy(layer.gate).to("cpu", f64)
    tp = copy.deepcopy(layer.tp).to("cpu", f64)
    with torch.no_grad():
        z = torch.randn(32, gate.irreps_in.dim, generator=gen, dtype=f64)
        out = gate(z)
        act = torch.nn.functional.silu(z[:, : s + v])
        c_act = (out[:, : s + v] / act).median().item()
        gated = torch.sigmoid(z[:, s + v : s + 2 * v])[:, :, None] * z[:, s + 2 * v :].reshape(
            -1, v, 3
        )
        c_gate = (out[:, s + v :].reshape(-1, v, 3) / gated).median().item()
        fused = torch.cat([c_act * act, (c_gate * gated).reshape(-1, 3 * v)], dim=1)
        if not torch.allclose(fused, out, rtol=1e-9, atol=1e-12):
            return None

        x1 = torch.randn(32, tp.irreps_in1.dim, generator=gen, dtype=f64)
        sh = o3.spherical_harmonics(
            "0e + 1o", torch.randn(32, 3, generator=gen, dtype=f64), True, "component"
        )
        w = torch.randn(32, tp.weight_numel, generator=gen, dtype=f64)
        out = tp(x1, sh, w)
        sc, seed, vec = x1[:, :s], x1[:, s : s + v], x1[:, s + v :].reshape(-1, v, 3)
        sh0, sh1 = sh[:, :1], sh[:, 1:]
        w0, w1, w2, w3 = w[:, :s], w[:, s : s + v], w[:, s + v : s + 2 * v], w[:, s + 2 * v :]
        parts = [
            w0 * sc * sh0,
            ((w1 * seed)[:, :, None] * sh1[:, None, :]).reshape(-1, 3 * v),
            (w2[:, :, None] * vec * sh0[:, :, None]).reshape(-1, 3 * v),
            w3 * (vec * sh1[:, None, :]).sum(-1),
        ]
        bounds = [0, s, s + 3 * v, s + 6 * v, s + 7 * v]
        paths = [(out[:, bounds[i] : bounds[i + 1]] / parts[i]).median().item() for i in range(4)]
        fused = torch.cat([c * part for c, part in zip(paths, parts, strict=True)], dim=1)
        if not torch.allclose(fused, out, rtol=1e-9, atol=1e-12):
            return None
    return {
        "act": c_act,
        "gate": c_gate,
        "p0": paths[0],
        "p1": paths[1],
        "p2": paths[2],
        "p3": paths[3],
    }


def _build_fused_plan(
    layer: EquivariantGraphAttention,
    consts: dict[str, float],
    dtype: torch.dtype,
    device: torch.device,
) -> _FusedPlan | None:
    """Compose the fused path's weights (in float64, then cast); ``None`` if they do not fit."""
    s, v = layer.irreps[0].mul, layer.irreps[1].mul
    heads = layer.heads
    m_src, b_src = _dense(layer.lin_src)
    m_dst, b_dst = _dense(layer.lin_dst)
    m_pre, b_pre = _dense(layer.lin_pre_gate)
    m_val, b_val = _dense(layer.lin_values)
    m_out, b_out = _dense(layer.lin_out)

    def param(t: torch.Tensor) -> torch.Tensor:
        return t.detach().to("cpu", torch.float64)

    # e3nn layouts: node features [S | V x 1o (channel, component)]; gate input
    # [S + V silu inputs | V gates | V x 1o]; tensor-product output [S 0e | V 1o | V 1o | V 0e].
    # The linear maps do not mix scalars and vectors (those blocks of their matrices are
    # zero, and vectors have no bias), so scalars and vectors are mapped apart.
    scalar_rows, vector_rows = slice(0, s), slice(s, s + 3 * v)
    gate_cols = list(range(s + 2 * v))
    vec_cols = [s + 2 * v + 3 * u + m for m in range(3) for u in range(v)]
    m_values_out, b_values_out = m_val @ m_out, b_val @ m_out + b_out
    scalar_values = list(range(s)) + list(range(s + 6 * v, s + 7 * v))
    vector_values = [s + 3 * u + m for m in range(3) for u in range(v)] + [
        s + 3 * v + 3 * u + m for m in range(3) for u in range(v)
    ]
    mixing = [m_values_out[scalar_values][:, s:], m_values_out[vector_values][:, :s]]
    mixing.append(b_values_out[s:])
    maps = {}
    for side, m_lin, b_lin in (("src", m_src, b_src), ("dst", m_dst, b_dst)):
        m_gate_in, b_gate_in = m_lin @ m_pre, b_lin @ m_pre + b_pre
        maps[side] = (
            torch.cat([m_gate_in[:, gate_cols], m_lin[:, :s]], 1)[scalar_rows],
            torch.cat([b_gate_in[gate_cols], b_lin[:s]]),
            m_gate_in[vector_rows][:, vec_cols],
        )
        mixing += [m_gate_in[scalar_rows][:, vec_cols], m_gate_in[vector_rows][:, gate_cols]]
        mixing += [m_lin[vector_rows, :s], b_gate_in[vec_cols]]
    if any(bool((block != 0).any()) for block in mixing):
        return None

    att0, att2 = layer.radial_attention[0], layer.radial_attention[2]
    val0, val2 = layer.radial_values[0], layer.radial_values[2]
    scale = torch.tensor(
        [consts["p0"] * consts["act"]] * s
        + [consts["p1"] * consts["act"]] * v
        + [consts["p2"] * consts["gate"]] * v
        + [consts["p3"] * consts["gate"]] * v,
        dtype=torch.float64,
    )
    per_head = s // heads
    attention = torch.zeros(heads, s, dtype=torch.float64)
    for h in range(heads):
        attention[h, h * per_head : (h + 1) * per_head] = param(layer.attention_vector[h])
    # the attention head of each tensor-product weight (the channels of a path are split
    # into ``heads`` consecutive groups, as in scale_by_head)
    head = torch.cat(
        [
            torch.arange(heads).repeat_interleave(per_head),
            torch.arange(heads).repeat_interleave(v // heads).repeat(3),
        ]
    )

    def final(t: torch.Tensor) -> torch.Tensor:
        return t.to(device=device, dtype=dtype).contiguous()

    return _FusedPlan(
        scalars=s,
        vectors=v,
        radial_hidden=att0.out_features,
        w_src=final(maps["src"][0]),
        b_src=final(maps["src"][1]),
        w_dst=final(maps["dst"][0]),
        b_dst=final(maps["dst"][1]),
        w_vec_src=final(maps["src"][2]),
        w_vec_dst=final(maps["dst"][2]),
        w_radial=final(torch.cat([param(att0.weight), param(val0.weight)], 0).T),
        b_radial=final(torch.cat([param(att0.bias), param(val0.bias)])),
        w_attention=final(param(att2.weight).T),
        b_attention=final(param(att2.bias)),
        attention=final(attention),
        head_expand=final(torch.nn.functional.one_hot(head, heads).T),
        w_values=final(param(val2.weight).T * scale),
        b_values=final(param(val2.bias) * scale),
        w_out_scalars=final(m_values_out[scalar_values][:, :s]),
        b_out=final(b_values_out[:s]),
        w_out_vectors=final(m_values_out[vector_values][:, s:]),
        norm=layer.norm,
    )
