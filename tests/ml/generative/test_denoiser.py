"""Symmetries of the CSPNet denoiser (DESIGN.md §4: every equivariant model ships these tests)."""

from __future__ import annotations

import pytest
import torch
from e3nn import o3
from generator_helpers import tiny_config

from crystaloop.ml.generative.crystal import collate_crystals, dense_edges
from crystaloop.ml.generative.model import build_model


def evaluate(model, batch, lattice=None, frac=None, order=None):
    lattice = batch.lattice if lattice is None else lattice
    frac = batch.frac if frac is None else frac
    types = batch.onehot()
    if order is not None:
        frac, types = frac[order], types[order]
    time = torch.full((batch.num_graphs,), 0.3)
    return model.network(
        types, frac, lattice / 5.0, time, batch.num_atoms, batch.batch, dense_edges(batch.num_atoms)
    )


@pytest.fixture(scope="module", params=["diffusion", "flow"])
def model(request):
    torch.manual_seed(0)
    return build_model(tiny_config(request.param, "abinitio")).double().eval()


@pytest.fixture(scope="module")
def batch(crystals):
    b = collate_crystals(crystals)
    b.lattice, b.frac = b.lattice.double(), b.frac.double()
    return b


def test_rotation_rotates_the_lattice_output_and_leaves_the_rest_unchanged(model, batch):
    rot = o3.rand_matrix(dtype=torch.float64)
    lat, coord, types = evaluate(model, batch)
    lat_r, coord_r, types_r = evaluate(model, batch, lattice=batch.lattice @ rot.T)
    assert torch.allclose(lat_r, lat @ rot.T, atol=1e-9)
    assert torch.allclose(coord_r, coord, atol=1e-9) and torch.allclose(types_r, types, atol=1e-9)


def test_periodic_translation_leaves_every_output_unchanged(model, batch):
    shift = torch.tensor([0.31, -0.72, 1.45], dtype=torch.float64)
    out = evaluate(model, batch)
    moved = evaluate(model, batch, frac=torch.remainder(batch.frac + shift, 1.0))
    for a, b in zip(out, moved, strict=True):
        assert torch.allclose(a, b, atol=1e-9)


def test_permuting_atoms_permutes_the_atom_outputs(model, batch):
    # permute within each crystal: crystal 0 holds atoms 0-4
    order = torch.tensor([3, 0, 4, 1, 2, 6, 5, 8, 7])
    lat, coord, types = evaluate(model, batch)
    lat_p, coord_p, types_p = evaluate(model, batch, order=order)
    assert torch.allclose(lat_p, lat, atol=1e-9)
    assert torch.allclose(coord_p, coord[order], atol=1e-9)
    assert torch.allclose(types_p, types[order], atol=1e-9)


def test_a_crystal_gets_the_same_outputs_alone_and_in_a_batch(model, crystals):
    full = collate_crystals(crystals)
    alone = collate_crystals(crystals[1:2])
    for b in (full, alone):
        b.lattice, b.frac = b.lattice.double(), b.frac.double()
    _, coord_full, _ = evaluate(model, full)
    _, coord_alone, _ = evaluate(model, alone)
    assert torch.allclose(coord_full[5:7], coord_alone, atol=1e-9)
