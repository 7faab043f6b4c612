"""The open campaign's default generator makes candidates the campaign's screens keep.

The perov5 ab initio card's corrector step was once raised for structural validity alone
(1e-5 per T-step); its samples then came out P1 at the screens' 0.1 Å and a default
``crystaloop run`` sent nothing to the oracle. This checks what a campaign sees: the card's
sampler (``sample_batch`` as ``GenerateMaker`` calls it, 100 steps, 3 resampling rounds) and the
campaign's screens without the corpus.
"""

from __future__ import annotations

from crystaloop.chem.screens import screen_structures
from crystaloop.makers.generate import GenerateMaker, sample_batch
from crystaloop.ml.generative.checkpoint import find_generator, load_generator
from crystaloop.ml.generative.crystal import to_structure
from crystaloop.ml.generative.samplers import SamplerOptions
from crystaloop.workflows.plan import CAMPAIGN_GENERATOR


def test_most_default_candidates_pass_the_campaign_screens():
    maker = GenerateMaker(model=CAMPAIGN_GENERATOR)
    model = load_generator(find_generator(maker.model, "abinitio"))
    crystals = sample_batch(
        model,
        48,
        0,
        options=SamplerOptions(steps=maker.steps),
        resample_rounds=maker.resample_rounds,
    )
    structures = [to_structure(c.lattice, c.frac, c.numbers) for c in crystals]
    verdicts = screen_structures(structures)
    passed = sum(v.passed for v in verdicts)
    p1 = sum(v.stage == "spacegroup" for v in verdicts)
    # measured with the shipped card: 71-78 of 96 pass over seeds 0-2; with 1e-5, 0-2 of 96
    assert passed >= 0.4 * len(structures), (passed, p1)
