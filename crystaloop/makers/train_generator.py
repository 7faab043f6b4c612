"""``TrainGeneratorMaker``: fine-tune the generator on the campaign's stable discoveries.

Like the surrogate step (:mod:`crystaloop.makers.train`) it checks its buffer first: with fewer
new stable discoveries than its threshold, and the last model younger than ``max_age``
iterations, it returns the previous model unchanged (``trained: False``, with the reason).
Otherwise it fine-tunes from the previous checkpoint, writes the new model under
``<home>/models/<campaign>/`` and registers it in the ``models`` store.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jobflow import Maker

from crystaloop.makers.jobs import crystaloop_job
from crystaloop.schemas import STABLE_THRESHOLD, TrainOutput


@dataclass
class TrainGeneratorMaker(Maker):
    """Fine-tune the generator on the campaign's stable discoveries.

    The new stable structures are mixed with as many corpus structures of the generator's
    elements (replay), so the generator moves towards what the oracle found stable without
    forgetting the corpus.

    An oracle relaxation often leaves a discovery slightly distorted (P1 at the screens'
    tolerance), and a generator fine-tuned on such cells learns to make P1 cells, which the
    ``spacegroup`` screen then drops. So each discovery is idealised to the space group it has at
    ``symprec`` (:func:`~crystaloop.chem.symmetry.idealized_primitive`), and one that is P1 even
    there is left out. After fine-tuning, ``check_samples`` crystals are drawn from the parent and
    from the fine-tuned model with the same seed and screened (validity, charge balance, species,
    space group, duplicates in the batch); the fine-tuned model is kept only when its pass rate is
    at least ``min_pass_ratio`` times the parent's, else the parent stays and the discoveries wait
    for the next fine-tune.

    Attributes
    ----------
    name
        Job name.
    min_new_stable
        Stable candidates (oracle-labelled, E_hull ≤ ``stable_threshold``) needed to fine-tune.
    stable_threshold
        eV/atom above the hull.
    epochs, lr, seconds, replay_fraction, seed
        Fine-tuning options (``seconds``: time limit).
    idealize, symprec
        Idealise the discoveries (off: train on the relaxed cells as they are, P1 included) and
        the spglib tolerance (Å) of it, the ``spacegroup`` screen's default.
    check_samples, check_steps, min_pass_ratio
        The screen-pass check of the fine-tuned model (``check_samples`` 0: no check).
    frozen
        Never fine-tune (a baseline that keeps the starting generator).
    oracle
        The oracle whose stable labels are the discoveries (set by the campaign from its plan).
    mode
        Which model of the bundle to fine-tune: ``abinitio`` (campaigns) or ``csp`` (designs).
    composition
        ``csp``: the formula the screen-pass check samples (a design's formula).
    """

    name: str = "train generator"
    oracle: str = "chgnet"
    mode: str = "abinitio"
    composition: str | None = None
    min_new_stable: int = 2
    stable_threshold: float = STABLE_THRESHOLD
    epochs: int = 20
    lr: float = 2e-4
    seconds: float = 60.0
    replay_fraction: float = 2.0
    seed: int = 0
    frozen: bool = False
    idealize: bool = True
    symprec: float = 0.1
    check_samples: int = 32
    check_steps: int = 100
    min_pass_ratio: float = 0.75

    @crystaloop_job("train", TrainOutput)
    def make(self, labelled: Any, model: str, campaign: str, iteration: int) -> TrainOutput:
        """Fine-tune ``model`` (a generator bundle, name or directory) when enough is stable."""
        return self.train(model, campaign, iteration)

    def train(self, model: str, campaign: str, iteration: int) -> TrainOutput:
        """Run the job's body (callable without jobflow)."""
        import torch
        from pymatgen.core import Structure

        from crystaloop.chem.symmetry import SymmetryError, idealized_primitive
        from crystaloop.ml.checkpoint import read_card
        from crystaloop.ml.generative.checkpoint import (
            find_generator,
            is_masked,
            load_generator,
            save_generator,
        )
        from crystaloop.ml.generative.crystal import crystal_arrays
        from crystaloop.ml.generative.training import (
            GeneratorTrainOptions,
            merge_statistics,
            replay_mix,
            train_generator,
        )
        from crystaloop.settings import load_settings
        from crystaloop.stores.corpus import CorpusStore
        from crystaloop.stores.factory import open_store
        from crystaloop.stores.labels import LabelStore
        from crystaloop.stores.models import ModelRegistry

        if self.frozen:
            return TrainOutput.skipped(campaign, iteration, model, "frozen: the model is kept")
        settings = load_settings()
        registry = ModelRegistry(open_store(settings, "models"))
        previous = registry.latest(campaign, "generator")
        since = previous.iteration + 1 if previous else 0
        labels = LabelStore(open_store(settings, "labels"))
        stable = labels.stable_since(
            campaign, self.oracle, since, self.stable_threshold, ["label_id", "structure"]
        )
        directory = find_generator(model, self.mode)
        if is_masked(directory):
            from crystaloop.makers.train_masked import fine_tune_masked

            return fine_tune_masked(
                self, model, directory, stable, campaign, iteration, settings, registry
            )
        generator = load_generator(directory, device="cpu")
        cfg = generator.config
        new = []
        spglib_failed = 0  # discoveries spglib cannot analyse: left out, not counted as P1
        for doc in stable:
            ideal = Structure.from_dict(doc["structure"])
            if self.idealize:
                try:
                    ideal = idealized_primitive(ideal, self.symprec)
                except SymmetryError:
                    spglib_failed += 1
                    continue
            if ideal is not None and len(ideal) <= cfg.max_atoms:
                new.append(crystal_arrays(ideal, source_id=doc["label_id"]))
        if len(new) < max(1, self.min_new_stable):
            reason = (
                f"{len(stable)} new stable, {len(new)} of them with symmetry at symprec "
                f"{self.symprec:g} and at most {cfg.max_atoms} atoms < {self.min_new_stable}"
                + (f" ({spglib_failed} left out: spglib failed)" if spglib_failed else "")
            )
            return TrainOutput.skipped(campaign, iteration, model, reason)
        allowed = {int(z) for c in new for z in c.numbers}
        corpus = CorpusStore(open_store(settings, "corpus"), open_store(settings, "corpus_aliases"))
        old = []
        for doc in corpus.structures_up_to(cfg.max_atoms, 2000):
            arrays = crystal_arrays(
                Structure.from_dict(doc["structure"]), source_id=doc["material_id"]
            )
            if arrays.num_atoms <= cfg.max_atoms and set(arrays.numbers.tolist()) & allowed:
                old.append(arrays)
        merge_statistics(cfg, new)
        train_set = replay_mix(new, old, self.replay_fraction, self.seed) if old else new
        torch.manual_seed(self.seed + iteration)
        options = GeneratorTrainOptions(
            epochs=self.epochs,
            batch_size=64,
            lr=self.lr,
            seed=self.seed + iteration,
            device=settings.device,
            time_limit=self.seconds,
        )
        result = train_generator(generator, train_set, [], options)
        training: dict[str, Any] = {}
        if self.check_samples > 0:
            seed = self.seed + iteration
            parent = load_generator(directory, device=settings.device)
            composition = self.composition if self.mode == "csp" else None
            before = screen_pass_rate(
                parent, self.check_samples, self.check_steps, seed, settings, composition
            )
            after = screen_pass_rate(
                generator.to(settings.device),
                self.check_samples,
                self.check_steps,
                seed,
                settings,
                composition,
            )
            training["screen_pass_rate"] = {"parent": before, "fine_tuned": after}
            if after < self.min_pass_ratio * before:
                reason = (
                    f"fine-tuned generator rejected: {after:.0%} of {self.check_samples} samples "
                    f"pass the screens, parent {before:.0%} (needs {self.min_pass_ratio:g}×)"
                )
                return TrainOutput.skipped(campaign, iteration, model, reason)
        out_dir = settings.home / "models" / campaign / f"generator-{iteration}"
        training |= {
            "fine_tuned_from": str(model),
            "new_stable": len(new),
            "stable_without_symmetry": len(stable) - len(new) - spglib_failed,
            "stable_spglib_failed": spglib_failed,
            "replayed": len(train_set) - len(new),
            "epochs_run": len(result.history),
            "steps": result.steps,
            "recipe": result.recipe,
            "seconds": round(result.seconds, 1),
        }
        save_generator(generator.cpu(), out_dir / self.mode, training=training)
        card = read_card(out_dir / self.mode)
        reason = f"{len(new)} new stable + {len(train_set) - len(new)} replayed"
        return register_generator(
            registry, campaign, iteration, out_dir, card["sha256"], model, len(train_set),
            training, reason,
        )  # fmt: skip


def register_generator(
    registry: Any,
    campaign: str,
    iteration: int,
    out_dir: Any,
    sha256: str,
    parent: str,
    n_train: int,
    metrics: dict[str, Any],
    reason: str,
) -> TrainOutput:
    """Register a fine-tuned generator in the ``models`` store; return the train output."""
    from crystaloop.schemas import ModelDoc

    model_id = f"{campaign}:generator:{iteration}"
    registry.register(
        ModelDoc(
            model_id=model_id,
            name=f"{campaign}-generator-{iteration}",
            kind="generator",
            campaign=campaign,
            iteration=iteration,
            path=str(out_dir),
            sha256=sha256,
            parent=str(parent),
            n_train=n_train,
            metrics=metrics,
        )
    )
    return TrainOutput(
        campaign=campaign,
        iteration=iteration,
        model=str(out_dir),
        trained=True,
        reason=reason,
        model_id=model_id,
    )


def screen_pass_rate(
    model: Any, n: int, steps: int, seed: int, settings: Any, composition: str | None = None
) -> float:
    """Return the fraction of ``n`` samples of ``model`` that pass the screens.

    Ab initio, or of ``composition`` for a CSP model (which cannot sample without one). The
    screens are those of a campaign without the corpus: validity, charge balance, species,
    space group and duplicates within the batch. Sampling is seeded by ``seed``.
    """
    from crystaloop.chem.screens import ScreenConfig, screen_structures
    from crystaloop.makers.generate import sample_batch
    from crystaloop.ml.generative.crystal import to_structure
    from crystaloop.ml.generative.samplers import SamplerOptions

    options = SamplerOptions(steps=steps)
    crystals = sample_batch(
        model, n, seed, composition=composition, options=options, device=settings.device
    )
    structures = [to_structure(c.lattice, c.frac, c.numbers) for c in crystals]
    verdicts = screen_structures(structures, ScreenConfig(max_sites=settings.max_sites))
    return sum(v.passed for v in verdicts) / max(1, len(verdicts))
