"""The shipped carbon24 modifier loads (sha256 checked) and modifies carbon, and only carbon."""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from crystaloop.ml.checkpoint import read_card
from crystaloop.ml.generative.crystal import crystal_arrays
from crystaloop.ml.generative.samplers import SamplerOptions
from crystaloop.ml.modify.checkpoint import find_modifier, load_modifier
from crystaloop.ml.modify.sampling import modify_crystals
from crystaloop.ml.shipped import shipped_model_names, shipped_modifier_names


def test_carbon24_is_shipped_as_a_modifier_only():
    assert shipped_modifier_names() == ["carbon24"]
    assert "modifiers" not in shipped_model_names()
    card = read_card(find_modifier("carbon24"))
    assert card["kind"] == "modifier" and card["name"] == "carbon24"
    groups = card["training"]["groups"]
    assert not set(groups["train"]) & set(groups["test"])


def test_carbon24_modifies_carbon_and_refuses_other_elements():
    model = load_modifier(find_modifier("carbon24"))
    graphite = Structure(
        Lattice.hexagonal(2.46, 6.7),
        ["C"] * 4,
        [[0, 0, 0.25], [0, 0, 0.75], [1 / 3, 2 / 3, 0.25], [2 / 3, 1 / 3, 0.75]],
    )
    source = crystal_arrays(graphite, source_id="graphite")
    (row,) = modify_crystals(model, [source], 2, 0.3, seed=0, options=SamplerOptions(steps=10))
    assert len(row) == 2
    for crystal in row:
        assert crystal.num_atoms == source.num_atoms and set(crystal.numbers) == {6}
        assert np.all(np.isfinite(crystal.lattice)) and abs(np.linalg.det(crystal.lattice)) > 1
    silicon = crystal_arrays(
        Structure(Lattice.cubic(5.43), ["Si"] * 2, [[0, 0, 0], [0.25] * 3]), source_id="si"
    )
    with pytest.raises(ValueError, match="si: element.* Si the modifier never saw"):
        modify_crystals(model, [silicon], 1, 0.1)
