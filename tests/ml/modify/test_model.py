"""The structure modifiers: configuration, source conditioning, losses, sampling, checkpoints."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pymatgen.core import Lattice, Structure

from crystaloop.ml.generative.config import GeneratorConfig
from crystaloop.ml.generative.crystal import crystal_arrays, dense_edges
from crystaloop.ml.generative.model import build_model
from crystaloop.ml.generative.samplers import SamplerOptions
from crystaloop.ml.modify.checkpoint import load_modifier, save_modifier
from crystaloop.ml.modify.model import ModifierConfig, build_modifier, init_from_generator
from crystaloop.ml.modify.pairs import collate_pairs, polymorph_groups, polymorph_pairs
from crystaloop.ml.modify.sampling import modify_crystals

TINY = {"hidden": 16, "layers": 2, "n_freq": 4, "time_dim": 8, "timesteps": 20}


def tiny_config(kind: str = "flow", prior: str = "noise", **kw) -> ModifierConfig:
    generator = GeneratorConfig(
        kind=kind, mode="csp", cond_eform=True, elements=[11, 17], max_atoms=8, **TINY, **kw
    )
    return ModifierConfig(generator, prior=prior)


@pytest.fixture(scope="module")
def pairs():
    rs = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.6), ["Na", "Cl"], [[0] * 3, [0.5] * 3])
    cs = Structure(Lattice.cubic(3.4), ["Na", "Cl"], [[0] * 3, [0.5] * 3])
    crystals = [
        crystal_arrays(rs, eform=-3.2, source_id="rs"),
        crystal_arrays(cs, eform=-2.9, source_id="cs"),
        crystal_arrays(cs.copy().scale_lattice(45.0), eform=-2.7, source_id="cs2"),
    ]
    return polymorph_pairs(polymorph_groups(crystals))


def test_configuration_checks_and_round_trip():
    with pytest.raises(ValueError, match="must be csp"):
        ModifierConfig(GeneratorConfig(mode="abinitio", cond_eform=True))
    with pytest.raises(ValueError, match="cond_eform"):
        ModifierConfig(GeneratorConfig(mode="csp"))
    with pytest.raises(ValueError, match="needs kind='flow'"):
        tiny_config("diffusion", prior="source")
    config = tiny_config("flow", prior="source")
    assert ModifierConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="unknown modifier configuration keys: extra"):
        ModifierConfig.from_dict({**config.to_dict(), "extra": 1})


@pytest.mark.parametrize("kind", ["diffusion", "flow"])
def test_a_new_modifier_starts_as_the_generator_it_is_initialised_from(kind, pairs):
    torch.manual_seed(0)
    config = tiny_config(kind)
    generator = build_model(GeneratorConfig(**{**config.generator.to_dict(), "cond_eform": False}))
    modifier = build_modifier(config)
    init_from_generator(modifier, generator)
    batch = collate_pairs(pairs)
    edges = dense_edges(batch.num_atoms)
    args = (batch.onehot(), batch.frac, batch.lattice, torch.full((2,), 0.5))
    rest = (batch.num_atoms, batch.batch, edges)
    theirs = generator.network(*args, *rest)
    context = modifier.source_context(
        batch.source_frac, batch.source_lattice, batch.num_atoms, edges
    )
    mine = modifier.network(*args, *rest, eform=batch.eform, **context)
    for a, b in zip(theirs[:2], mine[:2], strict=True):
        assert torch.allclose(a, b, atol=1e-6)
    # once the source encoder has weights, the source changes the output
    torch.nn.init.normal_(modifier.source_encoder.node[-1].weight)
    torch.nn.init.normal_(modifier.source_encoder.edge[-1].weight)
    other = batch.source_frac.clone()
    other[0] = torch.remainder(other[0] + 0.2, 1)  # one source atom elsewhere
    moved = modifier.network(
        *args,
        *rest,
        eform=batch.eform,
        **modifier.source_context(other, batch.source_lattice, batch.num_atoms, edges),
    )
    assert not torch.allclose(moved[1], mine[1])


def test_a_modifier_needs_its_source_and_a_generator_takes_no_context(pairs):
    batch = collate_pairs(pairs)
    edges = dense_edges(batch.num_atoms)
    args = (batch.onehot(), batch.frac, batch.lattice, torch.full((2,), 0.5))
    rest = (batch.num_atoms, batch.batch, edges)
    with pytest.raises(ValueError, match="needs its source"):
        build_modifier(tiny_config()).network(*args, *rest)
    plain = build_model(GeneratorConfig(**TINY))
    with pytest.raises(TypeError, match="takes no context"):
        plain.network(*args, *rest, source_frac=batch.frac)


def test_init_refuses_a_generator_of_another_size():
    with pytest.raises(ValueError, match="hidden"):
        init_from_generator(
            build_modifier(tiny_config()),
            build_model(GeneratorConfig(**{**TINY, "hidden": 32, "kind": "flow"})),
        )


@pytest.mark.parametrize(("kind", "prior"), [("diffusion", "noise"), ("flow", "source")])
def test_losses_are_finite_and_train(kind, prior, pairs):
    torch.manual_seed(0)
    model = build_modifier(tiny_config(kind, prior))
    loss = model.loss(collate_pairs(pairs))
    assert torch.isfinite(loss["loss"])
    loss["loss"].backward()
    grads = [p.grad for p in model.source_encoder.parameters() if p.grad is not None]
    assert grads and any(float(g.abs().sum()) > 0 for g in grads)


@pytest.mark.parametrize(("kind", "prior"), [("diffusion", "noise"), ("flow", "source")])
def test_modify_keeps_the_atoms_is_seeded_and_round_trips(kind, prior, pairs, tmp_path):
    model = build_modifier(tiny_config(kind, prior))
    sources = [p.source for p in pairs]
    options = SamplerOptions(steps=5)
    out = modify_crystals(model, sources, 3, [0.3, 0.5], seed=1, options=options)
    assert [len(row) for row in out] == [3, 3]
    for source, row in zip(sources, out, strict=True):
        for crystal in row:
            assert sorted(crystal.numbers) == sorted(source.numbers)
            assert crystal.source_id == source.source_id
            assert np.all(np.isfinite(crystal.lattice))
    again = modify_crystals(model, sources, 3, [0.3, 0.5], seed=1, options=options)
    assert np.allclose(out[1][2].frac, again[1][2].frac)
    save_modifier(model, tmp_path / "m")
    loaded = load_modifier(tmp_path / "m")
    third = modify_crystals(loaded, sources, 3, [0.3, 0.5], seed=1, options=options)
    assert np.allclose(out[0][1].lattice, third[0][1].lattice, atol=1e-5)


def test_bad_sources_are_named(pairs):
    model = build_modifier(tiny_config())
    k = crystal_arrays(
        Structure(Lattice.cubic(3), ["K", "Cl"], [[0] * 3, [0.5] * 3]), source_id="kcl"
    )
    with pytest.raises(ValueError, match=r"kcl: element\(s\) K the modifier never saw"):
        modify_crystals(model, [k], 1, 0.1)
    with pytest.raises(ValueError, match="samples must be at least 1"):
        modify_crystals(model, [pairs[0].source], 0, 0.1)
    with pytest.raises(ValueError, match="delta_e has 2 values for 1 sources"):
        modify_crystals(model, [pairs[0].source], 1, [0.1, 0.2])
    with pytest.raises(ValueError, match="finite"):
        modify_crystals(model, [pairs[0].source], 1, float("nan"))
    with pytest.raises(ValueError, match="space-group"):
        modify_crystals(model, [pairs[0].source], 1, 0.1, spacegroup=225)
    many = crystal_arrays(
        Structure(Lattice.cubic(9), ["Na", "Cl"] * 5, np.random.default_rng(0).random((10, 3))),
        primitive=False,
        source_id="big",
    )
    with pytest.raises(ValueError, match="big: 10 atoms .* maximum 8"):
        modify_crystals(model, [many], 1, 0.1)
