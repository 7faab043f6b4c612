"""No-op jobflow jobs for ``benchmarks/orchestration.py``.

They live in their own module, not in the script's ``__main__``, because a FireWorks worker
imports a job's function by module path. ``orchestration.py`` puts this folder on ``sys.path``, so
``import noop_jobs`` works in the script and in the worker it runs in the same process.
"""

from __future__ import annotations

from jobflow import Response, job


@job
def noop(value: int = 0) -> int:
    """Return ``value``: a job that does nothing, for flat flows."""
    return value


@job
def step(previous: int) -> int:
    """Return ``previous + 1``: a job of a linear chain, taking the previous job's output."""
    return previous + 1


@job
def grow(index: int, steps: int) -> Response:
    """Return ``index`` and, until ``steps`` jobs have run, add the next ``grow`` job.

    This is how a campaign grows: each dynamic job returns ``Response(addition=...)``, and the
    running workflow gains a Firework.
    """
    if index + 1 >= steps:
        return Response(output=index)
    return Response(output=index, addition=grow(index + 1, steps))
