"""Crysformer's fast inference paths compute the same function as the reference paths.

``data/crysformer_reference.json.gz`` holds 42 structures (Perov-5, Carbon-24, Matbench and a few
edge cases), their kNN graphs and the shipped models' scores and member predictions, all
computed with the code as it was before the fast paths (commit 7f023e9).
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from e3nn import o3
from helpers import nacl, perovskite
from pymatgen.core import Lattice, Structure

from crystaloop.ml.crysformer import model as model_module
from crystaloop.ml.crysformer.config import CrysformerConfig
from crystaloop.ml.crysformer.ensemble import CrysformerEnsemble
from crystaloop.ml.crysformer.layers import (
    EquivariantGraphAttention,
    EquivariantLayerNorm,
    scale_by_head,
)
from crystaloop.ml.crysformer.model import Crysformer
from crystaloop.ml.crysformer.scoring import score_structures
from crystaloop.ml.data.batch import collate
from crystaloop.ml.data.dataset import InMemoryGraphs, build_samples
from crystaloop.ml.data.graph import knn_graph, knn_graphs

REFERENCE = Path(__file__).parent / "data" / "crysformer_reference.json.gz"


@pytest.fixture(scope="module")
def reference() -> dict:
    with gzip.open(REFERENCE, "rt", encoding="utf-8") as handle:
        return json.load(handle)


@pytest.fixture(scope="module")
def reference_structures(reference) -> list[tuple[str, Structure]]:
    return [(sid, Structure.from_dict(reference["structures"][sid])) for sid in reference["order"]]


# -- reference implementations (the code before the fast paths) -----------------------------


def _loop_layer_norm(norm: EquivariantLayerNorm, x: torch.Tensor) -> torch.Tensor:
    out, start, scalar_at, vector_at = [], 0, 0, 0
    for mul, ir in norm.irreps:
        block = x[:, start : start + mul * ir.dim]
        start += mul * ir.dim
        if ir.l == 0:
            mean = block.mean(dim=1, keepdim=True)
            var = block.var(dim=1, unbiased=False, keepdim=True)
            block = (block - mean) / torch.sqrt(var + norm.eps)
            w = norm.scalar_weight[scalar_at : scalar_at + mul]
            b = norm.scalar_bias[scalar_at : scalar_at + mul]
            out.append(block * w + b)
            scalar_at += mul
        else:
            vec = block.reshape(-1, mul, ir.dim)
            rms = torch.sqrt(vec.pow(2).sum(-1).mean(-1, keepdim=True) + norm.eps)
            w = norm.vector_weight[vector_at : vector_at + mul]
            out.append((vec / rms[:, :, None] * w[None, :, None]).reshape(-1, mul * ir.dim))
            vector_at += mul
    return torch.cat(out, dim=1)


def _loop_scale_by_head(values, alpha, irreps, heads):
    out, start = [], 0
    for mul, ir in irreps:
        block = values[:, start : start + mul * ir.dim].reshape(-1, heads, mul // heads, ir.dim)
        out.append((block * alpha[:, :, None, None]).reshape(-1, mul * ir.dim))
        start += mul * ir.dim
    return torch.cat(out, dim=1)


def _perturbed(module: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Move every parameter away from its initial value (biases and norms included)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=gen, dtype=p.dtype))
    return module


def _random_graph(n: int, e: int, dtype: torch.dtype, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    dst = torch.sort(torch.randint(0, n, (e,), generator=gen)).values
    src = torch.randint(0, n, (e,), generator=gen)
    vec = torch.randn(e, 3, generator=gen, dtype=dtype)
    return torch.stack([src, dst]), vec


# -- layers ------------------------------------------------------------------------------------


def test_layer_norm_and_scale_by_head_match_the_loops():
    torch.manual_seed(0)
    irreps = o3.Irreps("8x0e + 4x1o + 4x2e")
    norm = _perturbed(EquivariantLayerNorm(irreps))
    x = torch.randn(7, irreps.dim, dtype=torch.float32)
    assert torch.allclose(norm(x), _loop_layer_norm(norm, x), atol=1e-5)
    values, alpha = torch.randn(9, irreps.dim), torch.rand(9, 4)
    assert torch.equal(
        scale_by_head(values, alpha, irreps, 4), _loop_scale_by_head(values, alpha, irreps, 4)
    )


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("normalization", ["component", "norm"])
@pytest.mark.parametrize("shape", [(64, 16, 4), (16, 8, 2)])
def test_fused_attention_layer_is_the_e3nn_layer(dtype, normalization, shape):
    scalars, vectors, heads = shape
    torch.manual_seed(1)
    irreps_sh = o3.Irreps.spherical_harmonics(1)
    layer = EquivariantGraphAttention(
        f"{scalars}x0e + {vectors}x1o", irreps_sh, 12, 10, heads, 0.1
    ).to(dtype)
    _perturbed(layer).eval()
    n = 30
    edge_index, vec = _random_graph(n, 400, dtype)
    edge_sh = o3.spherical_harmonics(irreps_sh, vec, True, normalization)
    rbf = torch.rand(400, 12, dtype=dtype)
    x = torch.randn(n, layer.irreps.dim, dtype=dtype)
    reference = layer(x, edge_index, edge_sh, rbf)  # autograd on: the e3nn modules
    with torch.no_grad():
        assert layer._fused_plan(dtype, x.device) is not None
        fused = layer(x, edge_index, edge_sh, rbf)
        # the radial features given once per distinct row
        distinct, index = torch.unique(rbf[torch.arange(400) % 50], dim=0, return_inverse=True)
        shared = layer(x, edge_index, edge_sh, distinct, index)
        expanded = layer(x, edge_index, edge_sh, distinct[index])
    tol = {"atol": 1e-5, "rtol": 1e-5} if dtype == torch.float32 else {"atol": 1e-11, "rtol": 0}
    torch.testing.assert_close(fused, reference.detach(), **tol)
    torch.testing.assert_close(shared, expanded, **tol)


def test_fused_path_is_not_taken_for_lmax2_training_or_mc_dropout():
    torch.manual_seed(2)
    sh2 = o3.Irreps.spherical_harmonics(2)
    assert (
        EquivariantGraphAttention("8x0e + 4x1o + 4x2e", sh2, 8, 8, 4, 0.0)._fused_plan(
            torch.float32, torch.device("cpu")
        )
        is None
    )
    sh1 = o3.Irreps.spherical_harmonics(1)
    layer = EquivariantGraphAttention("8x0e + 4x1o", sh1, 8, 8, 4, 0.5).train()
    edge_index, vec = _random_graph(6, 30, torch.float32)
    edge_sh = o3.spherical_harmonics(sh1, vec, True, "component")
    x, rbf = torch.randn(6, layer.irreps.dim), torch.rand(30, 8)
    with torch.no_grad():  # dropout on: each call draws a new mask (the e3nn path)
        assert not torch.equal(
            layer(x, edge_index, edge_sh, rbf), layer(x, edge_index, edge_sh, rbf)
        )


def test_fused_plan_follows_new_weights():
    torch.manual_seed(3)
    sh1 = o3.Irreps.spherical_harmonics(1)
    layer = EquivariantGraphAttention("16x0e + 4x1o", sh1, 8, 8, 4, 0.0).eval()
    other = _perturbed(EquivariantGraphAttention("16x0e + 4x1o", sh1, 8, 8, 4, 0.0), seed=5)
    edge_index, vec = _random_graph(10, 80, torch.float32)
    edge_sh = o3.spherical_harmonics(sh1, vec, True, "component")
    x, rbf = torch.randn(10, layer.irreps.dim), torch.rand(80, 8)
    with torch.no_grad():
        before = layer(x, edge_index, edge_sh, rbf)
        layer.load_state_dict(other.state_dict())
        after = layer(x, edge_index, edge_sh, rbf)
    assert not torch.allclose(before, after)
    torch.testing.assert_close(
        after, layer(x, edge_index, edge_sh, rbf).detach(), atol=1e-5, rtol=1e-5
    )


# -- the model ---------------------------------------------------------------------------------


def _distorted(seed: int) -> Structure:
    rng = np.random.default_rng(seed)
    base = perovskite(3.9)
    lattice = Lattice(base.lattice.matrix + rng.normal(0, 0.2, (3, 3)))
    return Structure(lattice, base.species, base.frac_coords + rng.normal(0, 0.05, (5, 3)))


@pytest.fixture(scope="module")
def structures() -> list[Structure]:
    return [perovskite(), nacl(), nacl(5.9), perovskite() * (2, 1, 1)] + [
        _distorted(seed) for seed in range(8)
    ]


def _model(dtype: torch.dtype = torch.float32, lmax: int = 1) -> Crysformer:
    torch.manual_seed(4)
    model = Crysformer(CrysformerConfig(targets=["a", "b"], num_layers=2, lmax=lmax))
    _perturbed(model)
    with torch.no_grad():
        model.target_mean[:] = torch.tensor([0.5, -1.0])
        model.target_std[:] = torch.tensor([2.0, 0.3])
    return model.to(dtype).eval()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_model_inference_is_the_autograd_path(dtype, structures, monkeypatch):
    model = _model(dtype)
    batch = collate([knn_graph(s) for s in structures]).to("cpu", dtype)
    reference = model.predict(batch).detach()  # autograd on: e3nn modules, no caches, one part
    monkeypatch.setattr(model_module, "EDGE_CHUNK", 150)  # several parts of whole crystals
    with torch.inference_mode():
        assert len(batch.parts(150)) > 2
        fast = model.predict(batch)
    tol = {"atol": 1e-5, "rtol": 1e-5} if dtype == torch.float32 else {"atol": 1e-10, "rtol": 0}
    torch.testing.assert_close(fast, reference, **tol)


def test_lmax2_model_still_predicts_the_same(structures):
    model = _model(lmax=2)
    batch = collate([knn_graph(s) for s in structures[:5]])
    reference = model.predict(batch).detach()
    with torch.no_grad():
        torch.testing.assert_close(model.predict(batch), reference, atol=1e-5, rtol=1e-5)


def test_edge_features_are_computed_once_per_batch_and_follow_changes(structures):
    model = _model()
    batch = collate([knn_graph(s) for s in structures])
    with torch.no_grad():
        first = model.predict(batch)
        cached = [k for k in batch.cache if k[0] == "edge_features"]
        assert len(cached) == 1
        entry = batch.cache[cached[0]]
        twin = Crysformer(model.config)  # another member: same features, same cache entry
        twin.predict(batch)
        assert batch.cache[cached[0]] is entry
        batch.edge_vec.mul_(1.05)  # changed in place: recomputed
        changed = model.predict(batch)
        fresh = collate([knn_graph(s) for s in structures])
        fresh.edge_vec.mul_(1.05)
        torch.testing.assert_close(changed, model.predict(fresh))
    assert not torch.allclose(first, changed)
    assert not dataclasses.replace(batch).cache and not batch.to("cpu").cache


def test_batch_parts_are_the_crystals_in_order(structures):
    graphs = [knn_graph(s) for s in structures]
    batch = collate(graphs)
    parts = batch.parts(100)
    assert len(parts) > 3 and batch.parts(100) is parts
    assert sum(p.num_graphs for p in parts) == len(graphs)
    assert all(p.edge_index.shape[1] < 100 + max(g.num_edges for g in graphs) for p in parts)
    torch.testing.assert_close(torch.cat([p.edge_vec for p in parts]), batch.edge_vec)
    at = 0
    for part in parts:
        expected = collate(graphs[at : at + part.num_graphs])
        for field in ("atomic_numbers", "edge_index", "edge_vec", "batch"):
            assert torch.equal(getattr(part, field), getattr(expected, field))
        at += part.num_graphs
    shuffled = dataclasses.replace(batch, edge_index=batch.edge_index.flip(1))
    assert shuffled.parts(100) == [shuffled]


# -- graphs ------------------------------------------------------------------------------------


def _canonical(graph):
    key = np.lexsort((*graph.edge_vec.T[::-1], graph.edge_index[0], graph.edge_index[1]))
    return graph.edge_index[:, key], graph.edge_vec[key]


def _assert_same_graph(got, expected):
    assert np.array_equal(got.atomic_numbers, expected.atomic_numbers)
    (ei_got, vec_got), (ei_exp, vec_exp) = _canonical(got), _canonical(expected)
    assert np.array_equal(ei_got, ei_exp)
    np.testing.assert_allclose(vec_got, vec_exp, rtol=0, atol=1e-6)
    # each atom's edges come in order of distance
    for center in np.unique(got.edge_index[1]):
        d = np.linalg.norm(got.edge_vec[got.edge_index[1] == center], axis=1)
        assert np.all(np.diff(d) >= -1e-5)


def test_knn_graph_is_unchanged(reference, reference_structures):
    for sid, structure in reference_structures:
        graph, saved = knn_graph(structure), reference["graphs"][sid]
        assert graph.atomic_numbers.tolist() == saved["atomic_numbers"]
        assert graph.edge_index.tolist() == saved["edge_index"]
        assert np.array_equal(graph.edge_vec, np.array(saved["edge_vec"], dtype=np.float32))


def _edge_cases() -> list[Structure]:
    rng = np.random.default_rng(7)
    cases = [
        Structure(Lattice.cubic(10.5), ["Na"], [[0, 0, 0]]),  # needs a 16 Å search
        Structure(Lattice.cubic(2.5), ["Po"], [[0.3, 0.2, 0.1]]),
        Structure(Lattice.orthorhombic(3, 3, 20), ["Si", "Si"], [[0, 0, 0], [0.5, 0.5, 0.1]]),
        Structure(Lattice.orthorhombic(4, 4, 40), ["C"] * 3, rng.random((3, 3)) * [1, 1, 0.1]),
        Structure(  # fractional coordinates outside [0, 1)
            Lattice.from_parameters(3, 4, 5, 70, 100, 115),
            ["Ga", "As", "Ga"],
            [[-1.2, 0.0, 3.0], [0.25, 2.3, -0.73], [0.6, 0.1, 0.8]],
        ),
        Structure(  # a very oblique cell
            Lattice([[4, 0, 0], [3.9, 0.5, 0], [0.2, 0.3, 4]]), ["Cu", "Zn"], rng.random((2, 3))
        ),
        Structure(  # two atoms on top of each other
            Lattice.cubic(4), ["Fe", "Fe", "O"], [[0, 0, 0], [0, 0, 0], [0.5, 0.5, 0.5]]
        ),
        Structure(  # not periodic along c
            Lattice(np.eye(3) * 5, pbc=(True, True, False)), ["Na", "Cl"], [[0, 0, 0], [0.5] * 3]
        ),
        Structure(  # a tight cluster: its 12th neighbours are further than the density says
            Lattice.cubic(6), ["H"] * 6, 0.5 + rng.normal(0, 0.06, (6, 3))
        ),
        perovskite() * (2, 2, 1),
        nacl(),
    ]
    for n in (1, 2, 5, 9, 16):
        lattice = Lattice(np.diag(rng.uniform(3, 6, 3)) * n ** (1 / 3) + rng.normal(0, 0.6, (3, 3)))
        cases.append(
            Structure(
                lattice, ["O", "Mg", "Al"] * n + ["K"] * (n % 3), rng.random((3 * n + n % 3, 3))
            )
        )
    return cases


@pytest.mark.parametrize(
    ("first_sphere", "max_pairs", "max_atoms"),
    [
        (2.0, 1 << 19, 256),
        (0.4, 1 << 19, 256),  # most structures settle in the second search
        (2.0, 60, 8),  # searched in many parts; larger cells left to knn_graph
    ],
)
def test_knn_graphs_are_the_knn_graphs(
    reference_structures, first_sphere, max_pairs, max_atoms, monkeypatch
):
    from crystaloop.ml.data import graph as graph_module

    monkeypatch.setattr(graph_module, "FIRST_SPHERE", first_sphere)
    monkeypatch.setattr(graph_module, "MAX_PAIRS", max_pairs)
    monkeypatch.setattr(graph_module, "MAX_BATCHED_ATOMS", max_atoms)
    structures = [s for _, s in reference_structures] + _edge_cases()
    for k, tie_tol in ((12, 1e-3), (4, 1e-3), (12, 0.05)):
        graphs = knn_graphs(structures, k=k, tie_tol=tie_tol)
        assert len(graphs) == len(structures)
        for structure, graph in zip(structures, graphs, strict=True):
            _assert_same_graph(graph, knn_graph(structure, k=k, tie_tol=tie_tol))


def test_knn_graphs_on_real_crystals(shared_data):
    import csv
    import sys

    csv.field_size_limit(sys.maxsize)
    with open(shared_data / "perov_5" / "val.csv", newline="", encoding="utf-8") as handle:
        rows = [row for _, row in zip(range(150), csv.DictReader(handle), strict=False)]
    structures = [Structure.from_str(row["cif"], fmt="cif") for row in rows]
    with gzip.open(shared_data / "matbench_dielectric" / "matbench_dielectric.json.gz", "rt") as fh:
        table = json.load(fh)["structure"]
    small = [d for d in table.values() if len(d["sites"]) <= 20]
    structures += [Structure.from_dict(d) for d in small[:: max(1, len(small) // 300)]]
    for structure, graph in zip(structures, knn_graphs(structures), strict=True):
        _assert_same_graph(graph, knn_graph(structure))


# -- the shipped models ------------------------------------------------------------------------


def _models_as_saved(reference):
    from crystaloop.ml.shipped import shipped_model_dir

    for name, saved in reference["predictions"].items():
        directory = shipped_model_dir(name)
        if directory is None:
            continue
        digest = hashlib.sha256((directory / "model.pt").read_bytes()).hexdigest()
        if digest == saved["sha256"]:  # a retrained model predicts differently: not compared
            yield name, directory, saved


def test_shipped_models_score_as_before(reference, reference_structures):
    from crystaloop.ml.checkpoint import load_ensemble

    compared = 0
    for name, directory, saved in _models_as_saved(reference):
        ensemble = load_ensemble(directory)
        scores = score_structures(ensemble, reference_structures, batch_size=7)
        assert scores.unscorable == saved["unscorable"], name
        assert list(scores.scores) == list(saved["scores"]), name
        for sid, targets in saved["scores"].items():
            for target, values in targets.items():
                got = scores.scores[sid][target]
                for key in ("mean", "confidence", "tolerance"):
                    assert got[key] == pytest.approx(values[key], rel=1e-5, abs=1e-6), (name, sid)
                for key in ("std", "std_raw"):  # a difference of members: absolute
                    assert got[key] == pytest.approx(values[key], rel=1e-4, abs=1e-5), (name, sid)
        config = ensemble.config
        nan = np.full(len(config.targets), np.nan, np.float32)
        keep = [(sid, s, nan) for sid, s in reference_structures if sid in saved["ids"]]
        source = InMemoryGraphs(list(build_samples(keep, config.k, config.cutoff)), config.targets)
        with torch.no_grad():  # the fused weights were built in inference mode by the scoring
            for member, expected in zip(ensemble.members, saved["member_predictions"], strict=True):
                member.eval()
                got = np.concatenate([member.predict(g).numpy() for g, _, _ in source.batches(5)])
                np.testing.assert_allclose(got, np.array(expected), rtol=1e-5, atol=1e-6)
        compared += 1
    assert compared >= 2  # perov5 and carbon24 at least


def test_scoring_shares_edge_features_between_members(structures):
    members = [_model(), _model()]
    for m in members[1:]:
        _perturbed(m, seed=9)
    for m in members:
        m.seen_elements[:] = True
    ensemble = CrysformerEnsemble(members)
    items = [(str(i), s) for i, s in enumerate(structures)]
    scores = score_structures(ensemble, items, batch_size=5)
    graphs = [knn_graph(s) for s in structures]
    with torch.no_grad():
        preds = [m.predict(collate(graphs)).numpy() for m in members]
    mean = np.mean(preds, axis=0)
    for i, (sid, _) in enumerate(items):
        assert scores.scores[sid]["a"]["mean"] == pytest.approx(mean[i, 0], rel=1e-5, abs=1e-6)
