"""The match discriminator in the loop: p_match on every scored candidate, floor and trust."""

from __future__ import annotations

import pytest
from helpers import perovskite

from crystaloop.makers import SelectMaker
from crystaloop.schemas import ArtifactRef, ScoreOutput, ScoreRecord


def _scored(p_match: list[float | None], confidence: float = 0.99) -> ScoreOutput:
    ref = ArtifactRef(uri="file:///x", sha256="0" * 64, size=1, kind="candidates")
    score = {"e_form": {"mean": -1.0, "std": 0.01, "confidence": confidence}}
    records = [
        ScoreRecord(
            candidate_id=f"c:0:{i}", formula=f"Sr{i + 1}TiO3", chemsys=f"O-Sr-Ti-{i}", nsites=5,
            scores=score, hull_e_form=0.0, p_match=p,
        )
        for i, p in enumerate(p_match)
    ]  # fmt: skip
    return ScoreOutput(
        campaign="c", iteration=0, survivors=ref, surrogate="eform@abc", records=records,
        discriminator="m@123",
    )  # fmt: skip


def test_without_levels_p_match_changes_nothing():
    plain, _ = SelectMaker(budget=4).route(_scored([0.1, 0.9, None]))
    assert sorted(plain.accepted) == ["c:0:0", "c:0:1", "c:0:2"] and plain.below_match_floor == 0


def test_the_floor_keeps_implausible_structures_from_the_oracle():
    out, selection = SelectMaker(budget=4, match_floor=0.3).route(_scored([0.1, 0.9, None]))
    assert "c:0:0" not in out.dft + out.accepted and out.below_match_floor == 1
    assert "p_match 0.100 < floor 0.3: not sent to the oracle" in selection.reasons["c:0:0"]
    assert sorted(out.accepted) == ["c:0:1", "c:0:2"]  # no p_match: not affected


def test_only_trusted_structures_are_accepted_as_predictions():
    out, _ = SelectMaker(budget=4, match_trust=0.5).route(_scored([0.2, 0.9]))
    assert out.accepted == ["c:0:1"]
    assert out.dft == ["c:0:0"]  # promising but untrusted: the oracle decides


def test_the_score_step_records_p_match(settings, tmp_path):
    from crystaloop.makers.score import ScoreMaker
    from crystaloop.ml.classifier_checkpoint import save_classifier
    from crystaloop.ml.crysformer.classifier import classifier_config
    from crystaloop.ml.crysformer.config import CrysformerConfig
    from crystaloop.ml.crysformer.model import Crysformer
    from crystaloop.schemas import ScreenOutput
    from crystaloop.stores.artifacts import artifact_store
    from crystaloop.stores.candidates import CandidateStore, put_batch
    from crystaloop.stores.factory import open_store

    small = {"scalar_channels": 16, "vector_channels": 4, "num_layers": 1, "heads": 2}
    model = Crysformer(classifier_config(CrysformerConfig(**small), "match"))
    save_classifier(model, tmp_path / "disc", "match")
    save_classifier(model, tmp_path / "stab", "stability")
    rows = [{"candidate_id": f"c:0:{i}", "structure": perovskite(3.9 + 0.1 * i).as_dict()}
            for i in range(2)]  # fmt: skip
    batch = put_batch(artifact_store(settings), rows)
    from crystaloop.schemas import CandidateDoc

    candidates = CandidateStore(open_store(settings, "candidates"))
    candidates.upsert(
        CandidateDoc(candidate_id=r["candidate_id"], campaign="c", iteration=0, index=i,
                     structure=r["structure"], formula="SrTiO3", nsites=5, generator="g")
        for i, r in enumerate(rows)
    )  # fmt: skip
    screened = ScreenOutput(
        campaign="c", iteration=0, survivors=batch, passed=2, total=2, dropped={}
    )
    maker = ScoreMaker(model="perov5", discriminator=str(tmp_path / "disc"))
    out = ScoreMaker.make.original(maker, screened)
    assert out.discriminator.startswith("disc@")
    assert all(0.0 <= r.p_match <= 1.0 for r in out.records)
    assert out.records[0].p_match != out.records[1].p_match
    docs = candidates.get(["c:0:0", "c:0:1"])
    assert {d["candidate_id"]: d["p_match"] for d in docs} == {
        r.candidate_id: pytest.approx(r.p_match) for r in out.records
    }
    from crystaloop.ml.checkpoint import CheckpointError

    with pytest.raises(CheckpointError, match="a stability classifier, not a match one"):
        ScoreMaker.make.original(
            ScoreMaker(model="perov5", discriminator=str(tmp_path / "stab")), screened
        )


def test_the_campaign_options_reach_the_score_and_select_steps(settings, tmp_path):
    from crystaloop.ml.classifier_checkpoint import save_classifier
    from crystaloop.ml.crysformer.classifier import classifier_config
    from crystaloop.ml.crysformer.config import CrysformerConfig
    from crystaloop.ml.crysformer.model import Crysformer
    from crystaloop.workflows.plan import (
        CampaignError,
        CampaignOptions,
        build_campaign,
        campaign_plan,
    )

    small = {"scalar_channels": 16, "vector_channels": 4, "num_layers": 1, "heads": 2}
    save_classifier(
        Crysformer(classifier_config(CrysformerConfig(**small), "m")), tmp_path / "d", "match"
    )
    options = CampaignOptions(discriminator=str(tmp_path / "d"), match_floor=0.2, match_trust=0.6)
    campaign, maker = build_campaign(settings, options, check_store=False)
    assert maker.iteration.score.discriminator == str(tmp_path / "d")
    assert (maker.iteration.select.match_floor, maker.iteration.select.match_trust) == (0.2, 0.6)
    plan = campaign_plan(maker, campaign)
    assert plan["match_discriminator"] == {
        "discriminator": str(tmp_path / "d"),
        "floor": 0.2,
        "trust": 0.6,
    }
    with pytest.raises(CampaignError, match="match_floor needs a discriminator"):
        build_campaign(settings, CampaignOptions(match_floor=0.2), check_store=False)
    with pytest.raises(CampaignError, match=r"match_trust must be in \[0, 1\]"):
        build_campaign(
            settings,
            CampaignOptions(discriminator=str(tmp_path / "d"), match_trust=2.0),
            check_store=False,
        )
    with pytest.raises(CampaignError, match="unknown classifier"):
        build_campaign(settings, CampaignOptions(discriminator="nope"), check_store=False)
