"""The report's figures and page, drawn from hand-made campaign data."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import pytest
from report_helpers import sample_report_data

from crystaloop.analysis.figures import FIGURES, plot_hull
from crystaloop.analysis.report import write_report
from crystaloop.analysis.report_data import HullData, ReportData, choose_chemsys, parse_chemsys

PNG = b"\x89PNG\r\n\x1a\n"


def _pixels(path):
    import matplotlib.image as mpimg

    return mpimg.imread(path)


def test_write_report_makes_every_figure_and_embeds_it(tmp_path):
    page = write_report(sample_report_data(), tmp_path / "out")
    text = page.read_text()
    for name, title, _ in FIGURES:
        png = (tmp_path / "out" / name).read_bytes()
        assert png.startswith(PNG) and len(png) > 5000, name
        assert title in text
        image = _pixels(tmp_path / "out" / name)
        assert image.shape[0] > 300 and image.shape[1] > 300
        assert image.std() > 0.05, f"{name} is blank"  # something is drawn
    assert len(re.findall(r'src="data:image/png;base64,', text)) == len(FIGURES)
    assert "passed duplicate of corpus" in text and "S.U.N." in text
    assert "c:0:0" in text  # the stable discovery table
    summary = json.loads((tmp_path / "out" / "report.json").read_text())
    assert summary["hull_chemsys"] == "Ba-O-Ti"
    assert [r["iteration"] for r in summary["iterations"]] == [0, 1]


def test_an_empty_campaign_still_gets_every_figure(tmp_path):
    data = sample_report_data()
    empty = replace(data, iterations=[], labelled=[], generated=[], hull=None, fireworks={})
    write_report(empty, tmp_path / "empty")
    for name, _, _ in FIGURES:
        assert (tmp_path / "empty" / name).read_bytes().startswith(PNG)
    assert "No stable discovery yet" in (tmp_path / "empty" / "index.html").read_text()


def test_binary_hull_and_a_quaternary_is_refused(tmp_path):
    binary = HullData(
        "O-Ti",
        "chgnet",
        references=[("O", {"O": 1.0}, -4.9), ("Ti", {"Ti": 1.0}, -7.8)],
        known=[("l:TiO2", {"Ti": 1.0, "O": 2.0}, -26.5)],
        new=[("c:0:9", {"Ti": 2.0, "O": 3.0}, -37.0)],
    )
    caption = plot_hull(sample_report_data(binary), tmp_path / "binary.png")
    assert "O-Ti" in caption and "1 candidates" in caption
    assert _pixels(tmp_path / "binary.png").std() > 0.05
    quaternary = replace(binary, chemsys="Ba-O-Sr-Ti")
    with pytest.raises(ValueError, match="2- and 3-element"):
        plot_hull(sample_report_data(quaternary), tmp_path / "q.png")


def test_the_hull_system_is_the_one_with_most_stable_discoveries():
    data: ReportData = sample_report_data()
    # Ba-O-Ti: labels 1 (unstable) and 3 (stable); O-Sr-Ti: 0 and 2 (both stable)
    assert choose_chemsys(data.labelled) == "O-Sr-Ti"
    assert choose_chemsys([]) is None


def test_labels_without_a_hull_never_pick_the_system():
    data = sample_report_data()
    unhulled = [dict(r, chemsys="Ba-N", e_hull=None, stable=False) for r in data.labelled * 3]
    assert choose_chemsys(unhulled) is None
    assert choose_chemsys(unhulled + data.labelled) == "O-Sr-Ti"
    many_unstable = [dict(r, chemsys="Ba-N", stable=False) for r in data.labelled * 30]
    assert choose_chemsys(many_unstable + data.labelled) == "O-Sr-Ti"  # stable ones first


@pytest.mark.parametrize(
    ("text", "message"),
    [("Ba-O-Sr-Ti", "2 or 3 different"), ("Ba-Ba", "2 or 3 different"), ("Ba-Xx", "'Xx' is not")],
)
def test_chemsys_is_checked(text, message):
    assert parse_chemsys("Ti-O-Ba-") == "Ba-O-Ti"
    with pytest.raises(ValueError, match=message):
        parse_chemsys(text)


def test_an_unknown_hull_is_refused(settings):
    from crystaloop.analysis.discovery import discoveries

    with pytest.raises(ValueError, match="unknown hull 'latest'"):
        discoveries(settings, "c", hull="latest")  # type: ignore[arg-type]
