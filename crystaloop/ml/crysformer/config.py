"""Configuration of the Crysformer surrogate."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class CrysformerConfig:
    """Hyper-parameters of :class:`~crystaloop.ml.crysformer.model.Crysformer`.

    Attributes
    ----------
    targets
        Names of the predicted properties (one readout head each).
    k, cutoff
        Periodic kNN graph: neighbours per atom and search radius (Å).
    num_rbf
        Gaussian radial basis functions of the edge length on ``[0, cutoff]``.
    lmax
        Largest spherical-harmonic degree of edges and features (1 or 2).
    scalar_channels, vector_channels, tensor_channels
        Multiplicities of the ``0e``, ``1o`` and (``lmax`` = 2) ``2e`` node features.
    num_layers, heads
        Equivariant graph attention layers and attention heads (every multiplicity must be a
        multiple of ``heads``).
    radial_hidden
        Width of the radial MLPs that turn the RBF expansion into tensor-product weights.
    readout_hidden
        Width of each target head.
    dropout
        Dropout on scalar features and in the heads; also what MC dropout samples.
    """

    targets: list[str] = field(default_factory=lambda: ["formation_energy_per_atom"])
    k: int = 12
    cutoff: float = 8.0
    num_rbf: int = 32
    lmax: int = 1
    scalar_channels: int = 64
    vector_channels: int = 16
    tensor_channels: int = 8
    num_layers: int = 3
    heads: int = 4
    radial_hidden: int = 32
    readout_hidden: int = 64
    dropout: float = 0.1

    def __post_init__(self) -> None:
        if not self.targets:
            raise ValueError("at least one target is needed")
        if self.lmax not in (1, 2):
            raise ValueError(f"lmax must be 1 or 2, got {self.lmax}")
        channels = [self.scalar_channels, self.vector_channels]
        if self.lmax == 2:
            channels.append(self.tensor_channels)
        if any(c % self.heads for c in channels):
            raise ValueError(f"channel counts {channels} must be multiples of heads={self.heads}")
        if self.k < 1 or self.cutoff <= 0:
            raise ValueError("k must be ≥ 1 and cutoff > 0")

    @property
    def irreps_hidden(self) -> str:
        """The node feature irreps, e.g. ``"64x0e + 16x1o"``."""
        parts = [f"{self.scalar_channels}x0e", f"{self.vector_channels}x1o"]
        if self.lmax == 2:
            parts.append(f"{self.tensor_channels}x2e")
        return " + ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """Return a plain dict (stored in checkpoints)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CrysformerConfig:
        """Rebuild from :meth:`to_dict` output, ignoring unknown keys."""
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})
