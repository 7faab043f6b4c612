"""A tiny campaign for the integration tests (importable by the tests, not a conftest)."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import jobflow
import pytest

from crystaloop.makers import (
    GenerateMaker,
    ScreenMaker,
    SelectMaker,
    TrainGeneratorMaker,
    TrainSurrogateMaker,
)
from crystaloop.workflows import CampaignMaker, IterationMaker


def ingest_small_corpus(settings, n: int = 150) -> None:
    """Ingest the first ``n`` Perov-5 records of the bundled sample corpus."""
    from crystaloop.stores.corpus import CorpusStore
    from crystaloop.stores.factory import open_store
    from crystaloop.stores.ingest import read_records
    from crystaloop.stores.ingest.prepare import PrepareOptions
    from crystaloop.stores.ingest.sample import sample_corpus_files

    path = sample_corpus_files()["perov_5"]
    _, records = read_records(path, max_bytes=2**30)
    corpus = CorpusStore(open_store(settings, "corpus"), open_store(settings, "corpus_aliases"))
    corpus.ingest(
        itertools.islice(records, n),
        PrepareOptions(source="perov_5", file=str(path), max_sites=settings.max_sites),
    )


#: The tiny campaign's stability threshold (eV/atom): every labelled candidate counts as stable,
#: so the checks that follow stable discoveries (the generator fine-tune, the discovery Maker,
#: S.U.N.) always have one to check, whatever E_hull the oracle gives.
TINY_STABLE_THRESHOLD = 100.0


def tiny_campaign(oracle_maker=None, iterations: int = 2) -> CampaignMaker:
    """Two iterations of 8 candidates, one oracle call each (routed or audit), fast retraining."""
    iteration = IterationMaker(
        generate=GenerateMaker(n=8, steps=100),
        screen=ScreenMaker(allow_p1=True),
        select=SelectMaker(budget=1, threshold=10.0, min_confidence=1.0),
        train_surrogate=TrainSurrogateMaker(min_new_labels=1, epochs=2, patience=2, members=2),
        train_generator=TrainGeneratorMaker(
            min_new_stable=1,
            epochs=1,
            seconds=5,
            idealize=False,  # P1 candidates pass (allow_p1): keep them for the fine-tune
            check_samples=0,
        ),
        max_reference_phases=0,
    )
    if oracle_maker is not None:
        iteration.oracle = oracle_maker
    return CampaignMaker(
        iteration=iteration,
        max_iterations=iterations,
        oracle_budget=2 * iterations,
        bootstrap=2,
        bootstrap_max_sites=5,
        # the campaign sets it on its label and generator steps (a step's own value is replaced)
        stable_threshold=TINY_STABLE_THRESHOLD,
    )


def quick_iteration(iteration: IterationMaker, max_reference_phases: int) -> IterationMaker:
    """Return a planned iteration made quick: P1 kept, tiny retraining, generator frozen."""
    from dataclasses import replace

    return replace(
        iteration,
        screen=replace(iteration.screen, allow_p1=True),
        train_surrogate=replace(iteration.train_surrogate, epochs=2, patience=2, members=2),
        train_generator=replace(iteration.train_generator, frozen=True),
        max_reference_phases=max_reference_phases,
    )


def fresh_profile(settings) -> None:
    """Write the configuration and reset the embedded LaunchPad."""
    from crystaloop.launchpad.config import initialize_launchpad, write_configuration

    write_configuration(settings)
    initialize_launchpad(settings)


@contextmanager
def isolated_home(home: Path, env: dict[str, str] | None = None) -> Iterator:
    """Run with ``CRYSTALOOP_HOME=home``, no other crystaloop variable but ``env``; yield settings.

    The working folder is the home's parent and jobflow's JobStore setting is restored after.
    """
    from crystaloop.settings import load_settings

    with pytest.MonkeyPatch.context() as mp:
        for key in list(os.environ):
            if key.startswith("CRYSTALOOP_"):
                mp.delenv(key)
        mp.setenv("CRYSTALOOP_HOME", str(home))
        for key, value in (env or {}).items():
            mp.setenv(key, value)
        mp.setattr(jobflow.SETTINGS, "JOB_STORE", jobflow.SETTINGS.JOB_STORE)
        mp.chdir(home.parent)
        yield load_settings()
