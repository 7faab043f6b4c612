"""The two generator families on one denoiser: :class:`CrystalDiffusion` and :class:`CrystalFlow`.

Both hold a :class:`~crystaloop.ml.generative.denoiser.CSPNet`, an optional condition encoder and
their per-field processes, and define the training loss; sampling lives in
:mod:`crystaloop.ml.generative.samplers`.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from crystaloop.ml.generative.config import NUM_SPACEGROUPS, GeneratorConfig
from crystaloop.ml.generative.corruption import (
    DDPMField,
    LinearPath,
    TorusPath,
    WrappedNormalField,
    remove_crystal_mean,
)
from crystaloop.ml.generative.crystal import CrystalBatch, dense_edges
from crystaloop.ml.generative.denoiser import CSPNet
from crystaloop.ml.generative.schedules import timestep_embedding

#: Bounds of the implied clean lattice (normalised) and types in reverse diffusion steps.
LATTICE_CLIP = 5.0
TYPE_CLIP = 2.0


class ConditionEncoder(nn.Module):
    """Embeds a space group (0: none) and a formation energy (NaN: none) into the time space.

    An absent condition maps to a learnt "null" vector, which is what classifier-free guidance
    evaluates for its unconditional branch.
    """

    def __init__(self, config: GeneratorConfig) -> None:
        super().__init__()
        dim = config.time_dim
        self.config = config
        self.spacegroup = nn.Embedding(NUM_SPACEGROUPS + 1, dim) if config.cond_spacegroup else None
        if config.cond_eform:
            self.eform = nn.Sequential(nn.Linear(1, dim), nn.SiLU(), nn.Linear(dim, dim))
            self.eform_null = nn.Parameter(torch.zeros(dim))
        else:
            self.eform = None

    def forward(self, spacegroup: Tensor, eform: Tensor) -> Tensor:
        """Return ``(B, time_dim)`` condition embeddings."""
        out = torch.zeros(spacegroup.shape[0], self.config.time_dim, device=spacegroup.device)
        if self.spacegroup is not None:
            out = out + self.spacegroup(spacegroup.clamp(0, NUM_SPACEGROUPS))
        if self.eform is not None:
            known = torch.isfinite(eform)
            scaled = (torch.nan_to_num(eform) - self.config.eform_mean) / self.config.eform_std
            embedded = self.eform(scaled.unsqueeze(-1).float())
            out = out + torch.where(
                known.unsqueeze(-1), embedded, self.eform_null.expand_as(embedded)
            )
        return out


def drop_conditions(batch: CrystalBatch, p: float) -> tuple[Tensor, Tensor]:
    """Return the batch's conditions with each dropped (set to "none") with probability ``p``."""
    keep_sg = torch.rand(batch.num_graphs, device=batch.frac.device) >= p
    keep_ef = torch.rand(batch.num_graphs, device=batch.frac.device) >= p
    spacegroup = torch.where(keep_sg, batch.spacegroup, torch.zeros_like(batch.spacegroup))
    eform = torch.where(keep_ef, batch.eform, torch.full_like(batch.eform, float("nan")))
    return spacegroup, eform


