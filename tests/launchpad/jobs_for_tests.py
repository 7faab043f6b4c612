"""jobflow jobs used by the LaunchPad tests (importable, as workers require)."""

from __future__ import annotations

from jobflow import job


@job
def add(a: float, b: float) -> float:
    return a + b


@job(data=True)
def big_array(n: int) -> dict:
    return {"values": list(range(n))}
