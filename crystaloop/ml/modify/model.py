"""The structure modifiers: the project's diffusion and flow generators, conditioned on a source.

Seed 001's conditional structure modification is Palette-style sample-to-sample generation:
the model generates a more stable polymorph *given* a less stable one. Here the generators of
:mod:`crystaloop.ml.generative` (CSP mode: the atoms are the source's) take three more inputs
through :class:`SourceEncoder`:

* per atom, Fourier features of the minimum-image ``F − F_source`` less its mean over the
  crystal (where the atom is now against where it sits in the source, whatever the crystal's
  overall offset from the source: sampling never translates a crystal as a whole);
* per edge, Fourier features of the source's ``F_source,j − F_source,i`` (the source's geometry,
  as CSPNet sees the structure being generated);
* per crystal, the source's normalised lattice Gram matrix ``L Lᵀ`` (invariant to rotations);

plus, through the generators' own condition encoder, the energy difference ``ΔE`` (eV/atom, the
``eform`` condition slot) and optionally the target's space group. The encoder's output layers
start at zero, so a modifier initialised from a CSP generator starts as that generator.

``flow`` can start its paths at the source itself (``prior="source"``: the source lattice and
coordinates plus Gaussian noise of ``source_noise``), a bridge from the input to the output;
with ``prior="noise"`` (and always for ``diffusion``) generation starts from the usual priors.
Both losses are periodic-aware (wrapped-normal scores, minimum-image torus paths); no direct
coordinate regression is used.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from crystaloop.ml.generative.config import GeneratorConfig
from crystaloop.ml.generative.corruption import remove_crystal_mean
from crystaloop.ml.generative.crystal import CrystalBatch
from crystaloop.ml.generative.denoiser import fourier_features
from crystaloop.ml.generative.model import CrystalDiffusion, CrystalFlow, GenerativeModel
from crystaloop.ml.generative.schedules import wrap

PRIORS = ("noise", "source")


@dataclass
class ModifierConfig:
    """A modifier's configuration: its generator's, and where its flow starts.

    Attributes
    ----------
    generator
        The underlying generator configuration: CSP mode, with the ``eform`` condition carrying
        ``ΔE`` (its ``eform_mean`` / ``eform_std`` normalise ``ΔE``).
    prior
        ``noise``: the generator's priors (Palette); ``source`` (flow only): paths start at the
        source structure plus noise.
    source_noise
        Standard deviation of that noise (fractional coordinates and normalised lattice).
    """

    generator: GeneratorConfig = field(
        default_factory=lambda: GeneratorConfig(mode="csp", cond_eform=True)
    )
    prior: str = "noise"
    source_noise: float = 0.05

    def __post_init__(self) -> None:
        if isinstance(self.generator, dict):
            self.generator = GeneratorConfig.from_dict(self.generator)
        if self.generator.mode != "csp":
            raise ValueError("a modifier keeps the source's atoms: its generator must be csp")
        if not self.generator.cond_eform:
            raise ValueError("a modifier takes ΔE through the eform condition: set cond_eform")
        if self.prior not in PRIORS:
            raise ValueError(f"prior must be one of {PRIORS}, not {self.prior!r}")
        if self.prior == "source" and self.generator.kind != "flow":
            raise ValueError("prior='source' needs kind='flow' (diffusion starts from noise)")
        if not 0.0 <= self.source_noise < 1.0:
            raise ValueError("source_noise must be in [0, 1)")

    def to_dict(self) -> dict[str, Any]:
        """Return the configuration as plain JSON types."""
        return {**asdict(self), "generator": self.generator.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModifierConfig:
        """Build a configuration, rejecting unknown keys."""
        unknown = sorted(set(data) - {"generator", "prior", "source_noise"})
        if unknown:
            raise ValueError(f"unknown modifier configuration keys: {', '.join(unknown)}")
        if "generator" not in data:
            raise ValueError("a modifier configuration needs its generator configuration")
        return cls(**{**data, "generator": GeneratorConfig.from_dict(data["generator"])})


def _mlp(inputs: int, outputs: int) -> nn.Sequential:
    layers = nn.Sequential(nn.Linear(inputs, outputs), nn.SiLU(), nn.Linear(outputs, outputs))
    nn.init.zeros_(layers[-1].weight)
    nn.init.zeros_(layers[-1].bias)
    return layers


class SourceEncoder(nn.Module):
    """Node, edge and crystal features of the source structure (output layers start at zero)."""

    def __init__(self, hidden: int, n_freq: int, time_dim: int) -> None:
        super().__init__()
        self.n_freq = n_freq
        self.node = _mlp(6 * n_freq, hidden)
        self.edge = _mlp(6 * n_freq, hidden)
        self.graph = _mlp(9, time_dim)

    def static(
        self, source_frac: Tensor, source_lattice: Tensor, edges: tuple[Tensor, Tensor]
    ) -> tuple[Tensor, Tensor]:
        """Return the features that do not change while sampling: ``(edge, graph)``.

        ``source_lattice`` is normalised as the generated lattice is.
        """
        src, dst = edges
        edge = self.edge(fourier_features(source_frac[src] - source_frac[dst], self.n_freq))
        gram = (source_lattice @ source_lattice.transpose(1, 2)).flatten(1)
        return edge, self.graph(gram)

    def node_features(
        self, frac: Tensor, source_frac: Tensor, batch: Tensor, num_atoms: Tensor
    ) -> Tensor:
        """Return the per-atom features of the mean-free minimum-image ``frac − source_frac``."""
        shift = remove_crystal_mean(wrap(frac - source_frac), batch, num_atoms)
        return self.node(fourier_features(shift, self.n_freq))


class SourceConditioned:
    """What both modifiers add to their generator: the source encoder as the context."""

    modifier_config: ModifierConfig
    source_encoder: SourceEncoder

    def _init_source(self: Any, config: ModifierConfig) -> None:
        gen = config.generator
        self.modifier_config = config
        self.source_encoder = SourceEncoder(gen.hidden, gen.n_freq, gen.time_dim)
        if self.conditions is not None:  # new conditions start as "none" too
            if self.conditions.spacegroup is not None:
                nn.init.zeros_(self.conditions.spacegroup.weight)
            if self.conditions.eform is not None:
                nn.init.zeros_(self.conditions.eform[-1].weight)
                nn.init.zeros_(self.conditions.eform[-1].bias)

    def source_context(
        self: Any, source_frac: Tensor, source_lattice: Tensor, num_atoms: Tensor, edges: Any
    ) -> dict[str, Tensor]:
        """Return the :meth:`network` context of a batch of sources (lattice rows in Å).

        The edge and crystal features are computed here once: sampling reuses them at every
        step, and only the per-atom features follow the structure being generated.
        """
        normalised = source_lattice / self.lattice_factor(num_atoms)
        edge, graph = self.source_encoder.static(source_frac, normalised, edges)
        return {"source_frac": source_frac, "source_edge": edge, "source_graph": graph}

    def context_features(
        self: Any,
        frac: Tensor,
        lattice: Tensor,
        num_atoms: Tensor,
        batch: Tensor,
        edges: tuple[Tensor, Tensor],
        source_frac: Tensor | None = None,
        source_edge: Tensor | None = None,
        source_graph: Tensor | None = None,
        **rest: Tensor,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Return the source's features (the network's context is :meth:`source_context`).

        Raises
        ------
        TypeError
            On a context other than that of :meth:`source_context`.
        ValueError
            When the source is missing.
        """
        if rest:
            raise TypeError(f"a modifier takes no context {', '.join(sorted(rest))}")
        if source_frac is None or source_edge is None or source_graph is None:
            raise ValueError("a modifier needs its source structure (see source_context)")
        node = self.source_encoder.node_features(frac, source_frac, batch, num_atoms)
        return node, source_edge, source_graph

    def batch_context(
        self: Any, batch: CrystalBatch, edges: tuple[Tensor, Tensor]
    ) -> dict[str, Tensor]:
        """Return the source context of a :class:`~crystaloop.ml.modify.pairs.PairBatch`."""
        return self.source_context(batch.source_frac, batch.source_lattice, batch.num_atoms, edges)

    def source_prior(
        self: Any, source_frac: Tensor, source_lattice: Tensor, num_atoms: Tensor
    ) -> tuple[Tensor, Tensor]:
        """Return ``(normalised lattice, frac)``: the source plus ``source_noise`` noise."""
        sigma = self.modifier_config.source_noise
        lattice = source_lattice / self.lattice_factor(num_atoms)
        lattice = lattice + sigma * torch.randn_like(lattice)
        frac = torch.remainder(source_frac + sigma * torch.randn_like(source_frac), 1.0)
        return lattice, frac

    @property
    def starts_at_source(self: Any) -> bool:
        """True when generation starts from the source structure (flow, ``prior="source"``)."""
        return self.modifier_config.prior == "source"


