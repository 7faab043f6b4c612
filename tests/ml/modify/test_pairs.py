"""Polymorph groups, atom alignment, pairs and the group split of the structure modifier."""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from crystaloop.ml.data.split import SplitPlan
from crystaloop.ml.generative.crystal import CrystalArrays, crystal_arrays
from crystaloop.ml.modify.fit import pair_splits
from crystaloop.ml.modify.pairs import (
    align_to_source,
    collate_pairs,
    group_key,
    polymorph_groups,
    polymorph_pairs,
)


def rocksalt(a: float = 5.6) -> Structure:
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(a), ["Na", "Cl"], [[0] * 3, [0.5] * 3])


def cscl(a: float = 3.4) -> Structure:
    return Structure(Lattice.cubic(a), ["Na", "Cl"], [[0] * 3, [0.5] * 3])


def arrays(structure: Structure, energy: float, name: str) -> CrystalArrays:
    return crystal_arrays(structure, eform=energy, source_id=name)


def test_group_key_is_the_formula_per_primitive_cell():
    assert group_key(arrays(rocksalt(), -3.0, "r")) == "Na1Cl1"
    assert group_key(arrays(rocksalt(), -3.0, "r")) == group_key(arrays(cscl(), -2.0, "c"))


def test_groups_are_sorted_by_energy_and_singletons_left_out():
    items = [
        arrays(cscl(), -2.9, "cscl"),
        arrays(rocksalt(), -3.2, "rs"),
        arrays(rocksalt(5.9), -3.0, "rs-strained"),
        arrays(Structure(Lattice.cubic(3.0), ["Cu"], [[0, 0, 0]]), -4.0, "cu"),
    ]
    groups = polymorph_groups(items)
    assert list(groups) == ["Na1Cl1"]
    assert [c.source_id for c in groups["Na1Cl1"]] == ["rs", "rs-strained", "cscl"]


def test_a_record_without_an_energy_is_named():
    with pytest.raises(ValueError, match="record cscl: no energy per atom"):
        polymorph_groups([arrays(cscl(), float("nan"), "cscl")])


def test_alignment_undoes_a_permutation_and_a_translation():
    source = crystal_arrays(
        Structure(
            Lattice.cubic(5.0),
            ["Si", "Si", "O", "O"],
            [[0.1, 0.2, 0.3], [0.6, 0.1, 0.8], [0.3, 0.7, 0.2], [0.9, 0.4, 0.5]],
        ),
        primitive=False,
    )
    order = np.array([3, 1, 2, 0])
    moved = CrystalArrays(
        lattice=source.lattice,
        frac=np.mod(source.frac[order] + [0.25, -0.1, 0.4], 1.0),
        numbers=source.numbers[order],
    )
    aligned = align_to_source(source, moved)
    assert np.array_equal(aligned.numbers, source.numbers)
    assert np.allclose(aligned.frac, source.frac, atol=1e-9)


def test_alignment_refuses_crystals_of_different_atoms():
    with pytest.raises(ValueError, match="not polymorphs"):
        align_to_source(
            arrays(rocksalt(), -3.0, "r"),
            arrays(Structure(Lattice.cubic(3), ["K", "Cl"], [[0] * 3, [0.5] * 3]), -3, "k"),
        )


def test_pairs_point_at_the_most_stable_member_with_the_energy_drop():
    groups = polymorph_groups([arrays(cscl(), -2.9, "cscl"), arrays(rocksalt(), -3.2, "rs")])
    (pair,) = polymorph_pairs(groups)
    assert pair.source.source_id == "cscl" and pair.target.source_id == "rs"
    assert pair.delta_e == pytest.approx(0.3)
    assert sorted(pair.target.numbers) == sorted(pair.source.numbers)
    batch = collate_pairs([pair, pair])
    assert batch.num_graphs == 2
    assert batch.source_frac.shape == batch.frac.shape
    assert batch.source_lattice.shape == (2, 3, 3)
    assert float(batch.eform[0]) == pytest.approx(0.3)


def test_the_split_keeps_every_group_whole():
    items = []
    for k, a in enumerate(np.linspace(3.0, 4.0, 12)):
        species = ["Na", "K", "Rb", "Cs"][k % 4]
        structure = Structure(Lattice.cubic(a), [species, "Cl"], [[0] * 3, [0.5] * 3])
        items.append(arrays(structure, -3.0 + 0.01 * k, f"{species}{k}"))
        items.append(arrays(structure.copy().scale_lattice(a**3 * 1.3), -2.5, f"{species}{k}x"))
    splits = pair_splits(items, SplitPlan(0.25, 0.25, seed=3))
    groups = {name: {p.group for p in pairs} for name, pairs in splits.items()}
    assert sum(len(g) for g in groups.values()) == 4
    assert not (groups["train"] & groups["val"]) and not (groups["train"] & groups["test"])
    assert not (groups["val"] & groups["test"])


def test_no_group_means_no_pairs():
    with pytest.raises(ValueError, match="no polymorph group"):
        pair_splits([arrays(cscl(), -2.9, "cscl")], SplitPlan(0.1, 0.1, 0))


def test_downhill_pairs_add_lower_members_as_targets():
    members = [arrays(rocksalt(5.6 + 0.1 * k), -3.2 + 0.1 * k, f"m{k}") for k in range(4)]
    groups = polymorph_groups(members)
    assert len(polymorph_pairs(groups)) == 3
    pairs = polymorph_pairs(groups, targets_per_source=3, seed=1)
    by_source = {}
    for p in pairs:
        by_source.setdefault(p.source.source_id, []).append(p.target.source_id)
        assert p.delta_e > 0
    assert by_source == {"m1": ["m0"], "m2": ["m0", "m1"], "m3": ["m0", "m1", "m2"]}
    with pytest.raises(ValueError, match="targets_per_source"):
        polymorph_pairs(groups, targets_per_source=0)
    kcl = [
        arrays(
            Structure(Lattice.cubic(3.6 + 0.1 * k), ["K", "Cl"], [[0] * 3, [0.5] * 3]),
            -2.0 - 0.01 * k,
            f"k{k}",
        )
        for k in range(3)
    ]
    best = {"Na1Cl1": "m0", "Cl1K1": "k2"}
    for seed in range(4):  # wherever the groups fall, test pairs point at the most stable only
        splits = pair_splits(members + kcl, SplitPlan(0.3, 0.3, seed=seed), targets_per_source=3)
        assert all(p.target.source_id == best[p.group] for p in splits["test"])
        assert len([p for p in splits["train"] if p.group == "Na1Cl1"]) in (0, 6)
