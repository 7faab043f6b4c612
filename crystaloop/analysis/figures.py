"""The report's figures, drawn with matplotlib from :class:`~.report_data.ReportData` only.

Each ``plot_*`` function writes one PNG and returns its caption. Where a campaign has nothing to
show for a figure (no scored label yet, an oracle without band gaps), the figure says so in its
panel instead of being left out, so the report always has the same figures.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import Any

from crystaloop.analysis.discovery import prediction_triples
from crystaloop.analysis.report_data import HullData, ReportData

DPI = 110


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _empty(ax: Any, text: str) -> None:
    import textwrap

    ax.text(0.5, 0.5, textwrap.fill(text, 38), ha="center", va="center", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def _save(fig: Any, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    _pyplot().close(fig)


def _scored(data: ReportData, target: str = "e_form") -> list[dict[str, Any]]:
    return [r for r in data.labelled if target in r["predicted"] and r.get(target) is not None]


def plot_parity(data: ReportData, path: Path) -> str:
    """Draw the surrogate's mean ± σ against the oracle's formation energy, per iteration."""
    from crystaloop.chem.calibration import error_stats

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.6, 5.0))
    rows = _scored(data)
    if not rows:
        _empty(ax, "No oracle-labelled candidate with a surrogate prediction yet")
    else:
        mean, std, truth = prediction_triples(rows)
        iterations = sorted({r["iteration"] for r in rows})
        cmap = plt.get_cmap("viridis", max(2, len(iterations)))
        for k, i in enumerate(iterations):
            idx = [j for j, r in enumerate(rows) if r["iteration"] == i]
            ax.errorbar(
                [truth[j] for j in idx],
                [mean[j] for j in idx],
                yerr=[std[j] for j in idx],
                fmt="o",
                color=cmap(k),
                ecolor=cmap(k),
                alpha=0.8,
                capsize=2,
                label=f"iteration {i}",
            )
        lo = min(truth + [m - s for m, s in zip(mean, std, strict=True)]) - 0.1
        hi = max(truth + [m + s for m, s in zip(mean, std, strict=True)]) + 0.1
        ax.plot([lo, hi], [lo, hi], "k--", lw=1, label="y = x")
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        stats = error_stats(mean, std, truth)
        r2 = "n/a" if math.isnan(stats.r2) else f"{stats.r2:.2f}"
        ax.text(
            0.03,
            0.97,
            f"n = {stats.n}\nMAE = {stats.mae:.3f} eV/atom\nR² = {r2}",
            transform=ax.transAxes,
            va="top",
            bbox={"facecolor": "white", "alpha": 0.8},
        )
        ax.legend(loc="lower right", fontsize=8)
    ax.set_xlabel(f"oracle ({data.header['oracle']}) formation energy (eV/atom)")
    ax.set_ylabel("surrogate prediction before labelling (eV/atom)")
    ax.set_title("Parity: surrogate vs oracle")
    _save(fig, path)
    return (
        "Surrogate formation energy (mean ± σ, scored before the oracle ran) against the oracle's, "
        "for every oracle-labelled candidate, coloured by iteration."
    )


def plot_calibration(data: ReportData, path: Path) -> str:
    """Draw expected against observed coverage of the surrogate's σ intervals."""
    from crystaloop.chem.calibration import coverage_curve

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.2, 5.0))
    rows = _scored(data)
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="perfectly calibrated")
    if not rows:
        ax.text(0.5, 0.35, "No scored oracle label yet", ha="center")
    else:
        groups = [("all iterations", rows)]
        iterations = sorted({r["iteration"] for r in rows})
        if len(iterations) > 1:
            groups += [
                (f"iteration {i}", [r for r in rows if r["iteration"] == i]) for i in iterations
            ]
        for k, (name, group) in enumerate(groups):
            curve = coverage_curve(*prediction_triples(group))
            ax.plot(
                [p for p, _ in curve],
                [o for _, o in curve],
                "o-" if k == 0 else ".:",
                lw=2 if k == 0 else 1,
                label=f"{name} (n = {len(group)})",
            )
        ax.legend(loc="upper left", fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("expected coverage of the Gaussian interval μ ± zσ")
    ax.set_ylabel("observed fraction of oracle values inside")
    ax.set_title("Calibration of the surrogate's uncertainty")
    _save(fig, path)
    return (
        "Calibration curve: for each confidence level, the fraction of oracle formation energies "
        "inside the surrogate's central interval. Below the diagonal: σ too small (over-confident)."
    )


def plot_progress(data: ReportData, path: Path) -> str:
    """Draw the hit rate (stable / oracle calls) and surrogate MAE per iteration."""
    plt = _pyplot()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10.0, 4.2))
    rows = [r for r in data.iterations if r["iteration"] >= 0]
    xs = [r["iteration"] for r in rows]
    if not rows:
        _empty(ax1, "No iteration yet")
        _empty(ax2, "No iteration yet")
    else:
        width = 0.38
        loose = [r["hit_rate"] or 0.0 for r in rows]
        strict = [r["hit_rate_strict"] or 0.0 for r in rows]
        thr, strict_thr = data.header["stable_threshold"], data.header["strict_threshold"]
        ax1.bar([x - width / 2 for x in xs], loose, width, label=f"E_hull ≤ {thr:g} eV/atom")
        ax1.bar(
            [x + width / 2 for x in xs], strict, width, label=f"E_hull ≤ {strict_thr:g} eV/atom"
        )
        for x, r in zip(xs, rows, strict=True):
            ax1.text(
                x - width / 2,
                (r["hit_rate"] or 0) + 0.02,
                f"{r['stable']}/{r['selected']}",
                ha="center",
                fontsize=8,
            )
        ax1.set_ylim(0, 1.15)
        ax1.set_xticks(xs)
        ax1.legend(fontsize=8)
        maes = [(x, r["mae"]) for x, r in zip(xs, rows, strict=True) if r["mae"] is not None]
        if maes:
            ax2.plot([x for x, _ in maes], [m for _, m in maes], "o-")
            for x, m in maes:
                ax2.annotate(
                    f"{m:.3f}",
                    (x, m),
                    textcoords="offset points",
                    xytext=(0, 6),
                    ha="center",
                    fontsize=8,
                )
            ax2.set_xticks(xs)
            ax2.set_ylim(0, max(m for _, m in maes) * 1.25)
        else:
            _empty(ax2, "No scored oracle label yet")
    ax1.set_xlabel("iteration")
    ax1.set_ylabel("hit rate (stable / oracle calls)")
    ax1.set_title("Hit rate per iteration")
    ax2.set_xlabel("iteration")
    ax2.set_ylabel("MAE on the new labels (eV/atom)")
    ax2.set_title("Surrogate error before retraining")
    _save(fig, path)
    return (
        "Left: stable oracle labels per oracle call in each iteration (labels: stable / calls). "
        "Right: the surrogate's formation-energy MAE on each iteration's new labels, measured "
        "with the model that scored them (before any retraining on them)."
    )


