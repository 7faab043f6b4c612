"""The campaign report: one self-contained HTML page and its PNG figures.

The figures are written as PNG files beside ``index.html`` and embedded in it as ``data:`` URIs,
so the page can be mailed or archived alone. A small inline script counts the figures the
browser decoded and records it on ``<body>`` (``data-figures-loaded``), which the render test
reads from headless Chromium.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

from crystaloop.analysis.figures import FIGURES
from crystaloop.analysis.report_data import ReportData

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: right; }
th { background: #f3f3f3; }
td.text, th.text { text-align: left; }
figure { margin: 1.5em 0; }
figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.9em; color: #444; }
.note { color: #555; font-size: 0.9em; }
"""

_COUNT_SCRIPT = """
window.addEventListener('load', function () {
  var imgs = document.querySelectorAll('figure img');
  var ok = 0;
  imgs.forEach(function (img) { if (img.complete && img.naturalWidth > 0) { ok += 1; } });
  document.body.setAttribute('data-figures-total', String(imgs.length));
  document.body.setAttribute('data-figures-loaded', String(ok));
});
"""


#: How the page names the hull its E_hull values come from.
_HULL_WORDS = {
    "stored": "the phases the oracle had labelled when the label was written (the stored E_hull)",
    "current": "every phase the oracle has labelled in this home so far (the current hull)",
}


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return html.escape(str(value))


