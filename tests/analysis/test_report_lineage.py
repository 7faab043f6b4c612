"""The report's table of modified near misses and their parents."""

from __future__ import annotations

from report_helpers import sample_report_data

from crystaloop.analysis.report import lineage_table, render_html


def test_no_modified_candidate_means_no_table():
    data = sample_report_data()
    assert lineage_table(data) == ""
    assert "Modified near misses" not in render_html(data, [])


def test_a_modified_candidate_is_shown_with_its_parent():
    data = sample_report_data()
    child = next(r for r in data.generated if r["candidate_id"] == "c:1:2")
    child["parent"] = "c:0:1"  # the parent was labelled 0.3 eV/atom above the hull
    table = lineage_table(data)
    assert "Modified near misses" in table
    row = table[table.index('<td class="text">c:1:2</td>') :].split("</tr>")[0]
    assert "c:0:1" in row and "0.3" in row and "0.05" in row and "yes" in row
    assert table in render_html(data, [])