def plot_distributions(data: ReportData, path: Path) -> str:
    """Draw predicted against oracle distributions of formation energy and band gap."""
    plt = _pyplot()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10.0, 4.2))
    for ax, target, name in ((ax1, "e_form", "formation energy"), (ax2, "band_gap", "band gap")):
        predicted = [
            g["scores"][target]["mean"]
            for g in data.generated
            if target in g["scores"] and g["status"] == "passed"
        ]
        oracle = [r[target] for r in data.labelled if r.get(target) is not None]
        if not predicted and not oracle:
            _empty(
                ax,
                f"No {name}: the surrogate does not predict it and the oracle "
                f"({data.header['oracle']}) gives none",
            )
            ax.set_title(name.capitalize())
            continue
        values = predicted + oracle
        lo, hi = min(values), max(values)
        bins = [lo + (hi - lo + 1e-9) * k / 25 for k in range(26)]
        if predicted:
            ax.hist(
                predicted,
                bins=bins,
                alpha=0.55,
                density=True,
                label=f"surrogate, screened candidates (n = {len(predicted)})",
            )
        if oracle:
            ax.hist(
                oracle,
                bins=bins,
                alpha=0.55,
                density=True,
                label=f"oracle, labelled candidates (n = {len(oracle)})",
            )
        else:
            ax.text(
                0.5,
                0.9,
                f"the oracle ({data.header['oracle']}) gives no {name}",
                ha="center",
                transform=ax.transAxes,
                fontsize=8,
            )
        if not predicted:
            ax.text(
                0.5,
                0.9,
                f"the surrogate does not predict the {name}",
                ha="center",
                transform=ax.transAxes,
                fontsize=8,
            )
        unit = "eV/atom" if target == "e_form" else "eV"
        ax.set_xlabel(f"{name} ({unit})")
        ax.set_ylabel("density")
        ax.set_title(f"{name.capitalize()}: predicted vs oracle")
        ax.legend(fontsize=8, loc="upper right")
    _save(fig, path)
    return (
        "Distributions of the surrogate's predictions for the candidates that passed the screens "
        "and of the oracle's values for those it labelled."
    )


