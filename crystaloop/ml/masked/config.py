"""Configuration of the masked generator (plain dataclasses: no torch at import)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

#: The pre-training masks: all atoms of one species, or a fraction of the atoms.
MASKS = ("species", "random")


@dataclass
class MaskedConfig:
    """Hyper-parameters of :class:`~crystaloop.ml.masked.model.MaskedDenoiser`.

    Attributes
    ----------
    backbone
        The Crysformer backbone's configuration
        (:class:`~crystaloop.ml.crysformer.config.CrysformerConfig` fields; its ``targets``
        name the unused readout of the backbone, so a downstream head can start from it).
    elements
        Atomic numbers the species head predicts (the training data's elements); an input
        atom of another element is refused.
    noise
        Standard deviation (Å) of the Gaussian displacement of every atom in pre-training
        (the seed trains at 0.1 and 0.2 Å).
    species_mask_prob
        Chance that a training crystal gets the species mask (all atoms of one randomly chosen
        species); otherwise ``mask_fraction`` of its atoms, at least one, are masked.
    mask_fraction
        Share of atoms of the random mask (15 % as in the seed).
    w_position
        Weight of the displacement MSE (Å²) against the species NLL (200 as in the seed).
    head_hidden
        Width of the species head.
    max_atoms
        Largest crystal of the training data (atoms per cell).
    """

    backbone: dict[str, Any] = field(default_factory=dict)
    elements: list[int] = field(default_factory=list)
    noise: float = 0.1
    species_mask_prob: float = 0.5
    mask_fraction: float = 0.15
    w_position: float = 200.0
    head_hidden: int = 64
    max_atoms: int = 0

    def __post_init__(self) -> None:
        if self.noise < 0:
            raise ValueError(f"noise must be ≥ 0 Å, not {self.noise}")
        if not 0.0 <= self.species_mask_prob <= 1.0:
            raise ValueError(f"species_mask_prob must be in [0, 1], not {self.species_mask_prob}")
        if not 0.0 < self.mask_fraction <= 1.0:
            raise ValueError(f"mask_fraction must be in (0, 1], not {self.mask_fraction}")
        if self.w_position < 0:
            raise ValueError(f"w_position must be ≥ 0, not {self.w_position}")

    def to_dict(self) -> dict[str, Any]:
        """Return a plain dict (stored in checkpoints)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MaskedConfig:
        """Rebuild from :meth:`to_dict` output, ignoring unknown keys."""
        if not isinstance(data, dict):
            raise ValueError(f"a masked generator configuration must be a dict, not {data!r}")
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})
