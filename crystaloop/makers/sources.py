"""The peer candidate sources of :class:`~crystaloop.makers.generate.GenerateMaker`.

What a materials scientist would use instead of the loop's generator, on the same screens,
oracle and budget (DESIGN.md §5, loop efficiency):

``substitution``
    Ionic substitution (Hautier et al. 2011, :mod:`crystaloop.chem.substitution`) on the
    corpus's **prototypes in the campaign's chemical space**: the corpus compounds of at least
    two elements, at most ``max_prototype_sites`` sites, made only of the generator's elements
    (the bootstrap's pool too), substituted only by ions of those elements. Those are the
    elements the campaign's generator covers, so the substitutions search the same chemical
    space as the loop. Corpus structures are left out of the ranking (pymatgen's
    ``remove_existing``) with the screens' matcher.
``generator`` with a masked generator (:mod:`crystaloop.ml.masked`)
    Seed 003's proposals: the same corpus prototypes as ``substitution``, one element of a
    prototype replaced on all its sites by an element the masked generator draws
    (:func:`~crystaloop.ml.masked.proposals.propose`).
``random-search``
    AIRSS-style random search (:mod:`crystaloop.chem.random_search`): the generator's samples
    of the iteration give the compositions (atom counts per cell), so the loop and the random
    search look at the same compositions; PyXtal gives each a random symmetric structure.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pymatgen.core import Structure

    from crystaloop.makers.generate import GenerateMaker


def substitution_rows(
    maker: GenerateMaker, directory: Path, iteration: int, settings: Any
) -> tuple[list[Structure], list[dict[str, str]], str]:
    """Return the iteration's substituted structures, the skipped prototypes, and a label.

    Iteration ``i`` gets the window ``[i·n, (i+1)·n)`` of the deduplicated ranking (seeded by
    ``maker.seed`` alone, so every iteration ranks the same way and the windows are disjoint).

    Raises
    ------
    ValueError
        When the corpus has no prototype in the generator's elements.
    """
    from crystaloop.chem.substitution import ranked_substitutions

    elements, prototypes, corpus = corpus_prototypes(maker, directory, settings)
    batch = ranked_substitutions(
        prototypes,
        elements,
        start=max(iteration, 0) * maker.n,
        n=maker.n,
        threshold=maker.substitution_threshold,
        seed=maker.seed,
        known=corpus.dedup_lookup,
    )
    label = (
        f"substitution(p > {maker.substitution_threshold:g}) of {len(prototypes)} corpus "
        f"prototypes in the elements of {directory.name}, ranks "
        f"{max(iteration, 0) * maker.n}–{max(iteration, 0) * maker.n + len(batch.proposals) - 1}"
    )
    return [p.structure for p in batch.proposals], batch.skipped, label


def corpus_prototypes(
    maker: GenerateMaker, directory: Path, settings: Any
) -> tuple[set[str], list[tuple[str, Structure]], Any]:
    """Return the generator's elements, the corpus prototypes in them, and the corpus store.

    Raises
    ------
    ValueError
        When the corpus has no compound of at most ``maker.max_prototype_sites`` sites made of
        the generator's elements only.
    """
    from pymatgen.core import Element, Structure

    from crystaloop.ml.generative.checkpoint import generator_elements
    from crystaloop.stores.corpus import CorpusStore
    from crystaloop.stores.factory import open_store

    elements = {Element.from_Z(z).symbol for z in generator_elements(directory)}
    corpus = CorpusStore(open_store(settings, "corpus"), open_store(settings, "corpus_aliases"))
    docs = corpus.small_compounds(maker.max_prototype_sites, elements)
    if not docs:
        raise ValueError(
            f"no corpus compound of ≤ {maker.max_prototype_sites} sites uses only the elements "
            f"of generator {directory.name}: no prototype to substitute (ingest a corpus first)"
        )
    prototypes = [(d["material_id"], Structure.from_dict(d["structure"])) for d in docs]
    return elements, prototypes, corpus


def masked_rows(
    maker: GenerateMaker, directory: Path, iteration: int, settings: Any
) -> tuple[list[Structure], list[dict[str, str]], str]:
    """Return the iteration's proposals of a masked generator, the skipped prototypes, a label.

    The proposals are drawn in one seeded order (``maker.seed``) of which iteration ``i``
    takes the window ``[i·n, (i+1)·n)``, so iterations do not repeat one another while the
    model stays the same. A model fine-tuned in the campaign orders its proposals anew, and its
    window is still counted from iteration 0 (its first ``i·n`` are skipped; those it shares
    with earlier iterations would be dropped by the screens as duplicates anyway). The
    prototypes are made of the model's elements only (:func:`corpus_prototypes`), so none is
    skipped; when the prototypes run out of substitutions the batch is short, and a warning
    says so.
    """
    from crystaloop.ml.masked.checkpoint import load_masked
    from crystaloop.ml.masked.proposals import propose

    model = load_masked(directory, device=settings.device)
    _, prototypes, _ = corpus_prototypes(maker, directory, settings)
    start = max(iteration, 0) * maker.n
    proposals = propose(
        model,
        prototypes,
        start + maker.n,
        maker.seed,
        temperature=maker.temperature,
        top_k=maker.top_k,
        device=settings.device,
    )[start:]
    if len(proposals) < maker.n:
        import logging

        logging.getLogger(__name__).warning(
            "masked generator %s: %d of %d proposals in iteration %d (its %d prototypes ran out "
            "of substitutions)", directory.name, len(proposals), maker.n, iteration,
            len(prototypes),
        )  # fmt: skip
    label = (
        f"masked {directory.name} proposals on {len(prototypes)} corpus prototypes, "
        f"draws {start}–{start + len(proposals) - 1}"
    )
    return [p.structure for p in proposals], [], label


def random_search_rows(
    maker: GenerateMaker, samples: list[Structure], campaign: str, iteration: int
) -> tuple[list[Structure], list[dict[str, str]]]:
    """Return one random symmetric crystal per sample's composition, and the failed ones.

    The compositions are the samples' atom counts per cell; the record of sample ``k`` is its
    would-be candidate id; the draw is seeded by the maker's seed and the iteration.
    """
    from crystaloop.chem.random_search import random_structures

    compositions = [
        (
            f"{campaign}:{iteration}:{k}",
            {el.symbol: int(round(n)) for el, n in s.composition.element_composition.items()},
        )
        for k, s in enumerate(samples)
    ]
    batch = random_structures(
        compositions, maker.seed + max(iteration, 0), max_tries=maker.max_tries
    )
    return [r.structure for r in batch.structures], batch.failed