def _hull_entries(hull: HullData) -> tuple[Any, list[tuple[str, str, Any]]]:
    from pymatgen.analysis.phase_diagram import PDEntry, PhaseDiagram
    from pymatgen.core import Composition

    tagged = [
        ("reference", name, PDEntry(Composition(comp), energy, name=name))
        for name, comp, energy in hull.references
    ]
    tagged += [
        ("known", name, PDEntry(Composition(comp), energy, name=name))
        for name, comp, energy in hull.known
    ]
    tagged += [
        ("new", name, PDEntry(Composition(comp), energy, name=name))
        for name, comp, energy in hull.new
    ]
    return PhaseDiagram([e for _, _, e in tagged]), tagged


def plot_hull(data: ReportData, path: Path) -> str:
    """Draw the convex hull of one 2- or 3-element system, the campaign's phases marked."""
    plt = _pyplot()
    hull = data.hull
    if hull is None:
        fig, ax = plt.subplots(figsize=(6.0, 5.0))
        _empty(ax, "No oracle-labelled candidate in a 2- or 3-element system yet")
        _save(fig, path)
        return "Convex hull: nothing to draw yet."
    elements = hull.chemsys.split("-")
    if len(elements) not in (2, 3):
        raise ValueError(
            f"hull plots are drawn for 2- and 3-element systems; {hull.chemsys} has {len(elements)}"
        )
    diagram, tagged = _hull_entries(hull)
    fig, ax = plt.subplots(figsize=(6.4, 5.4))
    if len(elements) == 2:
        _binary_hull(ax, diagram, tagged, elements)
    else:
        _ternary_hull(fig, ax, diagram, tagged, elements)
    ax.set_title(f"{hull.chemsys} hull ({hull.oracle} energies)")
    _save(fig, path)
    n_new = sum(1 for t, _, _ in tagged if t == "new")
    return (
        f"Convex hull of {hull.chemsys} from every phase the oracle ({hull.oracle}) has labelled "
        f"by now: references and known phases as circles, the campaign's {n_new} candidates as "
        "stars, coloured by energy above this hull (binary: filled when on it). "
        + (
            "The tables use the same current hull. "
            if data.header.get("hull") == "current"
            else "The tables use the hull as it was when each label was written, so a phase "
            "found later can lift an earlier discovery off it here. "
        )
        + "Choose the system with --chemsys."
    )


def _binary_hull(ax: Any, diagram: Any, tagged: list, elements: list[str]) -> None:
    from pymatgen.core import Element

    b = Element(elements[1])
    stable = sorted(
        (e.composition.get_atomic_fraction(b), diagram.get_form_energy_per_atom(e))
        for e in diagram.stable_entries
    )
    ax.plot([x for x, _ in stable], [y for _, y in stable], "k-", lw=1, label="hull")
    for kind, _name, entry in tagged:
        x = entry.composition.get_atomic_fraction(b)
        y = diagram.get_form_energy_per_atom(entry)
        on = diagram.get_e_above_hull(entry) <= 1e-8
        marker = "*" if kind == "new" else "o"
        color = "tab:red" if kind == "new" else "tab:blue"
        ax.scatter(
            x,
            y,
            marker=marker,
            s=140 if kind == "new" else 40,
            color=color if on else "none",
            edgecolors=color,
            zorder=3,
        )
        if on and kind != "reference":
            ax.annotate(
                entry.composition.reduced_formula,
                (x, y),
                textcoords="offset points",
                xytext=(4, -10),
                fontsize=8,
            )
    ax.set_xlabel(f"fraction of {elements[1]} in {elements[0]}–{elements[1]}")
    ax.set_ylabel("formation energy (eV/atom)")


def _ternary_xy(entry: Any, elements: list[str]) -> tuple[float, float]:
    fractions = [entry.composition.get_atomic_fraction(el) for el in elements]
    return fractions[1] + fractions[2] / 2.0, fractions[2] * math.sqrt(3) / 2.0


