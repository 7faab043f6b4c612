"""The peer candidate sources of GenerateMaker, the ranked selection, and the options path."""

from __future__ import annotations

import pytest
from helpers import batch_rows, ingest_corpus, nacl, perovskite

from crystaloop.makers import GenerateMaker, SelectMaker
from crystaloop.schemas import ArtifactRef, ScoreOutput, ScoreRecord


def test_bad_sources_are_refused():
    with pytest.raises(ValueError, match="unknown candidate source 'dft'"):
        GenerateMaker(source="dft")
    with pytest.raises(ValueError, match="substitution source makes no CSP batch"):
        GenerateMaker(source="substitution", composition="SrTiO3")


@pytest.mark.slow
def test_substitution_source_gives_consecutive_windows_of_new_structures(
    tmp_path, settings, corpus_store
):
    mgo = nacl(4.2)
    mgo.replace_species({"Na": "Mg", "Cl": "O"})  # the generator has no Cl
    ingest_corpus(tmp_path, corpus_store, [("p-1", perovskite()), ("p-2", mgo)])
    maker = GenerateMaker(source="substitution", n=3)
    first = maker.make.original(maker, "camp", 0)
    second = maker.make.original(maker, "camp", 1)
    assert first.source == "substitution" and first.n == 3 and first.skipped == 0
    assert first.generator.startswith("substitution(p > 0.001) of 2 corpus prototypes")
    ids, structures = batch_rows(settings, first)
    assert ids == ["camp:0:0", "camp:0:1", "camp:0:2"]
    _, later = batch_rows(settings, second)
    formulas = [s.composition.reduced_formula for s in structures + later]
    assert len(set(formulas)) == 6 and not {"SrTiO3", "MgO"} & set(formulas)


@pytest.mark.slow
def test_random_search_source_uses_the_generator_compositions(settings):
    sampled = GenerateMaker(n=4, steps=3, seed=2)
    searched = GenerateMaker(n=4, steps=3, seed=2, source="random-search")
    out = searched.make.original(searched, "camp", 0)
    ref = sampled.make.original(sampled, "ref", 0)
    _, mine = batch_rows(settings, out)
    _, theirs = batch_rows(settings, ref)
    assert out.source == "random-search" and out.n + out.skipped == 4
    assert out.generator.startswith("random-search(pyxtal) of abinitio@")
    if out.skipped == 0:
        assert [s.composition for s in mine] == [s.composition for s in theirs]
    assert all(s.composition in {t.composition for t in theirs} for s in mine)


def _scored(n: int) -> ScoreOutput:
    ref = ArtifactRef(uri="file:///x", sha256="0" * 64, size=1, kind="candidates")
    records = [
        ScoreRecord(candidate_id=f"c:0:{i}", formula="SrTiO3", chemsys="O-Sr-Ti", nsites=5)
        for i in range(n)
    ]
    return ScoreOutput(
        campaign="c", iteration=0, survivors=ref, surrogate="eform@abc", records=records
    )


def test_ranked_selection_sends_the_first_candidates_in_source_order():
    out, selection = SelectMaker(strategy="ranked", budget=2).route(_scored(5))
    assert out.dft == ["c:0:0", "c:0:1"] and out.accepted == [] and out.rejected == 3
    assert "over this iteration's oracle budget" in selection.reasons["c:0:4"]
    assert SelectMaker(strategy="ranked").route(_scored(5), budget=0)[0].dft == []


def test_the_source_reaches_the_generate_step_and_the_plan(settings):
    from crystaloop.workflows.plan import (
        CampaignError,
        CampaignOptions,
        build_campaign,
        campaign_plan,
    )

    frozen = {"freeze_generator": True, "freeze_surrogate": True, "bootstrap": 0}
    campaign, maker = build_campaign(
        settings,
        CampaignOptions(campaign_id="s", source="substitution", selection="ranked", **frozen),
        check_store=False,
    )
    assert maker.iteration.generate.source == "substitution"
    plan = campaign_plan(maker, campaign)
    assert plan["source"] == "substitution" and plan["selection"]["strategy"] == "ranked"
    assert plan["source_options"]["threshold"] == 1e-3
    _, searched = build_campaign(
        settings,
        CampaignOptions(campaign_id="r", source="random-search", **frozen),
        check_store=False,
    )
    assert campaign_plan(searched, "r")["source"] == "random-search"
    _, plain = build_campaign(settings, CampaignOptions(campaign_id="g"), check_store=False)
    assert campaign_plan(plain, "g")["source"] == "generator"
    with pytest.raises(CampaignError, match="unknown source 'dft'"):
        build_campaign(settings, CampaignOptions(source="dft", **frozen), check_store=False)
    with pytest.raises(CampaignError, match="with the generator frozen"):
        build_campaign(settings, CampaignOptions(source="substitution"), check_store=False)
