"""Pydantic documents that cross job and store boundaries."""

from __future__ import annotations

from crystaloop.schemas.artifact import ArtifactRef
from crystaloop.schemas.campaign import (
    CampaignRecord,
    CampaignStatus,
    FailedStep,
    IterationRecord,
    IterationStatus,
)
from crystaloop.schemas.candidate import (
    CandidateDoc,
    GenerateOutput,
    ModifyOutput,
    ScoreOutput,
    ScoreRecord,
    ScreenOutput,
)
from crystaloop.schemas.corpus import (
    CorpusEntry,
    HullEntryDoc,
    Property,
    Provenance,
    SourceRef,
)
from crystaloop.schemas.label import (
    STABLE_THRESHOLD,
    LabelDoc,
    LabelOutput,
    ModelDoc,
    OracleSubject,
    SelectOutput,
    TrainOutput,
)

__all__ = [
    "ArtifactRef",
    "CampaignRecord",
    "CampaignStatus",
    "FailedStep",
    "IterationRecord",
    "IterationStatus",
    "CandidateDoc",
    "CorpusEntry",
    "GenerateOutput",
    "ModifyOutput",
    "HullEntryDoc",
    "LabelDoc",
    "LabelOutput",
    "ModelDoc",
    "OracleSubject",
    "Property",
    "Provenance",
    "ScoreOutput",
    "ScoreRecord",
    "ScreenOutput",
    "STABLE_THRESHOLD",
    "SelectOutput",
    "SourceRef",
    "TrainOutput",
]
