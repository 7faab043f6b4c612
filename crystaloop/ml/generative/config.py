"""Configuration of a crystal generator and of its training.

Generators are diffusion or flow matching, CSP or ab initio. Plain dataclasses without torch,
so the command line reads its defaults here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

KINDS = ("diffusion", "flow")
MODES = ("csp", "abinitio")
#: Largest space-group number; 0 is "no space-group condition".
NUM_SPACEGROUPS = 230
#: Type-loss weight of each kind when none is given (DiffCSP's 20 for diffusion; 1 for flow).
DEFAULT_LAMBDA_TYPE = {"diffusion": 20.0, "flow": 1.0}
#: Denoiser sizes by name: ``small`` (the shipped CPU models) and ``diffcsp`` (DiffCSP's CSPNet:
#: 512 hidden × 6 layers, 128 Fourier frequencies, 256-dim time embedding).
SIZES: dict[str, dict[str, int]] = {
    "small": {"hidden": 128, "layers": 4, "n_freq": 10, "time_dim": 64},
    "diffcsp": {"hidden": 512, "layers": 6, "n_freq": 128, "time_dim": 256},
}
#: Values that keys missing from a saved configuration take: those of the models saved before
#: the key existed (their checkpoints then behave exactly as they did).
LEGACY_DEFAULTS: dict[str, Any] = {"coord_mean_free": False}


@dataclass
class GeneratorConfig:
    """Hyper-parameters and data statistics of a generator, saved with its checkpoint.

    Attributes
    ----------
    kind
        ``"diffusion"`` (DiffCSP/EquiCSP recipe) or ``"flow"`` (conditional flow matching).
    mode
        ``"csp"``: atom types are given and only ``L`` and ``F`` are generated (λ_A = 0);
        ``"abinitio"``: the number of atoms is drawn and types are generated too.
    hidden, layers, n_freq, time_dim
        Denoiser width, number of message-passing layers, Fourier frequencies of fractional
        differences, width of the time embedding.
    timesteps, sigma_begin, sigma_end
        Diffusion steps ``T`` and the exponential σ schedule of the coordinates.
    lambda_lattice, lambda_coord, lambda_type
        Loss weights; ``lambda_type`` is ignored in CSP mode and defaults to the kind's
        (:data:`DEFAULT_LAMBDA_TYPE`: 20 for diffusion, 1 for flow).
    max_atoms
        Largest number of atoms per crystal the model accepts (from its training data unless set).
    lattice_scale
        Mean ``(V/N)^(1/3)`` of the training crystals, Å: lattices are learnt divided by
        ``lattice_scale · N^(1/3)`` so that every size has the same scale.
    num_atoms_counts
        Histogram of atoms per crystal in the training data (index = N): the ``p(N)`` of ab
        initio sampling.
    elements
        Atomic numbers seen in training; ab initio samples only these.
    cond_spacegroup, cond_eform
        Whether the model takes a space-group / formation-energy condition (classifier-free
        guidance: each is dropped with probability ``p_uncond`` in training).
    eform_mean, eform_std
        Normalisation of the formation-energy condition (eV/atom).
    coord_mean_free
        Remove the per-crystal mean from the coordinate target (diffusion score, flow velocity)
        and from the network's coordinate output. A translation of every atom cannot be
        predicted by the translation-invariant denoiser (EquiCSP, FlowMM remove it); with the
        output mean-free too, sampling moves no crystal as a whole. Configurations saved before
        this key existed load with ``False`` (:data:`LEGACY_DEFAULTS`).

    See Also
    --------
    GeneratorConfig.sized : a configuration of a named size (:data:`SIZES`).
    """

    kind: str = "diffusion"
    mode: str = "csp"
    hidden: int = 128
    layers: int = 4
    n_freq: int = 10
    time_dim: int = 64
    timesteps: int = 1000
    sigma_begin: float = 0.005
    sigma_end: float = 0.5
    lambda_lattice: float = 1.0
    lambda_coord: float = 1.0
    lambda_type: float | None = None  # None: the kind's default, set on construction
    max_atoms: int = 20
    lattice_scale: float = 2.5
    num_atoms_counts: list[int] = field(default_factory=list)
    elements: list[int] = field(default_factory=list)
    cond_spacegroup: bool = False
    cond_eform: bool = False
    p_uncond: float = 0.1
    eform_mean: float = 0.0
    eform_std: float = 1.0
    coord_mean_free: bool = True

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {self.kind!r}")
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {self.mode!r}")
        if self.lambda_type is None:
            self.lambda_type = DEFAULT_LAMBDA_TYPE[self.kind]
        for name in ("hidden", "layers", "n_freq", "time_dim", "timesteps", "max_atoms"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.time_dim % 2:
            raise ValueError("time_dim must be even")
        if not 0 < self.sigma_begin < self.sigma_end <= 1.0:
            raise ValueError("need 0 < sigma_begin < sigma_end <= 1")
        if not 0.0 <= self.p_uncond < 1.0:
            raise ValueError("p_uncond must be in [0, 1)")

    @classmethod
    def sized(cls, size: str, **kwargs: Any) -> GeneratorConfig:
        """Return a configuration with the denoiser of a named size (:data:`SIZES`).

        Parameters
        ----------
        size
            ``"small"`` (128 × 4, the shipped CPU models) or ``"diffcsp"`` (512 × 6, 128
            frequencies, 256-dim time embedding, as DiffCSP).
        **kwargs
            Any other field of the configuration (``kind``, ``mode``, ...).
        """
        if size not in SIZES:
            raise ValueError(f"size must be one of {tuple(SIZES)}, not {size!r}")
        return cls(**{**SIZES[size], **kwargs})

    @classmethod
    def diffcsp_size(cls, **kwargs: Any) -> GeneratorConfig:
        """Return a configuration with DiffCSP's denoiser size (``sized("diffcsp", ...)``)."""
        return cls.sized("diffcsp", **kwargs)

    @property
    def predicts_types(self) -> bool:
        """True when atom types are generated (ab initio)."""
        return self.mode == "abinitio"

    @property
    def conditional(self) -> bool:
        """True when the model takes a space-group or formation-energy condition."""
        return self.cond_spacegroup or self.cond_eform

    def to_dict(self) -> dict[str, Any]:
        """Return the configuration as plain JSON types."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GeneratorConfig:
        """Build a configuration, rejecting unknown keys.

        Keys missing from ``data`` that newer versions added take their :data:`LEGACY_DEFAULTS`
        value, so an older checkpoint's model behaves as it was trained.
        """
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown generator configuration keys: {', '.join(unknown)}")
        return cls(**{**LEGACY_DEFAULTS, **data})


@dataclass
class GeneratorTrainOptions:
    """Options of :func:`~crystaloop.ml.generative.training.train_generator`.

    Attributes
    ----------
    epochs, batch_size, lr, weight_decay, grad_clip, seed, device
        The usual.
    time_limit
        Stop after this many seconds (the best state so far is kept).
    eval_every
        Epochs between validation passes.
    warmup
        Fraction of the budget over which the learning rate rises linearly from 0 to ``lr``;
        then it follows a cosine decay to ``min_lr_ratio · lr`` at the end of the budget. The
        budget's progress is the larger of ``steps / (epochs · batches per epoch)`` and
        ``elapsed / time_limit``, so the rate decays over the training that really runs
        whichever limit stops it.
    min_lr_ratio
        Final learning rate over ``lr``.
    ema_decay
        Decay of the exponential moving average of the weights (``None`` or 0: none). The
        average (with the warm-up ``min(decay, (1 + n) / (10 + n))`` after ``n`` updates) is
        what validation evaluates and what the model holds when training returns.
    """

    epochs: int = 200
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    seed: int = 0
    device: str = "cpu"
    time_limit: float | None = None
    eval_every: int = 1
    warmup: float = 0.05
    min_lr_ratio: float = 0.1
    ema_decay: float | None = 0.999

    def __post_init__(self) -> None:
        if not 0.0 <= self.warmup < 1.0:
            raise ValueError("warmup must be in [0, 1)")
        if not 0.0 <= self.min_lr_ratio <= 1.0:
            raise ValueError("min_lr_ratio must be in [0, 1]")
        if self.ema_decay is not None and not 0.0 <= self.ema_decay < 1.0:
            raise ValueError("ema_decay must be in [0, 1)")
