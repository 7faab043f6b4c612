"""Fine-tune a masked generator on a campaign's stable discoveries.

``TrainGeneratorMaker``'s branch for :mod:`crystaloop.ml.masked` models. The discoveries (as
the oracle relaxed them: the masked generator fills species and positions in, so a P1 cell
teaches it as well as an idealised one) are mixed with corpus structures of their elements
(replay) and the model continues its pre-training task on them: masked species, displaced
atoms. Discoveries with an element the model cannot predict are left out and counted. The new
model goes to ``<home>/models/<campaign>/generator-<i>/`` and the ``models`` store.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from crystaloop.schemas import TrainOutput

if TYPE_CHECKING:
    from crystaloop.makers.train_generator import TrainGeneratorMaker


def fine_tune_masked(
    maker: TrainGeneratorMaker,
    model: str,
    directory: Path,
    stable: list[dict[str, Any]],
    campaign: str,
    iteration: int,
    settings: Any,
    registry: Any,
) -> TrainOutput:
    """Fine-tune the masked generator in ``directory`` on ``stable`` label documents."""
    import numpy as np
    from pymatgen.core import Structure

    from crystaloop.makers.train_generator import register_generator
    from crystaloop.ml.checkpoint import read_card
    from crystaloop.ml.data.batch import collate
    from crystaloop.ml.data.graph import knn_graphs
    from crystaloop.ml.generative.training import (
        GeneratorTrainOptions,
        replay_mix,
        train_generator,
    )
    from crystaloop.ml.masked.checkpoint import load_masked, save_masked
    from crystaloop.ml.masked.model import backbone_config
    from crystaloop.stores.corpus import CorpusStore
    from crystaloop.stores.factory import open_store

    generator = load_masked(directory)
    known = set(generator.config.elements)
    max_atoms = generator.config.max_atoms or settings.max_sites
    structures = [Structure.from_dict(doc["structure"]) for doc in stable]
    new = [s for s in structures if len(s) <= max_atoms and {e.Z for e in s.composition} <= known]
    if len(new) < max(1, maker.min_new_stable):
        reason = (
            f"{len(stable)} new stable, {len(new)} of them of the masked generator's elements "
            f"and at most {max_atoms} atoms < {maker.min_new_stable}"
        )
        return TrainOutput.skipped(campaign, iteration, model, reason)
    allowed = {e.Z for s in new for e in s.composition}
    corpus = CorpusStore(open_store(settings, "corpus"), open_store(settings, "corpus_aliases"))
    old = []
    for doc in corpus.structures_up_to(max_atoms, 2000):
        s = Structure.from_dict(doc["structure"])
        zs = {e.Z for e in s.composition}
        if zs <= known and zs & allowed:
            old.append(s)
    seed = maker.seed + iteration
    train_set = replay_mix(new, old, maker.replay_fraction, seed) if old else new
    shape = backbone_config(generator.config)
    graphs = knn_graphs(train_set, k=shape.k, cutoff=shape.cutoff)
    options = GeneratorTrainOptions(
        epochs=maker.epochs,
        batch_size=64,
        lr=maker.lr,
        seed=seed,
        device=settings.device,
        time_limit=maker.seconds,
        ema_decay=None,
    )
    result = train_generator(generator, graphs, [], options, collate=collate)
    out_dir = settings.home / "models" / campaign / f"generator-{iteration}"
    training = {
        "fine_tuned_from": str(model),
        "new_stable": len(new),
        "stable_left_out": len(stable) - len(new),
        "replayed": len(train_set) - len(new),
        "epochs_run": len(result.history),
        "steps": result.steps,
        "final_train_loss": float(np.mean([r["train_loss"] for r in result.history[-1:]])),
        "seconds": round(result.seconds, 1),
    }
    save_masked(generator.cpu(), out_dir, training=training)
    card = read_card(out_dir)
    reason = f"{len(new)} new stable + {len(train_set) - len(new)} replayed (masked)"
    return register_generator(
        registry, campaign, iteration, out_dir, card["sha256"], model, len(train_set),
        training, reason,
    )  # fmt: skip
