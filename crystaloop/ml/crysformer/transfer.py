"""Transfer a trained Crysformer to new targets (the seed's Crysformer-TL starting point).

Everything but the per-target heads is kept; a new target's head starts from a mapped old
target's head (e.g. ``e_form`` from ``heat_ref``) or fresh, and its normalisation comes from the
new data.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from crystaloop.ml.crysformer.config import CrysformerConfig
from crystaloop.ml.crysformer.model import Crysformer


def transfer_state(
    state: Mapping[str, torch.Tensor],
    old: CrysformerConfig,
    new: CrysformerConfig,
    head_map: Mapping[str, str],
    mean: np.ndarray,
    std: np.ndarray,
    seed: int = 0,
) -> dict[str, torch.Tensor]:
    """Return a complete state dict of a model with ``new.targets`` built from ``state``.

    Parameters
    ----------
    state, old
        The trained model's state dict and configuration.
    new
        The new configuration: same architecture, other targets.
    head_map
        ``{new target: old target}`` heads to start from; unmapped targets start fresh.
    mean, std
        Normalisation of the new targets (from the new training data).
    seed
        Seeds the fresh heads.
    """
    if {**old.to_dict(), "targets": []} != {**new.to_dict(), "targets": []}:
        raise ValueError("transfer needs the same architecture; only the targets may differ")
    torch.manual_seed(seed)
    out = Crysformer(new).state_dict()
    for key, value in state.items():
        if not key.startswith("heads.") and key not in ("target_mean", "target_std"):
            out[key] = value.clone()
    for j, target in enumerate(new.targets):
        source = head_map.get(target)
        if source in old.targets:
            i = old.targets.index(source)
            for key, value in state.items():
                if key.startswith(f"heads.{i}."):
                    out[f"heads.{j}." + key[len(f"heads.{i}.") :]] = value.clone()
    out["target_mean"] = torch.as_tensor(mean, dtype=out["target_mean"].dtype)
    out["target_std"] = torch.as_tensor(std, dtype=out["target_std"].dtype)
    return out
