"""DesignMaker: the targeted query's set-up and its known-first lookup."""

from __future__ import annotations

import pytest
from helpers import nacl

from crystaloop.schemas import LabelDoc
from crystaloop.stores.factory import open_store
from crystaloop.stores.labels import LabelStore, label_id
from crystaloop.workflows import DesignMaker


def test_design_runs_csp_of_the_formula_without_p1():
    maker = DesignMaker(formula="NaCl", max_eform=-0.5, n=3)
    assert maker.iteration.generate.composition == "NaCl"
    assert maker.iteration.screen.allow_p1 is False
    assert maker.iteration.select.threshold == -0.5
    budget = maker.iteration.select.budget
    assert maker.iteration.select.max_per_formula == budget  # every pick has this formula
    assert maker.generator_mode == "csp"


@pytest.mark.parametrize("formula", ["Xx2O3", "Fe2.5O3", ""])
def test_bad_formulas_are_refused(formula):
    with pytest.raises(ValueError):
        DesignMaker(formula=formula)


def test_known_labels_count_first(settings):
    labels = LabelStore(open_store(settings, "labels"))
    for k, e_form in enumerate((-1.0, -0.2, -0.9)):
        s = nacl(5.6 + 0.1 * k)
        labels.upsert(
            [
                LabelDoc(
                    label_id=label_id(f"old:{k}", "chgnet", "c"),
                    subject_id=f"old:{k}",
                    kind="candidate",
                    campaign="older",
                    iteration=0,
                    oracle="chgnet",
                    calc_id="c",
                    structure=s.as_dict(),
                    formula="NaCl",
                    chemsys="Cl-Na",
                    elements=["Cl", "Na"],
                    nsites=len(s),
                    energy=-27.0,
                    energy_per_atom=-3.4,
                    e_form=e_form,
                )
            ]
        )
    two = DesignMaker(formula="Na2Cl2", max_eform=-0.5, n=2)
    assert two.found("new", settings)["known"] == ["old:0", "old:2"]
    assert "2 known structures" in two.before_start("new", settings)
    assert DesignMaker(formula="NaCl", max_eform=-0.5, n=3).before_start("new", settings) is None
