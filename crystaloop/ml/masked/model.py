"""The masked denoiser: Crysformer's equivariant backbone, a species head, a displacement head.

Atoms are embedded as in Crysformer (a linear map of their k-hot atomic properties); a masked atom
gets a learned mask embedding instead. Crysformer's equivariant graph attention layers update
type-0 and type-1 features; two shallow heads read them out (seed 003):

* species logits over the model's elements from each atom's type-0 features (an MLP), and
* a displacement from its type-1 features (an equivariant linear map to one ``1o`` vector),
  the Cartesian move (Å) that returns the atom to its unperturbed place.

Pre-training loss = NLL(species of the masked atoms) + ``w_position`` · MSE(displacement, Å²
per component over all atoms). Logits are invariant and displacements rotate with the crystal.
"""

from __future__ import annotations

import torch
from e3nn import o3
from torch import Tensor, nn

from crystaloop.ml.crysformer.config import CrysformerConfig
from crystaloop.ml.crysformer.model import Crysformer
from crystaloop.ml.data.batch import GraphBatch
from crystaloop.ml.masked.config import MaskedConfig
from crystaloop.ml.masked.corruption import MASK_TOKEN, Corrupted, corrupt

#: The backbone's (unused) readout target: a downstream head replaces it.
BACKBONE_TARGET = "pretraining"


def backbone_config(config: MaskedConfig) -> CrysformerConfig:
    """Return the Crysformer configuration of ``config``'s backbone."""
    return CrysformerConfig.from_dict({"targets": [BACKBONE_TARGET], **config.backbone})


class MaskedDenoiser(nn.Module):
    """The masked generator's network (see the module docstring).

    Parameters
    ----------
    config
        Backbone, elements, noise and loss weights.
    """

    def __init__(self, config: MaskedConfig) -> None:
        super().__init__()
        if not config.elements:
            raise ValueError("a masked generator needs its elements (config.elements)")
        self.config = config
        self.backbone = Crysformer(backbone_config(config))
        channels = self.backbone.config.scalar_channels
        self.mask_embedding = nn.Parameter(torch.randn(channels) * 0.1)
        self.species_head = nn.Sequential(
            nn.Linear(channels, config.head_hidden),
            nn.SiLU(),
            nn.Linear(config.head_hidden, len(config.elements)),
        )
        self.displacement_head = o3.Linear(self.backbone.irreps_hidden, o3.Irreps("1x1o"))
        self.register_buffer("elements", torch.tensor(config.elements, dtype=torch.long))
        lookup = torch.full((128,), -1, dtype=torch.long)
        lookup[self.elements] = torch.arange(len(config.elements))
        self.register_buffer("element_index", lookup)

    def forward(self, graph: GraphBatch, mask: Tensor) -> tuple[Tensor, Tensor]:
        """Return ``(N, len(elements))`` species logits and ``(N, 3)`` displacements (Å).

        ``mask`` marks the atoms whose species is hidden (their atomic number is ignored). The
        displacements have no mean per crystal (the noise they undo has none, and a rigid
        translation is invisible to the network).
        """
        numbers = torch.where(mask, torch.zeros_like(graph.atomic_numbers), graph.atomic_numbers)
        scalars = self.backbone.embed(self.backbone.khot[numbers])
        scalars = torch.where(mask[:, None], self.mask_embedding.to(scalars.dtype), scalars)
        x = self.backbone.node_features(graph, scalars=scalars)
        channels = self.backbone.config.scalar_channels
        move = self.displacement_head(x)
        sums = torch.zeros(graph.num_graphs, 3, dtype=move.dtype, device=move.device)
        sums = sums.index_add(0, graph.batch, move)
        counts = torch.bincount(graph.batch, minlength=graph.num_graphs).clamp(min=1)
        move = move - (sums / counts[:, None].to(move.dtype))[graph.batch]
        return self.species_head(x[:, :channels]), move

    def unseen(self, numbers: Tensor) -> list[int]:
        """Return the atomic numbers in ``numbers`` that are not the model's elements."""
        bad = self.element_index[numbers.clamp(0, 127)] < 0
        return sorted({int(z) for z in numbers[bad].tolist() if z != MASK_TOKEN})

    def loss(self, graph: GraphBatch) -> dict[str, Tensor]:
        """Corrupt the clean ``graph`` as pre-training does and return the losses.

        ``{"loss", "nll", "mse", "accuracy"}``: NLL over masked atoms, MSE (Å²) of the predicted
        displacement against the negative noise, their weighted sum, and the share of masked
        atoms whose most probable species is right.
        """
        return self.reconstruction(graph)[3]

    def reconstruction(
        self, graph: GraphBatch
    ) -> tuple[Corrupted, Tensor, Tensor, dict[str, Tensor]]:
        """Corrupt ``graph``, fill it in; return the corruption, logits, moves and losses.

        Raises ``ValueError`` naming the elements of ``graph`` outside the species head.
        """
        cfg = self.config
        if bool((self.element_index[graph.atomic_numbers] < 0).any()):
            raise ValueError(
                f"elements the model does not know: {self.unseen(graph.atomic_numbers)}"
            )
        c = corrupt(graph, cfg.noise, cfg.species_mask_prob, cfg.mask_fraction)
        logits, move = self(c.graph, c.mask)
        target = self.element_index[graph.atomic_numbers[c.mask]]
        masked_logits = logits[c.mask]
        nll = nn.functional.cross_entropy(masked_logits, target)
        mse = ((move + c.displacement) ** 2).mean()
        accuracy = (masked_logits.argmax(dim=1) == target).float().mean()
        losses = {"loss": nll + cfg.w_position * mse, "nll": nll, "mse": mse, "accuracy": accuracy}
        return c, logits, move, losses
