"""The agent tools as plain functions over the library, one per MCP tool.

Each takes a :class:`ToolContext` (settings, path policy, oracle budget) and JSON-like
arguments, and returns a JSON-like dict. Bad input raises
:class:`~crystaloop.agent.guards.ToolInputError` before anything is stored or submitted. Work that
takes long (a design, a campaign) is submitted to the LaunchPad and returns at once with its
campaign id; :func:`campaign_status` polls it. Large results go to files under
``<home>/agent/`` and come back as paths with a short summary.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from crystaloop.agent.guards import (
    MAX_STRUCTURES,
    OracleBudget,
    PathPolicy,
    ToolInputError,
    parse_structures,
    structure_text,
)

#: Most corpus entries, generated crystals and returned structures per call.
MAX_RESULTS = 200
MAX_GENERATE = 1000


@dataclass
class ToolContext:
    """What the tools of one server share.

    Attributes
    ----------
    settings
        The crystaloop settings (profile, stores, oracle); never returned to the agent.
    paths
        Where tools may read and write.
    budget
        Oracle calculations this connection may still submit.
    run_workers
        Start a background ``crystaloop worker`` after submitting work (the embedded profile's
        way to run it); off when the site's own workers (``rlaunch``) run the LaunchPad.
    """

    settings: Any
    paths: PathPolicy
    budget: OracleBudget
    run_workers: bool = False
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    workers: list[subprocess.Popen] = field(default_factory=list, repr=False)
    models: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def output_dir(self) -> Path:
        """Where tools write their files: ``<home>/agent``."""
        out = Path(self.settings.home) / "agent"
        out.mkdir(parents=True, exist_ok=True)
        return out

    def model_ref(self, name: str, kind: str) -> str:
        """Return a model reference the tools may load: a shipped name, or an allowed folder.

        A bare name must be a shipped ``kind`` (``generator`` or ``surrogate``) model; anything
        path-like is resolved and confined like every other path (:class:`PathPolicy`).

        Raises
        ------
        ToolInputError
            For an unknown shipped name or a folder outside the allowed ones.
        """
        from crystaloop.ml.shipped import (
            shipped_generator_dir,
            shipped_generator_names,
            shipped_model_dir,
            shipped_model_names,
        )

        if is_bare_name(name):
            generator = kind == "generator"
            shipped = shipped_generator_dir(name) if generator else shipped_model_dir(name)
            if shipped is None:
                names = shipped_generator_names() if generator else shipped_model_names()
                raise ToolInputError(
                    f"unknown {kind} {name!r}: the shipped ones are {', '.join(names)} (or give "
                    "a model folder inside the allowed folders)"
                )
            return str(shipped)
        return str(self.paths.check(name))

    def model_option(self, name: str, kind: str) -> str:
        """Return ``name`` for a campaign option: a shipped name as it is, a folder confined.

        See :meth:`model_ref`; the campaign plan then names a shipped model by its name.
        """
        ref = self.model_ref(name, kind)
        return name if is_bare_name(name) else ref

    def redact(self, text: str) -> str:
        """Return ``text`` with the store URI and its password replaced by ``***``."""
        secret = self.settings.mongo_uri
        if secret is None:
            return text
        from urllib.parse import unquote, urlsplit

        uri = secret.get_secret_value()
        password = urlsplit(uri).password if "://" in uri else None
        for value in (uri, password, unquote(password) if password else None):
            if value:
                text = text.replace(value, "***")
        return text

    def start_worker(self) -> bool:
        """Start a background worker unless one is running; return whether one was started.

        The worker (``crystaloop worker``, its output in ``<home>/agent/worker.log``) runs until
        no Firework is ready, also after the server has closed, so a design an agent started
        finishes without it.
        """
        if not self.run_workers or any(w.poll() is None for w in self.workers):
            return False
        log = open(self.output_dir / "worker.log", "ab")  # noqa: SIM115 - the worker owns it
        self.workers.append(
            subprocess.Popen(
                [sys.executable, "-m", "crystaloop", "worker"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        )
        return True


def is_bare_name(name: str) -> bool:
    """Return whether ``name`` names a shipped model rather than a folder."""
    return bool(name) and not any(c in name for c in "/\\~") and not name.startswith(".")


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S-%f")


def search_corpus(
    ctx: ToolContext,
    formula: str | None = None,
    chemsys: str | None = None,
    elements: list[str] | None = None,
    limit: int = 20,
    structure_format: str | None = None,
) -> dict[str, Any]:
    """Return known structures by reduced formula, exact chemical system or elements."""
    from pymatgen.core import Element

    from crystaloop.stores.corpus import CorpusStore
    from crystaloop.stores.factory import open_store

    if not (formula or chemsys or elements):
        raise ToolInputError("give a formula, a chemsys or elements")
    elements = [e.strip() for e in elements] if elements else None
    chemsys = "-".join(p.strip() for p in chemsys.split("-")) if chemsys else None
    symbols = list(elements or []) + (chemsys.split("-") if chemsys else [])
    unknown = [s for s in symbols if not Element.is_valid_symbol(s)]
    if unknown:
        raise ToolInputError(f"unknown element(s): {', '.join(unknown)}")
    if formula:
        check_formula(formula)
    if not 1 <= limit <= MAX_RESULTS:
        raise ToolInputError(f"limit {limit}: give 1 to {MAX_RESULTS}")
    fields = ["material_id", "formula", "spacegroup_symbol", "nsites", "properties"]
    if structure_format is not None:
        fields.append("structure")
    with ctx.lock:
        store = CorpusStore(
            open_store(ctx.settings, "corpus"), open_store(ctx.settings, "corpus_aliases")
        )
        docs = list(
            store.query(
                formula=formula, chemsys=chemsys, elements=elements, limit=limit, properties=fields
            )
        )
    results = []
    for doc in docs:
        row = {
            "material_id": doc["material_id"],
            "formula": doc["formula"],
            "spacegroup": doc["spacegroup_symbol"],
            "nsites": doc["nsites"],
            "properties": {
                k: {"value": v["value"], "unit": v.get("unit")}
                for k, v in doc.get("properties", {}).items()
            },
        }
        if structure_format is not None:
            from pymatgen.core import Structure

            row["structure"] = structure_text(
                Structure.from_dict(doc["structure"]), structure_format
            )
        results.append(row)
    return {"count": len(results), "limit": limit, "results": results}


def check_formula(formula: str) -> None:
    """Raise :class:`ToolInputError` unless ``formula`` is a formula of real elements."""
    from pymatgen.core import Composition, Element

    try:
        composition = Composition(formula)
    except Exception as err:  # pymatgen raises several types for a bad formula
        raise ToolInputError(f"formula {formula!r}: {err}") from err
    unknown = [str(el) for el in composition if not isinstance(el, Element)]
    if unknown or not composition:
        raise ToolInputError(
            f"formula {formula!r}: unknown element(s) {', '.join(unknown) or '(none given)'}"
        )


def _ensemble(ctx: ToolContext, model: str) -> Any:
    from crystaloop.ml.checkpoint import CheckpointError, find_surrogate, load_ensemble

    ref = ctx.model_ref(model, "surrogate")
    if ref not in ctx.models:
        try:
            ctx.models[ref] = load_ensemble(find_surrogate(ref), device="cpu")
        except CheckpointError as err:
            raise ToolInputError(str(err)) from err
    return ctx.models[ref]


def predict(
    ctx: ToolContext,
    structures: list[str] | None = None,
    path: str | None = None,
    model: str = "eform",
) -> dict[str, Any]:
    """Return the surrogate's mean, σ and confidence per target for each structure."""
    from crystaloop.ml.crysformer.scoring import score_structures
    from crystaloop.stores.ingest.labelled import read_labelled
    from crystaloop.stores.ingest.readers import InputError

    if (structures is None) == (path is None):
        raise ToolInputError("give either structures (CIF or pymatgen JSON) or a path")
    settings = ctx.settings
    if structures is not None:
        items = parse_structures(structures, settings.max_sites)
    else:
        file = ctx.paths.check(path or "")
        if not file.is_file():
            raise ToolInputError(f"{path}: not a file")
        try:
            read, errors = read_labelled(
                file, max_sites=settings.max_sites, max_bytes=settings.max_file_mb * 2**20
            )
        except InputError as err:
            raise ToolInputError(str(err)) from err
        if errors:
            named = "; ".join(f"{e['source_id']}: {e['reason']}" for e in errors[:5])
            raise ToolInputError(f"{file}: {len(errors)} invalid record(s): {named}")
        if len(read) > MAX_STRUCTURES:
            raise ToolInputError(f"{file}: {len(read)} records, at most {MAX_STRUCTURES}")
        items = [(sid, s) for sid, s, _ in read]
    with ctx.lock:
        ensemble = _ensemble(ctx, model)
        scores = score_structures(ensemble, items, device="cpu")
    from pymatgen.core import Element

    return {
        "model": model,
        "targets": list(ensemble.config.targets),
        "predictions": [
            {
                "id": sid,
                **{
                    t: {k: round(float(v[k]), 5) for k in ("mean", "std", "confidence")}
                    for t, v in values.items()
                },
            }
            for sid, values in scores.scores.items()
        ],
        "unscorable": {
            sid: "elements never seen by the model: "
            + ", ".join(sorted({Element.from_Z(z).symbol for z in zs}))
            for sid, zs in scores.unscorable.items()
        },
    }


