"""Which structures the oracle must label so that a candidate's E_form and E_hull can be computed.

For each chemical system of the candidates: the elemental references (none for an element the
oracle's shipped reference table holds; otherwise one prototype per element, ``element:<X>``,
and up to ``max_elemental`` corpus phases of each element), plus the corpus phases of the system
and of each subsystem, up to ``per_composition`` per formula (lowest energy first when the corpus
has energies) and ``max_compounds`` in all (largest systems first): the competing phases of the
candidates' hull. Each is skipped once the oracle has labelled it: labels are cached across
iterations and campaigns.

With the ``mp2020`` hull (``hull_entries`` given), a (sub)system for which the corpus holds
MP2020-corrected Materials Project entries needs no calculation at all: an element with an
entry gets no prototype and no elemental phase, a compound system with entries no corpus phase.
Only what MP's entries leave out is asked of the oracle.

:func:`bootstrap_subjects` is the campaign's first batch: a seeded corpus sample and its
references, labelled before iteration 0.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from crystaloop.chem.energies import element_prototype, shipped_references, subsystems
from crystaloop.schemas import OracleSubject

if TYPE_CHECKING:
    from crystaloop.workflows.campaign import CampaignMaker
from crystaloop.stores.corpus import CorpusStore
from crystaloop.stores.hull_entries import HullEntryStore
from crystaloop.stores.labels import LabelStore


def reference_subjects(
    chemsys: set[str],
    corpus: CorpusStore,
    labels: LabelStore,
    oracle: str,
    campaign: str,
    iteration: int,
    max_elemental: int = 1,
    per_composition: int = 1,
    max_compounds: int = 24,
    max_sites: int = 20,
    exclude: set[str] | None = None,
    hull_entries: HullEntryStore | None = None,
) -> list[OracleSubject]:
    """Return the reference subjects the oracle has not labelled yet for these systems.

    ``hull_entries``: the ``mp2020`` hull's entries; the (sub)systems they cover are skipped.
    """
    exclude = set(exclude or ())
    subjects: dict[str, OracleSubject] = {}

    def add(subject_id: str, kind: Any, structure: dict[str, Any]) -> None:
        if subject_id not in exclude:
            subjects.setdefault(
                subject_id,
                OracleSubject(
                    subject_id=subject_id,
                    kind=kind,
                    structure=structure,
                    campaign=campaign,
                    iteration=iteration,
                ),
            )

    elements = sorted({el for system in chemsys for el in system.split("-")})
    compounds = sorted({s for system in chemsys for s in subsystems(system) if "-" in s})
    covered = hull_entries.covered([*elements, *compounds]) if hull_entries is not None else set()
    shipped = shipped_references(oracle)
    for el in elements:
        if el in shipped or el in covered:  # a shipped reference, or MP's entries, hold it
            continue
        add(f"element:{el}", "element", element_prototype(el).as_dict())
        for doc in corpus.phases(el, max_sites, max_elemental):
            add(doc["material_id"], "corpus", doc["structure"])
    phases = []
    if max_compounds > 0:
        for system in sorted(set(compounds) - covered, key=lambda s: (-s.count("-"), s)):
            phases += corpus.phases_by_composition(system, max_sites, per_composition)
    done = labels.labelled(oracle, [*subjects, *(d["material_id"] for d in phases)])
    new = [d for d in phases if d["material_id"] not in done | exclude]
    for doc in new[:max_compounds]:  # the cap counts new oracle calls only
        add(doc["material_id"], "corpus", doc["structure"])
    return [s for sid, s in subjects.items() if sid not in done]


def bootstrap_subjects(maker: CampaignMaker, campaign: str, settings: Any) -> list[Any]:
    """Return the corpus sample to label before iteration 0, and its elemental references."""
    import numpy as np
    from pymatgen.core import Element

    from crystaloop.chem.energies import chemsys_of
    from crystaloop.ml.generative.checkpoint import find_generator, generator_elements
    from crystaloop.stores.corpus import CorpusStore
    from crystaloop.stores.factory import open_store
    from crystaloop.stores.labels import LabelStore

    elements = generator_elements(find_generator(maker.generator, maker.generator_mode))
    allowed = {Element.from_Z(z).symbol for z in elements}
    corpus = CorpusStore(open_store(settings, "corpus"), open_store(settings, "corpus_aliases"))
    pool = corpus.small_compounds(maker.bootstrap_max_sites, allowed)
    if not pool:
        raise ValueError(
            f"no corpus structure of ≤ {maker.bootstrap_max_sites} sites uses only the "
            f"generator's elements: ingest a corpus first ('crystaloop corpus ingest')"
        )
    rng = np.random.default_rng(maker.seed)
    picks = sorted(rng.choice(len(pool), size=min(maker.bootstrap, len(pool)), replace=False))
    sample = [
        OracleSubject(
            subject_id=pool[i]["material_id"],
            kind="corpus",
            structure=pool[i]["structure"],
            campaign=campaign,
            iteration=-1,
        )
        for i in picks
    ]
    labels = LabelStore(open_store(settings, "labels"))
    done = labels.labelled(maker.oracle, [s.subject_id for s in sample])
    sample = [s for s in sample if s.subject_id not in done]
    systems = {chemsys_of(pool[i]["elements"]) for i in picks}
    refs = reference_subjects(
        systems,
        corpus,
        labels,
        maker.oracle,
        campaign,
        -1,
        max_compounds=0,
        exclude={s.subject_id for s in sample},
        hull_entries=hull_entry_store(maker.iteration.hull, settings),
    )
    return sample + refs


def hull_entry_store(hull: str, settings: Any) -> Any:
    """Return the ``hull_entries`` store when the hull source is ``mp2020``, else ``None``."""
    if hull != "mp2020":
        return None
    from crystaloop.stores.factory import open_store
    from crystaloop.stores.hull_entries import HullEntryStore

    return HullEntryStore(open_store(settings, "hull_entries"))
