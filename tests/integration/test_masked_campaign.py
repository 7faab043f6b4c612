"""A campaign whose generator is a masked model and whose routing uses a match discriminator.

Chosen by the campaign options alone (``generator``, ``discriminator``, ``match_floor``): the
shipped perov5-masked generator proposes substitutions of the corpus prototypes, the score step
records every candidate's p_match, and the floor keeps them all from the oracle (the test's
discriminator says p_match ≈ 0 for everything), through FireWorks.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from campaign_helpers import fresh_profile, ingest_small_corpus, isolated_home, quick_iteration

from crystaloop.stores.campaigns import campaign_status
from crystaloop.stores.candidates import CandidateStore
from crystaloop.stores.factory import open_store

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    from crystaloop.launchpad.submit import run_in_process, submit_flow
    from crystaloop.ml.classifier_checkpoint import save_classifier
    from crystaloop.ml.crysformer.classifier import classifier_config
    from crystaloop.ml.crysformer.config import CrysformerConfig
    from crystaloop.ml.crysformer.model import Crysformer
    from crystaloop.workflows.plan import CampaignOptions, build_campaign, campaign_plan

    root = tmp_path_factory.mktemp("masked")
    small = {"scalar_channels": 16, "vector_channels": 4, "num_layers": 1, "heads": 2}
    never = Crysformer(classifier_config(CrysformerConfig(**small), "match"))
    with torch.no_grad():
        never.heads[0][-1].bias.fill_(-12.0)  # p_match ≈ 6e-6 for every structure
        never.heads[0][-1].weight.zero_()
    save_classifier(never, root / "never", "match")
    with isolated_home(root / "home") as settings:
        fresh_profile(settings)
        ingest_small_corpus(settings, n=40)
        options = CampaignOptions(
            iterations=1,
            dft_budget=4,
            per_iteration=4,
            n_generate=6,
            bootstrap=0,
            generator="perov5-masked",
            freeze_generator=True,
            freeze_surrogate=True,
            discriminator=str(root / "never"),
            match_floor=0.5,
        )
        campaign, maker = build_campaign(settings, options)
        maker = replace(maker, iteration=quick_iteration(maker.iteration, 0))
        submit_flow(settings, maker.make(campaign), {"crystaloop_campaign": campaign})
        run_in_process(settings)
        yield settings, campaign, campaign_plan(maker, campaign)


def test_the_masked_generator_proposes_and_the_floor_keeps_them_from_the_oracle(finished):
    settings, campaign, plan = finished
    assert campaign_status(settings, campaign).state == "finished"
    assert plan["source_options"]["method"].startswith("masked generator (seed 003)")
    assert plan["match_discriminator"]["floor"] == 0.5
    docs = CandidateStore(open_store(settings, "candidates")).campaign_candidates(campaign)
    assert docs and all("masked perov5-masked proposals" in d["generator"] for d in docs)
    scored = [d for d in docs if d.get("scores") is not None]
    assert scored and all(
        d["p_match"] < 1e-3 and d["discriminator"].startswith("never@") for d in scored
    )
    assert all(d["selection"] == "rejected" for d in scored)
    assert all("< floor 0.5: not sent to the oracle" in d["selection_reason"] for d in scored)
    assert CandidateStore(open_store(settings, "candidates")).oracle_calls(campaign) == 0
