"""Stop criteria of a campaign, as a pure function."""

from __future__ import annotations


def stop_reason(
    iteration: int,
    max_iterations: int,
    oracle_used: int,
    oracle_budget: int,
    new_stable: list[int],
    patience: int,
    stop_requested: bool,
) -> str | None:
    """Return why the campaign stops after ``iteration`` (0-based), or ``None`` to go on.

    Parameters
    ----------
    iteration
        The iteration that just finished.
    max_iterations
        Iteration cap.
    oracle_used, oracle_budget
        Oracle calculations spent on candidates so far, and the campaign's budget.
    new_stable
        New stable candidates found in each iteration so far.
    patience
        Stop when the last ``patience`` iterations found no new stable candidate (0: never).
    stop_requested
        The stop flag in the ``campaigns`` store.
    """
    if stop_requested:
        return "stop requested"
    if iteration + 1 >= max_iterations:
        return f"iteration cap ({max_iterations}) reached"
    if oracle_used >= oracle_budget:
        return f"oracle budget spent ({oracle_used} of {oracle_budget})"
    if patience and len(new_stable) >= patience and not any(new_stable[-patience:]):
        return f"no new stable candidate in {patience} iterations"
    return None
