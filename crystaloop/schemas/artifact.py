"""References to large objects kept outside documents and Firework specs."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ArtifactRef(BaseModel):
    """A content-addressed reference to a large object (checkpoint, candidate batch).

    Attributes
    ----------
    uri
        ``file:///...`` for the embedded profile, ``gridfs://<database>/<bucket>/<id>`` for MongoDB.
    sha256
        Hex digest of the bytes; checked on every read.
    size
        Size in bytes.
    kind
        What the bytes are (``checkpoint``, ``candidates``, ...).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    uri: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0)
    kind: str = "blob"
