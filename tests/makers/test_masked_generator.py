"""A masked generator in a campaign: proposals from corpus prototypes, fine-tuning, the plan."""

from __future__ import annotations

import pytest
from helpers import batch_rows, ingest_corpus, nacl, perovskite, stable_labels

from crystaloop.makers import GenerateMaker
from crystaloop.makers.train_generator import TrainGeneratorMaker


def _structures():
    out = [perovskite(3.9)]
    for a, b in [("Ba", "Ti"), ("Ca", "Zr")]:
        s = perovskite(4.0)
        s.replace_species({"Sr": a, "Ti": b})
        out.append(s)
    salt = nacl(4.3)
    salt.replace_species({"Na": "Mg", "Cl": "O"})
    return [*out, salt]


@pytest.fixture
def masked_dir(tmp_path):
    from crystaloop.ml.data.graph import knn_graph
    from crystaloop.ml.masked.checkpoint import save_masked
    from crystaloop.ml.masked.config import MaskedConfig
    from crystaloop.ml.masked.fit import new_masked

    small = {"scalar_channels": 16, "vector_channels": 4, "num_layers": 1, "heads": 2}
    graphs = [knn_graph(s) for s in _structures()]
    model = new_masked(MaskedConfig(backbone=small, head_hidden=8), {"train": graphs}, 0)
    save_masked(model, tmp_path / "masked")
    return tmp_path / "masked"


def test_a_masked_generator_proposes_windows_of_prototype_substitutions(
    tmp_path, settings, corpus_store, masked_dir
):
    lao = perovskite()
    lao.replace_species({"Sr": "La", "Ti": "Al"})  # La, Al: not the model's elements
    ingest_corpus(
        tmp_path, corpus_store, [("p-1", perovskite()), ("p-2", _structures()[3]), ("p-3", lao)]
    )
    maker = GenerateMaker(model=str(masked_dir), n=3)
    first = maker.make.original(maker, "camp", 0)
    second = maker.make.original(maker, "camp", 1)
    assert first.source == "generator" and first.n == 3
    assert (
        first.generator.startswith("masked@") and "masked masked proposals on 2" in first.generator
    )
    ids, structures = batch_rows(settings, first)
    assert ids == ["camp:0:0", "camp:0:1", "camp:0:2"]
    _, later = batch_rows(settings, second)
    formulas = [s.composition.reduced_formula for s in structures + later]
    assert len(set(formulas)) == 6 and not {"SrTiO3", "MgO"} & set(formulas)
    csp = GenerateMaker(model=str(masked_dir), composition="SrTiO3")
    with pytest.raises(ValueError, match="masked generator: it proposes substitutions"):
        csp.make.original(csp, "camp", 0)


def test_a_masked_generator_fine_tunes_on_stable_discoveries(settings, masked_dir):
    from crystaloop.ml.checkpoint import read_card
    from crystaloop.stores.factory import open_store

    labelled = _structures()[:2]
    unknown = perovskite()
    unknown.replace_species({"Sr": "La"})
    stable_labels(settings, [*labelled, unknown])
    maker = TrainGeneratorMaker(min_new_stable=2, epochs=1, check_samples=0)
    out = maker.train(str(masked_dir), "c", 0)
    assert out.trained and out.model != str(masked_dir)
    card = read_card(out.model)
    assert card["kind"] == "masked"
    assert card["training"]["new_stable"] == 2 and card["training"]["stable_left_out"] == 1
    [doc] = open_store(settings, "models").query({"kind": "generator"})
    assert doc["parent"] == str(masked_dir)
    out = TrainGeneratorMaker(min_new_stable=5, epochs=1).train(str(masked_dir), "c", 1)
    assert not out.trained and "of the masked generator's elements" in out.reason


def test_a_design_cannot_use_a_masked_generator(settings, masked_dir):
    from crystaloop.workflows.plan import CampaignError, CampaignOptions, build_campaign

    options = CampaignOptions(generator=str(masked_dir), formula="SrTiO3", max_eform=0.0)
    with pytest.raises(CampaignError, match="masked generator: it proposes substitutions"):
        build_campaign(settings, options, check_store=False)
    options = CampaignOptions(generator=str(masked_dir))
    campaign, maker = build_campaign(settings, options, check_store=False)
    from crystaloop.workflows.plan import campaign_plan

    plan = campaign_plan(maker, campaign)
    assert plan["source_options"]["method"].startswith("masked generator (seed 003)")
    options = CampaignOptions(generator=str(masked_dir), proposal_temperature=0.1, proposal_top_k=3)
    _, maker = build_campaign(settings, options, check_store=False)
    assert (maker.iteration.generate.temperature, maker.iteration.generate.top_k) == (0.1, 3)
    with pytest.raises(CampaignError, match="proposal_temperature must be > 0"):
        build_campaign(settings, CampaignOptions(proposal_temperature=0.0), check_store=False)
