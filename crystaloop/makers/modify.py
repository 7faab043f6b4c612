"""``ModifyMaker``: turn an iteration's near misses into new candidates (seed 001's modification).

The label step hands on the oracle-relaxed structures of the candidates a little above the
stability threshold (:attr:`~crystaloop.makers.label.LabelMaker.near_miss_margin`); the
modifier proposes ``samples`` more stable polymorphs of each, conditioned on the energy drop
that would put it on the hull (its ``E_hull``). The outputs join the next iteration's batch
(:class:`~crystaloop.makers.generate.GenerateMaker`), each naming its ``parent``, and go through
the same screens, scoring and selection as generated candidates.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from jobflow import Maker

from crystaloop.makers.jobs import crystaloop_job
from crystaloop.schemas import ModifyOutput

log = logging.getLogger(__name__)


@dataclass
class ModifyMaker(Maker):
    """Modify the near misses of an iteration's labels.

    Attributes
    ----------
    name
        Job name.
    model
        Shipped modifier name or modifier directory.
    samples
        Modified structures per near miss.
    steps
        Sampling steps (``None``: the kind's default).
    seed
        Random seed (the iteration number is added).
    """

    name: str = "modify"
    model: str = "carbon24"
    samples: int = 2
    steps: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.samples < 1:
            raise ValueError(f"samples must be at least 1, not {self.samples}")

    @crystaloop_job("generate", ModifyOutput)
    def make(self, labelled: Any, campaign: str, iteration: int) -> ModifyOutput:
        """Modify the near misses of ``labelled`` (a :class:`LabelOutput` or its reference).

        A near miss the modifier cannot take (an element it never saw, too many atoms, a
        structure that cannot be read) is skipped with its reason; an output that is its
        parent again (the screens' matcher) is dropped and counted in ``copies``. The branch
        is optional: when the whole step fails (the modifier missing on this worker, a sampler
        error) the output says so in ``error``, the failure is logged, and the campaign goes on
        without it instead of stalling.
        """
        from crystaloop.schemas import LabelOutput

        out = LabelOutput.model_validate(labelled)
        try:
            return self.modify(out, campaign, iteration)
        except Exception as err:  # the optional branch fails loudly but alone
            log.error("[%s] iteration %d: modification failed: %r", campaign, iteration, err)
            return ModifyOutput(
                campaign=campaign,
                iteration=iteration,
                model=self.model,
                error=f"{type(err).__name__}: {err}",
            )

    def modify(self, out: Any, campaign: str, iteration: int) -> ModifyOutput:
        """Do the work of :meth:`make` on a validated :class:`LabelOutput` (errors raise)."""
        from pymatgen.core import Structure

        from crystaloop.ml.checkpoint import read_card
        from crystaloop.ml.generative.crystal import crystal_arrays
        from crystaloop.ml.modify.checkpoint import find_modifier, load_modifier
        from crystaloop.ml.modify.sampling import check_sources
        from crystaloop.settings import load_settings
        from crystaloop.stores.artifacts import artifact_store
        from crystaloop.stores.candidates import get_batch, put_batch

        directory = find_modifier(self.model)
        name = f"{directory.name}@{read_card(directory)['sha256'][:12]}"
        empty = ModifyOutput(campaign=campaign, iteration=iteration, model=name)
        if out.near_misses is None:
            return empty
        settings = load_settings()
        artifacts = artifact_store(settings)
        model = load_modifier(directory, device=settings.device)
        sources, parents, drops, skipped = [], [], [], {}
        for row in get_batch(artifacts, out.near_misses):
            cid = row["candidate_id"]
            try:
                structure = Structure.from_dict(row["structure"])
                crystal = crystal_arrays(structure, source_id=cid)
            except Exception as err:  # a record pymatgen cannot read or reduce: its reason
                skipped[cid] = f"{cid}: cannot be read as a crystal ({type(err).__name__}: {err})"
                continue
            try:
                check_sources(model, [crystal])
            except ValueError as err:  # the model cannot take it: its reason
                skipped[cid] = str(err)
                continue
            sources.append(crystal)
            parents.append(structure)
            drops.append(float(row["e_hull"]))
        if skipped:
            log.warning(
                "[%s] iteration %d: the modifier skipped %d near miss(es), e.g. %s",
                campaign,
                iteration,
                len(skipped),
                next(iter(skipped.values())),
            )
        if not sources:
            return empty.model_copy(update={"skipped": skipped})
        rows, copies, undecided = self.outputs(model, sources, parents, drops, iteration, settings)
        return ModifyOutput(
            campaign=campaign,
            iteration=iteration,
            batch=put_batch(artifacts, rows) if rows else None,
            n=len(rows),
            parents=[s.source_id for s in sources],
            skipped=skipped,
            copies=copies,
            copy_check_errors=undecided,
            model=name,
        )

    def outputs(
        self,
        model: Any,
        sources: list[Any],
        parents: list[Any],
        drops: list[float],
        iteration: int,
        settings: Any,
    ) -> tuple[list[dict[str, Any]], int, int]:
        """Return the modified rows (copies of their parent left out), copies, undecided checks.

        A comparison the matcher raises on keeps the output (the screens judge it) and is
        counted as undecided.
        """
        from crystaloop.chem.dedup import dedup_matcher
        from crystaloop.ml.generative.crystal import to_structure
        from crystaloop.ml.generative.samplers import SamplerOptions
        from crystaloop.ml.modify.sampling import modify_crystals

        outputs = modify_crystals(
            model,
            sources,
            self.samples,
            drops,
            seed=self.seed + max(iteration, 0),
            options=SamplerOptions(steps=self.steps),
            device=settings.device,
        )
        matcher = dedup_matcher()
        rows, copies, undecided = [], 0, 0
        for source, parent, row in zip(sources, parents, outputs, strict=True):
            for k, crystal in enumerate(row):
                structure = to_structure(crystal.lattice, crystal.frac, crystal.numbers)
                try:
                    if matcher.fit(structure, parent):
                        copies += 1
                        continue
                except Exception:  # undecided: kept for the screens, counted
                    undecided += 1
                rows.append(
                    {"parent": source.source_id, "sample": k, "structure": structure.as_dict()}
                )
        return rows, copies, undecided
