"""Candidate batches as artifacts (gzip JSON lines) and the ``candidates`` store."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from crystaloop.schemas import ArtifactRef, CandidateDoc
from crystaloop.stores.corpus import group_by_dedup_key

if TYPE_CHECKING:
    from maggma.core import Store
    from pymatgen.core import Structure

    from crystaloop.stores.artifacts import ArtifactStore

BATCH_KIND = "candidates"


def put_batch(store: ArtifactStore, rows: Iterable[dict[str, Any]]) -> ArtifactRef:
    """Store ``{"candidate_id", "structure"}`` rows as one gzip JSON-lines artifact."""
    text = "".join(json.dumps(row) + "\n" for row in rows)
    return store.put(gzip.compress(text.encode(), mtime=0), kind=BATCH_KIND)


def get_batch(store: ArtifactStore, ref: ArtifactRef | dict[str, Any]) -> list[dict[str, Any]]:
    """Return the rows of a candidate-batch artifact (sha256 checked by the store)."""
    ref = ArtifactRef.model_validate(ref)
    return [json.loads(line) for line in gzip.decompress(store.get(ref)).decode().splitlines()]


class CandidateStore:
    """The campaign's candidates: written once per screen, looked up for deduplication."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def upsert(self, docs: Iterable[CandidateDoc]) -> None:
        """Write candidate documents (idempotent: keyed by ``candidate_id``)."""
        rows = [d.model_dump(mode="json") for d in docs]
        if rows:
            self.store.update(rows, key="candidate_id")

    def dedup_lookup(
        self, campaign: str, before: int, keys: list[tuple[str, int]]
    ) -> dict[tuple[str, int], list[tuple[str, Structure]]]:
        """Return passed candidates of earlier iterations that may duplicate these dedup keys."""
        docs = self.store.query(
            {
                "campaign": campaign,
                "iteration": {"$lt": before},
                "status": "passed",
                "formula": {"$in": sorted({f for f, _ in keys})},
            },
            properties=["candidate_id", "formula", "nsites", "structure"],
        )
        return group_by_dedup_key(docs, keys, "candidate_id")

    def set_scores(self, surrogate: str, scores: dict[str, dict[str, dict[str, float]]]) -> None:
        """Record the surrogate's ``{target: {mean, std, confidence}}`` of each candidate id."""
        coll = self.store._collection
        for candidate_id, values in scores.items():
            coll.update_one(
                {"candidate_id": candidate_id},
                {"$set": {"surrogate": surrogate, "scores": values}},
            )

    def get(self, ids: Iterable[str]) -> list[dict[str, Any]]:
        """Return the documents of some candidate ids (without ``_id``)."""
        docs = self.store.query({"candidate_id": {"$in": sorted(set(ids))}})
        return [{k: v for k, v in d.items() if k != "_id"} for d in docs]

    def set_selection(self, routes: dict[str, str], reasons: dict[str, str]) -> None:
        """Record where each candidate was routed (``dft``, ``predicted``, ``rejected``) and why."""
        coll = self.store._collection
        for candidate_id, route in routes.items():
            coll.update_one(
                {"candidate_id": candidate_id},
                {"$set": {"selection": route, "selection_reason": reasons.get(candidate_id)}},
            )

    def set_oracle(self, candidate_id: str, state: str, error: str | None = None) -> None:
        """Record that a candidate's oracle run is ``done`` or ``failed`` (with the reason)."""
        self.store._collection.update_one(
            {"candidate_id": candidate_id}, {"$set": {"oracle": state, "oracle_error": error}}
        )

    def count(self, criteria: dict[str, Any] | None = None) -> int:
        """Return the number of candidates matching ``criteria``."""
        return self.store.count(criteria or {})
