"""The self-re-entering campaign: bootstrap, then one iteration after another until a stop rule.

::

    bootstrap ─► oracle sub-flows of a corpus sample ─► label ─► train surrogate ─► next
    iteration i: generate ─► screen ─► score ─► select ─► dispatch
    dispatch    ─► oracle sub-flows (candidates + missing references, in parallel)
                ─► label (tolerates failed runs) ─► train surrogate ─► train generator
                ─► modify near misses (optional) ─► next
    next        ─► stop rule? else Response(addition=iteration i+1)

Every dynamic step returns ``Response(addition=...)``: the running FireWorks workflow grows by
itself, and no ``store_inputs`` chain builds up (which ``replace`` would add each iteration).
With a modifier, the label step's near misses (a little above the stability threshold) are
modified and the outputs join the next iteration's generated batch, each naming its parent.
Nothing downstream references the loop's final output; the stores hold the results. The
iteration number, seeds and model references of every iteration are recorded in the
``campaigns`` store.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Any

from jobflow import Flow, Maker, Response, job

from crystaloop.makers.dft import DFTMaker
from crystaloop.makers.generate import GenerateMaker
from crystaloop.makers.label import LabelMaker
from crystaloop.makers.modify import ModifyMaker
from crystaloop.makers.score import ScoreMaker
from crystaloop.makers.screen import ScreenMaker
from crystaloop.makers.select import SelectMaker
from crystaloop.makers.train import TrainSurrogateMaker
from crystaloop.makers.train_generator import TrainGeneratorMaker
from crystaloop.schemas import STABLE_THRESHOLD
from crystaloop.workflows.dispatch import dispatch
from crystaloop.workflows.references import bootstrap_subjects
from crystaloop.workflows.stop import stop_reason
from crystaloop.workflows.tags import tag

#: Where the campaign's progress lines go (``crystaloop run`` shows them on the terminal).
progress = logging.getLogger("crystaloop.progress")


@dataclass
class IterationMaker(Maker):
    """One iteration: generate, screen, score, select, then the dynamic oracle part.

    The oracle Maker names the campaign's oracle once: the score step (whose hull is the
    oracle's phases), the label step and both retraining steps are set to it when the iteration
    is made (``__post_init__``), so no step reads the oracle from a worker's settings.

    Attributes
    ----------
    name
        Flow name prefix.
    generate, screen, score, select
        The Makers of the static part (their ``model`` fields are overridden per iteration).
    oracle, label
        The oracle sub-flow Maker and the collector.
    train_surrogate, train_generator
        Retraining Makers (each checks its buffer threshold).
    max_reference_phases, phases_per_composition
        The corpus phases labelled for the candidates' hulls: at most ``max_reference_phases``
        per iteration, ``phases_per_composition`` per formula (lowest energy first when the
        corpus has energies); labels are cached for every later campaign.
    hull
        Where the hull comes from: ``oracle`` (the oracle's labels of reference phases) or
        ``mp2020`` (the corrected Materials Project entries of the ``hull_entries`` store; VASP
        only): set on the score and label steps, and systems with entries get no reference
        calculation.
    modify, modify_margin
        The structure modifier (``None``: none) and the margin above the stability threshold
        within which a labelled candidate is a near miss it modifies (set on the label step);
        its outputs join the next iteration's candidates.
    """

    name: str = "iteration"
    generate: GenerateMaker = field(default_factory=lambda: GenerateMaker(n=64))
    screen: ScreenMaker = field(default_factory=ScreenMaker)
    score: ScoreMaker = field(default_factory=ScoreMaker)
    select: SelectMaker = field(default_factory=SelectMaker)
    oracle: DFTMaker = field(default_factory=DFTMaker)
    label: LabelMaker = field(default_factory=LabelMaker)
    train_surrogate: TrainSurrogateMaker = field(default_factory=TrainSurrogateMaker)
    train_generator: TrainGeneratorMaker = field(default_factory=TrainGeneratorMaker)
    max_reference_phases: int = 24
    phases_per_composition: int = 1
    hull: str = "oracle"
    modify: ModifyMaker | None = None
    modify_margin: float = 0.1

    def __post_init__(self) -> None:
        from crystaloop.chem.mp2020 import HULL_SOURCES

        if self.modify_margin < 0:
            raise ValueError(f"modify_margin must be ≥ 0, not {self.modify_margin}")

        if self.hull not in HULL_SOURCES:
            raise ValueError(f"unknown hull source {self.hull!r}; known: {', '.join(HULL_SOURCES)}")
        if self.hull == "mp2020" and self.oracle.oracle != "vasp":
            raise ValueError(f"the mp2020 hull needs the vasp oracle, not {self.oracle.oracle}")
        name = self.oracle.oracle
        self.score = replace(self.score, oracle=name, hull=self.hull)
        margin = self.modify_margin if self.modify is not None else 0.0
        self.label = replace(self.label, oracle=name, hull=self.hull, near_miss_margin=margin)
        self.train_surrogate = replace(self.train_surrogate, oracle=name)
        self.train_generator = replace(self.train_generator, oracle=name)

    def make(
        self,
        campaign: str,
        iteration: int,
        surrogate: str,
        generator: str,
        budget: int,
        then: Any = None,
        calibration: dict[str, Any] | None = None,
        modified: Any = None,
    ) -> Flow:
        """Return one iteration; ``then`` (a :class:`CampaignMaker`) continues after it.

        ``calibration``: the surrogate's latest confidence calibration (from the previous train
        step), applied by the score step; ``modified``: the previous iteration's modify output,
        whose structures join the generated batch.
        """
        gen = replace(self.generate, model=generator).make(campaign, iteration, modified)
        scr = self.screen.make(gen.output)
        sco = replace(self.score, model=surrogate).make(scr.output, calibration)
        sel = self.select.make(sco.output, budget=budget)
        go = dispatch(self, sel.output, surrogate, generator, then)
        go.name = "dispatch"
        flow = Flow([gen, scr, sco, sel, go], name=f"{self.name} {iteration}")
        for stage, made in zip(
            ("generate", "screen", "score", "select", "dispatch"), flow.jobs, strict=True
        ):
            tag(made, campaign, iteration, stage)
        return flow

    def oracle_flows(
        self, subjects: list[Any], campaign: str, iteration: int
    ) -> tuple[list[Flow], list[Any]]:
        """Return the oracle sub-flows of the subjects, and their outputs (in subject order).

        One sub-flow per subject; with the oracle's ``torchsim`` engine, one batch job for all.
        """
        if self.oracle.engine == "torchsim" and subjects:
            batch = self.oracle.make_batch(
                [s.structure for s in subjects], [s.subject_id for s in subjects]
            )
            tag(batch, campaign, iteration, "oracle")
            return [batch], [batch.output[i] for i in range(len(subjects))]
        flows = []
        for subject in subjects:
            flow = self.oracle.make(subject.structure, subject.subject_id)
            tag(flow, campaign, iteration, "oracle", subject=subject.subject_id)
            flows.append(flow)
        return flows, [f.output for f in flows]

    def collect(
        self,
        subjects: list[Any],
        campaign: str,
        iteration: int,
        surrogate: str,
        generator: str,
        then: Any,
        train_generator: bool = True,
        force_train: bool = False,
    ) -> Flow:
        """Return oracle sub-flows, label, retraining and the continuation of one iteration."""
        flows, outputs = self.oracle_flows(subjects, campaign, iteration)
        rows = [s.row() for s in subjects]
        lab = self.label.make(outputs, rows, campaign, iteration)
        ts = self.train_surrogate.make(lab.output, surrogate, campaign, iteration, force_train)
        jobs: list[Any] = [*flows, lab, ts]
        gen_model: Any = generator
        if train_generator:
            tg = self.train_generator.make(lab.output, generator, campaign, iteration)
            jobs.append(tg)
            gen_model = tg.output.model
            tag(tg, campaign, iteration, "train")
        modified = None
        last = then is not None and iteration + 1 >= then.max_iterations
        if self.modify is not None and train_generator and not last:  # not bootstrap, not last
            mod = self.modify.make(lab.output, campaign, iteration)
            tag(mod, campaign, iteration, "modify")
            jobs.append(mod)
            modified = mod.output
        nxt = next_iteration(
            then,
            campaign,
            iteration,
            lab.output,
            ts.output.model,
            gen_model,
            ts.output.calibration,
            modified,
        )
        nxt.name = "next"
        jobs.append(nxt)
        for stage, made in (("label", lab), ("train", ts), ("next", nxt)):
            tag(made, campaign, iteration, stage)
        return Flow(jobs, name=f"{self.name} {iteration} oracle")


@dataclass
class CampaignMaker(Maker):
    """An active-learning campaign that re-enters itself until a stop rule holds.

    Attributes
    ----------
    name
        Flow name.
    iteration
        The :class:`IterationMaker` of every iteration.
    surrogate, generator
        Starting models (shipped names or directories).
    max_iterations
        Iteration cap.
    oracle_budget
        Oracle calculations on candidates over the whole campaign (audits included).
    patience
        Stop after this many iterations without a new stable candidate (0: never).
    bootstrap
        Corpus structures labelled by the oracle before iteration 0 (the surrogate is fine-tuned
        on them to the oracle's energies); 0: start from ``surrogate`` as it is.
    bootstrap_max_sites
        Largest corpus structure in the bootstrap sample.
    seed
        Seeds the bootstrap sample.
    discovery_maker
        A Maker applied to the oracle-relaxed structure of every stable discovery when the
        campaign finishes (e.g. atomate2's ``BandStructureMaker`` or a phonon flow): its
        flows are added to the running workflow.
    stable_threshold
        E_hull (eV/atom) at or below which a discovery is stable: the one threshold of the
        campaign (its label and generator steps are set to it).
    """

    name: str = "campaign"
    iteration: IterationMaker = field(default_factory=IterationMaker)
    surrogate: str = "eform"
    generator: str = "perov5"
    max_iterations: int = 2
    oracle_budget: int = 16
    patience: int = 0
    bootstrap: int = 12
    bootstrap_max_sites: int = 10
    seed: int = 0
    discovery_maker: Maker | None = None
    stable_threshold: float = STABLE_THRESHOLD

    def __post_init__(self) -> None:
        if self.max_iterations < 1:
            raise ValueError(f"max_iterations must be at least 1, not {self.max_iterations}")
        if self.oracle_budget < 1:
            raise ValueError(f"the oracle budget must be at least 1, not {self.oracle_budget}")
        if self.bootstrap < 0 or self.patience < 0:
            raise ValueError("bootstrap and patience must be ≥ 0")
        it = self.iteration
        select = it.select
        if select.objective == "e_hull":  # the routing judges stability by the same threshold
            select = replace(select, threshold=self.stable_threshold)
        self.iteration = replace(
            it,
            select=select,
            label=replace(it.label, stable_threshold=self.stable_threshold),
            train_generator=replace(it.train_generator, stable_threshold=self.stable_threshold),
        )

    @property
    def oracle(self) -> str:
        """The campaign's oracle (its oracle sub-flow Maker's)."""
        return self.iteration.oracle.oracle

    def make(self, campaign: str) -> Flow:
        """Return the campaign's first flow (bootstrap, or iteration 0)."""
        start = start_campaign(self, campaign)
        start.name = "bootstrap" if self.bootstrap else "start"
        tag(start, campaign, -1, "bootstrap")
        return Flow([start], name=f"{self.name} {campaign}")

    @property
    def generator_mode(self) -> str:
        """The generator mode the iterations sample with (``abinitio``; ``csp`` for designs)."""
        return "csp" if self.iteration.generate.composition else "abinitio"

    def query(self) -> dict[str, Any]:
        """Return what the campaign searches for, for its plan (a design's query)."""
        return {}

    def before_start(self, campaign: str, settings: Any) -> str | None:
        """Return a reason to finish before any work (a design already satisfied), or ``None``."""
        return None

    def stop_check(
        self, campaign: str, iteration: int, used: int, stable: list[int], requested: bool
    ) -> str | None:
        """Return why the campaign stops after ``iteration`` (``-1``: bootstrap), or ``None``."""
        if iteration < 0:
            return "stop requested" if requested else None
        return stop_reason(
            iteration,
            self.max_iterations,
            used,
            self.oracle_budget,
            stable,
            self.patience,
            requested,
        )

    def follow_up(self, campaign: str, settings: Any) -> Flow | None:
        """Return ``discovery_maker``'s flows on the campaign's stable discoveries, if any."""
        from crystaloop.makers.dft import plain_structure
        from crystaloop.stores.factory import open_store
        from crystaloop.stores.labels import LabelStore

        if self.discovery_maker is None:
            return None
        stable = LabelStore(open_store(settings, "labels")).stable_since(
            campaign, self.oracle, 0, self.stable_threshold, ["subject_id", "structure"]
        )
        flows = []
        for doc in stable:
            made = self.discovery_maker.make(plain_structure(doc["structure"]))
            made.name = f"{made.name} {doc['subject_id']}"
            tag(made, campaign, -2, "discovery")
            flows.append(made)
        return Flow(flows, name=f"{campaign} discoveries") if flows else None

    def budget_for(self, used: int) -> int:
        """Return this iteration's oracle budget given ``used`` calculations so far."""
        return max(0, min(self.iteration.select.budget, self.oracle_budget - used))


@job
def start_campaign(maker: CampaignMaker, campaign: str) -> Response:
    """Record the campaign and its plan, label a corpus sample, then start iteration 0."""
    from monty.json import jsanitize

    from crystaloop.schemas import CampaignRecord
    from crystaloop.settings import load_settings
    from crystaloop.stores.campaigns import CampaignStore, now
    from crystaloop.stores.factory import open_store
    from crystaloop.workflows.plan import campaign_plan

    settings = load_settings()
    store = CampaignStore(open_store(settings, "campaigns"))
    # a rerun of this job (a lost run recovered) keeps the recorded history
    store.start(
        CampaignRecord(
            campaign=campaign,
            kind=maker.name,
            oracle=maker.oracle,
            started=now(),
            plan=campaign_plan(maker, campaign),
            maker=jsanitize(maker, strict=True, enum_values=True),
        )
    )
    done = maker.before_start(campaign, settings)
    if done:
        store.finish(campaign, done)
        progress.info("[%s] finished: %s", campaign, done)
        return Response(output={"stop": done})
    if not maker.bootstrap:
        first = maker.iteration.make(
            campaign, 0, maker.surrogate, maker.generator, maker.budget_for(0), maker
        )
        return Response(addition=first)
    subjects = bootstrap_subjects(maker, campaign, settings)
    flow = maker.iteration.collect(
        subjects,
        campaign,
        -1,
        maker.surrogate,
        maker.generator,
        maker,
        train_generator=False,
        force_train=True,
    )
    return Response(addition=flow)


@job
def next_iteration(
    maker: CampaignMaker,
    campaign: str,
    iteration: int,
    labelled: Any,
    surrogate: str,
    generator: str,
    calibration: dict[str, Any] | None = None,
    modified: Any = None,
) -> Response:
    """Record the iteration; stop by the campaign's rules or add the next iteration.

    ``modified`` (the iteration's modify output) goes to the next iteration's generate step.
    """
    from crystaloop.schemas import IterationRecord, LabelOutput
    from crystaloop.settings import load_settings
    from crystaloop.stores.campaigns import CampaignStore, now
    from crystaloop.stores.candidates import CandidateStore
    from crystaloop.stores.factory import open_store

    settings = load_settings()
    store = CampaignStore(open_store(settings, "campaigns"))
    doc = store.require(campaign)
    out = LabelOutput.model_validate(labelled)
    candidates = CandidateStore(open_store(settings, "candidates"))
    used = candidates.oracle_calls(campaign)
    record = IterationRecord(
        iteration=iteration,
        surrogate=surrogate,
        generator=generator,
        seed=maker.iteration.generate.seed + max(iteration, 0),
        labelled=len(out.labelled),
        failed=len(out.failed),
        new_stable=len(out.new_stable),
        mae_before=out.mae_before,
        audited=out.audited,
        audit_within=out.audit_within,
        audit_coverage=out.audit_within / out.audited if out.audited else None,
        calibration=calibration,
        finished=now(),
    )
    history = doc.history()
    history[iteration] = record
    stable = [history[i].new_stable for i in sorted(history) if i >= 0]
    reason = maker.stop_check(campaign, iteration, used, stable, doc.stop_requested)
    store.record_iteration(campaign, record, reason)
    progress.info(_progress_line(campaign, record, candidates))
    if modified is not None:
        progress.info(_modify_line(campaign, iteration, modified))
    if reason:
        progress.info("[%s] finished: %s", campaign, reason)
        follow = maker.follow_up(campaign, settings)
        return Response(output={"stop": reason}, addition=follow)
    flow = maker.iteration.make(
        campaign,
        iteration + 1,
        surrogate,
        generator,
        maker.budget_for(used),
        maker,
        calibration,
        modified,
    )
    return Response(output={"next": iteration + 1}, addition=flow)


def _modify_line(campaign: str, iteration: int, modified: Any) -> str:
    from crystaloop.schemas import ModifyOutput

    out = ModifyOutput.model_validate(modified)
    if out.error:
        return (
            f"[{campaign}] iteration {iteration}: modification failed ({out.error}); "
            "the campaign goes on without it"
        )
    return (
        f"[{campaign}] iteration {iteration}: modified {len(out.parents)} near misses into "
        f"{out.n} candidates for the next iteration ({out.copies} copies of their parent "
        f"dropped, {len(out.skipped)} near misses skipped)"
    )


def _progress_line(campaign: str, record: Any, candidates: Any) -> str:
    if record.iteration < 0:
        return (
            f"[{campaign}] bootstrap: {record.labelled} oracle labels, "
            f"{record.failed} failed; surrogate {record.surrogate}"
        )
    counts = candidates.route_counts(campaign, record.iteration)
    mae = ", ".join(f"{k} {v:.3f}" for k, v in record.mae_before.items()) or "n/a"
    audit = (
        f", audit {record.audit_within}/{record.audited} within tolerance" if record.audited else ""
    )
    return (
        f"[{campaign}] iteration {record.iteration}: generated {counts['generated']}"
        + (f" ({counts['modified']} modified near misses)" if counts.get("modified") else "")
        + f", passed screens {counts['passed']}, to oracle {counts['dft']}, "
        f"accepted as predicted {counts['predicted']}{audit}, failed {counts['failed']}, "
        f"new stable {record.new_stable}, surrogate MAE before retraining {mae}"
    )
