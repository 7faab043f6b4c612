"""``GenerateMaker``: make a batch of candidates and store it as an artifact.

The candidates come from the campaign's generator, or from one of the peers a materials
scientist would use instead (``source``): ionic substitution on the corpus's prototypes with
pymatgen's data-mined probabilities (:mod:`crystaloop.chem.substitution`), or random symmetric
structures of the generator's compositions from PyXtal (:mod:`crystaloop.chem.random_search`).
The source functions live in :mod:`crystaloop.makers.sources`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from jobflow import Maker

from crystaloop.makers.jobs import crystaloop_job
from crystaloop.schemas import GenerateOutput

log = logging.getLogger(__name__)

#: Skipped records named in the job output (all of them are in its ``skipped_batch``).
SKIPPED_EXAMPLES = 5


#: Where a campaign's candidates come from (see :class:`GenerateMaker`).
SOURCES = ("generator", "substitution", "random-search")


@dataclass
class GenerateMaker(Maker):
    """Generate ``n`` candidates, ab initio or of one composition (CSP), or from a peer source.

    Attributes
    ----------
    name
        Job name.
    model
        Shipped generator name or generator directory (a bundle gives the mode's model).
    n
        Number of candidates.
    composition
        Formula to generate (CSP model); ``None``: ab initio.
    steps
        Sampling steps (``None``: the model's default).
    num_atoms
        Ab initio atom-count strategy: ``training``, ``uniform`` or ``hybrid``.
    batch_size
        Crystals per network evaluation.
    seed
        Random seed (the iteration number is added, so iterations differ).
    spacegroup, target_eform, guidance
        Conditions of a conditional generator (space group 1–230, formation energy in the units
        it was trained on) and the classifier-free guidance weight.
    source
        ``generator`` (sample ``model``); ``substitution``: iteration ``i`` proposes the
        ``n`` substitutions ranked ``i·n … (i+1)·n − 1`` (most probable first, deduplicated,
        corpus structures left out; ties broken by ``seed``) of the corpus prototypes in the
        generator's elements (:func:`~crystaloop.makers.sources.substitution_rows`);
        ``random-search``: sample ``model`` as ``generator`` does and make one random
        symmetric PyXtal crystal of each sample's atom counts
        (:func:`~crystaloop.makers.sources.random_search_rows`).
    substitution_threshold, max_prototype_sites
        ``substitution``: the probability threshold (pymatgen's default 1e-3) and the largest
        corpus prototype (sites).
    max_tries
        ``random-search``: space groups tried per composition.
    temperature, top_k
        A masked generator's species draws (:func:`~crystaloop.ml.masked.proposals.propose`):
        with a masked ``model`` the ``generator`` source proposes substitutions of the same
        corpus prototypes as ``substitution`` (:func:`~crystaloop.makers.sources.masked_rows`).
    resample_rounds
        Redraws of a generated crystal that fails the structural check (overlapping atoms,
        a cell under 0.1 Å³), up to this many times (0: none). Crystals still invalid are kept
        and counted in the output's ``resampling``
        (:class:`~crystaloop.ml.generative.sampling.ResampleReport`); the screens drop them.
    """

    name: str = "generate"
    model: str = "perov5"
    n: int = 100
    composition: str | None = None
    steps: int | None = 100
    num_atoms: str = "training"
    batch_size: int = 512
    seed: int = 0
    spacegroup: int | None = None
    target_eform: float | None = None
    guidance: float = 1.0
    source: str = "generator"
    substitution_threshold: float = 1e-3
    max_prototype_sites: int = 20
    max_tries: int = 10
    resample_rounds: int = 3
    temperature: float = 1.0
    top_k: int | None = None

    def __post_init__(self) -> None:
        if self.resample_rounds < 0:
            raise ValueError(f"resample_rounds must be at least 0, not {self.resample_rounds}")
        if self.source not in SOURCES:
            raise ValueError(
                f"unknown candidate source {self.source!r}: choose {', '.join(SOURCES)}"
            )
        if self.source == "substitution" and self.composition:
            raise ValueError("the substitution source makes no CSP batch: leave composition None")

    @crystaloop_job("generate", GenerateOutput)
    def make(self, campaign: str, iteration: int = 0, modified: Any = None) -> GenerateOutput:
        """Make the batch; return a reference to it (rows ``{candidate_id, structure}``).

        ``modified`` (a :class:`~crystaloop.schemas.ModifyOutput` of the previous iteration)
        adds the modifier's structures after the source's, each row naming its ``parent`` and
        the modifier as its ``generator``.

        Records a source could not use (a prototype without oxidation states, a composition
        PyXtal cannot place) are counted in the output, the first few named, all of them in
        the ``skipped_batch`` artifact, and logged.
        """
        from crystaloop.makers.sources import masked_rows, random_search_rows, substitution_rows
        from crystaloop.ml.checkpoint import read_card
        from crystaloop.ml.generative.checkpoint import find_generator, is_masked, load_generator
        from crystaloop.ml.generative.crystal import to_structure
        from crystaloop.ml.generative.samplers import SamplerOptions
        from crystaloop.ml.generative.sampling import ResampleReport
        from crystaloop.settings import load_settings
        from crystaloop.stores.artifacts import artifact_store
        from crystaloop.stores.candidates import put_batch

        if self.n < 1:
            raise ValueError(f"n must be at least 1, not {self.n}")
        settings = load_settings()
        artifacts = artifact_store(settings)
        directory = find_generator(self.model, "csp" if self.composition else "abinitio")
        sha = read_card(directory)["sha256"]
        generator = f"{directory.name}@{sha[:12]}"
        start = time.perf_counter()
        skipped: list[dict[str, str]] = []
        resampling: dict[str, int] = {}
        masked = is_masked(directory)
        if masked and (self.composition or self.source == "random-search"):
            raise ValueError(
                f"{directory.name} is a masked generator: it proposes substitutions of corpus "
                "prototypes, not crystals of a composition or compositions for a random search"
            )
        if self.source == "substitution":
            structures, skipped, generator = substitution_rows(self, directory, iteration, settings)
        elif masked:
            structures, skipped, label = masked_rows(self, directory, iteration, settings)
            generator = f"{generator}: {label}"
        else:
            model = load_generator(directory, device=settings.device)
            report = ResampleReport()
            crystals = sample_batch(
                model,
                self.n,
                self.seed + iteration,
                composition=self.composition,
                num_atoms=self.num_atoms,
                options=SamplerOptions(steps=self.steps, guidance=self.guidance),
                spacegroup=self.spacegroup,
                eform=self.target_eform,
                batch_size=self.batch_size,
                device=settings.device,
                resample_rounds=self.resample_rounds,
                report=report,
            )
            if self.resample_rounds:
                resampling = {
                    k: v for k, v in report.as_dict().items() if k != "still_invalid_indices"
                }
                if report.still_invalid:
                    log.warning(
                        "[%s] iteration %d: %d of %d crystals still invalid after %d redraws",
                        campaign,
                        iteration,
                        report.still_invalid,
                        self.n,
                        self.resample_rounds,
                    )
            structures = [to_structure(c.lattice, c.frac, c.numbers) for c in crystals]
            if self.source == "random-search":
                structures, skipped = random_search_rows(self, structures, campaign, iteration)
                generator = f"random-search(pyxtal) of {generator} compositions"
        seconds = time.perf_counter() - start
        rows = [
            {"candidate_id": f"{campaign}:{iteration}:{k}", "structure": s.as_dict()}
            for k, s in enumerate(structures)
        ]
        rows += modified_rows(modified, artifacts, campaign, iteration, len(rows))
        ref = put_batch(artifacts, rows)
        if skipped:
            log.warning(
                "[%s] iteration %d: %s skipped %d record(s), e.g. %s",
                campaign,
                iteration,
                self.source,
                len(skipped),
                skipped[0]["reason"],
            )
        return GenerateOutput(
            campaign=campaign,
            iteration=iteration,
            batch=ref,
            n=len(rows),
            modified=len(rows) - len(structures),
            generator=generator,
            sampling_seconds=round(seconds, 3),
            source=self.source,
            skipped=len(skipped),
            skipped_examples=skipped[:SKIPPED_EXAMPLES],
            skipped_batch=put_batch(artifacts, skipped) if skipped else None,
            resampling=resampling,
        )


def modified_rows(
    modified: Any, artifacts: Any, campaign: str, iteration: int, start: int
) -> list[dict[str, Any]]:
    """Return the batch rows of a modify step's structures, numbered from ``start``.

    Each row is ``{candidate_id, structure, parent, generator}``; none without ``modified`` or
    when it modified nothing.
    """
    from crystaloop.schemas import ModifyOutput
    from crystaloop.stores.candidates import get_batch

    if modified is None:
        return []
    out = ModifyOutput.model_validate(modified)
    if out.batch is None:
        return []
    return [
        {
            "candidate_id": f"{campaign}:{iteration}:{start + k}",
            "structure": row["structure"],
            "parent": row["parent"],
            "generator": f"modifier {out.model}",
        }
        for k, row in enumerate(get_batch(artifacts, out.batch))
    ]


def sample_batch(
    model: Any,
    n: int,
    seed: int,
    *,
    composition: str | None = None,
    num_atoms: str = "training",
    options: Any = None,
    spacegroup: int | None = None,
    eform: float | None = None,
    batch_size: int = 512,
    device: str = "cpu",
    resample_rounds: int = 0,
    report: Any = None,
) -> list[Any]:
    """Sample ``n`` crystals of ``model``, seeded: of a formula ``composition`` (CSP) or ab initio.

    The formula is parsed with :func:`~crystaloop.chem.composition.atomic_numbers`; the rest is
    :func:`~crystaloop.ml.generative.sampling.sample_seeded`, the sampler of ``crystaloop
    generate`` too, so the same arguments give the same crystals there (``resample_rounds``
    redraws invalid crystals; ``report``, a
    :class:`~crystaloop.ml.generative.sampling.ResampleReport`, receives the counts). Returns
    the :class:`~crystaloop.ml.generative.crystal.CrystalArrays`.
    """
    from crystaloop.chem.composition import atomic_numbers
    from crystaloop.ml.generative.crystal import NUM_TYPES
    from crystaloop.ml.generative.sampling import sample_seeded

    numbers = (
        atomic_numbers(composition, model.config.max_atoms, NUM_TYPES) if composition else None
    )
    return sample_seeded(
        model,
        n,
        seed,
        composition=numbers,
        num_atoms=num_atoms,
        options=options,
        spacegroup=spacegroup,
        eform=eform,
        batch_size=batch_size,
        device=device,
        resample_rounds=resample_rounds,
        report=report,
    )
