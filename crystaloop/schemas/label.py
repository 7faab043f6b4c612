"""Oracle labels, the outputs of the select / DFT / label / train jobs, and model records."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from crystaloop.schemas.artifact import ArtifactRef
from crystaloop.schemas.candidate import ScoreRecord

#: Energy above the hull (eV/atom) at or below which a structure counts as stable: the one
#: default of every campaign (DESIGN.md §5, S.U.N.); a campaign's own value is in its plan.
STABLE_THRESHOLD = 0.1

#: What an oracle calculation labelled: a generated candidate, a corpus phase or an element.
SubjectKind = Literal["candidate", "corpus", "element"]


class OracleSubject(BaseModel):
    """One structure sent to the oracle.

    Attributes
    ----------
    subject_id
        Candidate id, corpus ``material_id`` or ``element:<symbol>``.
    kind
        ``candidate``, ``corpus`` or ``element``.
    structure
        ``Structure.as_dict()``.
    campaign, iteration
        The campaign and iteration that asked for it (references are shared by campaigns).
    scores, surrogate
        A candidate's scores made before the oracle ran, and the surrogate that made them.
    audit
        A candidate accepted as predicted, sent to the oracle to audit the routing.
    """

    subject_id: str
    kind: SubjectKind
    structure: dict[str, Any]
    campaign: str | None = None
    iteration: int | None = None
    scores: dict[str, dict[str, float]] | None = None
    surrogate: str | None = None
    audit: bool = False

    def row(self) -> dict[str, Any]:
        """Return what the label step needs of the subject (everything but the structure)."""
        return self.model_dump(include={"subject_id", "kind", "scores", "surrogate", "audit"})


class LabelDoc(BaseModel):
    """One oracle label in the ``labels`` store, keyed by (subject, oracle, calculation).

    Attributes
    ----------
    label_id
        ``<subject_id>|<oracle>|<calc_id>``: the upsert key, so a rerun never duplicates a label.
    subject_id, kind
        See :class:`OracleSubject`.
    campaign, iteration
        The campaign and iteration (``-1``: bootstrap) that asked for the label; references
        are shared by every campaign of the same oracle.
    oracle
        ``chgnet`` or ``vasp`` (with its functional), the only energies a hull may combine.
    calc_id
        The uuid of the oracle's final (static) job.
    structure
        The oracle's final structure.
    formula, chemsys, elements, nsites
        Of the final structure (``chemsys``: elements joined by ``-`` in alphabetical order).
    energy, energy_per_atom
        Oracle total energy (eV) and per atom, corrected where the oracle has corrections.
    e_form
        Formation energy per atom against the oracle's own elemental references (eV/atom).
    e_hull
        Energy above the oracle's hull of the chemical system (eV/atom) when labelled.
    band_gap
        Band gap (eV) when the oracle gives one.
    predicted
        The surrogate's prediction made before the label existed
        ``{target: {mean, std, std_raw}}`` (``std_raw``: the ensemble's own spread).
    surrogate
        The surrogate that made ``predicted``.
    audit
        The label audits a prediction the campaign had accepted.
    """

    model_config = ConfigDict(extra="forbid")

    label_id: str
    subject_id: str
    kind: SubjectKind
    campaign: str | None = None
    iteration: int | None = None
    oracle: str
    calc_id: str
    structure: dict[str, Any]
    formula: str
    chemsys: str
    elements: list[str]
    nsites: int
    energy: float
    energy_per_atom: float
    e_form: float | None = None
    e_hull: float | None = None
    band_gap: float | None = None
    predicted: dict[str, dict[str, float]] | None = None
    surrogate: str | None = None
    audit: bool = False


class SelectOutput(BaseModel):
    """Output of a select job: the ids sent to the oracle and those accepted as predictions.

    Attributes
    ----------
    dft
        Candidates routed to the oracle.
    accepted
        Candidates accepted as predicted.
    audit
        Accepted candidates sent to the oracle as well, to audit the routing.
    rejected
        How many were rejected.
    below_match_floor
        How many of them the match discriminator's floor rejected (never sent to the oracle).
    target
        The surrogate target the routing used.
    surrogate
        The surrogate that scored the candidates.
    picks
        The scoring records of every candidate that goes to the oracle (``dft`` and
        ``audit``), handed on to the oracle and label steps.
    """

    campaign: str
    iteration: int
    dft: list[str]
    accepted: list[str]
    audit: list[str] = Field(default_factory=list)
    rejected: int
    below_match_floor: int = 0
    target: str
    surrogate: str | None = None
    picks: list[ScoreRecord] = Field(default_factory=list)


class LabelOutput(BaseModel):
    """Output of a label job: which oracle runs gave labels and which failed.

    Attributes
    ----------
    labelled, failed
        Subject ids labelled, and those whose oracle run failed.
    failures
        ``{subject id: reason}`` of the failed ones.
    new_stable
        Candidates at or below the stability threshold.
    mae_before
        The surrogate's MAE on the new candidate labels before retraining (routed candidates,
        not audits).
    audited, audit_within
        Audited accepted predictions that got a label, and how many were within the
        surrogate's tolerance of the oracle.
    near_miss, near_misses
        Candidates a little above the stability threshold (within the label step's
        ``near_miss_margin``), and an artifact of their rows ``{candidate_id, structure
        (oracle-relaxed), e_hull}`` for the structure modifier (``None`` when there are none).
    """

    campaign: str
    iteration: int
    oracle: str
    labelled: list[str]
    failed: list[str]
    failures: dict[str, str] = Field(default_factory=dict)
    new_stable: list[str]
    mae_before: dict[str, float] = Field(default_factory=dict)
    audited: int = 0
    audit_within: int = 0
    near_miss: list[str] = Field(default_factory=list)
    near_misses: ArtifactRef | None = None


class ModelDoc(BaseModel):
    """A registered model in the ``models`` store.

    Attributes
    ----------
    model_id
        ``<campaign>:<kind>:<iteration>``.
    name, kind
        Directory name; ``surrogate`` or ``generator``.
    campaign, iteration
        Which campaign and iteration trained it.
    path, sha256
        Model directory (shared file system) and sha256 of its weights.
    parent
        The model it was fine-tuned from.
    n_train
        Labelled structures it was trained on.
    metrics
        Validation figures.
    """

    model_id: str
    name: str
    kind: Literal["surrogate", "generator"]
    campaign: str
    iteration: int
    path: str
    sha256: str
    parent: str
    n_train: int
    metrics: dict[str, Any] = Field(default_factory=dict)


class TrainOutput(BaseModel):
    """Output of a train job: the model to use next (new, or the previous one if skipped).

    ``calibration`` (surrogates): the confidence calibration the next iteration's score step
    applies, re-fitted on the campaign's oracle labels.
    """

    campaign: str
    iteration: int
    model: str
    trained: bool
    reason: str
    model_id: str | None = None
    calibration: dict[str, dict[str, Any]] | None = None

    @classmethod
    def skipped(cls, campaign: str, iteration: int, model: str, reason: str) -> TrainOutput:
        """Return the output of a train job that kept ``model``, saying why."""
        return cls(
            campaign=campaign, iteration=iteration, model=model, trained=False, reason=reason
        )
