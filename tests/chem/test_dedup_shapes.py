"""The lattice-shape prefilter keeps what the matcher may match and drops other lattices."""

from __future__ import annotations

import numpy as np
from helpers import perovskite
from pymatgen.core import Lattice, Structure

from crystaloop.chem.dedup import (
    ShapeFilter,
    dedup_matcher,
    fit_reduced,
    lattice_shape,
    reduced_cell,
)


def _stretched(structure: Structure, factor: float) -> Structure:
    matrix = structure.lattice.matrix * np.array([[1.0], [1.0], [factor]])
    return Structure(Lattice(matrix), structure.species, structure.frac_coords)


def test_the_shape_is_scale_free_and_the_same_for_any_cell_of_the_crystal():
    base = perovskite()
    shape = lattice_shape(base)
    assert shape[0] == 5
    np.testing.assert_allclose(lattice_shape(base * (1, 2, 2)), shape, atol=1e-8)
    bigger = Structure(Lattice(base.lattice.matrix * 1.3), base.species, base.frac_coords)
    np.testing.assert_allclose(lattice_shape(bigger), shape, atol=1e-8)


def test_the_filter_keeps_matches_and_drops_lattices_the_matcher_cannot_map():
    base = perovskite()
    group = ShapeFilter(
        [
            ("same", base * (2, 1, 1)),
            ("slightly", _stretched(base, 1.1)),
            ("far", _stretched(base, 2.5)),
        ]
    )
    kept = [ident for ident, _, _ in group.candidates(base, reduced_cell(base))]
    assert kept == ["same", "slightly"]
    matcher = dedup_matcher()
    assert matcher.fit(base, base * (2, 1, 1)) and matcher.fit(base, _stretched(base, 1.1))
    assert not matcher.fit(base, _stretched(base, 2.5))


def test_a_different_primitive_size_is_left_to_the_matcher():
    base = perovskite()
    other = Structure(
        Lattice.cubic(9.0),
        ["Sr", "Ti", "O", "O", "O", "Sr"],
        np.random.default_rng(0).random((6, 3)),
    )
    group = ShapeFilter([("other", other)])
    assert lattice_shape(other)[0] != lattice_shape(base)[0]
    assert group.compatible(lattice_shape(base)).tolist() == [True]
    assert ShapeFilter().candidates(base, None) == []
    # a query without a reduced cell meets everything (the matcher's own way decides)
    assert [i for i, _, _ in group.candidates(base, None)] == ["other"]


def test_matching_reduced_cells_gives_the_plain_matchers_answer():
    rng = np.random.default_rng(0)
    base = perovskite()
    others = [
        base * (1, 1, 2),
        _stretched(base, 1.15),
        _stretched(base, 1.6),
        Structure(base.lattice, base.species, base.frac_coords + rng.normal(0, 0.03, (5, 3))),
        Structure(base.lattice, base.species, rng.random((5, 3))),
    ]
    matcher = dedup_matcher()
    query = _stretched(base, 0.95)
    for other in others:
        expected = matcher.fit(query, other)
        got = fit_reduced(matcher, query, reduced_cell(query), other, reduced_cell(other))
        assert got == expected
        assert fit_reduced(matcher, query, None, other, reduced_cell(other)) == expected


def test_the_filter_is_one_sided_as_the_matcher_is():
    """fit(query, stored) holds although the query's reduced a is 23 % shorter (not symmetric)."""
    from crystaloop.chem.dedup import first_match, first_reduced_match, try_reduced_cell

    stored = Structure(
        Lattice.from_parameters(2.8364, 2.8364, 2.8364, 102.921, 106.503, 119.493),
        ["Cu"],
        [[0, 0, 0]],
    )
    query = Structure(
        Lattice.from_parameters(3.2765, 3.1679, 2.9059, 107.911, 111.493, 124.483),
        ["Cu"],
        [[0, 0, 0]],
    )
    matcher = dedup_matcher()
    assert first_match(query, [("s", stored)], matcher) == "s"
    assert not matcher.fit(stored, query)
    group = ShapeFilter([("s", stored)])
    cell = try_reduced_cell(query)
    assert first_reduced_match(query, cell, group.candidates(query, cell), matcher) == "s"
