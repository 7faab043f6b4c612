from __future__ import annotations

from pathlib import Path

import pytest

from crystaloop.schemas import ArtifactRef
from crystaloop.stores.artifacts import ArtifactError, FileArtifactStore, artifact_store


def test_put_get_and_content_addressing(settings):
    store = artifact_store(settings)
    ref = store.put(b"weights" * 1000, kind="checkpoint")
    assert ref.size == 7000 and ref.kind == "checkpoint"
    assert store.get(ref) == b"weights" * 1000
    assert store.put(b"weights" * 1000, kind="checkpoint") == ref
    assert ref.uri.startswith("file://") and str(settings.artifacts_dir) in ref.uri


def test_tampered_or_missing_artifacts_are_refused(tmp_path):
    store = FileArtifactStore(tmp_path)
    ref = store.put(b"abc")
    Path(ref.uri.removeprefix("file://")).write_bytes(b"abd")
    with pytest.raises(ArtifactError, match="does not match"):
        store.get(ref)
    missing = ArtifactRef(uri=(tmp_path / "nothing").as_uri(), sha256="0" * 64, size=1)
    with pytest.raises(ArtifactError, match="missing"):
        store.get(missing)
