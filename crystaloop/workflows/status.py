"""Where a campaign stands, read from the stores (the LaunchPad's view is added by launchpad/)."""

from __future__ import annotations

from typing import Any

from crystaloop.settings import CrystaloopSettings
from crystaloop.stores.candidates import CandidateStore
from crystaloop.stores.factory import open_store
from crystaloop.stores.labels import LabelStore
from crystaloop.stores.models import ModelRegistry


def latest_campaign(settings: CrystaloopSettings) -> str | None:
    """Return the id of the most recently started campaign, if any."""
    docs = list(
        open_store(settings, "campaigns").query(
            {}, properties=["campaign"], sort={"started": -1}, limit=1
        )
    )
    return docs[0]["campaign"] if docs else None


def campaign_status(
    settings: CrystaloopSettings, campaign: str, stable_threshold: float = 0.1
) -> dict[str, Any]:
    """Return the campaign's state and per-iteration counts.

    Raises
    ------
    KeyError
        When no such campaign was started.
    """
    doc = open_store(settings, "campaigns").query_one({"campaign": campaign})
    if doc is None:
        raise KeyError(f"no campaign {campaign!r}")
    candidates = CandidateStore(open_store(settings, "candidates"))
    labels = LabelStore(open_store(settings, "labels"))
    models = ModelRegistry(open_store(settings, "models"))
    records = {int(k): v for k, v in (doc.get("iterations") or {}).items()}
    seen = {d["iteration"] for d in candidates.store.query({"campaign": campaign}, ["iteration"])}
    surrogate = models.latest(campaign, "surrogate")
    rows = []
    for i in sorted(seen | {k for k in records if k >= 0}):
        q = {"campaign": campaign, "iteration": i}
        stable = labels.count({**q, "kind": "candidate", "e_hull": {"$lte": stable_threshold}})
        record = records.get(i, {})
        rows.append(
            {
                "iteration": i,
                "generated": candidates.count(q),
                "valid": candidates.count({**q, "status": "passed"}),
                "selected": candidates.count({**q, "selection": "dft"}),
                "dft_done": candidates.count({**q, "oracle": "done"}),
                "dft_failed": candidates.count({**q, "oracle": "failed"}),
                "accepted": candidates.count({**q, "selection": "predicted"}),
                "new_stable": stable,
                "mae_before": record.get("mae_before", {}),
                "surrogate": record.get("surrogate") or (surrogate.path if surrogate else None),
                "finished": "finished" in record,
            }
        )
    criteria = {"campaign": campaign}
    return {
        "campaign": campaign,
        "state": doc.get("state", "unknown"),
        "stop_reason": doc.get("stop_reason"),
        "oracle": doc.get("oracle"),
        "labels": labels.count(criteria),
        "duplicate_labels": labels.duplicate_keys(criteria),
        "bootstrap_labels": (records.get(-1) or {}).get("labelled"),
        "models": [m.model_dump() for m in models.history(campaign)],
        "iterations": rows,
    }


def request_stop(settings: CrystaloopSettings, campaign: str) -> None:
    """Set the campaign's stop flag: it stops after the iteration that is running."""
    store = open_store(settings, "campaigns")
    if store.query_one({"campaign": campaign}) is None:
        raise KeyError(f"no campaign {campaign!r}")
    store._collection.update_one({"campaign": campaign}, {"$set": {"stop_requested": True}})