def generate(
    ctx: ToolContext,
    model: str = "perov5",
    n: int = 10,
    composition: str | None = None,
    steps: int = 100,
    seed: int = 0,
    screen: bool = True,
    include: int = 5,
    structure_format: str = "cif",
) -> dict[str, Any]:
    """Generate ``n`` crystals (de novo or of one composition), screened; write them to a file."""
    from crystaloop.chem.composition import atomic_numbers
    from crystaloop.ml.checkpoint import CheckpointError
    from crystaloop.ml.generative.checkpoint import find_generator, load_generator
    from crystaloop.ml.generative.crystal import NUM_TYPES
    from crystaloop.ml.generative.samplers import SamplerOptions
    from crystaloop.ml.generative.sampling import SeededSampler
    from crystaloop.workflows.generation import (
        GenerationTally,
        SamplingError,
        generation_rows,
        make_screener,
        write_jsonl,
    )

    if not 1 <= n <= MAX_GENERATE:
        raise ToolInputError(f"n {n}: give 1 to {MAX_GENERATE}")
    if not 1 <= steps <= 1000:
        raise ToolInputError(f"steps {steps}: give 1 to 1000")
    if not 0 <= include <= MAX_RESULTS:
        raise ToolInputError(f"include {include}: give 0 to {MAX_RESULTS}")
    structure_text_format = structure_format  # checked before any work
    if structure_text_format not in ("cif", "json"):
        raise ToolInputError(f"structure format {structure_format!r}: give 'cif' or 'json'")
    mode = "csp" if composition else "abinitio"
    try:
        directory = find_generator(ctx.model_ref(model, "generator"), mode)
        generator = load_generator(directory, device="cpu")
    except (CheckpointError, ValueError) as err:
        raise ToolInputError(str(err)) from err
    numbers = None
    if composition:
        try:
            numbers = atomic_numbers(composition, generator.config.max_atoms, NUM_TYPES)
        except ValueError as err:
            raise ToolInputError(f"composition {composition!r}: {err}") from err
    try:
        sampler = SeededSampler(
            generator,
            n,
            seed,
            composition=numbers,
            options=SamplerOptions(steps=steps),
            resample_rounds=3,
        )
    except ValueError as err:
        raise ToolInputError(str(err)) from err
    out = ctx.output_dir / f"generated-{_stamp()}.jsonl"
    tally = GenerationTally()
    kept: list[dict[str, Any]] = []
    with ctx.lock:
        screener = (
            make_screener(ctx.settings, corpus=True, processes=1, allow_p1=False)
            if screen
            else None
        )

        def rows():
            for row in generation_rows(sampler, model, composition, screener, tally):
                if len(kept) < include and (not screen or row["screen"]["passed"]):
                    kept.append(row)
                yield row

        try:
            write_jsonl(out, rows())
        except SamplingError as err:  # nothing was written
            raise ToolInputError(str(err)) from err
    from pymatgen.core import Structure

    return {
        "file": str(out),
        **tally.as_dict(),
        "structures": [
            {
                "sample": row["sample"],
                "formula": Structure.from_dict(row["structure"]).composition.reduced_formula,
                "structure": structure_text(
                    Structure.from_dict(row["structure"]), structure_text_format
                ),
            }
            for row in kept
        ],
    }