class GenerativeModel(nn.Module):
    """What the diffusion and flow generators share: the network and the lattice normalisation."""

    def __init__(self, config: GeneratorConfig) -> None:
        super().__init__()
        self.config = config
        self.denoiser = CSPNet(
            config.hidden, config.layers, config.n_freq, config.time_dim, config.predicts_types
        )
        self.conditions = ConditionEncoder(config) if config.conditional else None

    def lattice_factor(self, num_atoms: Tensor) -> Tensor:
        """Return ``(B, 1, 1)``: lattices are learnt divided by ``lattice_scale · N^(1/3)``."""
        return (self.config.lattice_scale * num_atoms.float().pow(1.0 / 3.0)).view(-1, 1, 1)

    def network(
        self,
        types: Tensor,
        frac: Tensor,
        lattice: Tensor,
        time: Tensor,
        num_atoms: Tensor,
        batch: Tensor,
        edges: tuple[Tensor, Tensor],
        spacegroup: Tensor | None = None,
        eform: Tensor | None = None,
        **context: Tensor,
    ) -> tuple[Tensor, Tensor, Tensor | None]:
        """Evaluate the denoiser at times ``time`` in [0, 1] (one per crystal).

        With ``config.coord_mean_free`` the coordinate output has zero mean over each
        crystal's atoms (a translation of the crystal is neither learnt nor sampled).
        ``context`` holds per-batch conditions of subclasses (a modifier's source structure),
        turned into features by :meth:`context_features`.
        """
        emb = timestep_embedding(time, self.config.time_dim)
        node_extra, edge_extra, graph_extra = self.context_features(
            frac, lattice, num_atoms, batch, edges, **context
        )
        if graph_extra is not None:
            emb = emb + graph_extra
        if self.conditions is not None:
            n = num_atoms.shape[0]
            if spacegroup is None:
                spacegroup = torch.zeros(n, dtype=torch.long, device=frac.device)
            if eform is None:
                eform = torch.full((n,), float("nan"), device=frac.device)
            emb = emb + self.conditions(spacegroup, eform)
        lattice_out, coord_out, type_out = self.denoiser(
            types, frac, lattice, emb, batch, edges, node_extra, edge_extra
        )
        if self.config.coord_mean_free:
            coord_out = remove_crystal_mean(coord_out, batch, num_atoms)
        return lattice_out, coord_out, type_out

    def context_features(
        self,
        frac: Tensor,
        lattice: Tensor,
        num_atoms: Tensor,
        batch: Tensor,
        edges: tuple[Tensor, Tensor],
        **context: Tensor,
    ) -> tuple[Tensor | None, Tensor | None, Tensor | None]:
        """Return ``(node, edge, graph)`` condition features of ``context`` (none here).

        Subclasses that take a per-batch condition (a source structure) override it.

        Raises
        ------
        TypeError
            When ``context`` is given to a model that takes none.
        """
        if context:
            raise TypeError(f"this generator takes no context ({', '.join(sorted(context))})")
        return None, None, None

    def coord_target(self, target: Tensor, batch: CrystalBatch) -> Tensor:
        """Return the coordinate target, mean-free per crystal with ``config.coord_mean_free``."""
        if not self.config.coord_mean_free:
            return target
        return remove_crystal_mean(target, batch.batch, batch.num_atoms)

    def training_network(
        self, batch: CrystalBatch, types: Tensor, frac: Tensor, lattice: Tensor, time: Tensor
    ) -> tuple[Tensor, Tensor, Tensor | None]:
        """Evaluate the network on a corrupted training batch, conditions dropped at random."""
        spacegroup, eform = drop_conditions(batch, self.config.p_uncond)
        edges = dense_edges(batch.num_atoms)
        return self.network(
            types,
            frac,
            lattice,
            time,
            batch.num_atoms,
            batch.batch,
            edges,
            spacegroup,
            eform,
            **self.batch_context(batch, edges),
        )

    def batch_context(self, batch: CrystalBatch, edges: tuple[Tensor, Tensor]) -> dict[str, Tensor]:
        """Return the ``context`` of :meth:`network` that a training batch carries (none here)."""
        return {}

    def check_batch(self, batch: CrystalBatch) -> None:
        """Raise ``ValueError`` for crystals the model cannot take."""
        largest = int(batch.num_atoms.max()) if batch.num_graphs else 0
        if largest > self.config.max_atoms:
            raise ValueError(
                f"a crystal has {largest} atoms, more than the model's maximum "
                f"{self.config.max_atoms}"
            )

    def loss(self, batch: CrystalBatch) -> dict[str, Tensor]:
        """Return the training loss (``"loss"``) and its per-field parts."""
        raise NotImplementedError

    def weighted(self, lattice: Tensor, coord: Tensor, type_: Tensor | None) -> dict[str, Tensor]:
        """Return ``{"loss": λ_L·lattice + λ_F·coord (+ λ_A·type), and the parts}``."""
        cfg = self.config
        parts = {"lattice": lattice, "coord": coord}
        total = cfg.lambda_lattice * lattice + cfg.lambda_coord * coord
        if type_ is not None:
            parts["type"] = type_
            total = total + cfg.lambda_type * type_
        return {"loss": total, **parts}


