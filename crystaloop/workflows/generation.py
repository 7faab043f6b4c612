"""Generation outside a campaign: sample, screen and write candidates as JSON lines.

The ``generate`` and ``csp`` commands and the agent tools (:mod:`crystaloop.agent`) share these:
a screener with the corpus store opened once, the rows of generated crystals with their screen
verdicts, a streamed ab initio / one-composition generation with a running summary, and an
atomic JSON-lines writer.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class SamplingError(ValueError):
    """The sampler refused or failed to draw (the request does not fit the model)."""


#: A function that screens a list of structures and returns one verdict per structure.
Screener = Callable[[list[Any]], list[Any]]


def make_screener(settings: Any, *, corpus: bool, processes: int, allow_p1: bool) -> Screener:
    """Return a function that screens a list of structures (the corpus store opened once).

    Raises
    ------
    ConnectionError
        When ``corpus`` is set and the corpus store cannot be opened.
    """
    from crystaloop.chem.screens import ScreenConfig, screen_structures

    lookup = None
    if corpus:
        from crystaloop.stores.corpus import CorpusStore
        from crystaloop.stores.factory import open_store

        store = CorpusStore(open_store(settings, "corpus"), open_store(settings, "corpus_aliases"))
        lookup = store.dedup_lookup
    config = ScreenConfig(max_sites=settings.max_sites, allow_p1=allow_p1)

    def screener(structures: list[Any]) -> list[Any]:
        return screen_structures(structures, config, corpus_lookup=lookup, processes=processes)

    return screener


def candidate_rows(
    crystals: list[Any], source_ids: list[str | None], samples: list[int], model_name: str
) -> tuple[list[dict[str, Any]], list[Any]]:
    """Return ``({"source_id", "sample", "model", "structure"} rows, structures)`` of crystals."""
    from crystaloop.ml.generative.crystal import to_structure

    rows, structures = [], []
    for crystal, sid, k in zip(crystals, source_ids, samples, strict=True):
        structure = to_structure(crystal.lattice, crystal.frac, crystal.numbers)
        structures.append(structure)
        rows.append(
            {"source_id": sid, "sample": k, "model": model_name, "structure": structure.as_dict()}
        )
    return rows, structures


def attach_screens(
    rows: list[dict[str, Any]], structures: list[Any], screener: Screener
) -> dict[str, Any]:
    """Screen ``structures``, put each verdict on its row (``"screen"``); return the summary."""
    from crystaloop.chem.screens import screen_summary

    verdicts = screener(structures)
    for row, verdict in zip(rows, verdicts, strict=True):
        row["screen"] = verdict.as_dict()
    return screen_summary(verdicts)


@dataclass
class GenerationTally:
    """What a streamed generation has done so far.

    Attributes
    ----------
    generated
        Rows yielded.
    sampling_seconds
        Time spent drawing crystals (resampling included).
    screens
        ``{"total", "passed", "dropped": {stage: n}}`` when screened, else ``None``.
    """

    generated: int = 0
    sampling_seconds: float = 0.0
    screens: dict[str, Any] | None = None
    started: float = field(default_factory=time.perf_counter)

    def as_dict(self) -> dict[str, Any]:
        """Return the tally as the commands report it."""
        out: dict[str, Any] = {
            "generated": self.generated,
            "sampling_seconds": round(self.sampling_seconds, 2),
            "seconds": round(time.perf_counter() - self.started, 2),
            "structures_per_hour": round(self.generated / max(self.sampling_seconds, 1e-9) * 3600),
        }
        if self.screens is not None:
            out["screens"] = self.screens
        return out


def generation_rows(
    sampler: Any,
    model_name: str,
    composition: str | None,
    screener: Screener | None,
    tally: GenerationTally,
) -> Iterator[dict[str, Any]]:
    """Yield the rows of every crystal ``sampler`` draws, screened when ``screener`` is given.

    ``sampler`` is a :class:`~crystaloop.ml.generative.sampling.SeededSampler`; it is told each
    chunk's screen pass rate (so it can draw enough). ``tally`` is updated as rows go out.

    Raises
    ------
    SamplingError
        When the sampler raises ``ValueError`` drawing a chunk (other errors propagate as they
        are).
    """
    if screener is not None:
        tally.screens = {"total": 0, "passed": 0, "dropped": {}}
    chunks, first = iter(sampler), 0
    while True:
        t0 = time.perf_counter()
        try:
            crystals = next(chunks, None)
        except ValueError as err:
            raise SamplingError(str(err)) from err
        if crystals is None:
            return
        tally.sampling_seconds += time.perf_counter() - t0
        count = len(crystals)
        rows, structures = candidate_rows(
            crystals, [composition] * count, list(range(first, first + count)), model_name
        )
        first += count
        if screener is not None and tally.screens is not None:
            part = attach_screens(rows, structures, screener)
            tally.screens["total"] += part["total"]
            tally.screens["passed"] += part["passed"]
            for stage, c in part["dropped"].items():
                tally.screens["dropped"][stage] = tally.screens["dropped"].get(stage, 0) + c
            sampler.report(part["passed"] / max(part["total"], 1))
        for row in rows:
            tally.generated += 1
            yield row


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> int:
    """Write ``rows`` as JSON lines, atomically (an existing file is replaced only on success)."""
    path = Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with tempfile.NamedTemporaryFile(
        "w", dir=path.parent, prefix=f".{path.name}.", delete=False
    ) as tmp:
        try:
            for row in rows:
                tmp.write(json.dumps(row, default=float) + "\n")
                count += 1
        except BaseException:
            tmp.close()
            os.unlink(tmp.name)
            raise
    os.replace(tmp.name, path)
    return count
