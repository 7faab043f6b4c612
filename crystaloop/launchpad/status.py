"""A campaign as the LaunchPad sees it: Firework states, failed steps, and progress events.

The stores say what a campaign produced (:func:`~crystaloop.stores.campaigns.campaign_status`);
the LaunchPad says whether it can still go on. A loop step other than an oracle run (generate,
screen, score, select, dispatch, label, train, next, bootstrap) that fizzled stops the campaign
for good: its children wait forever. Such a campaign is **stalled**, and its status names the
Firework and its error. A failed oracle run is tolerated: the label step records it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from crystaloop.schemas import CampaignStatus, FailedStep
from crystaloop.settings import CrystaloopSettings

#: Stages whose failure the campaign tolerates (the label step records failed oracle runs).
TOLERATED_STAGES = ("oracle", "discovery")


def _error_of(launchpad: Any, fw_id: int) -> str:
    """Return the last line of the exception of a Firework's latest fizzled launch."""
    launches = list(
        launchpad.launches.find({"fw_id": fw_id, "state": "FIZZLED"}, {"action": 1, "time_end": 1})
    )
    for launch in sorted(launches, key=lambda d: str(d.get("time_end")), reverse=True):
        stored = ((launch.get("action") or {}).get("stored_data") or {}).get("_exception") or {}
        trace = str(stored.get("_stacktrace") or "").strip()
        if trace:
            return trace.splitlines()[-1].strip()
    return "failed (no exception recorded)"


def failed_steps(settings: CrystaloopSettings, campaign: str) -> list[FailedStep]:
    """Return the campaign's fizzled Fireworks whose failure stops it (not oracle runs)."""
    from crystaloop.launchpad.config import get_launchpad

    launchpad = get_launchpad(settings)
    out = []
    for fw in launchpad.fireworks.find(
        {"spec.crystaloop.campaign": campaign, "state": "FIZZLED"},
        {"fw_id": 1, "name": 1, "spec.crystaloop": 1},
    ):
        tag = fw["spec"]["crystaloop"]
        if tag["stage"] in TOLERATED_STAGES:
            continue
        out.append(
            FailedStep(
                fw_id=fw["fw_id"],
                name=fw.get("name", ""),
                iteration=int(tag["iteration"]),
                stage=tag["stage"],
                error=_error_of(launchpad, fw["fw_id"]),
            )
        )
    return sorted(out, key=lambda f: f.fw_id)


def campaign_overview(settings: CrystaloopSettings, campaign: str) -> CampaignStatus:
    """Return the campaign's status from the stores, with the Fireworks' states and stalls.

    Raises
    ------
    KeyError
        When no such campaign was started.
    """
    from crystaloop.launchpad.submit import firework_states
    from crystaloop.stores.campaigns import campaign_status

    status = campaign_status(settings, campaign)
    status.fireworks = firework_states(settings, campaign)
    status.failed_steps = failed_steps(settings, campaign)
    if status.state == "running" and status.failed_steps:
        status.state = "stalled"
    return status


@dataclass
class CampaignWatcher:
    """Turns what happened on the LaunchPad since the last look into one line per event.

    One line per finished loop step (with its run time) and per failed oracle run (with the
    subject and the reason); the full traces stay in the LaunchPad and the log file.
    """

    settings: CrystaloopSettings
    campaign: str
    seen: set[int] = field(default_factory=set)
    failed_subjects: set[str] = field(default_factory=set)

    def poll(self) -> list[str]:
        """Return the lines of the Fireworks that finished since the last call."""
        from datetime import datetime

        from crystaloop.launchpad.config import get_launchpad

        launchpad = get_launchpad(self.settings)
        lines = []
        for fw in launchpad.fireworks.find(
            {
                "spec.crystaloop.campaign": self.campaign,
                "state": {"$in": ["COMPLETED", "FIZZLED"]},
                "fw_id": {"$nin": sorted(self.seen)},
            },
            {"fw_id": 1, "name": 1, "state": 1, "spec.crystaloop": 1},
        ):
            self.seen.add(fw["fw_id"])
            tag = fw["spec"]["crystaloop"]
            where = "bootstrap" if int(tag["iteration"]) < 0 else f"iteration {tag['iteration']}"
            name = fw.get("name", "")
            if fw["state"] == "FIZZLED":
                error = _error_of(launchpad, fw["fw_id"])
                if tag["stage"] not in TOLERATED_STAGES:
                    lines.append(f"  {where}: step {name} failed: {error}")
                elif tag.get("subject") not in self.failed_subjects:
                    # the first failed job of a sub-flow; the ones after it fail for want of it
                    self.failed_subjects.add(tag.get("subject"))
                    lines.append(
                        f"  {where}: oracle run of {tag.get('subject', name)} failed: {error}"
                    )
                continue
            if tag["stage"] in TOLERATED_STAGES:
                continue
            seconds = 0.0
            for launch in launchpad.launches.find(
                {"fw_id": fw["fw_id"], "state": "COMPLETED"}, {"time_start": 1, "time_end": 1}
            ):
                start, end = launch.get("time_start"), launch.get("time_end")
                if start and end:
                    delta = datetime.fromisoformat(str(end)) - datetime.fromisoformat(str(start))
                    seconds = delta.total_seconds()
            label = name if name == "start" else f"{where}: {name}"
            lines.append(f"  {label} done ({seconds:.1f} s)")
        return lines


def runs_per_firework(settings: CrystaloopSettings, campaign: str) -> dict[int, int]:
    """Return how many times each of the campaign's Fireworks was launched (reruns included)."""
    from crystaloop.launchpad.config import get_launchpad

    launchpad = get_launchpad(settings)
    return {
        int(fw["fw_id"]): len(fw.get("launches") or []) + len(fw.get("archived_launches") or [])
        for fw in launchpad.fireworks.find(
            {"spec.crystaloop.campaign": campaign},
            {"fw_id": 1, "launches": 1, "archived_launches": 1},
        )
    }
