"""Campaign documents: the record in the ``campaigns`` store and the status read back from it."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from crystaloop.schemas.label import STABLE_THRESHOLD

#: What a campaign is doing: still running, finished by a stop rule, or stalled on a failed step.
CampaignState = Literal["running", "finished", "stalled"]


class IterationRecord(BaseModel):
    """What one iteration did, written by its last job (``-1``: the bootstrap).

    Attributes
    ----------
    iteration
        Iteration number.
    surrogate, generator
        The models the next iteration uses.
    seed
        The generator's sampling seed of this iteration.
    labelled, failed
        Oracle labels written and oracle runs that failed.
    new_stable
        Candidates at or below the campaign's stability threshold.
    mae_before
        The surrogate's MAE on this iteration's new candidate labels before retraining.
    audited, audit_within, audit_coverage
        Accepted-as-predicted candidates the oracle audited, how many of them were within the
        surrogate's tolerance, and that share (``None`` when nothing was audited).
    calibration
        The confidence calibration of the surrogate the next iteration uses.
    finished
        ISO time the iteration's record was written.
    """

    model_config = ConfigDict(extra="forbid")

    iteration: int
    surrogate: str
    generator: str
    seed: int
    labelled: int = 0
    failed: int = 0
    new_stable: int = 0
    mae_before: dict[str, float] = Field(default_factory=dict)
    audited: int = 0
    audit_within: int = 0
    audit_coverage: float | None = None
    calibration: dict[str, Any] | None = None
    finished: str


class CampaignRecord(BaseModel):
    """A campaign's document in the ``campaigns`` store.

    Attributes
    ----------
    campaign
        Campaign id.
    kind
        ``campaign`` or ``design``.
    state
        ``running`` or ``finished`` (``stalled`` is read from the LaunchPad, never stored).
    oracle
        The oracle that labels (the resolved plan's).
    started, finished
        ISO times.
    stop_reason
        Why it finished.
    stop_requested
        The user's stop flag.
    plan
        The resolved plan: oracle and its Maker, models, budget, policy, iterations.
    maker
        The campaign Maker, serialised.
    iterations
        Per-iteration records keyed by the iteration number as a string.
    """

    model_config = ConfigDict(extra="ignore")

    campaign: str
    kind: str
    state: Literal["running", "finished"] = "running"
    oracle: str
    started: str
    finished: str | None = None
    stop_reason: str | None = None
    stop_requested: bool = False
    plan: dict[str, Any] = Field(default_factory=dict)
    maker: dict[str, Any] = Field(default_factory=dict)
    iterations: dict[str, IterationRecord] = Field(default_factory=dict)

    def history(self) -> dict[int, IterationRecord]:
        """Return the iteration records keyed by iteration number."""
        return {int(k): v for k, v in self.iterations.items()}

    @property
    def stable_threshold(self) -> float:
        """The campaign's stability threshold (eV/atom above the hull)."""
        return float(self.plan.get("stable_threshold", STABLE_THRESHOLD))


class IterationStatus(BaseModel):
    """One row of ``crystaloop status``: the candidates of an iteration by where they went.

    ``modified``: how many of the ``generated`` are the modifier's outputs of the previous
    iteration's near misses.
    """

    iteration: int
    generated: int
    modified: int = 0
    valid: int
    selected: int
    dft_done: int
    dft_failed: int
    accepted: int
    audited: int = 0
    audit_coverage: float | None = None
    new_stable: int
    mae_before: dict[str, float] = Field(default_factory=dict)
    surrogate: str | None = None
    finished: bool = False


class FailedStep(BaseModel):
    """A loop step (not a tolerated oracle run) whose Firework fizzled."""

    fw_id: int
    name: str
    iteration: int
    stage: str
    error: str


class CampaignStatus(BaseModel):
    """Where a campaign stands: its record, its counts per iteration, and what stalled it."""

    campaign: str
    state: CampaignState
    stop_reason: str | None = None
    oracle: str | None = None
    stable_threshold: float
    plan: dict[str, Any] = Field(default_factory=dict)
    labels: int
    duplicate_labels: int
    bootstrap_labels: int | None = None
    models: list[dict[str, Any]] = Field(default_factory=list)
    iterations: list[IterationStatus] = Field(default_factory=list)
    failed_steps: list[FailedStep] = Field(default_factory=list)
    fireworks: dict[str, dict[str, int]] = Field(default_factory=dict)
