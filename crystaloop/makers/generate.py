"""``GenerateMaker``: sample a batch of candidates from a generator and store it as an artifact."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from jobflow import Maker

from crystaloop.makers.jobs import crystaloop_job
from crystaloop.schemas import GenerateOutput


@dataclass
class GenerateMaker(Maker):
    """Generate ``n`` candidates, ab initio or of one composition (CSP).

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

    @crystaloop_job("generate", GenerateOutput)
    def make(self, campaign: str, iteration: int = 0) -> GenerateOutput:
        """Sample the batch; return a reference to it (rows ``{candidate_id, structure}``)."""
        from crystaloop.ml.checkpoint import read_card
        from crystaloop.ml.generative.checkpoint import find_generator, load_generator
        from crystaloop.ml.generative.crystal import to_structure
        from crystaloop.ml.generative.samplers import SamplerOptions
        from crystaloop.settings import load_settings
        from crystaloop.stores.artifacts import artifact_store
        from crystaloop.stores.candidates import put_batch

        if self.n < 1:
            raise ValueError(f"n must be at least 1, not {self.n}")
        settings = load_settings()
        directory = find_generator(self.model, "csp" if self.composition else "abinitio")
        model = load_generator(directory, device=settings.device)
        start = time.perf_counter()
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
        )
        seconds = time.perf_counter() - start
        rows = (
            {
                "candidate_id": f"{campaign}:{iteration}:{k}",
                "structure": to_structure(c.lattice, c.frac, c.numbers).as_dict(),
            }
            for k, c in enumerate(crystals)
        )
        ref = put_batch(artifact_store(settings), rows)
        sha = read_card(directory)["sha256"]
        return GenerateOutput(
            campaign=campaign,
            iteration=iteration,
            batch=ref,
            n=len(crystals),
            generator=f"{directory.name}@{sha[:12]}",
            sampling_seconds=round(seconds, 3),
        )


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
) -> list[Any]:
    """Sample ``n`` crystals of ``model``, seeded: of a formula ``composition`` (CSP) or ab initio.

    The formula is parsed with :func:`~crystaloop.chem.composition.atomic_numbers`; the rest is
    :func:`~crystaloop.ml.generative.sampling.sample_seeded`, the sampler of ``crystaloop
    generate`` too, so the same arguments give the same crystals there. Returns the
    :class:`~crystaloop.ml.generative.crystal.CrystalArrays`.
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
    )
