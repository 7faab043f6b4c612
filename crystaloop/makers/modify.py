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

        A near miss the modifier cannot take (an element it never saw, too many atoms, a cell
        pymatgen cannot reduce) is skipped with its reason in the output, not an error of the
        job: the optional branch never stalls the campaign.
        """
        from pymatgen.core import Structure

        from crystaloop.ml.checkpoint import read_card
        from crystaloop.ml.generative.crystal import crystal_arrays, to_structure
        from crystaloop.ml.generative.samplers import SamplerOptions
        from crystaloop.ml.modify.checkpoint import find_modifier, load_modifier
        from crystaloop.ml.modify.sampling import check_sources, modify_crystals
        from crystaloop.schemas import LabelOutput
        from crystaloop.settings import load_settings
        from crystaloop.stores.artifacts import artifact_store
        from crystaloop.stores.candidates import get_batch, put_batch

        out = LabelOutput.model_validate(labelled)
        directory = find_modifier(self.model)
        name = f"{directory.name}@{read_card(directory)['sha256'][:12]}"
        empty = ModifyOutput(campaign=campaign, iteration=iteration, model=name)
        if out.near_misses is None:
            return empty
        settings = load_settings()
        artifacts = artifact_store(settings)
        model = load_modifier(directory, device=settings.device)
        sources, drops, skipped = [], [], {}
        for row in get_batch(artifacts, out.near_misses):
            try:
                crystal = crystal_arrays(
                    Structure.from_dict(row["structure"]), source_id=row["candidate_id"]
                )
                check_sources(model, [crystal])
            except ValueError as err:  # the model cannot take it: its reason
                skipped[row["candidate_id"]] = str(err)
                continue
            except Exception as err:  # pymatgen cannot reduce it: said, not a stalled campaign
                skipped[row["candidate_id"]] = (
                    f"{row['candidate_id']}: cannot reduce its cell ({type(err).__name__}: {err})"
                )
                continue
            sources.append(crystal)
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
        outputs = modify_crystals(
            model,
            sources,
            self.samples,
            drops,
            seed=self.seed + max(iteration, 0),
            options=SamplerOptions(steps=self.steps),
            device=settings.device,
        )
        rows = [
            {
                "parent": source.source_id,
                "sample": k,
                "structure": to_structure(c.lattice, c.frac, c.numbers).as_dict(),
            }
            for source, row in zip(sources, outputs, strict=True)
            for k, c in enumerate(row)
        ]
        return ModifyOutput(
            campaign=campaign,
            iteration=iteration,
            batch=put_batch(artifacts, rows),
            n=len(rows),
            parents=[s.source_id for s in sources],
            skipped=skipped,
            model=name,
        )
