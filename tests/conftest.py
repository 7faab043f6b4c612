from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(autouse=True)
def _work_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run every test in its own folder: FireWorks writes launcher_* folders into the cwd."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh CRYSTALOOP_HOME, with no CRYSTALOOP_* variable leaking in from outside."""
    import os

    for key in list(os.environ):
        if key.startswith("CRYSTALOOP_"):
            monkeypatch.delenv(key)
    path = tmp_path / "home"
    monkeypatch.setenv("CRYSTALOOP_HOME", str(path))
    return path


@pytest.fixture
def settings(home: Path):
    from crystaloop.settings import load_settings

    return load_settings()


@pytest.fixture
def corpus_store(settings):
    from crystaloop.stores.corpus import CorpusStore
    from crystaloop.stores.factory import open_store

    return CorpusStore(open_store(settings, "corpus"), open_store(settings, "corpus_aliases"))


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.exists():
        pytest.skip("../shared/data is not beside the checkout")
    return SHARED_DATA
