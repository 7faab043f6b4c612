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
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch

from crystaloop.ml.generative.crystal import CrystalArrays
from crystaloop.ml.generative.model import GenerativeModel
from crystaloop.ml.generative.num_atoms import HybridNumAtoms, num_atoms_sampler
from crystaloop.ml.generative.samplers import SamplerOptions, check_request, sample_crystals


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

    Raises
    ------
    ValueError
        When the model cannot generate the request (too many atoms, a condition it was not
        trained with, atomic numbers missing for a CSP model, an unknown strategy).
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
            yield crystals


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
) -> list[CrystalArrays]:
    """Return the ``n`` crystals of a seeded request (:class:`SeededSampler`) as one list.

    The same arguments give the same crystals, in the same order, as iterating a
    :class:`SeededSampler` with them.
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
    )
    return [crystal for chunk in sampler for crystal in chunk]


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
