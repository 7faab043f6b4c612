"""MP2020 compatibility of Materials Project entries, and the hull they make."""

from __future__ import annotations

import warnings

import pytest
from helpers import li_o_entries, mp_entry

#: MP2020's anion corrections (eV per O atom) and its Fe GGA+U mixing correction (eV per Fe).
OXIDE, PEROXIDE, SUPEROXIDE, FE_U = -0.687, -0.465, -0.161, -2.256


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pymatgen warns on oxidation-state guesses
        yield


def test_each_entry_gets_the_mp2020_corrections_of_its_anion_type():
    from crystaloop.chem.mp2020 import correct_entry

    raw = li_o_entries()
    corrected = {e.entry_id: e for e in (correct_entry(d) for d in raw)}
    assert corrected["mp-135-GGA"].correction == 0.0  # elements are not corrected
    assert corrected["mp-12957-GGA"].correction == 0.0
    assert corrected["mp-1960-GGA"].correction == pytest.approx(OXIDE)  # Li2O: one O
    assert corrected["mp-841-GGA"].correction == pytest.approx(4 * PEROXIDE)  # Li4O4
    assert corrected["mp-1235059-GGA"].correction == pytest.approx(2 * SUPEROXIDE)  # LiO2
    li2o = corrected["mp-1960-GGA"]
    assert li2o.energy == pytest.approx(li2o.uncorrected_energy + OXIDE)
    # the input dicts are not changed, and correcting twice gives the same energies
    assert raw[2]["correction"] == 0.0
    again = correct_entry(li2o)
    assert again.energy == pytest.approx(li2o.energy)


def test_gga_u_entries_get_the_mixing_correction():
    from pymatgen.core import Lattice, Structure

    from crystaloop.chem.mp2020 import correct_entry

    fe2o3 = Structure.from_spacegroup(
        "R-3c", Lattice.hexagonal(5.03, 13.7), ["Fe", "O"], [[0, 0, 0.355], [0.306, 0, 0.25]]
    ).get_primitive_structure()
    raw = mp_entry("mp-19770-GGA+U", fe2o3, -6.9, oxide_type="oxide")
    raw["parameters"] |= {"run_type": "GGA+U", "is_hubbard": True, "hubbards": {"Fe": 5.3}}
    entry = correct_entry(raw)
    assert entry.correction == pytest.approx(4 * FE_U + 6 * OXIDE)  # Fe4O6


def test_the_corrected_entries_make_the_hull_stable_phases_at_zero():
    from pymatgen.analysis.phase_diagram import PhaseDiagram

    from crystaloop.chem.energies import energies_above_hull
    from crystaloop.chem.mp2020 import (
        correct_entry,
        elemental_references,
        formation_energies,
        phases_of,
    )

    entries = [correct_entry(d) for d in li_o_entries()]
    diagram = PhaseDiagram(entries)
    e_hull = {e.entry_id: diagram.get_e_above_hull(e) for e in entries}
    for stable in ("mp-135-GGA", "mp-12957-GGA", "mp-1960-GGA", "mp-841-GGA"):
        assert e_hull[stable] == pytest.approx(0.0, abs=1e-9)
    assert e_hull["mp-1235059-GGA"] == pytest.approx(0.200, abs=1e-3)  # LiO2, metastable
    # crystaloop's hull on the same corrected energies agrees with pymatgen's
    refs = elemental_references(entries)
    assert refs == pytest.approx({"Li": -1.9089, "O": -4.9480})
    phases = phases_of(entries)
    ours = energies_above_hull(phases, [], refs)
    assert ours == pytest.approx(e_hull, abs=1e-9)
    e_form = {c.reduced_formula: v for c, v in formation_energies(entries)}
    assert e_form["Li2O"] == pytest.approx(-2.070, abs=1e-3)
    assert e_form["Li2O2"] == pytest.approx(-1.650, abs=1e-3)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"run_type": "R2SCAN"}, "invalid run type R2SCAN"),
        ({"potcar_spec": [{"titel": "PAW_PBE Li 17Jan2003"}, {"titel": "PAW_PBE O 08Apr2002"}]},
         "Incompatible POTCAR"),
        ({"potcar_spec": []}, "no POTCAR information"),
    ],
)  # fmt: skip
def test_a_rejected_entry_is_named_with_the_reason(change, reason):
    from crystaloop.chem.mp2020 import CompatibilityRejected, correct_entry

    raw = li_o_entries()[2]
    raw["parameters"] |= change
    with pytest.raises(CompatibilityRejected, match=reason) as info:
        correct_entry(raw)
    assert info.value.entry_id == "mp-1960-GGA"
    assert "mp-1960-GGA" in str(info.value)


def test_what_is_not_an_entry_is_an_error():
    from crystaloop.chem.mp2020 import correct_entry

    with pytest.raises(ValueError, match="expected a ComputedEntry"):
        correct_entry([1, 2])
    with pytest.raises(ValueError, match="not a ComputedEntry"):
        correct_entry({"energy": 1.0})
