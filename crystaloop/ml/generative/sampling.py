"""Seeded sampling of ``n`` crystals, ``batch_size`` at a time: one recipe for every caller.

``GenerateMaker`` (campaigns), the screen-pass check of ``TrainGeneratorMaker`` and the
``crystaloop generate`` command all sample through :class:`SeededSampler`, so one request
(model, ``n``, seed, composition, options, conditions, ``batch_size``) gives the same crystals
whichever of them runs it:

1. all ``n`` atom counts are drawn first from one ``torch.Generator`` seeded with ``seed`` (the
   composition's size for CSP; the ``num_atoms`` strategy ab initio);
2. the crystals are then sampled in chunks of ``batch_size`` with torch's random stream seeded
   with ``seed``; the stream's state is kept between chunks, so whatever the caller does with a
   chunk (writing, screening) neither changes the next one nor is changed by it, and the
   caller's own random state is left as it was.

The ``hybrid`` strategy learns from the caller's screens: :meth:`SeededSampler.report` a chunk's
pass rate, and when it falls below the threshold the counts of the chunks still to come are drawn
again, uniformly, from the same generator. Without reports the strategy samples as ``training``.

With ``resample_rounds = R > 0`` the crystals of a chunk that fail the structural check
(:func:`~crystaloop.ml.generative.overlap.crystal_problem`: overlapping atoms or a cell under
0.1 Å³, the screens' validity check) are sampled again, same atom counts and conditions, up to
``R`` times, from a second random stream seeded with ``seed`` (so the crystals that passed at
once are those of ``R = 0``, and the same request gives the same replacements). A crystal that
fails all ``R`` redraws is kept, in its last draw, and counted: nothing is dropped;
:attr:`SeededSampler.resampling` reports the counts.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from crystaloop.ml.generative.crystal import CrystalArrays
from crystaloop.ml.generative.model import GenerativeModel
from crystaloop.ml.generative.num_atoms import HybridNumAtoms, num_atoms_sampler
from crystaloop.ml.generative.overlap import MIN_DISTANCE, MIN_VOLUME, crystal_problem
from crystaloop.ml.generative.samplers import SamplerOptions, check_request, sample_crystals

#: Added to the seed for the random stream of the resampling rounds.
RESAMPLE_SEED_OFFSET = 1 << 40


@dataclass
class ResampleReport:
    """What resampling did to a request (all counts over the crystals sampled so far).

    Attributes
    ----------
    rounds
        Most redraws of one crystal (``resample_rounds``).
    invalid_first
        Crystals that failed the check on their first draw.
    replaced
        Of those, crystals replaced by a valid redraw.
    still_invalid
        Crystals invalid after every redraw (kept in the output, in their last draw).
    redraws
        Crystals sampled again in all (the cost of resampling).
    drawn
        Crystals sampled in all: the ``n`` first draws plus ``redraws``.
    still_invalid_indices
        Positions (in the request) of the ``still_invalid`` crystals.
    """

    rounds: int = 0
    invalid_first: int = 0
    replaced: int = 0
    still_invalid: int = 0
    redraws: int = 0
    drawn: int = 0
    still_invalid_indices: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Return the report as a plain dict."""
        return asdict(self)


