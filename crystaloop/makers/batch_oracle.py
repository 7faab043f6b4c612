"""``BatchOracleMaker``: one job relaxes many structures together with an ML potential (TorchSim).

The ``torchsim`` engine of an ML oracle (``DFTMaker(oracle="sevennet", engine="torchsim")``)
hands a dispatch's structures to one job of the ``batch_oracle`` worker category (``gpu`` by
default), which relaxes them in batches of ``batch_size`` with
:func:`crystaloop.ml.batch_relax.relax_batch` and returns one result per structure in the shape
of the per-structure sub-flow's output (``subject_id``, ``oracle``, ``calc_id``, ``energy``,
``structure``, ``band_gap``, ``entry``), so the label step cannot tell the engines apart; a
structure that failed gets ``{"subject_id", "oracle", "error"}`` and the label step records the
reason; a batch that raises (out of memory, a model error) fails its structures alone, with the
error. The calculation id is the job's uuid and the structure's position, the same on a rerun
of the job, so labels stay exactly-once.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from jobflow import Maker

from crystaloop.makers.jobs import crystaloop_job
from crystaloop.ml.batch_relax import BatchRelaxOptions

#: Largest batch one job accepts (a dispatch is small; a user's flow is capped here).
MAX_STRUCTURES = 100_000


@dataclass
class BatchOracleMaker(Maker):
    """Relax and label many structures in one job with a batched ML potential.

    Attributes
    ----------
    name
        Job name.
    oracle
        The ML oracle (:data:`crystaloop.ml.batch_relax.POTENTIALS`); names the labels.
    options
        Relaxation settings (convergence, steps, guards).
    batch_size
        Structures relaxed together per model batch.
    device
        Torch device; ``None``: the worker's ``settings.device``.
    """

    name: str = "batch oracle"
    oracle: str = "sevennet"
    options: BatchRelaxOptions = field(default_factory=BatchRelaxOptions)
    batch_size: int = 64
    device: str | None = None

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {self.batch_size}")

    @crystaloop_job("batch_oracle", output_schema=None)
    def make(self, structures: list[Any], subject_ids: list[str]) -> list[dict[str, Any]]:
        """Relax ``structures`` (Structures or dicts) of ``subject_ids``; one result each."""
        from jobflow import CURRENT_JOB
        from pymatgen.core import Structure

        from crystaloop.ml.batch_relax import RelaxResult, load_potential, relax_batch
        from crystaloop.settings import load_settings

        if len(structures) != len(subject_ids):
            raise ValueError(
                f"{len(structures)} structures but {len(subject_ids)} subject ids: one id each"
            )
        if len(structures) > MAX_STRUCTURES:
            raise ValueError(f"{len(structures)} structures: at most {MAX_STRUCTURES} per job")
        cells = [Structure.from_dict(s) if isinstance(s, dict) else s for s in structures]
        device = self.device or load_settings().device
        potential = load_potential(self.oracle, device)
        calc = CURRENT_JOB.job.uuid if CURRENT_JOB.job is not None else str(uuid.uuid4())
        out: list[dict[str, Any]] = []
        for start in range(0, len(cells), self.batch_size):
            chunk = cells[start : start + self.batch_size]
            try:
                results = relax_batch(chunk, potential, self.options)
            except Exception as err:  # one batch failing (memory, a model error) fails it alone
                reason = f"batch of {len(chunk)} failed: {type(err).__name__}: {err}"[:300]
                results = [RelaxResult(error=reason) for _ in chunk]
            for offset, result in enumerate(results):
                i = start + offset
                if result.error is not None or result.structure is None:
                    out.append(
                        {
                            "subject_id": subject_ids[i],
                            "oracle": self.oracle,
                            "error": result.error or "no relaxed structure",
                        }
                    )
                    continue
                out.append(
                    {
                        "subject_id": subject_ids[i],
                        "oracle": self.oracle,
                        "calc_id": f"{calc}#{i}",
                        "energy": result.energy,
                        "structure": result.structure.as_dict(),
                        "band_gap": None,
                        "entry": None,
                        "engine": "torchsim",
                        "relax_steps": result.steps,
                        "converged": result.converged,
                    }
                )
        return out
