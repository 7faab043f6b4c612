"""Campaign assembly from settings and options: the one place a campaign's Makers are configured.

``crystaloop run``/``submit``/``design``, the benchmarks and users' scripts all call
:func:`build_campaign`; :func:`campaign_plan` describes the result (the oracle and its Maker
class, models, budget, policy, iterations), which ``crystaloop run --dry-run`` prints and every
campaign records in the ``campaigns`` store.

Every setting a Maker needs is resolved here, on the machine that submits, and travels inside the
Makers: a worker never reads ``settings.oracle`` to decide which oracle a campaign uses.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from crystaloop.chem.energies import REFERENCE_TABLES
from crystaloop.schemas.label import STABLE_THRESHOLD

if TYPE_CHECKING:
    from crystaloop.settings import CrystaloopSettings
    from crystaloop.workflows.campaign import CampaignMaker


#: Bootstrap labels when the surrogate was not trained on the campaign oracle's energies.
DEFAULT_BOOTSTRAP = 8
#: The shipped generator of designs (general chemistry: MP, Perov-5 and Carbon-24 structures).
DESIGN_GENERATOR = "mp"
#: The shipped generator of open campaigns (the embedded default run).
CAMPAIGN_GENERATOR = "perov5"


class CampaignError(ValueError):
    """A campaign's options are inconsistent, or its models or stores cannot be found."""


