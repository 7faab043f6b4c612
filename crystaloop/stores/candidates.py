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
        """Record the surrogate's ``{target: {mean, std, ...}}`` per candidate id (one write)."""
        self._bulk_set({i: {"surrogate": surrogate, "scores": v} for i, v in scores.items()})

    def set_p_match(self, discriminator: str, p_match: dict[str, float]) -> None:
        """Record the match discriminator's ``p_match`` per candidate id (one write)."""
        self._bulk_set(
            {i: {"discriminator": discriminator, "p_match": float(p)} for i, p in p_match.items()}
        )

    def get(self, ids: Iterable[str]) -> list[dict[str, Any]]:
        """Return the documents of some candidate ids (without ``_id``)."""
        docs = self.store.query({"candidate_id": {"$in": sorted(set(ids))}})
        return [{k: v for k, v in d.items() if k != "_id"} for d in docs]

    def structures(self, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Return ``{candidate id: structure dict}`` of some candidates (one query)."""
        docs = self.store.query(
            {"candidate_id": {"$in": sorted(set(ids))}}, properties=["candidate_id", "structure"]
        )
        return {d["candidate_id"]: d["structure"] for d in docs}

    def set_selection(
        self, routes: dict[str, str], reasons: dict[str, str], audited: Iterable[str] = ()
    ) -> None:
        """Record where each candidate was routed (``dft``, ``predicted``, ``rejected``) and why.

        ``audited``: accepted candidates also sent to the oracle to audit the routing.
        """
        audit = set(audited)
        self._bulk_set(
            {
                i: {"selection": route, "selection_reason": reasons.get(i), "audit": i in audit}
                for i, route in routes.items()
            }
        )

    def set_oracle(self, states: dict[str, tuple[str, str | None]]) -> None:
        """Record ``{candidate id: (state, error)}``: its oracle run is ``done`` or ``failed``."""
        self._bulk_set({i: {"oracle": s, "oracle_error": e} for i, (s, e) in states.items()})

    def _bulk_set(self, updates: dict[str, dict[str, Any]]) -> None:
        from pymongo import UpdateOne

        if updates:
            self.store._collection.bulk_write(
                [UpdateOne({"candidate_id": i}, {"$set": v}) for i, v in updates.items()],
                ordered=False,
            )

    def iterations(self, campaign: str) -> set[int]:
        """Return the iterations that generated candidates in ``campaign``."""
        return {int(i) for i in self.store.distinct("iteration", {"campaign": campaign})}

    def route_counts(self, campaign: str, iteration: int) -> dict[str, int]:
        """Return how many candidates of one iteration were generated, passed, routed, labelled.

        ``modified``: how many of the generated are the modifier's (they have a ``parent``).
        """
        q = {"campaign": campaign, "iteration": iteration}
        return {
            "generated": self.store.count(q),
            "modified": self.store.count({**q, "parent": {"$ne": None}}),
            "passed": self.store.count({**q, "status": "passed"}),
            "dft": self.store.count({**q, "selection": "dft"}),
            "predicted": self.store.count({**q, "selection": "predicted"}),
            "audited": self.store.count({**q, "audit": True}),
            "done": self.store.count({**q, "oracle": "done"}),
            "failed": self.store.count({**q, "oracle": "failed"}),
        }

    def oracle_calls(self, campaign: str) -> int:
        """Return the candidates of ``campaign`` sent to the oracle (routed or audited)."""
        return self.store.count(
            {"campaign": campaign, "$or": [{"selection": "dft"}, {"audit": True}]}
        )

    def campaign_candidates(
        self, campaign: str, properties: list[str] | None = None
    ) -> list[dict[str, Any]]:
        """Return every candidate a campaign generated (with ``properties`` only, when given)."""
        return list(self.store.query({"campaign": campaign}, properties=properties))

    def predicted(self, campaign: str) -> list[dict[str, Any]]:
        """Return ``candidate_id`` and ``scores`` of the candidates accepted as predicted."""
        return list(
            self.store.query(
                {"campaign": campaign, "selection": "predicted"},
                properties=["candidate_id", "scores"],
            )
        )

    def count(self, criteria: dict[str, Any] | None = None) -> int:
        """Return the number of candidates matching ``criteria``."""
        return self.store.count(criteria or {})
