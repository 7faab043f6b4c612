"""The ``campaigns`` store: each campaign's record, its iterations, stop flag and status.

Every write to a campaign document goes through :class:`CampaignStore`; :func:`campaign_status`
reads a campaign back with the candidates, labels and models stores (the LaunchPad's view, the
Fireworks' states and any stalled step, is added by :mod:`crystaloop.launchpad.status`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from crystaloop.schemas.campaign import (
    CampaignRecord,
    CampaignStatus,
    IterationRecord,
    IterationStatus,
)

if TYPE_CHECKING:
    from maggma.core import Store

    from crystaloop.settings import CrystaloopSettings


def now() -> str:
    """Return the current UTC time in ISO format (the stores' timestamps)."""
    return datetime.now(UTC).isoformat()


class CampaignStore:
    """Campaign records: started once, one record per iteration, finished once."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def exists(self, campaign: str) -> bool:
        """Return whether a campaign with this id was started."""
        return self.store.query_one({"campaign": campaign}, properties=["campaign"]) is not None

    def start(self, record: CampaignRecord) -> None:
        """Record a campaign unless it is recorded already (a rerun keeps the history)."""
        doc = record.model_dump(mode="json")
        self.store._collection.update_one(
            {"campaign": record.campaign}, {"$setOnInsert": doc}, upsert=True
        )

    def get(self, campaign: str) -> CampaignRecord | None:
        """Return a campaign's record, or ``None``."""
        doc = self.store.query_one({"campaign": campaign})
        return CampaignRecord.model_validate(doc) if doc is not None else None

    def require(self, campaign: str) -> CampaignRecord:
        """Return a campaign's record.

        Raises
        ------
        KeyError
            When no such campaign was started.
        """
        record = self.get(campaign)
        if record is None:
            raise KeyError(f"no campaign {campaign!r}")
        return record

    def latest(self) -> str | None:
        """Return the id of the most recently started campaign, if any."""
        docs = list(self.store.query({}, properties=["campaign"], sort={"started": -1}, limit=1))
        return docs[0]["campaign"] if docs else None

    def record_iteration(
        self, campaign: str, record: IterationRecord, stop_reason: str | None = None
    ) -> None:
        """Write one iteration's record; with ``stop_reason`` the campaign is finished too."""
        update: dict[str, Any] = {f"iterations.{record.iteration}": record.model_dump(mode="json")}
        if stop_reason:
            update.update(state="finished", stop_reason=stop_reason, finished=record.finished)
        self.store._collection.update_one({"campaign": campaign}, {"$set": update})

    def finish(self, campaign: str, reason: str) -> None:
        """Mark a campaign finished, with the reason."""
        self.store._collection.update_one(
            {"campaign": campaign},
            {"$set": {"state": "finished", "stop_reason": reason, "finished": now()}},
        )

    def request_stop(self, campaign: str) -> None:
        """Set the campaign's stop flag: it stops after the iteration that is running.

        Raises
        ------
        KeyError
            When no such campaign was started.
        """
        result = self.store._collection.update_one(
            {"campaign": campaign}, {"$set": {"stop_requested": True}}
        )
        if result.matched_count == 0:
            raise KeyError(f"no campaign {campaign!r}")


def campaign_status(settings: CrystaloopSettings, campaign: str) -> CampaignStatus:
    """Return the campaign's state and per-iteration counts, from the stores.

    Raises
    ------
    KeyError
        When no such campaign was started.
    """
    from crystaloop.stores.candidates import CandidateStore
    from crystaloop.stores.factory import open_store
    from crystaloop.stores.labels import LabelStore
    from crystaloop.stores.models import ModelRegistry

    record = CampaignStore(open_store(settings, "campaigns")).require(campaign)
    candidates = CandidateStore(open_store(settings, "candidates"))
    labels = LabelStore(open_store(settings, "labels"))
    models = ModelRegistry(open_store(settings, "models"))
    history = record.history()
    threshold = record.stable_threshold
    surrogate = models.latest(campaign, "surrogate")
    rows = []
    for i in sorted(candidates.iterations(campaign) | {k for k in history if k >= 0}):
        counts = candidates.route_counts(campaign, i)
        it = history.get(i)
        rows.append(
            IterationStatus(
                iteration=i,
                generated=counts["generated"],
                modified=counts["modified"],
                valid=counts["passed"],
                selected=counts["dft"],
                dft_done=counts["done"],
                dft_failed=counts["failed"],
                accepted=counts["predicted"],
                audited=counts["audited"],
                audit_coverage=it.audit_coverage if it else None,
                new_stable=labels.count_stable(campaign, i, threshold),
                mae_before=it.mae_before if it else {},
                surrogate=(it.surrogate if it else None) or (surrogate.path if surrogate else None),
                finished=it is not None,
            )
        )
    bootstrap = history.get(-1)
    return CampaignStatus(
        campaign=campaign,
        state=record.state,
        stop_reason=record.stop_reason,
        oracle=record.oracle,
        stable_threshold=threshold,
        plan=record.plan,
        labels=labels.count_campaign(campaign),
        duplicate_labels=labels.duplicate_keys(campaign),
        bootstrap_labels=bootstrap.labelled if bootstrap else None,
        models=[m.model_dump() for m in models.history(campaign)],
        iterations=rows,
    )
