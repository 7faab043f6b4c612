"""``ScoreMaker``: the Crysformer mean, σ and confidence of each surviving candidate."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jobflow import Maker

from crystaloop.makers.jobs import crystaloop_job
from crystaloop.schemas import ScoreOutput


@dataclass
class ScoreMaker(Maker):
    """Score the survivors of a screen with a Crysformer ensemble.

    Attributes
    ----------
    name
        Job name.
    model
        Shipped surrogate name or model directory.
    batch_size
        Structures per forward pass.
    """

    name: str = "score"
    model: str = "perov5"
    batch_size: int = 256

    @crystaloop_job("score", ScoreOutput)
    def make(self, screened: Any) -> ScoreOutput:
        """Score ``screened`` (a :class:`ScreenOutput` or its reference); record the scores.

        Candidates with an element the surrogate never saw are left unscored and listed.
        """
        import numpy as np
        from pymatgen.core import Structure

        from crystaloop.ml.checkpoint import find_surrogate, load_ensemble, read_card
        from crystaloop.ml.data.dataset import InMemoryGraphs, build_samples
        from crystaloop.schemas import ScreenOutput
        from crystaloop.settings import load_settings
        from crystaloop.stores.artifacts import artifact_store
        from crystaloop.stores.candidates import CandidateStore, get_batch
        from crystaloop.stores.factory import open_store

        out = ScreenOutput.model_validate(screened)
        settings = load_settings()
        directory = find_surrogate(self.model)
        ensemble = load_ensemble(directory, device=settings.device)
        surrogate = f"{directory.name}@{read_card(directory)['sha256'][:12]}"
        rows = get_batch(artifact_store(settings), out.survivors)
        items, unscorable = [], []
        n_t = len(ensemble.config.targets)
        for row in rows:
            structure = Structure.from_dict(row["structure"])
            if ensemble.unseen_elements([site.specie.Z for site in structure]):
                unscorable.append(row["candidate_id"])
            else:
                items.append((row["candidate_id"], structure, np.full(n_t, np.nan, np.float32)))
        scores: dict[str, dict[str, dict[str, float]]] = {}
        if items:
            config = ensemble.config
            graphs = InMemoryGraphs(
                list(build_samples(items, config.k, config.cutoff)), config.targets
            )
            result = ensemble.predict(graphs, batch_size=self.batch_size, device=settings.device)
            confidence = ensemble.confidence(result.std)
            for i, candidate_id in enumerate(result.ids):
                scores[candidate_id] = {
                    name: {
                        "mean": float(result.mean[i, j]),
                        "std": float(result.std[i, j]),
                        "confidence": float(confidence[i, j]),
                    }
                    for j, name in enumerate(config.targets)
                }
        CandidateStore(open_store(settings, "candidates")).set_scores(surrogate, scores)
        return ScoreOutput(
            campaign=out.campaign,
            iteration=out.iteration,
            survivors=out.survivors,
            surrogate=surrogate,
            scored=len(scores),
            unscorable=unscorable,
        )
