"""The job decorator of crystaloop's Makers: output schema and worker category in one place."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from jobflow import Flow, Job, OnMissing, job


def crystaloop_job(
    kind: str, output_schema: type, tolerate_missing: bool = False
) -> Callable[[Callable[..., Any]], Callable]:
    """Wrap a Maker's ``make`` into a jobflow job of worker kind ``kind``.

    The job's FireWorks category (``manager_config["_category"]``) is the settings' category for
    ``kind`` (``generate`` → ``gpu`` by default), read when the job is made, so a site routes
    jobs by configuration only. ``tolerate_missing`` makes a collector: it runs when parents
    failed, and their outputs arrive as ``None`` (``OnMissing.NONE``).
    """

    def decorator(method: Callable[..., Any]) -> Callable[..., Any]:
        jobbed = job(method, output_schema=output_schema)

        @functools.wraps(method)
        def make(self, *args: Any, **kwargs: Any):
            from crystaloop.settings import load_settings

            made = jobbed(self, *args, **kwargs)
            made.name = self.name
            made.config.manager_config = {"_category": load_settings().category_for(kind)}
            if tolerate_missing:
                made.config.on_missing_references = OnMissing.NONE
            return made

        # jobflow recognises a decorated Maker method by ``original`` and runs that on the worker
        # (without it, a worker would call ``make`` again and get a new Job instead of the result)
        make.original = method  # type: ignore[attr-defined]
        return make

    return decorator


def jobs_of(item: Flow | Job) -> list[Job]:
    """Return every job of a flow (nested flows included) or the job itself."""
    if isinstance(item, Job):
        return [item]
    out: list[Job] = []
    for sub in item.jobs:
        out += jobs_of(sub)
    return out
