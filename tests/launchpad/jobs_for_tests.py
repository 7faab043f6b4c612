"""jobflow jobs used by the LaunchPad tests (importable, as workers require)."""

from __future__ import annotations

from jobflow import job


@job
def add(a: float, b: float) -> float:
    return a + b


@job(data=True)
def big_array(n: int) -> dict:
    return {"values": list(range(n))}


@job
def noisy(value: float) -> float:
    """A job that prints and warns, as the oracle's libraries do."""
    import warnings

    print("CHGNet will run on cpu")
    warnings.warn("a library warning", UserWarning, stacklevel=1)
    return value


@job
def broken(value: float) -> float:
    """A loop step that fails."""
    raise RuntimeError(f"the score step broke on {value}")
