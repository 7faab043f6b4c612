"""Checks on what an agent sends: structures, paths and the oracle budget.

Every check raises :class:`ToolInputError` with a message for the agent (the record and the
reason); nothing is stored or submitted before the checks pass.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Most structures one tool call takes.
MAX_STRUCTURES = 500
#: Most characters of one structure (CIF text or pymatgen JSON).
MAX_STRUCTURE_CHARS = 1_000_000


class ToolInputError(ValueError):
    """What an agent sent cannot be used; the message says which input and why."""


def parse_structures(texts: list[str], max_sites: int) -> list[tuple[str, Any]]:
    """Return ``("structure-<i>", Structure)`` for CIF texts or pymatgen JSON ``Structure`` dicts.

    The same parsing and validation as ``corpus ingest`` (unknown elements, overlapping atoms,
    more than ``max_sites`` sites are refused).

    Raises
    ------
    ToolInputError
        Naming the first bad structures by index, with the reasons; for too many or too large
        inputs.
    """
    from crystaloop.stores.ingest.prepare import parse_and_validate
    from crystaloop.stores.ingest.readers import RawRecord

    if not texts:
        raise ToolInputError("no structure given")
    if len(texts) > MAX_STRUCTURES:
        raise ToolInputError(f"{len(texts)} structures: at most {MAX_STRUCTURES} per call")
    out, problems = [], []
    for index, text in enumerate(texts):
        name = f"structure-{index}"
        if len(text) > MAX_STRUCTURE_CHARS:
            problems.append(f"{name}: {len(text):,} characters, at most {MAX_STRUCTURE_CHARS:,}")
            continue
        stripped = text.lstrip()
        if stripped.startswith("{"):
            try:
                payload = json.loads(stripped)
            except json.JSONDecodeError as err:
                problems.append(f"{name}: not valid JSON ({err.msg} at character {err.pos})")
                continue
            record = RawRecord(index, name, "structure", payload)
        else:
            record = RawRecord(index, name, "cif", text)
        structure, reason = parse_and_validate(record, max_sites)
        if structure is None:
            problems.append(f"{name}: {reason}")
        else:
            out.append((name, structure))
    if problems:
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise ToolInputError("; ".join(problems[:5]) + more)
    return out


def structure_text(structure: Any, fmt: str) -> Any:
    """Return ``structure`` as CIF text (``fmt="cif"``) or a pymatgen ``Structure`` dict."""
    if fmt == "cif":
        return structure.to(fmt="cif")
    if fmt == "json":
        return structure.as_dict()
    raise ToolInputError(f"structure format {fmt!r}: give 'cif' or 'json'")


@dataclass
class PathPolicy:
    """Where tools may read and write: the crystaloop home and the folders allowed at start.

    Attributes
    ----------
    roots
        Resolved folders; a path is allowed when it resolves inside one of them.
    """

    roots: list[Path]

    @classmethod
    def of(cls, home: Path, allowed: list[Path] | None = None) -> PathPolicy:
        """Return the policy of ``home`` plus ``allowed`` (each resolved, links followed)."""
        return cls([Path(p).expanduser().resolve() for p in [home, *(allowed or [])]])

    def check(self, path: str | Path) -> Path:
        """Return ``path`` resolved (relative paths are relative to the home), if it is allowed.

        Raises
        ------
        ToolInputError
            When it resolves outside every allowed folder (``..`` and links are followed first).
        """
        text = str(path)
        if "\x00" in text:
            raise ToolInputError("a path may not hold a NUL character")
        candidate = Path(text).expanduser()
        if not candidate.is_absolute():
            candidate = self.roots[0] / candidate
        resolved = candidate.resolve()
        if not any(resolved == root or root in resolved.parents for root in self.roots):
            folders = ", ".join(str(r) for r in self.roots)
            raise ToolInputError(f"{text}: outside the allowed folders ({folders})")
        return resolved


@dataclass
class OracleBudget:
    """Oracle calculations the tools of one connection may still submit.

    A stdio server serves one connection, so the budget is the server process's. Charges are
    all-or-nothing: a request over what is left is refused and changes nothing.
    """

    total: int
    used: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def left(self) -> int:
        """Calculations left."""
        return self.total - self.used

    def charge(self, calls: int, what: str) -> None:
        """Take ``calls`` from the budget for ``what``.

        Raises
        ------
        ToolInputError
            When fewer than ``calls`` are left (nothing is taken).
        """
        with self._lock:
            if calls > self.left:
                raise ToolInputError(
                    f"oracle budget exhausted: {what} asks for {calls} oracle calculations and "
                    f"this connection has {self.left} of {self.total} left"
                )
            self.used += calls

    def refund(self, calls: int) -> None:
        """Give back ``calls`` taken for work that was not submitted after all."""
        with self._lock:
            self.used = max(0, self.used - calls)

    def as_dict(self) -> dict[str, int]:
        """Return ``{"total", "used", "left"}``."""
        return {"total": self.total, "used": self.used, "left": self.left}