def _table(header: list[str], rows: list[list[Any]], text_columns: int = 0) -> str:
    head = "".join(
        f'<th class="text">{html.escape(h)}</th>'
        if k < text_columns
        else f"<th>{html.escape(h)}</th>"
        for k, h in enumerate(header)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="text">{_fmt(v)}</td>' if k < text_columns else f"<td>{_fmt(v)}</td>"
            for k, v in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def iteration_tables(data: ReportData) -> str:
    """Return the per-iteration HTML tables: the screens, then the oracle and the surrogate."""
    screens = list(data.screens)
    screening = _table(
        ["iteration", "generated", *[f"passed {s.replace('_', ' ')}" for s in screens]],
        [
            [r["iteration"], r["generated"], *[r["passed"][s] for s in screens]]
            for r in data.iterations
        ],
    )
    threshold = f"{data.header.get('stable_threshold', 0.1):g}"
    header = [
        "iteration",
        "routed to oracle",
        "oracle done",
        "oracle failed",
        "accepted as prediction",
        "audited",
        "audit coverage",
        f"new stable (≤ {threshold})",
        "new stable (≤ 0)",
        f"S.U.N. (≤ {threshold})",
        "S.U.N. (≤ 0)",
        "hit rate",
        "MAE before retraining (eV/atom)",
        "68 % coverage",
        "95 % coverage",
    ]
    rows = [
        [
            r["iteration"],
            r["selected"],
            r["dft_done"],
            r["dft_failed"],
            r["accepted"],
            r.get("audited", 0),
            r.get("audit_coverage"),
            r["stable"],
            r["stable_strict"],
            r["sun"],
            r["sun_strict"],
            r["hit_rate"],
            r["mae"],
            r["coverage_68"],
            r["coverage_95"],
        ]
        for r in data.iterations
    ]
    return screening + _table(header, rows)


def discoveries_table(data: ReportData, limit: int = 50) -> str:
    """Return the table of the stable discoveries (lowest E_hull first)."""
    stable = sorted((r for r in data.labelled if r["stable"]), key=lambda r: r["e_hull"])
    if not stable:
        return '<p class="note">No stable discovery yet.</p>'
    rows = [
        [
            r["subject_id"],
            r["formula"],
            r["iteration"],
            r["e_form"],
            r["e_hull"],
            (r["predicted"].get("e_form") or {}).get("mean"),
            (r["predicted"].get("e_form") or {}).get("std"),
            {True: "yes", False: "no"}.get(r["unique"], "undecided"),
            {True: "yes", False: "no"}.get(r["novel"], "undecided"),
        ]
        for r in stable[:limit]
    ]
    header = [
        "candidate",
        "formula",
        "iteration",
        "E_form (eV/atom)",
        "E_hull (eV/atom)",
        "predicted E_form",
        "σ",
        "unique",
        "novel",
    ]
    more = (
        f'<p class="note">{len(stable) - limit} more not shown.</p>' if len(stable) > limit else ""
    )
    return _table(header, rows, text_columns=2) + more


def lineage_table(data: ReportData, limit: int = 50) -> str:
    """Return the table of the modified candidates and their parents ("" when there are none).

    Each row: the candidate, its parent (a near miss), the parent's E_hull, how far the
    candidate got (screens, selection) and its own E_hull when the oracle labelled it.
    """
    children = [r for r in data.generated if r.get("parent")]
    if not children:
        return ""
    labels = {r["subject_id"]: r for r in data.labelled}

    def e_hull(subject: str) -> Any:
        return (labels.get(subject) or {}).get("e_hull")

    def stable(subject: str) -> str:
        return {True: "yes", False: "no"}.get((labels.get(subject) or {}).get("stable"), "–")

    rows = [
        [
            c["candidate_id"],
            c["parent"],
            c["formula"],
            e_hull(c["parent"]),
            c["status"] if c["status"] != "screened_out" else f"screened out ({c['stage']})",
            c.get("selection") or "–",
            e_hull(c["candidate_id"]),
            stable(c["candidate_id"]),
        ]
        for c in children[:limit]
    ]
    header = [
        "candidate",
        "parent (near miss)",
        "formula",
        "parent E_hull",
        "screens",
        "selection",
        "E_hull",
        "stable",
    ]
    more = (
        f'<p class="note">{len(children) - limit} more not shown.</p>'
        if len(children) > limit
        else ""
    )
    return (
        '<h2>Modified near misses</h2>\n<p class="note">Candidates the structure modifier made '
        "from oracle-labelled near misses (a little above the stability threshold), with their "
        "parents.</p>\n" + _table(header, rows, text_columns=3) + more
    )


def render_html(data: ReportData, figures: list[tuple[str, str, str, bytes]]) -> str:
    """Return the page: header, tables and the figures ``(file, title, caption, png bytes)``."""
    h = data.header
    title = f"crystaloop campaign {h['campaign']}"
    facts = [
        ("state", h["state"] + (f" ({h['stop_reason']})" if h.get("stop_reason") else "")),
        ("oracle", h["oracle"]),
        (
            "selection",
            h["selection"]
            + (", surrogate frozen" if h["surrogate_frozen"] else "")
            + (", generator frozen" if h.get("generator_frozen") else ""),
        ),
        ("starting generator / surrogate", f"{h['generator']} / {h['surrogate']}"),
        ("oracle budget", h["oracle_budget"]),
        ("started / finished", f"{h['started']} / {h.get('finished') or '–'}"),
        ("labels (duplicated keys)", f"{h['labels']} ({h['duplicate_labels']})"),
        ("bootstrap labels", h.get("bootstrap_labels")),
        ("stability threshold", f"E_hull ≤ {h.get('stable_threshold', 0.1):g} eV/atom"),
        ("hull source", h.get("hull_description") or h.get("hull_source", "oracle")),
        (
            "audit",
            f"{h.get('audit_share', 0.0):.0%} of each iteration's oracle budget on a random "
            "sample of the accepted predictions (coverage: the share within the surrogate's "
            "tolerance)",
        ),
    ]
    facts += [
        (
            "stalled at",
            f"Firework {f['fw_id']} ({f['name']}, iteration {f['iteration']}): {f['error']}",
        )
        for f in h.get("failed_steps") or []
    ]
    fact_rows = "".join(
        f'<tr><th class="text">{html.escape(k)}</th><td class="text">{_fmt(v)}</td></tr>'
        for k, v in facts
    )
    models = _table(
        ["model", "kind", "iteration", "fine-tuned from"],
        [[m["model_id"], m["kind"], m["iteration"], m["parent"]] for m in h["models"]],
        text_columns=2,
    )
    fireworks = _table(
        ["iteration", "Fireworks by state"],
        [
            [k, ", ".join(f"{s} {n}" for s, n in sorted(v.items()))]
            for k, v in sorted(data.fireworks.items(), key=lambda kv: int(kv[0]))
        ],
        text_columns=0,
    )
    figure_html = "".join(
        f'<figure id="{html.escape(name[:-4])}"><h3>{html.escape(fig_title)}</h3>'
        f'<img alt="{html.escape(fig_title)}" src="data:image/png;base64,'
        f'{base64.b64encode(png).decode()}"><figcaption>{html.escape(caption)}'
        f' (<a href="{html.escape(name)}">{html.escape(name)}</a>)</figcaption></figure>'
        for name, fig_title, caption, png in figures
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{_STYLE}</style><script>{_COUNT_SCRIPT}</script></head>
<body><h1>{html.escape(title)}</h1>
<table>{fact_rows}</table>
<h2>Iterations</h2>
<p class="note">Screens run in order; each "passed" column counts what survived it. Stable means
E_hull ≤ {h["stable_threshold"]:g} eV/atom against {_HULL_WORDS[h.get("hull", "stored")]};
S.U.N.: stable, unique within the campaign and novel against the corpus.
Hit rate: stable / oracle calls. MAE and coverages: the formation-energy predictions of the
surrogate that scored the iteration's candidates, against their new labels.</p>
{iteration_tables(data)}
<h2>Stable discoveries</h2>
{discoveries_table(data)}
{lineage_table(data)}
<h2>Figures</h2>
{figure_html}
<h2>Models</h2>
{models}
<h2>Fireworks</h2>
{fireworks}
<p class="note">Iteration -1 is the bootstrap; -2 the follow-up flows on discoveries.</p>
</body></html>
"""


def safe_name(campaign: str) -> str:
    """Return ``campaign`` usable as a file name (anything but letters, digits, ``._-`` → ``_``)."""
    import re

    return re.sub(r"[^A-Za-z0-9._-]", "_", campaign)[:100] or "campaign"


def write_report(data: ReportData, out: Path) -> Path:
    """Write ``index.html``, the PNG figures and ``report.json`` into ``out``; return the page."""
    out.mkdir(parents=True, exist_ok=True)
    figures = []
    for name, title, draw in FIGURES:
        path = out / name
        caption = draw(data, path)
        figures.append((name, title, caption, path.read_bytes()))
    page = out / "index.html"
    page.write_text(render_html(data, figures), encoding="utf-8")
    summary = {
        "header": data.header,
        "iterations": data.iterations,
        "fireworks": data.fireworks,
        "hull_chemsys": data.hull.chemsys if data.hull else None,
        "labelled": [
            {k: v for k, v in r.items() if k not in ("structure",)} for r in data.labelled
        ],
    }
    (out / "report.json").write_text(json.dumps(summary, indent=1, default=str))
    return page