@dataclass(frozen=True)
class CampaignOptions:
    """The science options of a campaign (the command-line flags of ``run`` and ``submit``).

    Attributes
    ----------
    campaign_id
        Campaign id (default: ``run-<time>``, ``design-<time>`` for a design).
    iterations
        Iteration cap.
    dft_budget
        Oracle calculations on candidates over the whole campaign.
    per_iteration
        Oracle calculations on candidates per iteration (audits of accepted predictions
        included).
    n_generate, steps
        Candidates generated per iteration and the generator's sampling steps.
    bootstrap
        Corpus structures labelled by the oracle before iteration 0; ``None``: none when the
        surrogate was trained on this oracle's formation energies (its card's
        ``label_oracle``), else :data:`DEFAULT_BOOTSTRAP`.
    generator, surrogate
        Starting models (shipped names or directories); generator ``None``:
        :data:`DESIGN_GENERATOR` (general chemistry) for a design, :data:`CAMPAIGN_GENERATOR`
        otherwise.
    patience
        Stop after this many iterations without a new stable candidate (0: never).
    seed
        Seeds sampling, the bootstrap sample and the random strategy.
    selection
        ``surrogate`` (confidence routing), ``random`` (a baseline) or ``ranked`` (the
        candidate source's own order).
    source
        Where candidates come from: ``generator``, or a peer baseline: ``substitution`` (ionic
        substitution on the corpus prototypes, most probable first) or ``random-search``
        (random symmetric PyXtal structures of the generator's compositions); see
        :class:`~crystaloop.makers.GenerateMaker`.
    acquisition
        How optimistically the routing reads the surrogate: ``greedy``, ``ucb`` or
        ``thompson`` (:mod:`crystaloop.chem.selection`).
    freeze_surrogate, freeze_generator
        Keep the starting models (baselines).
    audit_share
        Share of each iteration's oracle budget spent auditing accepted predictions.
    stable_threshold
        E_hull (eV/atom) at or below which a candidate is stable.
    formula, max_eform, n_wanted
        A targeted design: up to ``n_wanted`` structures of ``formula`` with
        ``e_form ≤ max_eform`` (eV/atom); ``formula`` None: an open campaign.
    modifier, modify_margin, modify_samples
        A structure modifier (shipped name or directory; ``None``: none) applied to the
        candidates whose label is ``stable_threshold < E_hull ≤ stable_threshold +
        modify_margin``, ``modify_samples`` outputs each; they join the next iteration.
    discriminator, match_floor, match_trust
        A match discriminator (seed 000 §3.3; a ``match`` classifier: shipped name or
        directory) that gives every screened candidate its ``p_match``; candidates below
        ``match_floor`` are never sent to the oracle, and only those above ``match_trust`` may
        be accepted as predictions (``None``: off).
    proposal_temperature, proposal_top_k
        A masked generator's species draws (temperature; only the k most probable elements):
        a low temperature orders its proposals most probable first.
    """

    campaign_id: str | None = None
    iterations: int = 2
    dft_budget: int = 8
    per_iteration: int = 4
    n_generate: int = 48
    steps: int = 100
    bootstrap: int | None = None
    generator: str | None = None
    surrogate: str = "eform"
    patience: int = 0
    seed: int = 0
    selection: str = "surrogate"
    source: str = "generator"
    acquisition: str = "ucb"
    freeze_surrogate: bool = False
    freeze_generator: bool = False
    audit_share: float = 0.1
    stable_threshold: float = STABLE_THRESHOLD
    formula: str | None = None
    max_eform: float | None = None
    n_wanted: int = 10
    modifier: str | None = None
    modify_margin: float = 0.1
    modify_samples: int = 2
    discriminator: str | None = None
    match_floor: float | None = None
    match_trust: float | None = None
    proposal_temperature: float = 1.0
    proposal_top_k: int | None = None

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> CampaignOptions:
        """Return options from a mapping (the CLI's keyword arguments), naming unknown keys."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise CampaignError(f"unknown campaign option(s): {', '.join(unknown)}")
        return cls(**values)


def build_campaign(
    settings: CrystaloopSettings, options: CampaignOptions, *, check_store: bool = True
) -> tuple[str, CampaignMaker]:
    """Check the options and return ``(campaign id, CampaignMaker)``; nothing is submitted.

    The oracle (``settings.oracle``) configures the oracle sub-flows, the label step and both
    retraining steps; ``options.formula`` makes a :class:`~crystaloop.workflows.DesignMaker`.

    Raises
    ------
    CampaignError
        For an unknown model, a bad formula or option, or a campaign id already used.
    ConnectionError
        When the campaigns store cannot be reached (``check_store``).
    """
    from crystaloop.makers import (
        DFTMaker,
        GenerateMaker,
        ScoreMaker,
        SelectMaker,
        TrainGeneratorMaker,
        TrainSurrogateMaker,
    )
    from crystaloop.ml.checkpoint import CheckpointError, find_surrogate, read_card
    from crystaloop.ml.generative.checkpoint import find_generator, is_masked, load_generator
    from crystaloop.workflows import CampaignMaker, DesignMaker, IterationMaker

    design = options.formula is not None
    if design and options.max_eform is None:
        raise CampaignError("a design needs max_eform (eV/atom)")
    if not 0.0 <= options.audit_share < 1.0:
        raise CampaignError(f"audit_share must be in [0, 1), not {options.audit_share}")
    mode = "csp" if design else "abinitio"
    generator = options.generator or (DESIGN_GENERATOR if design else CAMPAIGN_GENERATOR)
    options = replace(options, generator=generator)
    from crystaloop.makers.generate import SOURCES

    if options.source not in SOURCES:
        raise CampaignError(f"unknown source {options.source!r}: choose {', '.join(SOURCES)}")
    if not options.proposal_temperature > 0 or (
        options.proposal_top_k is not None and options.proposal_top_k < 1
    ):
        raise CampaignError("proposal_temperature must be > 0 and proposal_top_k ≥ 1")
    if options.source != "generator" and (design or not options.freeze_generator):
        raise CampaignError(
            f"source {options.source!r} is a baseline of open campaigns with the generator "
            "frozen: set freeze_generator (and no formula)"
        )
    try:
        generator_dir = find_generator(options.generator, mode)
        card = read_card(find_surrogate(options.surrogate))
    except CheckpointError as err:
        raise CampaignError(str(err)) from err
    if is_masked(generator_dir) and (design or options.source == "random-search"):
        raise CampaignError(
            f"{options.generator} is a masked generator: it proposes substitutions of corpus "
            "prototypes, so it serves open campaigns (no formula, no random-search baseline)"
        )
    campaign = options.campaign_id or ("design-" if design else "run-") + datetime.now(
        UTC
    ).strftime("%Y%m%d-%H%M%S")
    if check_store:
        from crystaloop.stores.campaigns import CampaignStore
        from crystaloop.stores.factory import open_store

        if CampaignStore(open_store(settings, "campaigns")).exists(campaign):
            raise CampaignError(f"campaign {campaign!r} exists already: choose another id")
    oracle = settings.oracle
    if settings.hull == "mp2020" and oracle != "vasp":
        raise CampaignError(
            f"the mp2020 hull (Materials Project entries) needs the vasp oracle, not {oracle}"
        )
    targets = ("e_form", "band_gap") if oracle == "vasp" else ("e_form",)
    bootstrap = options.bootstrap
    if bootstrap is None:
        trained_on = card.get("label_oracle") == oracle and "e_form" in card.get("targets", [])
        bootstrap = 0 if trained_on else DEFAULT_BOOTSTRAP
    iteration = IterationMaker(
        generate=GenerateMaker(
            model=options.generator,
            n=options.n_generate,
            steps=options.steps,
            seed=options.seed,
            source=options.source,
            temperature=options.proposal_temperature,
            top_k=options.proposal_top_k,
        ),
        select=SelectMaker(
            budget=options.per_iteration,
            strategy=options.selection,
            acquisition=options.acquisition,
            seed=options.seed,
            audit_share=options.audit_share,
            **match_routing(options),
        ),
        score=ScoreMaker(discriminator=options.discriminator),
        oracle=DFTMaker(oracle=oracle, engine=settings.oracle_engine),
        train_surrogate=TrainSurrogateMaker(
            targets=targets, seed=options.seed, frozen=options.freeze_surrogate
        ),
        train_generator=TrainGeneratorMaker(frozen=options.freeze_generator),
        hull=settings.hull,
        modify=modify_maker(options),
        modify_margin=options.modify_margin,
    )
    common = dict(
        iteration=iteration,
        surrogate=options.surrogate,
        generator=options.generator,
        max_iterations=options.iterations,
        oracle_budget=options.dft_budget,
        patience=options.patience,
        bootstrap=bootstrap,
        seed=options.seed,
        stable_threshold=options.stable_threshold,
    )
    try:
        if design:
            from crystaloop.chem.composition import atomic_numbers

            max_atoms = load_generator(generator_dir).config.max_atoms
            atomic_numbers(options.formula, max_atoms)
            maker: CampaignMaker = DesignMaker(
                formula=options.formula,
                max_eform=options.max_eform,
                n=options.n_wanted,
                **common,
            )
        else:
            maker = CampaignMaker(**common)
    except ValueError as err:
        raise CampaignError(str(err)) from err
    return campaign, maker


def match_routing(options: CampaignOptions) -> dict[str, float | None]:
    """Return the SelectMaker fields of the match discriminator's routing, checked.

    Raises
    ------
    CampaignError
        For a floor or trust level without a discriminator or outside [0, 1], or a
        discriminator that is not a ``match`` classifier.
    """
    from crystaloop.ml.checkpoint import CheckpointError
    from crystaloop.ml.classifier_checkpoint import find_classifier

    levels = {"match_floor": options.match_floor, "match_trust": options.match_trust}
    for name, value in levels.items():
        if value is not None and options.discriminator is None:
            raise CampaignError(f"{name} needs a discriminator")
        if value is not None and not 0.0 <= value <= 1.0:
            raise CampaignError(f"{name} must be in [0, 1], not {value}")
    if options.discriminator is not None:
        try:
            find_classifier(options.discriminator, "match")
        except CheckpointError as err:
            raise CampaignError(str(err)) from err
    return levels


def modify_maker(options: CampaignOptions) -> Any:
    """Return the campaign's :class:`~crystaloop.makers.modify.ModifyMaker`, or ``None``.

    Raises
    ------
    CampaignError
        For an unknown modifier, a negative margin or fewer than one sample.
    """
    from crystaloop.makers.modify import ModifyMaker
    from crystaloop.ml.checkpoint import CheckpointError
    from crystaloop.ml.modify.checkpoint import find_modifier

    if options.modifier is None:
        return None
    if options.modify_margin < 0 or options.modify_samples < 1:
        raise CampaignError("modify_margin must be ≥ 0 and modify_samples ≥ 1")
    try:
        find_modifier(options.modifier)
    except CheckpointError as err:
        raise CampaignError(str(err)) from err
    return ModifyMaker(model=options.modifier, samples=options.modify_samples, seed=options.seed)


def _class_path(obj: Any) -> str:
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def hull_description(oracle: str, hull: str = "oracle") -> str:
    """Return, in words, the hull a campaign places its candidates on."""
    if hull == "mp2020":
        return (
            "the MP2020-corrected Materials Project entries of each candidate's system and "
            "subsystems (hull_entries store) with the vasp labels, corrected the same way; "
            "systems without entries use vasp-labelled reference phases"
        )
    return (
        f"the {oracle} labels of each candidate's system and subsystems (corpus phases, "
        "earlier candidates) on "
        + (
            f"the shipped {oracle} elemental references"
            if oracle in REFERENCE_TABLES
            else f"elemental references labelled by {oracle}"
        )
    )


def _source_options(generate: Any) -> dict[str, Any]:
    """Return the fields of the candidate source that shape its batches (JSON-ready)."""
    if generate.source == "substitution":
        return {
            "method": "pymatgen SubstitutionProbability (Hautier et al. 2011), most probable "
            "first, corpus prototypes in the generator's elements",
            "threshold": generate.substitution_threshold,
            "max_prototype_sites": generate.max_prototype_sites,
        }
    if generate.source == "random-search":
        return {
            "method": "pyxtal random symmetric structures of the generator's compositions",
            "max_tries": generate.max_tries,
        }
    from crystaloop.ml.generative.checkpoint import find_generator, is_masked

    if is_masked(find_generator(generate.model, None)):
        return {
            "method": "masked generator (seed 003): one element of a corpus prototype in the "
            "generator's elements replaced by a drawn one",
            "temperature": generate.temperature,
            "top_k": generate.top_k,
            "max_prototype_sites": generate.max_prototype_sites,
        }
    return {}


def campaign_plan(maker: CampaignMaker, campaign: str) -> dict[str, Any]:
    """Return the resolved plan of a campaign Maker (JSON-ready).

    The oracle and the class of its Maker, the models, budget, selection policy, retraining,
    iterations and stability threshold; a design adds its query.
    """
    it = maker.iteration
    dft = it.oracle
    if dft.engine == "torchsim":
        oracle_makers = {"batch": _class_path(dft.batch_maker or dft.default_batch_maker())}
    elif dft.oracle == "vasp":
        oracle_makers = {"flow": _class_path(dft.vasp_maker or dft.default_vasp_maker())}
    else:
        oracle_makers = {
            "relax": _class_path(dft.relax_maker or dft.default_relax_maker()),
            "static": _class_path(dft.static_maker or dft.default_static_maker()),
        }
    if dft.prerelax_maker is not None:
        oracle_makers = {"prerelax": _class_path(dft.prerelax_maker)} | oracle_makers
    select = it.select
    plan: dict[str, Any] = {
        "campaign": campaign,
        "kind": maker.name,
        "oracle": dft.oracle,
        "oracle_engine": dft.engine,
        "oracle_makers": oracle_makers,
        "surrogate": maker.surrogate,
        "generator": maker.generator,
        "generator_mode": maker.generator_mode,
        "source": it.generate.source,
        "source_options": _source_options(it.generate),
        "iterations": maker.max_iterations,
        "oracle_budget": maker.oracle_budget,
        "per_iteration": select.budget,
        "samples": it.generate.n,
        "steps": it.generate.steps,
        "bootstrap": maker.bootstrap,
        "patience": maker.patience,
        "seed": maker.seed,
        "stable_threshold": maker.stable_threshold,
        "hull_source": it.hull,
        "hull": hull_description(dft.oracle, it.hull),
        "selection": {
            k: v for k, v in asdict(select).items() if k not in ("name", "budget", "seed")
        },
        "retraining": {
            "surrogate_targets": list(it.train_surrogate.targets),
            "surrogate_frozen": it.train_surrogate.frozen,
            "surrogate_min_new_labels": it.train_surrogate.min_new_labels,
            "generator_frozen": it.train_generator.frozen,
            "generator_min_new_stable": it.train_generator.min_new_stable,
        },
        "modification": None
        if it.modify is None
        else {
            "modifier": it.modify.model,
            "near_miss": f"{maker.stable_threshold:g} < E_hull ≤ "
            f"{maker.stable_threshold + it.modify_margin:g} eV/atom",
            "samples": it.modify.samples,
        },
        "match_discriminator": None
        if it.score.discriminator is None
        else {
            "discriminator": it.score.discriminator,
            "floor": it.select.match_floor,
            "trust": it.select.match_trust,
        },
    }
    plan.update(maker.query())
    return plan
