"""The report page renders in headless Chromium with every figure decoded.

Chromium is Debian's package (``apt-get install chromium``; ``.ci/run`` installs it). Without
it the test is skipped, unless ``CRYSTALOOP_REQUIRE_CHROMIUM=1`` (set by CI) makes that a failure.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest
from report_helpers import sample_report_data

from crystaloop.analysis.figures import FIGURES
from crystaloop.analysis.report import write_report

pytestmark = pytest.mark.slow

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--virtual-time-budget=10000",
]


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.environ.get("CRYSTALOOP_REQUIRE_CHROMIUM") == "1":
        pytest.fail("CRYSTALOOP_REQUIRE_CHROMIUM=1 but no chromium on PATH")
    pytest.skip("chromium is not installed (apt-get install chromium)")


def render(page, tmp_path) -> tuple[str, bytes]:
    """Return the DOM after load and a screenshot of ``page``."""
    browser = _chromium()
    base = [browser, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
    url = page.resolve().as_uri()
    dom = subprocess.run(
        [*base, "--dump-dom", url], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    shot = tmp_path / "shot.png"
    subprocess.run(
        [*base, "--window-size=1200,4000", f"--screenshot={shot}", url],
        capture_output=True,
        timeout=120,
        check=True,
    )
    return dom, shot.read_bytes()


def test_the_report_renders_with_all_its_figures(tmp_path):
    page = write_report(sample_report_data(), tmp_path / "report")
    dom, shot = render(page, tmp_path)
    body = re.search(r"<body([^>]*)>", dom)
    assert body, dom[:500]
    loaded = re.search(r'data-figures-loaded="(\d+)"', body.group(1))
    total = re.search(r'data-figures-total="(\d+)"', body.group(1))
    assert loaded and total, body.group(1)
    assert int(total.group(1)) == len(FIGURES)
    assert int(loaded.group(1)) == len(FIGURES)
    assert "crystaloop campaign demo" in dom
    assert shot.startswith(b"\x89PNG") and len(shot) > 50_000
