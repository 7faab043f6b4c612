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
    oracle
        The oracle whose known phases make the hull each candidate is placed on (set by the
        campaign from its plan).
    batch_size
        Structures per forward pass.
    workers
        Processes that build the graphs (used for batches of at least
        :data:`~crystaloop.ml.crysformer.scoring.MIN_PER_WORKER` structures per process).
    hull
        ``oracle`` or ``mp2020`` (set by the campaign from its plan): with ``mp2020`` the
        corrected Materials Project entries of the ``hull_entries`` store join the known
        phases, with MP's formation energies.
    discriminator
        A match discriminator (classifier of task ``match``: name or directory; ``None``:
        none): every survivor gets its ``p_match`` in its scoring record and the store.
    """

    name: str = "score"
    model: str = "eform"
    oracle: str = "chgnet"
    batch_size: int = 256
    workers: int = 1
    hull: str = "oracle"
    discriminator: str | None = None

    @crystaloop_job("score", ScoreOutput)
    def make(self, screened: Any, calibration: dict[str, Any] | None = None) -> ScoreOutput:
        """Score ``screened`` (a :class:`ScreenOutput` or its reference).

        ``calibration`` (``{target: {"scale", "accept_std", "level"}}``, the campaign's latest
        recalibration on its own oracle labels) replaces the model's own. Each survivor's
        scoring record goes into the output (the selection reads nothing else), with the
        formation energy of the current hull of the oracle's labelled phases at its composition,
        and the scores are written to the ``candidates`` store in one bulk write. Candidates
        with an element the surrogate never saw have no scores.
        """
        from pymatgen.core import Structure

        from crystaloop.chem.energies import chemsys_of, hull_formation_energies
        from crystaloop.ml.checkpoint import find_surrogate, load_ensemble, read_card
        from crystaloop.ml.crysformer.scoring import score_structures
        from crystaloop.schemas import ScoreRecord, ScreenOutput
        from crystaloop.settings import load_settings
        from crystaloop.stores.artifacts import artifact_store
        from crystaloop.stores.candidates import CandidateStore, get_batch
        from crystaloop.stores.factory import open_store
        from crystaloop.stores.labels import LabelStore

        out = ScreenOutput.model_validate(screened)
        settings = load_settings()
        directory = find_surrogate(self.model)
        ensemble = load_ensemble(directory, device=settings.device)
        if calibration:
            ensemble.apply_calibration(calibration)
        surrogate = f"{directory.name}@{read_card(directory)['sha256'][:12]}"
        rows = get_batch(artifact_store(settings), out.survivors)
        structures = [(r["candidate_id"], Structure.from_dict(r["structure"])) for r in rows]
        result = score_structures(
            ensemble,
            structures,
            batch_size=self.batch_size,
            device=settings.device,
            workers=self.workers,
        )
        systems = {
            cid: chemsys_of(str(el) for el in s.composition.elements) for cid, s in structures
        }
        known = LabelStore(open_store(settings, "labels")).formation_energies(
            self.oracle, set(systems.values())
        )
        if self.hull == "mp2020":
            from crystaloop.stores.hull_entries import HullEntryStore

            entries = HullEntryStore(open_store(settings, "hull_entries"))
            for system, phases in entries.formation_energies(set(systems.values())).items():
                known[system] = known[system] + phases
        compositions = [structure.composition for _, structure in structures]
        hulls = hull_formation_energies(compositions, known)
        records = [
            ScoreRecord(
                candidate_id=cid,
                formula=composition.reduced_formula,
                chemsys=systems[cid],
                nsites=len(structure),
                scores=result.scores.get(cid),
                hull_e_form=hull,
            )
            for (cid, structure), composition, hull in zip(
                structures, compositions, hulls, strict=True
            )
        ]
        candidates = CandidateStore(open_store(settings, "candidates"))
        candidates.set_scores(surrogate, result.scores)
        discriminator = None
        if self.discriminator is not None and structures:
            discriminator, p_match = match_probabilities(
                self.discriminator, [s for _, s in structures], self.batch_size, settings.device
            )
            for record, p in zip(records, p_match, strict=True):
                record.p_match = float(p)
            candidates.set_p_match(discriminator, {r.candidate_id: r.p_match for r in records})
        return ScoreOutput(
            campaign=out.campaign,
            iteration=out.iteration,
            survivors=out.survivors,
            surrogate=surrogate,
            records=records,
            discriminator=discriminator,
        )


def match_probabilities(
    name: str, structures: list[Any], batch_size: int, device: str
) -> tuple[str, list[float]]:
    """Return the discriminator's label (``name@sha``) and ``p_match`` of each structure."""
    from crystaloop.ml.checkpoint import read_card
    from crystaloop.ml.classifier_checkpoint import find_classifier, load_classifier
    from crystaloop.ml.crysformer.classifier import predict_structures

    directory = find_classifier(name, "match")
    model = load_classifier(directory, device=device)
    p = predict_structures(model, structures, batch_size, device)
    return f"{directory.name}@{read_card(directory)['sha256'][:12]}", p.tolist()
