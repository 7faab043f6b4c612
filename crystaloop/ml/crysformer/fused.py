"""The fused inference path of :class:`~crystaloop.ml.crysformer.layers.EquivariantGraphAttention`.

For ``S x 0e + V x 1o`` node features with ``0e + 1o`` harmonics and no gradient or dropout, the
layer's linear maps, gate and tensor product are composed into a few dense matrices
(:class:`_FusedPlan`): the same function, checked against the e3nn modules on random inputs
when its constants are read off them, at a fraction of the cost.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from e3nn import o3
from torch import nn

from crystaloop.ml.crysformer.layers import scatter_softmax

if TYPE_CHECKING:
    from crystaloop.ml.crysformer.layers import EquivariantGraphAttention


def fused_forward(
    x: torch.Tensor,
    edge_index: torch.Tensor,
    edge_sh: torch.Tensor,
    edge_rbf: torch.Tensor,
    plan: _FusedPlan,
    radial_index: torch.Tensor | None = None,
) -> torch.Tensor:
    """``EquivariantGraphAttention.forward`` for ``S x 0e + V x 1o`` features in inference.

    ``plan`` holds the layer's composed weights (:class:`_FusedPlan`).
    """
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


def probe_fused_constants(layer: EquivariantGraphAttention) -> dict[str, float] | None:
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


def build_fused_plan(
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
