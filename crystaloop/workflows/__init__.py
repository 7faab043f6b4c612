"""Makers that return Flows: one iteration, the self-re-entering campaign, targeted design."""

from __future__ import annotations

from crystaloop.workflows.campaign import CampaignMaker, IterationMaker
from crystaloop.workflows.design import DesignMaker

__all__ = ["CampaignMaker", "DesignMaker", "IterationMaker"]