def _ternary_hull(fig: Any, ax: Any, diagram: Any, tagged: list, elements: list[str]) -> None:
    corners = [(0.0, 0.0), (1.0, 0.0), (0.5, math.sqrt(3) / 2)]
    for k, (x, y) in enumerate(corners):
        ax.annotate(
            elements[k],
            (x, y),
            textcoords="offset points",
            xytext=(-14 if k == 0 else 6, -12 if k < 2 else 6),
            fontsize=11,
        )
    edges = set()
    for facet in diagram.facets:
        for a in facet:
            for b in facet:
                if a < b:
                    edges.add((a, b))
    for a, b in edges:
        xa, ya = _ternary_xy(diagram.qhull_entries[a], elements)
        xb, yb = _ternary_xy(diagram.qhull_entries[b], elements)
        ax.plot([xa, xb], [ya, yb], "k-", lw=0.8)
    e_hull = [min(diagram.get_e_above_hull(e), 0.5) for _, _, e in tagged]
    xy = [_ternary_xy(e, elements) for _, _, e in tagged]
    points = None
    for (kind, _, entry), (x, y), value in zip(tagged, xy, e_hull, strict=True):
        on = value <= 1e-8
        points = ax.scatter(
            x,
            y,
            c=[value],
            cmap="viridis_r",
            vmin=0.0,
            vmax=0.5,
            marker="*" if kind == "new" else "o",
            s=180 if kind == "new" else 45,
            edgecolors="tab:red" if kind == "new" else "k",
            linewidths=1.2 if on else 0.4,
            zorder=3,
        )
        if on and kind != "reference":
            ax.annotate(
                entry.composition.reduced_formula,
                (x, y),
                textcoords="offset points",
                xytext=(5, 4),
                fontsize=8,
            )
    if points is not None:
        fig.colorbar(points, ax=ax, label="energy above hull (eV/atom, capped at 0.5)")
    ax.set_aspect("equal")
    ax.set_xlim(-0.08, 1.08)
    ax.set_ylim(-0.08, 0.95)
    ax.axis("off")


def plot_elements(data: ReportData, path: Path) -> str:
    """Draw how often each element occurs in the generated candidates and in those that passed."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(10.0, 4.2))
    every = Counter(el for g in data.generated for el in g["elements"])
    passed = Counter(el for g in data.generated if g["status"] == "passed" for el in g["elements"])
    if not every:
        _empty(ax, "No candidate generated yet")
    else:
        from pymatgen.core import Element

        order = sorted(every, key=lambda el: Element(el).Z)
        xs = range(len(order))
        ax.bar([x - 0.2 for x in xs], [every[el] for el in order], 0.4, label="generated")
        ax.bar(
            [x + 0.2 for x in xs],
            [passed.get(el, 0) for el in order],
            0.4,
            label="passed the screens",
        )
        ax.set_xticks(list(xs))
        ax.set_xticklabels(order, rotation=90, fontsize=8)
        ax.legend(fontsize=8)
    ax.set_xlabel("element (by atomic number)")
    ax.set_ylabel("candidates containing it")
    ax.set_title("Elements of the generated candidates")
    _save(fig, path)
    return "Number of generated candidates containing each element, before and after the screens."


def plot_spacegroups(data: ReportData, path: Path, top: int = 25) -> str:
    """Draw the most frequent space groups of the candidates that got one."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(10.0, 4.2))
    every = Counter(g["spacegroup_number"] for g in data.generated if g["spacegroup_number"])
    if not every:
        _empty(ax, "No candidate reached the space-group screen yet")
    else:
        from pymatgen.symmetry.groups import SpaceGroup

        common = sorted(every.most_common(top), key=lambda kv: kv[0])
        labels = []
        for number, _ in common:
            try:
                symbol = SpaceGroup.from_int_number(number).symbol
            except (ValueError, KeyError):
                symbol = "?"
            labels.append(f"{number} {symbol}")
        ax.bar(range(len(common)), [n for _, n in common])
        ax.set_xticks(range(len(common)))
        ax.set_xticklabels(labels, rotation=90, fontsize=8)
    ax.set_xlabel(f"space group (number and symbol; at most the {top} most frequent)")
    ax.set_ylabel("candidates")
    ax.set_title("Space groups of the generated candidates")
    _save(fig, path)
    return (
        "Space groups (spglib, symprec 0.1 Å) of the generated candidates that were valid "
        "enough to get one; P1 candidates are dropped by the screens."
    )


#: The report's figures: file name, title and drawing function.
FIGURES = (
    ("progress.png", "Hit rate and surrogate error per iteration", plot_progress),
    ("parity.png", "Parity: surrogate vs oracle", plot_parity),
    ("calibration.png", "Calibration of the uncertainty", plot_calibration),
    ("distributions.png", "Predicted vs oracle distributions", plot_distributions),
    ("hull.png", "Convex hull", plot_hull),
    ("elements.png", "Elements of the generated candidates", plot_elements),
    ("spacegroups.png", "Space groups of the generated candidates", plot_spacegroups),
)
