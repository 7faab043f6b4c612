"""Match labels of CSP samples: DiffCSP's protocol and an rms threshold."""

from __future__ import annotations

import pytest
from helpers import nacl, perovskite

from crystaloop.chem.metrics import csp_rms_distances
from crystaloop.workflows.discriminator import match_examples


def test_rms_distances_match_the_truth_and_not_another_structure():
    sto = perovskite()
    shifted = perovskite()
    shifted.translate_sites([1], [0.03, 0.0, 0.0])
    (row,) = csp_rms_distances([[sto, shifted, nacl()]], [sto])
    assert row[0] == pytest.approx(0.0, abs=1e-6)
    assert 0.0 < row[1] < 0.2
    assert row[2] is None


def test_csp_samples_are_labelled_per_composition():
    from crystaloop.ml.generative.checkpoint import find_generator, load_generator

    generator = load_generator(find_generator("perov5", "csp"))
    records = [("sto", perovskite()), ("bto", perovskite(4.0))]
    records[1][1].replace_species({"Sr": "Ba"})
    examples = match_examples(generator, records, samples=3, rmsd=0.15, seed=0, steps=5)
    assert examples.records == 2 and len(examples.items) + len(examples.matcher_errors) == 6
    assert {sid for sid, _, _ in examples.items} <= {"sto", "bto"}
    assert {y for _, _, y in examples.items} <= {0.0, 1.0}
    for sid, structure, _ in examples.items:
        assert (
            structure.composition.reduced_formula == dict(records)[sid].composition.reduced_formula
        )
    assert examples.summary()["samples"] == len(examples.items)
    with pytest.raises(ValueError, match="rmsd must be > 0"):
        match_examples(generator, records, 1, 0.0)