class ModifierDiffusion(SourceConditioned, CrystalDiffusion):
    """DiffCSP-style diffusion of the more stable polymorph, conditioned on the source."""

    def __init__(self, config: ModifierConfig) -> None:
        CrystalDiffusion.__init__(self, config.generator)
        self._init_source(config)


class ModifierFlow(SourceConditioned, CrystalFlow):
    """Conditional flow matching to the more stable polymorph, from noise or from the source."""

    def __init__(self, config: ModifierConfig) -> None:
        CrystalFlow.__init__(self, config.generator)
        self._init_source(config)

    def flow_priors(self, batch: CrystalBatch, lattice1: Tensor) -> tuple[Tensor, Tensor]:
        """Return the paths' start: the source plus noise, or the generator's priors."""
        if not self.starts_at_source:
            return super().flow_priors(batch, lattice1)
        return self.source_prior(batch.source_frac, batch.source_lattice, batch.num_atoms)


def build_modifier(config: ModifierConfig) -> GenerativeModel:
    """Return the modifier of ``config.generator.kind``."""
    if config.generator.kind == "diffusion":
        return ModifierDiffusion(config)
    return ModifierFlow(config)


def init_from_generator(model: GenerativeModel, generator: GenerativeModel) -> None:
    """Start ``model`` (a modifier) from a trained CSP generator's denoiser.

    Raises
    ------
    ValueError
        When the two are of different kinds or denoiser sizes.
    """
    mine, theirs = model.config, generator.config
    keys = ("kind", "hidden", "layers", "n_freq", "time_dim", "timesteps", "coord_mean_free")
    if mine.kind == "diffusion":
        keys += ("sigma_begin", "sigma_end")
    differ = [k for k in keys if getattr(mine, k) != getattr(theirs, k)]
    if differ or generator.denoiser.type_head is not None:
        raise ValueError(
            "the modifier starts from a CSP generator of its own kind and size; these differ in "
            + (", ".join(differ) or "mode (the generator predicts types)")
        )
    model.denoiser.load_state_dict(generator.denoiser.state_dict())
