"""S.U.N. per oracle call over several seeds: the spread of a discovery-efficiency comparison.

:func:`~crystaloop.analysis.discovery.efficiency_table` gives, for the campaigns of one seed on
their common hull, one row per strategy and iteration (and ``"all"``). :func:`seed_summary`
puts the tables of several seeds together: per strategy and iteration, S.U.N. per oracle call
at E_hull ≤ the campaign's threshold (``sun``) and ≤ 0 (``sun_strict``), as the mean and the
sample standard deviation over the seeds. Per oracle call rather than calls per S.U.N., so an
iteration that found nothing counts as 0, not as infinity.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any


def _mean_std(values: Sequence[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, None
    var = sum((v - mean) ** 2 for v in values) / (len(values) - 1)
    return mean, math.sqrt(var)


def seed_summary(tables: Mapping[int, Sequence[Mapping[str, Any]]]) -> list[dict[str, Any]]:
    """Return per strategy and iteration the mean and spread of S.U.N. per oracle call.

    Parameters
    ----------
    tables
        ``{seed: rows of efficiency_table}`` (rows hold ``strategy``, ``iteration``,
        ``oracle_calls``, ``sun`` and ``sun_strict``).

    Returns
    -------
    list of dict
        One row per strategy and iteration (``"all"`` last), in the order first seen: ``seeds``
        (how many had the iteration), ``oracle_calls`` (mean), ``sun`` and ``sun_strict``
        (mean counts), ``sun_per_call`` / ``sun_strict_per_call`` (mean over seeds of each
        seed's ratio; seeds without oracle calls in that iteration are left out) and their
        ``*_std`` (sample standard deviation; ``None`` with fewer than two seeds).
    """
    groups: dict[tuple[str, Any], list[Mapping[str, Any]]] = {}
    for rows in tables.values():
        for row in rows:
            groups.setdefault((row["strategy"], row["iteration"]), []).append(row)
    order = sorted(
        groups,
        key=lambda k: (
            list(dict.fromkeys(s for s, _ in groups)).index(k[0]),
            math.inf if k[1] == "all" else k[1],
        ),
    )
    out = []
    for strategy, iteration in order:
        rows = groups[(strategy, iteration)]
        called = [r for r in rows if r["oracle_calls"]]
        summary: dict[str, Any] = {
            "strategy": strategy,
            "iteration": iteration,
            "seeds": len(rows),
            "oracle_calls": _mean_std([r["oracle_calls"] for r in rows])[0],
            "sun": _mean_std([r["sun"] for r in rows])[0],
            "sun_strict": _mean_std([r["sun_strict"] for r in rows])[0],
        }
        for key in ("sun", "sun_strict"):
            mean, std = _mean_std([r[key] / r["oracle_calls"] for r in called])
            summary[f"{key}_per_call"] = mean
            summary[f"{key}_per_call_std"] = std
        out.append(summary)
    return out
