"""Training data of the match discriminator (seed 000 §3.3): CSP samples labelled by matching.

A CSP generator samples K structures of each held-out composition; each sample is labelled
``match`` (1) when DiffCSP's protocol matches it to the true structure with a normalised rms
distance below ``rmsd``, else ``no match`` (0). A comparison the matcher cannot make is left out
and counted, never called a non-match. The discriminator (a binary Crysformer,
:mod:`crystaloop.ml.crysformer.classifier`) then learns ``p_match`` of a generated structure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pymatgen.core import Structure


#: The key that keeps a composition's samples in one split of the discriminator's own split
#: (salted: the generator's split hash on the same ids would put them all in one split).
GROUP_KEY = "discriminator:{reduced_formula}"

#: Sampling steps of the training samples by default: the steps campaigns sample with.
DEFAULT_STEPS = 100


def group_of(item: tuple[str, Structure, float]) -> str:
    """Return the split key of a labelled sample: its composition (:data:`GROUP_KEY`)."""
    return GROUP_KEY.format(reduced_formula=item[1].composition.reduced_formula)


def held_out_records(
    records: Sequence[tuple[str, Structure]],
    generator_records: Sequence[tuple[str, Structure]],
    split: Any,
) -> tuple[list[tuple[str, Structure]], int]:
    """Return the records whose composition the generator never trained on, and how many not.

    ``generator_records`` are the generator's own data and ``split`` its
    :class:`~crystaloop.ml.data.split.SplitPlan`; its training compositions are the reduced
    formulas of that split's ``train`` part. A record of ``records`` is held out when it is not
    one of the generator's training records and its formula is none of those compositions (a
    polymorph of a training composition would teach the discriminator a composition the
    generator knows). Returns the held-out records and the count left out for their formula.
    """
    train = split.partition(generator_records, lambda r: r[0])["train"]
    seen_ids = {sid for sid, _ in train}
    seen = {s.composition.reduced_formula for _, s in train}
    out, polymorphs = [], 0
    for sid, structure in records:
        if sid in seen_ids:
            continue
        if structure.composition.reduced_formula in seen:
            polymorphs += 1
            continue
        out.append((sid, structure))
    return out, polymorphs


@dataclass
class MatchExamples:
    """Labelled samples ``(record id, sample, 0/1)`` and what was left out."""

    items: list[tuple[str, Structure, float]] = field(default_factory=list)
    matcher_errors: list[dict[str, str]] = field(default_factory=list)
    records: int = 0

    def summary(self) -> dict[str, Any]:
        """Return counts for a model card."""
        labels = [y for _, _, y in self.items]
        return {
            "records": self.records,
            "samples": len(self.items),
            "matches": int(sum(labels)),
            "match_share": float(sum(labels) / len(labels)) if labels else 0.0,
            "matcher_errors": len(self.matcher_errors),
        }


def match_examples(
    generator: Any,
    records: Sequence[tuple[str, Structure]],
    samples: int,
    rmsd: float,
    seed: int = 0,
    steps: int | None = None,
    batch_size: int = 256,
    device: str = "cpu",
) -> MatchExamples:
    """Sample ``samples`` structures of each record's composition and label them by matching.

    ``generator`` is a loaded CSP generator; ``records`` are ``(id, structure)`` of
    compositions it did not train on. Samples are seeded by ``seed``.
    """
    import torch

    from crystaloop.chem.metrics import csp_rms_distances
    from crystaloop.ml.generative.crystal import to_structure
    from crystaloop.ml.generative.samplers import SamplerOptions, sample_crystals

    if samples < 1:
        raise ValueError(f"samples must be at least 1, not {samples}")
    if not rmsd > 0:
        raise ValueError(f"rmsd must be > 0, not {rmsd}")
    torch.manual_seed(seed)
    counts = [len(s) for _, s in records for _ in range(samples)]
    numbers = [[site.specie.Z for site in s] for _, s in records for _ in range(samples)]
    crystals = sample_crystals(
        generator, counts, numbers, options=SamplerOptions(steps=steps),
        batch_size=batch_size, device=device,
    )  # fmt: skip
    made = [to_structure(c.lattice, c.frac, c.numbers) for c in crystals]
    grouped = [made[i * samples : (i + 1) * samples] for i in range(len(records))]
    table = csp_rms_distances(grouped, [s for _, s in records])
    out = MatchExamples(records=len(records))
    for (record_id, _), row, structures in zip(records, table, grouped, strict=True):
        for k, (entry, structure) in enumerate(zip(row, structures, strict=True)):
            if isinstance(entry, str):
                out.matcher_errors.append({"source_id": f"{record_id}#{k}", "reason": entry})
                continue
            out.items.append((record_id, structure, float(entry is not None and entry < rmsd)))
    return out
