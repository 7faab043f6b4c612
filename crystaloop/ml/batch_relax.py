"""Batched relaxation of many structures at once with a universal ML potential (TorchSim).

atomate2's force-field makers relax one structure per job with ASE (FIRE on a
``FrechetCellFilter``, ``fmax`` 0.1 eV/Å). On a GPU most of that device sits idle for small cells;
TorchSim (``torch-sim-atomistic``) relaxes a whole batch in one model call per step. This module
runs the same relaxation there -- FIRE (ASE flavour) with the Fréchet cell parameterisation,
converged when every atomic force and every cell force is below ``force_tol`` -- and returns, per
structure, the relaxed structure and the potential's energy of it (what atomate2's relax + static
pair gives: a static calculation with the same potential at the relaxed positions).

Guards, as for the per-structure path (:mod:`crystaloop.makers.guarded`): a structure starting
denser than ``min_volume_per_atom`` is refused before the batch (its neighbour lists explode),
and one whose volume leaves ``[min_volume_ratio, max_volume_ratio]`` × its start during the
relaxation is taken out of the batch and reported as collapsed. A structure that has not
converged after ``max_steps`` keeps its last geometry, as atomate2's maker does.

Potentials: :data:`POTENTIALS` (SevenNet-0, whose weights ship in the ``sevenn`` wheel).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pymatgen.core import Structure

#: Potentials the batched path can load, by oracle name: the pretrained model each names.
POTENTIALS = {"sevennet": "7net-0"}


@dataclass(frozen=True)
class BatchRelaxOptions:
    """How a batch is relaxed.

    Attributes
    ----------
    force_tol
        Convergence: largest atomic and cell force, eV/Å (atomate2's ``fmax`` default 0.1).
    max_steps
        FIRE steps at most (the campaign's per-structure relax allows 300).
    check_every
        Steps between convergence and guard checks (converged structures leave the batch).
    min_volume_ratio, max_volume_ratio
        Allowed ``V / V₀`` during the relaxation (the per-structure guard's range).
    min_volume_per_atom
        Smallest starting volume per atom, Å³.
    """

    force_tol: float = 0.1
    max_steps: int = 300
    check_every: int = 5
    min_volume_ratio: float = 0.5
    max_volume_ratio: float = 3.0
    min_volume_per_atom: float = 3.0

    def __post_init__(self) -> None:
        if self.force_tol <= 0 or self.max_steps < 1 or self.check_every < 1:
            raise ValueError("force_tol must be positive, max_steps and check_every at least 1")
        if not 0 < self.min_volume_ratio < 1 < self.max_volume_ratio:
            raise ValueError("need 0 < min_volume_ratio < 1 < max_volume_ratio")


@dataclass
class RelaxResult:
    """One structure's outcome: ``structure`` and ``energy`` (eV, total), or an ``error``."""

    structure: Structure | None = None
    energy: float | None = None
    steps: int = 0
    converged: bool = False
    error: str | None = None


def load_potential(name: str, device: str = "cpu") -> Any:
    """Return the TorchSim model of the oracle ``name`` (see :data:`POTENTIALS`) on ``device``.

    Raises
    ------
    ValueError
        When no batched potential is known by that name.
    """
    if name not in POTENTIALS:
        raise ValueError(
            f"no batched potential for oracle {name!r}; known: {', '.join(sorted(POTENTIALS))}"
        )
    import torch
    from sevenn.util import load_checkpoint
    from torch_sim.models.sevennet import SevenNetModel

    model = load_checkpoint(POTENTIALS[name]).build_model()
    return SevenNetModel(model=model, device=torch.device(device), dtype=torch.float32)


def _refused(structure: Structure, options: BatchRelaxOptions) -> str | None:
    per_atom = structure.volume / max(len(structure), 1)
    if per_atom < options.min_volume_per_atom:
        return (
            f"cell too dense to relax: {per_atom:.2f} Å³/atom < "
            f"{options.min_volume_per_atom} Å³/atom"
        )
    return None


def relax_batch(
    structures: list[Structure], potential: Any, options: BatchRelaxOptions | None = None
) -> list[RelaxResult]:
    """Relax ``structures`` together with ``potential`` (:func:`load_potential`).

    Returns
    -------
    list of RelaxResult
        One per structure, in order.
    """
    import torch
    import torch_sim as ts

    options = options or BatchRelaxOptions()
    results = [RelaxResult() for _ in structures]
    active: list[int] = []
    for i, structure in enumerate(structures):
        reason = _refused(structure, options)
        if reason is None:
            active.append(i)
        else:
            results[i].error = reason
    if not active:
        return results
    init_fn, update_fn = ts.frechet_cell_fire(model=potential)
    state = init_fn(
        ts.initialize_state([structures[i] for i in active], potential.device, potential.dtype)
    )
    start_volume = state.volume.detach().clone()
    converged_fn = ts.generate_force_convergence_fn(force_tol=options.force_tol)
    steps = 0
    while active:
        chunk = min(options.check_every, options.max_steps - steps)
        for _ in range(chunk):
            state = update_fn(state)
        steps += chunk
        with torch.no_grad():
            ratio = state.volume / start_volume
            per_system_energy = state.energy.detach().reshape(-1)
            broken = ~torch.isfinite(ratio) | ~torch.isfinite(per_system_energy)
            collapsed = (
                (ratio < options.min_volume_ratio) | (ratio > options.max_volume_ratio) | broken
            )
            converged = converged_fn(state, None)
            done = converged | collapsed | (steps >= options.max_steps)
        if not bool(done.any()):
            continue
        leaving = torch.nonzero(done).flatten().tolist()
        popped = state.pop(leaving) if len(leaving) < len(active) else state.split()
        for position, single in zip(leaving, popped, strict=True):
            index = active[position]
            result = results[index]
            result.steps = steps
            if bool(broken[position]):
                result.error = f"non-finite energy or volume after {steps} steps"
                continue
            if bool(collapsed[position]):
                result.error = (
                    f"cell volume left [{options.min_volume_ratio}, {options.max_volume_ratio}]"
                    f" × its start: {float(ratio[position]):.2f} after {steps} steps"
                )
                continue
            result.converged = bool(converged[position])
            result.energy = float(single.energy.detach().sum())
            result.structure = ts.io.state_to_structures(single)[0]
        keep = [p for p in range(len(active)) if p not in set(leaving)]
        active = [active[p] for p in keep]
        start_volume = start_volume[keep]
    return results