class CrystalDiffusion(GenerativeModel):
    """DiffCSP / EquiCSP joint diffusion of ``(L, F, A)``.

    Lattice and types: cosine-schedule DDPM (ε-prediction); fractional coordinates: wrapped-normal
    score matching with an exponential σ schedule. In CSP mode the types are given (λ_A = 0).
    With ``config.coord_mean_free`` the normalised score target and the prediction are both
    mean-free per crystal (their per-crystal mean, a translation, cannot be predicted).
    """

    def __init__(self, config: GeneratorConfig) -> None:
        if config.kind != "diffusion":
            raise ValueError("CrystalDiffusion needs kind='diffusion'")
        super().__init__(config)
        self.lattice_field = DDPMField(config.timesteps, clip=LATTICE_CLIP)
        self.type_field = DDPMField(config.timesteps, clip=TYPE_CLIP)
        self.coord_field = WrappedNormalField(
            config.timesteps, config.sigma_begin, config.sigma_end
        )

    def loss(self, batch: CrystalBatch) -> dict[str, Tensor]:
        """Return the weighted sum of the lattice, coordinate and type losses."""
        self.check_batch(batch)
        cfg = self.config
        t = torch.randint(1, cfg.timesteps + 1, (batch.num_graphs,), device=batch.frac.device)
        lattice0 = batch.lattice / self.lattice_factor(batch.num_atoms)
        lattice_t, lattice_eps = self.lattice_field.corrupt(lattice0, t)
        frac_t, coord_target = self.coord_field.corrupt(batch.frac, t[batch.batch])
        types0 = batch.onehot()
        if cfg.predicts_types:
            types_t, type_eps = self.type_field.corrupt(types0, t[batch.batch])
        else:
            types_t, type_eps = types0, None
        lattice_out, coord_out, type_out = self.training_network(
            batch, types_t, frac_t, lattice_t, t.float() / cfg.timesteps
        )
        type_loss = None if type_out is None else nn.functional.mse_loss(type_out, type_eps)
        return self.weighted(
            nn.functional.mse_loss(lattice_out, lattice_eps),
            nn.functional.mse_loss(coord_out, self.coord_target(coord_target, batch)),
            type_loss,
        )


class CrystalFlow(GenerativeModel):
    """Conditional flow matching of ``(L, F, A)`` (FlowMM-style, linear interpolants).

    Lattice and types flow from a standard normal; fractional coordinates from the uniform
    distribution along minimum-image geodesics of the torus. Velocities are tangent vectors,
    not positions: the coordinate loss is a plain squared error (as FlowMM's), on a velocity
    target that is mean-free per crystal with ``config.coord_mean_free`` (as the prediction).
    """

    def __init__(self, config: GeneratorConfig) -> None:
        if config.kind != "flow":
            raise ValueError("CrystalFlow needs kind='flow'")
        super().__init__(config)
        self.lattice_path = LinearPath()
        self.coord_path = TorusPath()
        self.type_path = LinearPath()

    def loss(self, batch: CrystalBatch) -> dict[str, Tensor]:
        """Return the weighted sum of the lattice, coordinate and type flow-matching losses."""
        self.check_batch(batch)
        cfg = self.config
        t = torch.rand(batch.num_graphs, device=batch.frac.device)
        t_atom = t[batch.batch]
        lattice1 = batch.lattice / self.lattice_factor(batch.num_atoms)
        lattice0, frac0 = self.flow_priors(batch, lattice1)
        lattice_t, lattice_u = self.lattice_path.interpolate(lattice0, lattice1, t)
        frac_t, coord_u = self.coord_path.interpolate(frac0, batch.frac, t_atom)
        types1 = batch.onehot()
        if cfg.predicts_types:
            types_t, type_u = self.type_path.interpolate(
                self.type_path.prior(types1), types1, t_atom
            )
        else:
            types_t, type_u = types1, None
        lattice_v, coord_v, type_v = self.training_network(batch, types_t, frac_t, lattice_t, t)
        type_loss = None if type_v is None else nn.functional.mse_loss(type_v, type_u)
        return self.weighted(
            nn.functional.mse_loss(lattice_v, lattice_u),
            nn.functional.mse_loss(coord_v, self.coord_target(coord_u, batch)),
            type_loss,
        )

    def flow_priors(self, batch: CrystalBatch, lattice1: Tensor) -> tuple[Tensor, Tensor]:
        """Return the starting ``(normalised lattice, frac)`` of a batch's training paths.

        Here the priors: a standard normal lattice and uniform coordinates. A subclass may
        start from something else (a modifier: from the source structure).
        """
        return self.lattice_path.prior(lattice1), self.coord_path.prior(batch.frac)


def build_model(config: GeneratorConfig) -> GenerativeModel:
    """Return the generator of ``config.kind``."""
    return CrystalDiffusion(config) if config.kind == "diffusion" else CrystalFlow(config)
