"""The dynamic middle of an iteration: the selected candidates' oracle runs and what follows.

:func:`dispatch` runs after the select step: it reads the selected structures, adds the
reference phases the candidates' hulls still miss, and adds the iteration's oracle sub-flows,
collector, retraining and continuation
(:meth:`~crystaloop.workflows.campaign.IterationMaker.collect`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from jobflow import Response, job

from crystaloop.workflows.references import hull_entry_store, reference_subjects

if TYPE_CHECKING:
    from crystaloop.workflows.campaign import IterationMaker


@job
def dispatch(
    maker: IterationMaker, selected: Any, surrogate: str, generator: str, then: Any
) -> Response:
    """Add the oracle sub-flows of the selected candidates (and missing references) and the rest.

    The candidates' scores come with the select step's output; their structures are read from
    the ``candidates`` store in one query.
    """
    from crystaloop.schemas import OracleSubject, SelectOutput
    from crystaloop.settings import load_settings
    from crystaloop.stores.candidates import CandidateStore
    from crystaloop.stores.corpus import CorpusStore
    from crystaloop.stores.factory import open_store
    from crystaloop.stores.labels import LabelStore

    out = SelectOutput.model_validate(selected)
    settings = load_settings()
    audit = set(out.audit)
    picks = {r.candidate_id: r for r in out.picks}
    order = [*out.dft, *out.audit]
    structures = CandidateStore(open_store(settings, "candidates")).structures(order)
    subjects = [
        OracleSubject(
            subject_id=i,
            kind="candidate",
            structure=structures[i],
            campaign=out.campaign,
            iteration=out.iteration,
            scores=picks[i].scores,
            surrogate=out.surrogate,
            audit=i in audit,
        )
        for i in order
    ]
    corpus = CorpusStore(open_store(settings, "corpus"), open_store(settings, "corpus_aliases"))
    refs = reference_subjects(
        {r.chemsys for r in out.picks},
        corpus,
        LabelStore(open_store(settings, "labels")),
        maker.oracle.oracle,
        out.campaign,
        out.iteration,
        per_composition=maker.phases_per_composition,
        max_compounds=maker.max_reference_phases,
        hull_entries=hull_entry_store(maker.hull, settings),
    )
    flow = maker.collect(subjects + refs, out.campaign, out.iteration, surrogate, generator, then)
    output = {"candidates": len(out.dft), "audits": len(out.audit), "references": len(refs)}
    return Response(output=output, addition=flow)
