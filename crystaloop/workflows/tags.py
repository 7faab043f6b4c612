"""Campaign metadata on every job, so ``lpad get_fws -q`` and MongoDB queries can select them.

jobflow copies ``job.metadata`` into the Firework spec, so a Firework of a crystaloop campaign
carries ``spec.crystaloop = {"campaign", "iteration", "stage"}`` (and ``"subject"`` on an oracle
sub-flow's jobs); jobs without a worker category
(atomate2's) get the settings' category of their stage.
"""

from __future__ import annotations

from typing import Any

from jobflow import Flow, Job

from crystaloop.makers.jobs import jobs_of


def tag(
    item: Flow | Job,
    campaign: str,
    iteration: int,
    stage: str | None = None,
    subject: str | None = None,
) -> Any:
    """Set ``metadata["crystaloop"]`` (and a missing worker category) on every job of ``item``.

    ``subject``: the oracle subject a sub-flow labels (in the tag of each of its jobs). Tagged
    jobs also stop passing their category on to the jobs they add.
    """
    from crystaloop.settings import load_settings

    settings = load_settings()
    for job in jobs_of(item):
        name = stage or job.name
        job.metadata["crystaloop"] = {"campaign": campaign, "iteration": iteration, "stage": name}
        if subject is not None:
            job.metadata["crystaloop"]["subject"] = subject
        # a job that adds jobs must not impose its own worker category on them (jobflow's
        # default): each keeps the category of its kind
        job.config.pass_manager_config = False
        if "_category" not in (job.config.manager_config or {}):
            job.config.manager_config = {
                **(job.config.manager_config or {}),
                "_category": settings.category_for("dft" if stage == "oracle" else "default"),
            }
    return item
