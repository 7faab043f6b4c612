"""Fine-tune a trained Crysformer ensemble on new labels (the seed's Crysformer-TL).

The one implementation behind ``crystaloop train surrogate --from`` and the campaign's
``TrainSurrogateMaker``: every member continues from its weights (a new target's head from a
mapped old head, or fresh), and the fine-tuned ensemble is calibrated on the validation labels.
When those are few, the base model's validation residuals join them, so that a fine-tune on a
handful of oracle labels does not decide the confidence of the next thousand predictions alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from crystaloop.ml.crysformer.config import CrysformerConfig
from crystaloop.ml.crysformer.ensemble import CrysformerEnsemble, train_ensemble
from crystaloop.ml.crysformer.transfer import transfer_state
from crystaloop.ml.data.dataset import GraphSource
from crystaloop.ml.training import TrainOptions, normalization

#: Validation labels below which the base model's residuals join the calibration data.
MIN_OWN_RESIDUALS = 30


def finetune_ensemble(
    base: CrysformerEnsemble,
    train_set: GraphSource,
    val_set: GraphSource,
    options: TrainOptions,
    *,
    targets: Sequence[str] | None = None,
    head_map: Mapping[str, str] | None = None,
    members: int | None = None,
    progress: Callable[[int, dict[str, Any]], None] | None = None,
) -> CrysformerEnsemble:
    """Return ``base`` fine-tuned on ``train_set``, early-stopped and calibrated on ``val_set``.

    Parameters
    ----------
    base
        The trained ensemble (left unchanged).
    train_set, val_set
        Graph sets with ``targets`` (default: the base's).
    options
        Optimisation settings (seeds: ``options.seed + member``).
    targets
        Targets of the fine-tuned model; others than the base's are transferred
        (:func:`~crystaloop.ml.crysformer.transfer.transfer_state`), their normalisation taken
        from ``train_set``.
    head_map
        ``{new target: base target}`` heads a new target starts from (a target the base
        predicts keeps its own head).
    members
        Members to fine-tune (the first ``members`` of the base; default all).
    progress
        Called with ``(member, epoch entry)`` after each epoch.
    """
    old = base.config
    names = list(targets) if targets is not None else list(old.targets)
    config = CrysformerConfig.from_dict({**old.to_dict(), "targets": names})
    states = [m.state_dict() for m in base.members][: members or len(base.members)]
    if list(old.targets) != names:
        # a target the base predicts keeps its head; a new one starts from head_map's or fresh
        mapping = {t: t for t in names if t in old.targets}
        mapping.update({k: v for k, v in (head_map or {}).items() if k not in mapping})
        mean, std = normalization(train_set.target_values())
        base_mean = base.members[0].target_mean.cpu().numpy()
        base_std = base.members[0].target_std.cpu().numpy()
        for j, name in enumerate(names):  # a kept head keeps the scale it was trained with
            if name in old.targets:
                mean[j] = base_mean[old.targets.index(name)]
                std[j] = base_std[old.targets.index(name)]
        states = [
            transfer_state(s, old, config, mapping, mean, std, seed=options.seed + k)
            for k, s in enumerate(states)
        ]
    ensemble = train_ensemble(config, train_set, val_set, len(states), options, init_states=states)
    if len(states) < 2:
        return ensemble
    ensemble.mc_samples = 0
    own = ensemble.residuals
    if (
        base.residuals is not None
        and list(old.targets) == names
        and (own is None or len(own) < MIN_OWN_RESIDUALS)
    ):
        merged = base.residuals if own is None else np.concatenate([base.residuals, own])
        ensemble.residuals = merged
        report = ensemble.fit(merged[:, 0, :], merged[:, 1, :])
        ensemble.metrics["calibration"] = report | {
            "mc_samples": 0,
            "note": f"{0 if own is None else len(own)} validation labels and the base model's "
            f"{len(base.residuals)} validation residuals",
        }
    return ensemble
