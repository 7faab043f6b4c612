"""``TrainSurrogateMaker``: fine-tune the surrogate on the buffered oracle labels.

(``TrainGeneratorMaker``, the generator's step, is in :mod:`crystaloop.makers.train_generator`.)

Each checks its buffer first: with fewer new labels than its threshold, and the last model younger
than ``max_age`` iterations, it returns the previous model unchanged (``trained: False``, with the
reason); the surrogate step re-fits the confidence calibration either way. Otherwise it
fine-tunes from the previous checkpoint, writes the new model under ``<home>/models/<campaign>/``
and registers it in the ``models`` store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from jobflow import Maker

from crystaloop.makers.jobs import crystaloop_job
from crystaloop.schemas import TrainOutput

#: Sample-id suffix of a candidate's generated cell beside its relaxed, labelled cell.
START = "#start"


@dataclass
class TrainSurrogateMaker(Maker):
    """Fine-tune the Crysformer ensemble on the oracle's labels, and recalibrate it.

    Every iteration (whether or not it fine-tunes) the confidence is re-fitted on the
    campaign's oracle-labelled candidates: the surrogate's predictions made before each label
    existed, on the unrelaxed generated structures where it is used (joined by the model's own
    validation residuals while the campaign has fewer than ``min_campaign_points``, unless the
    campaign's points show that the validation data do not describe them). The new
    calibration travels to the next iteration's score step in this step's output.

    Attributes
    ----------
    name
        Job name.
    oracle
        The oracle whose labels train the surrogate (set by the campaign from its plan).
    targets
        Label fields the surrogate predicts (``e_form``: the oracle's formation energy per atom;
        ``band_gap`` only for an oracle that gives one).
    head_map
        Where a new target's head starts when the previous model has other targets.
    min_new_labels
        Buffer threshold: new candidate labels needed to retrain.
    max_age
        Retrain anyway once the model is this many iterations old (with at least one new label).
    epochs, patience, lr, members
        Fine-tuning (AdamW with early stopping on a hash-split validation set).
    val_fraction, seed
        Validation split of the labels by a seeded hash of their subject and oracle.
    max_labels
        Newest labels used at most.
    min_campaign_points, shift_alpha
        Campaign labels with a recorded prediction from which the calibration uses them alone.
        Below that the model's validation residuals join them, unless fewer of the campaign's
        errors fell inside the validation calibration's intervals than its level promises
        (one-sided binomial p-value below ``shift_alpha``): then the validation data do not
        describe the campaign's candidates and are left out (with fewer than 10 campaign
        points nothing is then accepted).
    initial_structures
        Also train on each labelled candidate's generated (unrelaxed) cell with the label of its
        relaxed cell: the surrogate scores unrelaxed candidates, and this teaches it the energy a
        candidate will have once the oracle has relaxed it (the twin goes to the same split).
    frozen
        Keep the model: only the forced bootstrap fine-tune runs (the "no retraining" baseline);
        the calibration is still re-fitted.
    """

    name: str = "train surrogate"
    oracle: str = "chgnet"
    targets: tuple[str, ...] = ("e_form",)
    head_map: dict[str, str] = field(default_factory=lambda: {"e_form": "heat_ref"})
    min_new_labels: int = 4
    max_age: int = 3
    epochs: int = 15
    patience: int = 5
    lr: float = 5e-4
    members: int = 5
    val_fraction: float = 0.2
    seed: int = 0
    max_labels: int = 20000
    min_campaign_points: int = 30
    shift_alpha: float = 0.05
    initial_structures: bool = True
    frozen: bool = False

    @crystaloop_job("train", TrainOutput)
    def make(
        self, labelled: Any, model: str, campaign: str, iteration: int, force: bool = False
    ) -> TrainOutput:
        """Retrain from ``model`` if the buffer is full (always with ``force``); recalibrate."""
        return self.train(model, campaign, iteration, force)

    def train(self, model: str, campaign: str, iteration: int, force: bool = False) -> TrainOutput:
        """Run the job's body (callable without jobflow)."""
        from crystaloop.settings import load_settings
        from crystaloop.stores.factory import open_store
        from crystaloop.stores.labels import LabelStore
        from crystaloop.stores.models import ModelRegistry

        settings = load_settings()
        labels = LabelStore(open_store(settings, "labels"))
        registry = ModelRegistry(open_store(settings, "models"))
        out = self._fine_tune(model, campaign, iteration, force, settings, labels, registry)
        out.calibration = self.recalibrate(out.model, campaign, labels)
        return out

    def _fine_tune(
        self,
        model: str,
        campaign: str,
        iteration: int,
        force: bool,
        settings: Any,
        labels: Any,
        registry: Any,
    ) -> TrainOutput:
        import numpy as np
        from pymatgen.core import Structure

        from crystaloop.ml.checkpoint import find_surrogate, load_ensemble, save_ensemble
        from crystaloop.ml.crysformer.finetune import finetune_ensemble
        from crystaloop.ml.data.dataset import InMemoryGraphs, build_samples
        from crystaloop.ml.data.split import holdout_ids
        from crystaloop.ml.training import TrainOptions
        from crystaloop.schemas import ModelDoc

        if self.frozen and not force:
            return TrainOutput.skipped(campaign, iteration, model, "frozen: the model is kept")
        previous = registry.latest(campaign, "surrogate")
        since = previous.iteration + 1 if previous else -1
        fresh = labels.count_new(campaign, self.oracle, since)
        age = iteration - (previous.iteration if previous else -1)
        if not force and (fresh == 0 or (fresh < self.min_new_labels and age < self.max_age)):
            reason = f"{fresh} new labels < {self.min_new_labels}, model {age} iterations old"
            return TrainOutput.skipped(campaign, iteration, model, reason)
        docs = labels.training_set(self.oracle, self.targets, self.max_labels)
        starts = {}
        if self.initial_structures:
            from crystaloop.stores.candidates import CandidateStore
            from crystaloop.stores.factory import open_store

            starts = CandidateStore(open_store(settings, "candidates")).structures(
                d["subject_id"] for d in docs if d["kind"] == "candidate"
            )
        # keyed by subject and oracle, not by label id (which holds the calculation's random
        # uuid): the validation split, and so the model, is the same when a run is repeated
        items = []
        for d in docs:
            key = f"{d['subject_id']}|{d['oracle']}"
            target = np.array([d[t] for t in self.targets], dtype=np.float32)
            items.append((key, Structure.from_dict(d["structure"]), target))
            if d["subject_id"] in starts:  # the generated cell, with the relaxed cell's label
                items.append((key + START, Structure.from_dict(starts[d["subject_id"]]), target))
        if not items:
            raise ValueError(
                f"campaign {campaign}: no {self.oracle} labels with {', '.join(self.targets)} "
                "to train the surrogate on (did every oracle run of the bootstrap fail?)"
            )
        keys = [i for i, _, _ in items if not i.endswith(START)]
        val_ids = holdout_ids(keys, self.val_fraction, self.seed)  # a start goes with its label
        base = load_ensemble(find_surrogate(model), device="cpu")
        config = base.config
        graphs = InMemoryGraphs(
            list(build_samples(items, config.k, config.cutoff)), list(self.targets)
        )
        order = [s.sample_id.removesuffix(START) for s in graphs.samples]
        train_set = graphs.subset([k for k, i in enumerate(order) if i not in val_ids])
        val_set = graphs.subset([k for k, i in enumerate(order) if i in val_ids])
        if not val_ids:  # too few labels to hold any back: validate on the training labels
            val_set = train_set
        options = TrainOptions(
            epochs=self.epochs,
            patience=self.patience,
            lr=self.lr,
            batch_size=32,
            seed=self.seed + iteration + 1,
            device=settings.device,
        )
        ensemble = finetune_ensemble(
            base,
            train_set,
            val_set,
            options,
            targets=self.targets,
            head_map=self.head_map,
            members=self.members,
        )
        metrics = ensemble.evaluate(val_set, device=settings.device)
        out_dir = settings.home / "models" / campaign / f"surrogate-{iteration}"
        card = save_ensemble(
            ensemble, out_dir, name=f"{campaign}-surrogate-{iteration}", label_oracle=self.oracle
        )
        model_id = f"{campaign}:surrogate:{iteration}"
        registry.register(
            ModelDoc(
                model_id=model_id,
                name=card["name"],
                kind="surrogate",
                campaign=campaign,
                iteration=iteration,
                path=str(out_dir),
                sha256=card["sha256"],
                parent=str(model),
                n_train=len(train_set),
                metrics={"validation": metrics, "n_val": len(val_set), "new_labels": fresh},
            )
        )
        return TrainOutput(
            campaign=campaign,
            iteration=iteration,
            model=str(out_dir),
            trained=True,
            reason=f"{fresh} new labels; {len(train_set)} train / {len(val_ids)} validation",
            model_id=model_id,
        )

    def recalibrate(self, model: str, campaign: str, labels: Any) -> dict[str, Any] | None:
        """Return the confidence calibration of ``model`` re-fitted on the campaign's labels.

        The data are the campaign's candidate labels whose pre-label prediction recorded the
        raw σ (errors per atom for per-cell targets), joined by the model's validation residuals
        while there are fewer than :attr:`min_campaign_points` and they are consistent with them
        (:attr:`shift_alpha`). ``None`` when the model has no target the campaign labels.
        """
        import numpy as np

        from crystaloop.ml.checkpoint import find_surrogate, load_ensemble
        from crystaloop.ml.crysformer.targets import target_info
        from crystaloop.ml.crysformer.uncertainty import (
            fit_calibration,
            fit_scale,
            shift_p_value,
        )

        ensemble = load_ensemble(find_surrogate(model), device="cpu")
        names = [t for t in ensemble.config.targets if t in self.targets]
        if not names:
            return None
        rows = labels.prelabel_predictions(campaign, self.oracle, names)
        out: dict[str, Any] = {}
        for name in names:
            j = ensemble.config.targets.index(name)
            info = target_info(name)
            pairs = [
                (
                    (r["predicted"][name]["mean"] - r[name]) / _atoms(r, info),
                    r["predicted"][name]["std_raw"] / _atoms(r, info),
                )
                for r in rows
                if name in (r.get("predicted") or {})
                and "std_raw" in r["predicted"][name]
                and r.get(name) is not None
            ]
            err = np.array([p[0] for p in pairs], float)
            std = np.array([p[1] for p in pairs], float)
            used, p_value = "campaign", None
            if len(pairs) < self.min_campaign_points and ensemble.residuals is not None:
                val_err, val_std = ensemble.residuals[:, 0, j], ensemble.residuals[:, 1, j]
                # were the campaign's errors inside the validation calibration's intervals as
                # often as it promises? If not, its data do not describe the campaign's
                # candidates (unrelaxed, generated) and only the campaign's own points count
                val_scale = fit_scale(val_err, val_std)
                p_value = shift_p_value(err, std, val_scale, ensemble.level)
                if p_value >= self.shift_alpha:
                    err = np.concatenate([err, val_err])
                    std = np.concatenate([std, val_std])
                    used = "campaign + validation"
            fitted = fit_calibration(err, std, info.tolerance, ensemble.level)
            out[name] = fitted | {
                "campaign_points": len(pairs),
                "data": used,
                "shift_p_value": p_value,
            }
        return out


def _atoms(row: dict[str, Any], info: Any) -> float:
    """Return the divisor that takes a label's value per atom (its site count if per cell)."""
    return float(row["nsites"]) if info.per_cell else 1.0
