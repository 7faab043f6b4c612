from __future__ import annotations

import numpy as np
import pytest
import torch
from generator_helpers import tiny_config

from crystaloop.ml.generative.crystal import collate_crystals, dense_edges, to_structure
from crystaloop.ml.generative.model import build_model
from crystaloop.ml.generative.samplers import SamplerOptions, sample_crystals


@pytest.mark.parametrize("kind", ["diffusion", "flow"])
@pytest.mark.parametrize("mode", ["csp", "abinitio"])
def test_loss_is_finite_differentiable_and_has_a_type_term_only_ab_initio(crystals, kind, mode):
    torch.manual_seed(0)
    model = build_model(tiny_config(kind, mode, cond_spacegroup=True, cond_eform=True))
    losses = model.loss(collate_crystals(crystals))
    losses["loss"].backward()
    assert torch.isfinite(losses["loss"])
    assert ("type" in losses) == (mode == "abinitio")
    assert all(p.grad is not None for p in model.denoiser.layers.parameters())


def test_a_crystal_larger_than_the_model_maximum_is_refused(crystals):
    model = build_model(tiny_config(max_atoms=4))
    with pytest.raises(ValueError, match="more than the model's maximum 4"):
        model.loss(collate_crystals(crystals))
    with pytest.raises(ValueError, match="1 to 4"):
        sample_crystals(model, [5], [[38, 22, 8, 8, 8]])


def test_dense_edges_connect_every_pair_within_each_crystal_only():
    src, dst = dense_edges(torch.tensor([2, 3]))
    pairs = set(zip(src.tolist(), dst.tolist(), strict=True))
    assert pairs == {(0, 1), (1, 0)} | {(i, j) for i in (2, 3, 4) for j in (2, 3, 4) if i != j}


@pytest.mark.parametrize("kind", ["diffusion", "flow"])
def test_csp_sampling_keeps_the_requested_atoms(kind):
    torch.manual_seed(0)
    model = build_model(tiny_config(kind, "csp"))
    numbers = [[38, 22, 8, 8, 8], [11, 17]]
    out = sample_crystals(model, [5, 2], numbers, options=SamplerOptions(steps=5), batch_size=1)
    assert [o.numbers.tolist() for o in out] == numbers
    for o in out:
        assert o.lattice.shape == (3, 3) and np.isfinite(o.lattice).all()
        assert np.all((o.frac >= 0) & (o.frac < 1))
        to_structure(o.lattice, o.frac, o.numbers)  # a pymatgen Structure can be made


@pytest.mark.parametrize("kind", ["diffusion", "flow"])
def test_ab_initio_sampling_uses_only_training_elements(kind):
    torch.manual_seed(0)
    model = build_model(tiny_config(kind, "abinitio"))
    out = sample_crystals(model, [2, 5, 3], options=SamplerOptions(steps=4))
    assert [o.num_atoms for o in out] == [2, 5, 3]
    assert {int(z) for o in out for z in o.numbers} <= {8, 11, 17, 22, 38}


def test_guided_sampling_runs_and_differs_from_unguided():
    model = build_model(tiny_config("flow", "csp", cond_spacegroup=True, cond_eform=True))
    torch.nn.init.normal_(model.conditions.spacegroup.weight)
    kwargs = {"spacegroup": 221, "eform": -1.0}
    torch.manual_seed(1)
    plain = sample_crystals(model, [2], [[11, 17]], options=SamplerOptions(steps=3), **kwargs)
    torch.manual_seed(1)
    guided = sample_crystals(
        model, [2], [[11, 17]], options=SamplerOptions(steps=3, guidance=3.0), **kwargs
    )
    assert not np.allclose(plain[0].lattice, guided[0].lattice)


def test_conditions_the_model_does_not_take_are_refused():
    model = build_model(tiny_config("flow", "csp"))
    with pytest.raises(ValueError, match="space-group condition"):
        sample_crystals(model, [2], [[11, 17]], spacegroup=225)
    with pytest.raises(ValueError, match="formation-energy condition"):
        sample_crystals(model, [2], [[11, 17]], eform=-1.0)


def test_diffusion_with_fewer_steps_than_t_is_a_strided_sampler():
    torch.manual_seed(0)
    model = build_model(tiny_config("diffusion", "csp"))
    calls = []
    original = model.network

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    model.network = counting
    sample_crystals(model, [2], [[11, 17]], options=SamplerOptions(steps=7, corrector_steps=1))
    assert len(calls) == 14  # one corrector and one predictor evaluation per step
