"""Crysformer is invariant to rotations, translations, atom order and the choice of unit cell."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from e3nn import o3
from e3nn.util.test import assert_equivariant
from helpers import nacl, perovskite
from pymatgen.core import Lattice, Structure

from crystaloop.ml.crysformer.config import CrysformerConfig
from crystaloop.ml.crysformer.layers import EquivariantGraphAttention
from crystaloop.ml.crysformer.model import Crysformer
from crystaloop.ml.data.batch import collate
from crystaloop.ml.data.graph import knn_graph


def _distorted():
    """A low-symmetry ternary crystal (so nothing is invariant by accident)."""
    rng = np.random.default_rng(0)
    base = perovskite(3.9)
    lattice = Lattice(base.lattice.matrix + rng.normal(0, 0.15, (3, 3)))
    coords = base.frac_coords + rng.normal(0, 0.03, base.frac_coords.shape)
    return Structure(lattice, base.species, coords)


@pytest.fixture(scope="module", params=[1, 2], ids=["lmax1", "lmax2"])
def model(request):
    torch.manual_seed(0)
    config = CrysformerConfig(
        targets=["e", "gap"],
        lmax=request.param,
        scalar_channels=16,
        vector_channels=8,
        tensor_channels=4,
        num_layers=2,
        heads=4,
    )
    return Crysformer(config).double().eval()


def _predict(model, structures):
    batch = collate(
        [knn_graph(s, k=model.config.k, cutoff=model.config.cutoff) for s in structures]
    )
    with torch.no_grad():
        return model(batch.to("cpu", torch.float64))


def test_attention_layer_is_equivariant():
    torch.manual_seed(0)
    irreps = o3.Irreps("8x0e + 4x1o + 4x2e")
    sh = o3.Irreps.spherical_harmonics(2)
    layer = EquivariantGraphAttention(
        irreps, sh, num_rbf=8, radial_hidden=8, heads=4, dropout=0.0
    ).double()
    edge_index = torch.tensor([[1, 2, 0, 2, 0, 1], [0, 0, 1, 1, 2, 2]])
    rbf = torch.rand(6, 8, dtype=torch.float64)

    def func(x, vec):
        edge_sh = o3.spherical_harmonics(sh, vec, normalize=True, normalization="component")
        return layer(x, edge_index, edge_sh, rbf)

    assert_equivariant(
        func,
        args_in=[
            torch.randn(3, irreps.dim, dtype=torch.float64),
            torch.randn(6, 3, dtype=torch.float64),
        ],
        irreps_in=[irreps, "1o"],
        irreps_out=[irreps],
    )


def test_rotation_and_translation(model):
    from scipy.spatial.transform import Rotation

    s = _distorted()
    rot = Rotation.random(random_state=3).as_matrix()
    rotated = Structure(Lattice(s.lattice.matrix @ rot.T), s.species, s.frac_coords)
    shifted = Structure(s.lattice, s.species, s.frac_coords + np.array([0.31, -0.12, 0.77]))
    out = _predict(model, [s, rotated, shifted])
    torch.testing.assert_close(out[1], out[0], atol=1e-9, rtol=1e-7)
    torch.testing.assert_close(out[2], out[0], atol=1e-9, rtol=1e-7)


def test_permutation_of_atoms(model):
    s = _distorted()
    perm = [3, 0, 4, 2, 1]
    permuted = Structure(s.lattice, [s.species[i] for i in perm], s.frac_coords[perm])
    out = _predict(model, [s, permuted])
    torch.testing.assert_close(out[1], out[0], atol=1e-9, rtol=1e-7)


def test_choice_of_unit_cell(model):
    s = _distorted()
    supercell = s * (2, 1, 3)
    other_cell = s.copy()
    other_cell.make_supercell([[1, 1, 0], [0, 1, 0], [0, 0, 1]])  # same lattice, other basis
    out = _predict(model, [s, supercell, other_cell])
    torch.testing.assert_close(out[1], out[0], atol=1e-8, rtol=1e-6)
    torch.testing.assert_close(out[2], out[0], atol=1e-8, rtol=1e-6)
    conventional = nacl()
    primitive = conventional.get_primitive_structure()
    out = _predict(model, [conventional, primitive])
    torch.testing.assert_close(out[1], out[0], atol=1e-8, rtol=1e-6)


def test_batch_consistency(model):
    structures = [_distorted(), nacl(), perovskite(4.1)]
    together = _predict(model, structures)
    alone = torch.cat([_predict(model, [s]) for s in structures])
    torch.testing.assert_close(together, alone, atol=1e-10, rtol=1e-8)


def test_different_crystals_differ(model):
    out = _predict(model, [perovskite(3.9), perovskite(4.3), nacl()])
    assert not torch.allclose(out[0], out[1])
    assert not torch.allclose(out[0], out[2])
