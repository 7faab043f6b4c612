"""Documents of generated candidates and of the generate / screen job outputs."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from crystaloop.schemas.artifact import ArtifactRef

#: Where a candidate stands in the loop.
CandidateStatus = Literal["generated", "screened_out", "passed"]


class CandidateDoc(BaseModel):
    """One generated structure in the ``candidates`` store.

    Attributes
    ----------
    candidate_id
        ``<campaign>:<iteration>:<index>``; unique.
    campaign, iteration, index
        Where it was generated.
    structure
        ``pymatgen.core.Structure.as_dict()``.
    formula, nsites
        Reduced formula and number of sites.
    generator
        Name of the generator directory and the sha256 of its weights.
    status
        ``generated``, ``screened_out`` (with ``stage`` and ``reason``) or ``passed``.
    spacegroup_number, fingerprint, dedup_key
        From the screens, when they got that far (``dedup_key``: ``"<formula>|<n_primitive>"``).
    duplicate_of
        Candidate or corpus id it duplicates.
    surrogate, scores
        The surrogate that scored it and ``{target: {"mean", "std", "confidence"}}``.
    selection, selection_reason
        ``dft`` (sent to the oracle), ``predicted`` (accepted on the surrogate's confident
        prediction, never mixed with oracle labels) or ``rejected``, and why.
    audit
        An accepted candidate also sent to the oracle to measure how often accepted
        predictions are right (its selection stays ``predicted``).
    oracle, oracle_error
        ``done`` or ``failed`` once its oracle run has finished, and the failure's reason.
    parent
        The candidate this one was made from by the structure modifier (its oracle-relaxed
        structure was a near miss), ``None`` for a generated one.
    discriminator, p_match
        The match discriminator that scored it and its probability that the generated
        structure is a true one (seed 000 §3.3); ``None`` without a discriminator.
    """

    model_config = ConfigDict(extra="forbid")

    candidate_id: str
    campaign: str
    iteration: int = Field(ge=0)
    index: int = Field(ge=0)
    structure: dict[str, Any]
    formula: str
    nsites: int
    generator: str
    status: CandidateStatus = "generated"
    stage: str | None = None
    reason: str | None = None
    spacegroup_number: int | None = None
    fingerprint: str | None = None
    dedup_key: str | None = None
    duplicate_of: str | None = None
    surrogate: str | None = None
    scores: dict[str, dict[str, float]] | None = None
    selection: Literal["dft", "predicted", "rejected"] | None = None
    selection_reason: str | None = None
    audit: bool = False
    oracle: Literal["done", "failed"] | None = None
    oracle_error: str | None = None
    parent: str | None = None
    discriminator: str | None = None
    p_match: float | None = None


class GenerateOutput(BaseModel):
    """Output of a generate job: the candidate batch is an artifact, never inline.

    ``source`` is where the candidates came from (``generator``, ``substitution`` or
    ``random-search``); ``skipped`` counts the records the source could not use (prototypes
    without usable oxidation states, compositions PyXtal cannot place), the first few with
    their reasons in ``skipped_examples``, all of them in the ``skipped_batch`` artifact.

    ``resampling`` counts the redraws of generated crystals that failed the structural check
    (:class:`~crystaloop.ml.generative.sampling.ResampleReport`: ``rounds``, ``invalid_first``,
    ``replaced``, ``still_invalid``, ``redraws``, ``drawn``); empty when resampling
    is off. ``sampling_seconds`` includes the redraws.

    ``modified`` counts the structure modifier's outputs of the previous iteration's near misses
    that joined the batch (after the source's ``n - modified`` candidates, each naming its
    ``parent``).
    """

    campaign: str
    iteration: int
    batch: ArtifactRef
    n: int
    generator: str
    sampling_seconds: float
    source: str = "generator"
    skipped: int = 0
    skipped_examples: list[dict[str, str]] = Field(default_factory=list)
    skipped_batch: ArtifactRef | None = None
    resampling: dict[str, int] = Field(default_factory=dict)
    modified: int = 0


class ModifyOutput(BaseModel):
    """Output of a modify job: the modified structures of an iteration's near misses.

    Attributes
    ----------
    campaign, iteration
        The iteration whose labels had the near misses.
    batch
        Rows ``{parent, sample, structure}`` (an artifact), ``None`` when there was nothing to
        modify.
    n
        Modified structures.
    parents
        The near misses that were modified.
    skipped
        ``{candidate id: reason}`` of the near misses the modifier cannot take (an element it
        never saw, too many atoms).
    copies, copy_check_errors
        Outputs dropped because they are their parent again (the screens' matcher), and
        comparisons the matcher raised on (those outputs are kept for the screens).
    model
        The modifier (directory name and the sha256 of its weights).
    error
        Why the whole step failed (``None`` when it ran): the optional branch then adds
        nothing and the campaign goes on.
    """

    campaign: str
    iteration: int
    batch: ArtifactRef | None = None
    n: int = 0
    parents: list[str] = Field(default_factory=list)
    skipped: dict[str, str] = Field(default_factory=dict)
    copies: int = 0
    copy_check_errors: int = 0
    model: str = ""
    error: str | None = None


class ScreenOutput(BaseModel):
    """Output of a screen job: the survivors (an artifact) and counts per screen."""

    campaign: str
    iteration: int
    survivors: ArtifactRef
    passed: int
    total: int
    dropped: dict[str, int]


class ScoreRecord(BaseModel):
    """One survivor as the selection sees it: its id, chemistry and the surrogate's scores.

    Attributes
    ----------
    candidate_id, formula, chemsys, nsites
        The candidate.
    scores
        ``{target: {"mean", "std", "std_raw", "confidence"}}`` (``std``: calibrated σ,
        ``std_raw``: the ensemble's own spread); ``None`` when the surrogate cannot score it
        (an element it never saw).
    hull_e_form
        Formation energy per atom of the current hull of the oracle's known phases at the
        candidate's composition (0 when none is known): the predicted energy above the hull is
        ``scores["e_form"]["mean"] - hull_e_form``.
    p_match
        The match discriminator's probability that the generated structure is a true one (seed
        000 §3.3); ``None`` when the campaign has no discriminator.
    """

    candidate_id: str
    formula: str
    chemsys: str
    nsites: int
    scores: dict[str, dict[str, float]] | None = None
    hull_e_form: float | None = None
    p_match: float | None = None


class ScoreOutput(BaseModel):
    """Output of a score job: each survivor's scoring record, and the surrogate that scored."""

    campaign: str
    iteration: int
    survivors: ArtifactRef
    surrogate: str
    records: list[ScoreRecord]
    discriminator: str | None = None

    @property
    def scored(self) -> int:
        """How many survivors have scores."""
        return sum(1 for r in self.records if r.scores is not None)

    @property
    def unscorable(self) -> list[str]:
        """The survivors the surrogate cannot score."""
        return [r.candidate_id for r in self.records if r.scores is None]
