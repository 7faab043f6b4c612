"""Pydantic documents that cross job and store boundaries."""

from __future__ import annotations

from crystaloop.schemas.artifact import ArtifactRef
from crystaloop.schemas.candidate import (
    CandidateDoc,
    GenerateOutput,
    ScoreOutput,
    ScreenOutput,
)
from crystaloop.schemas.corpus import CorpusEntry, Property, Provenance, SourceRef
from crystaloop.schemas.label import (
    LabelDoc,
    LabelOutput,
    ModelDoc,
    OracleSubject,
    SelectOutput,
    TrainOutput,
)

__all__ = [
    "ArtifactRef",
    "CandidateDoc",
    "CorpusEntry",
    "GenerateOutput",
    "LabelDoc",
    "LabelOutput",
    "ModelDoc",
    "OracleSubject",
    "Property",
    "Provenance",
    "ScoreOutput",
    "ScreenOutput",
    "SelectOutput",
    "SourceRef",
    "TrainOutput",
]
