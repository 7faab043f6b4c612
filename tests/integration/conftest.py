"""Fixtures of the campaign integration tests."""

from __future__ import annotations

import jobflow
import pytest
from campaign_helpers import fresh_profile, ingest_small_corpus


@pytest.fixture
def profile(settings, monkeypatch):
    """A fresh embedded profile (LaunchPad reset) with 60 corpus structures."""
    monkeypatch.setattr(jobflow.SETTINGS, "JOB_STORE", jobflow.SETTINGS.JOB_STORE)
    fresh_profile(settings)
    ingest_small_corpus(settings, n=60)
    return settings
