"""The ``models`` store: which surrogate and generator a campaign uses after each retraining."""

from __future__ import annotations

from typing import TYPE_CHECKING

from crystaloop.schemas import ModelDoc

if TYPE_CHECKING:
    from maggma.core import Store


class ModelRegistry:
    """Register trained models and find a campaign's latest one of a kind."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def register(self, doc: ModelDoc) -> None:
        """Write ``doc`` (idempotent by ``model_id``)."""
        self.store.update([doc.model_dump(mode="json")], key="model_id")

    def latest(self, campaign: str, kind: str) -> ModelDoc | None:
        """Return the campaign's model of ``kind`` from its highest iteration, if any."""
        docs = list(
            self.store.query({"campaign": campaign, "kind": kind}, sort={"iteration": -1}, limit=1)
        )
        if not docs:
            return None
        return ModelDoc(**{k: v for k, v in docs[0].items() if k != "_id"})

    def history(self, campaign: str) -> list[ModelDoc]:
        """Return every model the campaign registered, oldest first."""
        docs = self.store.query({"campaign": campaign}, sort={"iteration": 1})
        return [ModelDoc(**{k: v for k, v in d.items() if k != "_id"}) for d in docs]
