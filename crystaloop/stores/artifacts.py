"""Content-addressed storage of large objects (checkpoints, candidate batches).

Documents and Firework specs hold an :class:`~crystaloop.schemas.ArtifactRef` (URI + sha256 +
size), never the bytes. The embedded profile keeps artifacts as files under
``$CRYSTALOOP_HOME/artifacts``; the MongoDB profile keeps them in a GridFS bucket. Every read checks
the digest.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Protocol

from crystaloop.schemas.artifact import ArtifactRef
from crystaloop.settings import CrystaloopSettings


class ArtifactError(Exception):
    """An artifact is missing or its bytes do not match its digest."""


class ArtifactStore(Protocol):
    """Put and get bytes by content."""

    def put(self, data: bytes, kind: str = "blob") -> ArtifactRef:
        """Store ``data`` and return its reference."""
        ...

    def get(self, ref: ArtifactRef) -> bytes:
        """Return the bytes of ``ref``, checked against its digest."""
        ...


def _check(ref: ArtifactRef, data: bytes) -> bytes:
    digest = hashlib.sha256(data).hexdigest()
    if digest != ref.sha256:
        raise ArtifactError(f"artifact {ref.uri}: sha256 {digest} does not match {ref.sha256}")
    return data


class FileArtifactStore:
    """Artifacts as files ``<root>/<sha256[:2]>/<sha256>``, written atomically."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).expanduser().resolve()

    def put(self, data: bytes, kind: str = "blob") -> ArtifactRef:
        """Store ``data`` (once: equal bytes share one file) and return its reference."""
        digest = hashlib.sha256(data).hexdigest()
        path = self.root / digest[:2] / digest
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as tmp:
                tmp.write(data)
                tmp.flush()
                os.fsync(tmp.fileno())
            os.replace(tmp.name, path)
        return ArtifactRef(uri=path.as_uri(), sha256=digest, size=len(data), kind=kind)

    def get(self, ref: ArtifactRef) -> bytes:
        """Return the bytes of ``ref``."""
        if not ref.uri.startswith("file://"):
            raise ArtifactError(f"artifact {ref.uri} is not a file artifact")
        path = Path(ref.uri.removeprefix("file://"))
        try:
            return _check(ref, path.read_bytes())
        except FileNotFoundError as err:
            raise ArtifactError(f"artifact {ref.uri} is missing") from err


class GridFSArtifactStore:
    """Artifacts in a GridFS bucket, named by their sha256."""

    def __init__(self, uri: str, database: str, bucket: str = "artifacts") -> None:
        import gridfs
        import pymongo

        self._client: pymongo.MongoClient = pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000)
        self.database = database
        self.bucket_name = bucket
        self._bucket = gridfs.GridFSBucket(self._client[database], bucket_name=bucket)

    def put(self, data: bytes, kind: str = "blob") -> ArtifactRef:
        """Store ``data`` (once per digest) and return its reference."""
        digest = hashlib.sha256(data).hexdigest()
        files = self._client[self.database][f"{self.bucket_name}.files"]
        if files.find_one({"filename": digest}, {"_id": 1}) is None:
            self._bucket.upload_from_stream(digest, data, metadata={"kind": kind})
        uri = f"gridfs://{self.database}/{self.bucket_name}/{digest}"
        return ArtifactRef(uri=uri, sha256=digest, size=len(data), kind=kind)

    def get(self, ref: ArtifactRef) -> bytes:
        """Return the bytes of ``ref``."""
        import gridfs

        try:
            stream = self._bucket.open_download_stream_by_name(ref.sha256)
        except gridfs.errors.NoFile as err:
            raise ArtifactError(f"artifact {ref.uri} is missing") from err
        return _check(ref, stream.read())


def artifact_store(settings: CrystaloopSettings) -> ArtifactStore:
    """Return the artifact store of the configured profile."""
    if settings.backend == "embedded":
        return FileArtifactStore(settings.artifacts_dir)
    return GridFSArtifactStore(settings.require_mongo_uri(), settings.database)
