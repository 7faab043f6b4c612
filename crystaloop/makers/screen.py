"""``ScreenMaker``: run the screens on a candidate batch, record every verdict, keep survivors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jobflow import Maker

from crystaloop.makers.jobs import crystaloop_job
from crystaloop.schemas import ScreenOutput


@dataclass
class ScreenMaker(Maker):
    """Screen a generated batch against itself, the corpus and the campaign's earlier candidates.

    Attributes
    ----------
    name
        Job name.
    processes
        Worker processes of the screens.
    allow_p1
        Keep space group P1.
    symprec
        spglib tolerance of the space-group screen, Å.
    """

    name: str = "screen"
    processes: int = 1
    allow_p1: bool = False
    symprec: float = 0.1

    @crystaloop_job("screen", ScreenOutput)
    def make(self, generated: Any) -> ScreenOutput:
        """Screen ``generated`` (a :class:`GenerateOutput` or its reference)."""
        from pymatgen.core import Structure

        from crystaloop.chem.screens import ScreenConfig, screen_structures, screen_summary
        from crystaloop.schemas import CandidateDoc, GenerateOutput
        from crystaloop.settings import load_settings
        from crystaloop.stores.artifacts import artifact_store
        from crystaloop.stores.candidates import CandidateStore, get_batch, put_batch
        from crystaloop.stores.corpus import CorpusStore
        from crystaloop.stores.factory import open_store

        out = GenerateOutput.model_validate(generated)
        settings = load_settings()
        artifacts = artifact_store(settings)
        rows = get_batch(artifacts, out.batch)
        structures = [Structure.from_dict(r["structure"]) for r in rows]
        ids = [r["candidate_id"] for r in rows]
        corpus = CorpusStore(open_store(settings, "corpus"), open_store(settings, "corpus_aliases"))
        candidates = CandidateStore(open_store(settings, "candidates"))

        def lookup(keys: list[tuple[str, int]]) -> dict[tuple[str, int], list]:
            found = corpus.dedup_lookup(keys)
            earlier = candidates.dedup_lookup(out.campaign, out.iteration, keys)
            return {k: found.get(k, []) + earlier.get(k, []) for k in keys}

        config = ScreenConfig(
            max_sites=settings.max_sites, symprec=self.symprec, allow_p1=self.allow_p1
        )
        verdicts = screen_structures(
            structures, config, ids=ids, corpus_lookup=lookup, processes=self.processes
        )
        docs = []
        for k, (row, structure, verdict) in enumerate(zip(rows, structures, verdicts, strict=True)):
            key = verdict.dedup_key
            docs.append(
                CandidateDoc(
                    candidate_id=row["candidate_id"],
                    campaign=out.campaign,
                    iteration=out.iteration,
                    index=k,
                    structure=row["structure"],
                    formula=structure.composition.reduced_formula,
                    nsites=len(structure),
                    generator=row.get("generator", out.generator),
                    parent=row.get("parent"),
                    status="passed" if verdict.passed else "screened_out",
                    stage=verdict.stage,
                    reason=verdict.reason,
                    spacegroup_number=verdict.spacegroup,
                    fingerprint=verdict.fingerprint,
                    dedup_key=f"{key[0]}|{key[1]}" if key else None,
                    duplicate_of=verdict.duplicate_of,
                )
            )
        candidates.upsert(docs)
        survivors = put_batch(
            artifacts, (r for r, v in zip(rows, verdicts, strict=True) if v.passed)
        )
        summary = screen_summary(verdicts)
        return ScreenOutput(
            campaign=out.campaign,
            iteration=out.iteration,
            survivors=survivors,
            passed=summary["passed"],
            total=summary["total"],
            dropped=summary["dropped"],
        )
