"""Reconstruction and substitution proposals: masks, draws, exclusions, errors, seeding."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import perovskite, tiny_structures

from crystaloop.ml.masked.proposals import propose
from crystaloop.ml.masked.sampling import mask_inputs, reconstruct


def _sto():
    return [("sto", perovskite())]


def test_a_species_mask_reconstructs_one_element_for_all_its_sites(tiny_masked):
    model, _ = tiny_masked
    inputs = mask_inputs(model, _sto(), "species", 0.1, seed=0, species="O")
    assert inputs[0].masked_species == ["O"] and int(inputs[0].mask.sum()) == 3
    shown = inputs[0].masked_structure()
    assert [str(sp) for sp in shown.species].count("X0+") == 3
    (rec,) = reconstruct(model, inputs, samples=6, seed=1)
    for numbers in rec.numbers:
        assert len(set(numbers[inputs[0].mask].tolist())) == 1
        assert numbers[~inputs[0].mask].tolist() == [38, 22]
    structures = rec.structures()
    assert len(structures) == 6 and structures[0].lattice == perovskite().lattice


def test_the_displacement_head_moves_atoms_back_towards_their_places(tiny_masked):
    model, _ = tiny_masked
    records = tiny_structures()
    inputs = mask_inputs(model, records, "random", 0.1, seed=3)
    recs = reconstruct(model, inputs, samples=1, seed=0)
    before = after = 0.0
    for rec in recs:
        original = rec.input.structure.cart_coords
        noisy = original + rec.input.displacement
        before += float(np.mean((noisy - original) ** 2))
        after += float(np.mean((rec.positions - original) ** 2))
    assert after < before


def test_draws_are_seeded_and_exclusion_bans_the_original(tiny_masked):
    model, _ = tiny_masked
    inputs = mask_inputs(model, tiny_structures(), "species", 0.1, seed=0)
    a = reconstruct(model, inputs, 4, seed=5, exclude_original=True)
    b = reconstruct(model, inputs, 4, seed=5, exclude_original=True)
    for ra, rb in zip(a, b, strict=True):
        assert all(np.array_equal(x, y) for x, y in zip(ra.numbers, rb.numbers, strict=True))
        original = np.array([s.specie.Z for s in ra.input.structure])
        for numbers in ra.numbers:
            assert not (numbers[ra.input.mask] == original[ra.input.mask]).any()


def test_top_k_one_is_the_most_probable_element(tiny_masked):
    model, _ = tiny_masked
    inputs = mask_inputs(model, _sto(), "species", 0.0, seed=0, species="Sr")
    (rec,) = reconstruct(model, inputs, 5, seed=0, top_k=1)
    assert len({tuple(n.tolist()) for n in rec.numbers}) == 1


def test_bad_input_is_named(tiny_masked):
    model, _ = tiny_masked
    unseen = perovskite()
    unseen.replace_species({"Sr": "La"})
    with pytest.raises(ValueError, match=r"lao: element\(s\) La the masked generator never saw"):
        mask_inputs(model, [("lao", unseen)], "species", 0.1, 0)
    with pytest.raises(ValueError, match="sto: no Xe site to mask .* nothing to predict"):
        mask_inputs(model, _sto(), "species", 0.1, 0, species="Xe")
    with pytest.raises(ValueError, match="fraction of 0.0 leaves nothing to predict"):
        mask_inputs(model, _sto(), "random", 0.1, 0, fraction=0.0)
    with pytest.raises(ValueError, match="no prototypes"):
        propose(model, [], 3, 0)
    with pytest.raises(ValueError, match=r"lao: element\(s\) La"):
        propose(model, [("lao", unseen)], 3, 0)
    with pytest.raises(ValueError, match="temperature"):
        propose(model, _sto(), 3, 0, temperature=0.0)


def test_proposals_are_distinct_new_and_prefix_stable(tiny_masked):
    model, _ = tiny_masked
    records = tiny_structures()[:3]
    many = propose(model, records, 40, seed=2)
    keys = [(p.source_id, p.original, p.element) for p in many]
    assert len(keys) == len(set(keys)) == 40
    for p in many:
        here = {site.specie.symbol for site in dict(records)[p.source_id]}
        assert p.original in here and p.element not in here
        assert p.structure.composition[p.element] > 0
    few = propose(model, records, 7, seed=2)
    assert [(p.source_id, p.element) for p in few] == [(p.source_id, p.element) for p in many[:7]]


def test_proposals_run_out_when_every_choice_is_made(tiny_masked):
    model, _ = tiny_masked
    out = propose(model, _sto(), 1000, seed=0, top_k=2)
    assert len(out) == 6  # 3 elements × the top 2 allowed replacements each
