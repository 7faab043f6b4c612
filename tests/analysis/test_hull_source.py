"""Reading a campaign back on the mp2020 hull: the current hull includes MP's entries."""

from __future__ import annotations

import warnings

import pytest
from helpers import li_o_entries


def test_the_current_hull_of_an_mp2020_campaign_includes_the_mp_entries(settings, tmp_path):
    from pymatgen.core import Lattice, Structure

    from crystaloop.analysis.discovery import discoveries, hull_source
    from crystaloop.schemas import CampaignRecord, LabelDoc
    from crystaloop.stores.campaigns import CampaignStore, now
    from crystaloop.stores.corpus import CorpusStore
    from crystaloop.stores.factory import open_store
    from crystaloop.stores.hull_entries import HullEntryStore
    from crystaloop.stores.ingest.mp_entries import ingest_entries
    from crystaloop.stores.ingest.prepare import PrepareOptions
    from crystaloop.stores.labels import LabelStore

    corpus = CorpusStore(open_store(settings, "corpus"), open_store(settings, "corpus_aliases"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ingest_entries(
            corpus,
            HullEntryStore(open_store(settings, "hull_entries")),
            li_o_entries(),
            PrepareOptions("mp", str(tmp_path), 50),
        )
    campaigns = CampaignStore(open_store(settings, "campaigns"))
    for name, source in (("m", "mp2020"), ("o", "oracle")):
        campaigns.start(
            CampaignRecord(
                campaign=name, kind="campaign", oracle="vasp", started=now(),
                plan={"hull_source": source},
            )
        )  # fmt: skip
    structure = Structure(
        Lattice.hexagonal(3.2, 5.0),
        ["Li", "Li", "O"],
        [[1 / 3, 2 / 3, 0.2], [2 / 3, 1 / 3, 0.8], [0, 0, 0]],
    )
    labels = LabelStore(open_store(settings, "labels"))
    for name in ("m", "o"):
        labels.upsert(
            [
                LabelDoc(
                    label_id=f"{name}-1|vasp|x", subject_id=f"{name}-1", kind="candidate",
                    campaign=name, iteration=0, oracle="vasp", calc_id="x",
                    structure=structure.as_dict(), formula="Li2O", chemsys="Li-O",
                    elements=["Li", "O"], nsites=3, energy=-4.892 * 3, energy_per_atom=-4.892,
                )
            ]
        )  # fmt: skip
    assert hull_source(settings, "m") == "mp2020" and hull_source(settings, "o") == "oracle"
    (row,) = discoveries(settings, "m", hull="current")
    assert row["hull_source"] == "mp2020"
    assert row["e_hull"] == pytest.approx(0.1, abs=1e-3)  # above MP's corrected Li2O
    # the oracle hull knows no vasp references for Li and O here: no E_hull
    (row,) = discoveries(settings, "o", hull="current")
    assert row["hull_source"] == "oracle" and row["e_hull"] is None