class SeededSampler:
    """The ``n`` crystals of a seeded request, as an iterable of chunks of ``batch_size``.

    Parameters
    ----------
    model
        A trained generator.
    n
        Number of crystals.
    seed
        Seeds the atom counts and the sampling.
    composition
        Atomic numbers of the one composition to generate (CSP), as written (``Sr2Ti2O6`` is
        ten atoms; :func:`crystaloop.chem.composition.atomic_numbers` parses a formula);
        ``None``: ab initio.
    num_atoms
        Ab initio atom-count strategy: ``training``, ``uniform`` or ``hybrid``.
    options
        Sampler options (``None``: the defaults).
    spacegroup, eform
        Conditions applied to every crystal (conditional models only).
    batch_size
        Crystals per network evaluation, and per chunk.
    device
        Where to run.
    resample_rounds
        Redraws of a crystal that fails the structural check (0: none; see the module).
    min_distance, min_volume
        The check's smallest periodic distance (Å) and cell volume (Å³).

    Raises
    ------
    ValueError
        When the model cannot generate the request (too many atoms, a condition it was not
        trained with, atomic numbers missing for a CSP model, an unknown strategy), or
        ``resample_rounds`` is negative.
    """

    def __init__(
        self,
        model: GenerativeModel,
        n: int,
        seed: int,
        *,
        composition: Sequence[int] | None = None,
        num_atoms: str = "training",
        options: SamplerOptions | None = None,
        spacegroup: int | None = None,
        eform: float | None = None,
        batch_size: int = 512,
        device: str | torch.device = "cpu",
        resample_rounds: int = 0,
        min_distance: float = MIN_DISTANCE,
        min_volume: float = MIN_VOLUME,
    ) -> None:
        if isinstance(composition, str):
            raise TypeError(
                "composition is a list of atomic numbers; parse a formula with "
                "crystaloop.chem.composition.atomic_numbers"
            )
        if n < 1:
            raise ValueError(f"n must be at least 1, not {n}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size}")
        if resample_rounds < 0:
            raise ValueError(f"resample_rounds must be at least 0, not {resample_rounds}")
        self.resample_rounds = int(resample_rounds)
        self.min_distance, self.min_volume = float(min_distance), float(min_volume)
        self.resampling = ResampleReport(rounds=self.resample_rounds)
        cfg = model.config
        self.model, self.n, self.seed = model, int(n), int(seed)
        self.options = options or SamplerOptions()
        self.spacegroup, self.eform = spacegroup, eform
        self.batch_size, self.device = int(batch_size), device
        self._counts_rng = torch.Generator().manual_seed(self.seed)
        self._started = False
        self._redraw = False
        if composition is not None:
            self.numbers: list[int] | None = [int(z) for z in composition]
            self._sizes = None
            self._counts = torch.full((self.n,), len(self.numbers), dtype=torch.long)
            check_request(
                model, [len(self.numbers)], [self.numbers], spacegroup=spacegroup, eform=eform
            )
        else:
            self.numbers = None
            self._sizes = num_atoms_sampler(num_atoms, cfg.num_atoms_counts, cfg.max_atoms)
            self._counts = self._sizes.sample(self.n, self._counts_rng).long()
            check_request(
                model, sorted(set(self._counts.tolist())), spacegroup=spacegroup, eform=eform
            )

    def __len__(self) -> int:
        """Return the number of chunks."""
        return -(-self.n // self.batch_size)

    def report(self, pass_rate: float) -> None:
        """Tell the ``hybrid`` strategy the fraction of the last chunk that passed the screens.

        The other strategies ignore it.
        """
        if not isinstance(self._sizes, HybridNumAtoms):
            return
        switched = self._sizes.switched
        self._sizes.report(pass_rate)
        if not switched and self._sizes.switched:
            self._redraw = True

    def __iter__(self) -> Iterator[list[CrystalArrays]]:
        """Yield the crystals chunk by chunk (a sampler is iterated once)."""
        if self._started:
            raise RuntimeError("a SeededSampler is iterated once; make a new one")
        self._started = True
        stream = _RandomStream(self.seed, self.device)
        redraw_stream = _RandomStream(self.seed + RESAMPLE_SEED_OFFSET, self.device)
        for start in range(0, self.n, self.batch_size):
            if self._redraw and self._sizes is not None:
                rest = self._sizes.sample(self.n - start, self._counts_rng).long()
                self._counts[start:] = rest
                self._redraw = False
            stop = min(start + self.batch_size, self.n)
            counts = self._counts[start:stop].tolist()
            numbers = None if self.numbers is None else [self.numbers] * len(counts)
            with stream:
                crystals = sample_crystals(
                    self.model,
                    counts,
                    numbers,
                    options=self.options,
                    spacegroup=self.spacegroup,
                    eform=self.eform,
                    batch_size=self.batch_size,
                    device=self.device,
                )
            self.resampling.drawn += len(crystals)
            if self.resample_rounds:
                crystals = self._resample(crystals, counts, numbers, start, redraw_stream)
            yield crystals

    def _problem(self, crystal: CrystalArrays) -> str | None:
        return crystal_problem(
            crystal.lattice,
            crystal.frac,
            min_distance=self.min_distance,
            min_volume=self.min_volume,
        )

    def _resample(
        self,
        crystals: list[CrystalArrays],
        counts: list[int],
        numbers: list[list[int]] | None,
        start: int,
        stream: _RandomStream,
    ) -> list[CrystalArrays]:
        """Redraw the crystals of a chunk that fail the check, up to ``resample_rounds`` times."""
        report = self.resampling
        crystals = list(crystals)
        bad = [i for i, c in enumerate(crystals) if self._problem(c) is not None]
        first = len(bad)
        report.invalid_first += first
        for _ in range(self.resample_rounds):
            if not bad:
                break
            with stream:
                redrawn = sample_crystals(
                    self.model,
                    [counts[i] for i in bad],
                    None if numbers is None else [numbers[i] for i in bad],
                    options=self.options,
                    spacegroup=self.spacegroup,
                    eform=self.eform,
                    batch_size=self.batch_size,
                    device=self.device,
                )
            report.redraws += len(bad)
            report.drawn += len(bad)
            for i, crystal in zip(bad, redrawn, strict=True):
                crystals[i] = crystal
            bad = [i for i in bad if self._problem(crystals[i]) is not None]
        report.replaced += first - len(bad)
        report.still_invalid += len(bad)
        report.still_invalid_indices.extend(start + i for i in bad)
        return crystals


def sample_seeded(
    model: GenerativeModel,
    n: int,
    seed: int,
    *,
    composition: Sequence[int] | None = None,
    num_atoms: str = "training",
    options: SamplerOptions | None = None,
    spacegroup: int | None = None,
    eform: float | None = None,
    batch_size: int = 512,
    device: str | torch.device = "cpu",
    resample_rounds: int = 0,
    report: ResampleReport | None = None,
) -> list[CrystalArrays]:
    """Return the ``n`` crystals of a seeded request (:class:`SeededSampler`) as one list.

    The same arguments give the same crystals, in the same order, as iterating a
    :class:`SeededSampler` with them. ``report``, when given, is filled with the resampling
    counts (:class:`ResampleReport`).
    """
    sampler = SeededSampler(
        model,
        n,
        seed,
        composition=composition,
        num_atoms=num_atoms,
        options=options,
        spacegroup=spacegroup,
        eform=eform,
        batch_size=batch_size,
        device=device,
        resample_rounds=resample_rounds,
    )
    crystals = [crystal for chunk in sampler for crystal in chunk]
    if report is not None:
        for key, value in sampler.resampling.as_dict().items():
            setattr(report, key, value)
    return crystals


class _RandomStream:
    """torch's random state of one sampling run, kept apart from the caller's.

    Inside ``with stream:`` torch's global generators (CPU and the CUDA device sampled on) are
    those of the stream, seeded with ``seed`` the first time; on exit the stream's state is kept
    and the caller's restored.
    """

    def __init__(self, seed: int, device: str | torch.device) -> None:
        self.seed = seed
        parsed = torch.device(device)
        self.cuda: int | None = None
        if parsed.type == "cuda":
            self.cuda = parsed.index if parsed.index is not None else torch.cuda.current_device()
        self._state: tuple[torch.Tensor, torch.Tensor | None] | None = None
        self._caller: tuple[torch.Tensor, torch.Tensor | None] | None = None

    def _get(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        cuda = torch.cuda.get_rng_state(self.cuda) if self.cuda is not None else None
        return torch.get_rng_state(), cuda

    def _set(self, state: tuple[torch.Tensor, torch.Tensor | None]) -> None:
        torch.set_rng_state(state[0])
        if self.cuda is not None and state[1] is not None:
            torch.cuda.set_rng_state(state[1], self.cuda)

    def __enter__(self) -> _RandomStream:
        self._caller = self._get()
        if self._state is None:  # as torch.manual_seed, for the generators of this run only
            torch.random.default_generator.manual_seed(self.seed)
            if self.cuda is not None:
                with torch.cuda.device(self.cuda):
                    torch.cuda.manual_seed(self.seed)
        else:
            self._set(self._state)
        return self

    def __exit__(self, *exc: object) -> None:
        self._state = self._get()
        assert self._caller is not None
        self._set(self._caller)
