"""``crystaloop generate`` and ``crystaloop csp``: sample crystals from a generator."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from crystaloop.cli import main
from crystaloop.cli.common import echo_json, load_settings_or_fail
from crystaloop.cli.generator_io import (
    check_device,
    load_generator_or_fail,
    make_screener,
    resolve_generator,
)
from crystaloop.cli.masked import with_sampling_options
from crystaloop.cli.surrogate_data import data_errors, record_limits

MAX_SAMPLES = 10_000_000


def sampler_options(
    steps: int | None, guidance: float, step_lr: float | None, anti_annealing: float = 0.0
) -> Any:
    """Return the sampler options of the command-line flags.

    ``step_lr`` ``None``: the model card's tuned corrector step, else the sampler's default.
    """
    from crystaloop.ml.generative.samplers import SamplerOptions

    return SamplerOptions(
        steps=steps, guidance=guidance, step_lr=step_lr, anti_annealing=anti_annealing
    )


def parse_composition(formula: str, max_atoms: int) -> list[int]:
    """Return the atomic numbers of ``formula``, or exit saying what is wrong with it."""
    from crystaloop.chem.composition import atomic_numbers
    from crystaloop.ml.generative.crystal import NUM_TYPES

    try:
        return atomic_numbers(formula, max_atoms, NUM_TYPES)
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--composition") from err


screen_options = [
    click.option("--screen", "do_screen", is_flag=True, help="Run the screens; record verdicts."),
    click.option(
        "--corpus/--no-corpus",
        "use_corpus",
        default=True,
        show_default=True,
        help="With --screen: drop duplicates of the corpus store.",
    ),
    click.option("--allow-p1", is_flag=True, help="With --screen: keep space group P1."),
    click.option(
        "--processes",
        default=1,
        show_default=True,
        type=click.IntRange(1, 256),
        help="Screen worker processes.",
    ),
    click.option("--steps", type=click.IntRange(1, 10_000), help="Sampling steps."),
    click.option(
        "--step-lr",
        type=click.FloatRange(0, 1, min_open=True, max_open=True),
        help="Diffusion corrector step size tuned for the model's T steps, used as "
        "step_lr x T/steps with fewer steps (default: the model card's; a model without one: "
        "1e-5 per step, unscaled).",
    ),
    click.option(
        "--anti-annealing",
        default=0.0,
        show_default=True,
        type=click.FloatRange(0),
        help="Flow matching: multiply the coordinate velocity by 1 + s*t (FlowMM; 0: off).",
    ),
    click.option("--batch-size", default=512, show_default=True, type=click.IntRange(1, 1_000_000)),
    click.option("--seed", default=0, show_default=True),
    click.option("--device", default=None, help="Torch device (default: settings)."),
    click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON."),
]


def with_screen_options(func):
    """Add the sampling and screening options shared by ``generate`` and ``csp``."""
    for option in reversed(screen_options):
        func = option(func)
    return func


@main.command()
@click.option("--model", "model_name", required=True, help="Shipped generator name or directory.")
@click.option("--n", "n", required=True, type=click.IntRange(1, MAX_SAMPLES), help="Structures.")
@click.option("--composition", help="Generate this composition (CSP), e.g. SrTiO3 or Sr2Ti2O6.")
@click.option("--spacegroup", type=int, help="Space-group condition (1-230; conditional models).")
@click.option("--target-eform", type=float, help="Formation-energy condition, eV/atom.")
@click.option("--guidance", default=1.0, show_default=True, help="Classifier-free guidance w.")
@click.option(
    "--num-atoms",
    "num_atoms_strategy",
    type=click.Choice(["training", "uniform", "hybrid"]),
    default="training",
    show_default=True,
    help="Ab initio: draw N from the training p(N), uniformly, or p(N) until the valid rate drops.",
)
@click.option(
    "--resample-rounds",
    default=3,
    show_default=True,
    type=click.IntRange(0, 100),
    help="Redraw a crystal with overlapping atoms (or a cell under 0.1 A^3) up to this many "
    "times; crystals still invalid are written and counted (0: no redraws).",
)
@click.option(
    "--prototypes",
    type=click.Path(path_type=Path),
    help="Masked generator: propose N substitutions of the structures in this file (any format "
    "'corpus ingest' reads): one element of a prototype replaced on all its sites.",
)
@with_sampling_options
@click.option(
    "--keep-present",
    is_flag=True,
    help="With --prototypes: allow an element the prototype already holds as the replacement.",
)
@click.option("--out", "out_path", required=True, type=click.Path(path_type=Path))
@with_screen_options
def generate(
    model_name: str,
    n: int,
    composition: str | None,
    spacegroup: int | None,
    target_eform: float | None,
    guidance: float,
    num_atoms_strategy: str,
    resample_rounds: int,
    prototypes: Path | None,
    temperature: float,
    top_k: int | None,
    keep_present: bool,
    out_path: Path,
    do_screen: bool,
    use_corpus: bool,
    allow_p1: bool,
    processes: int,
    steps: int | None,
    step_lr: float | None,
    anti_annealing: float,
    batch_size: int,
    seed: int,
    device: str | None,
    as_json: bool,
) -> None:
    """Generate N crystals (ab initio, or of one composition) and write them as JSON lines.

    Each line is {"source_id", "sample", "model", "structure"} (a pymatgen Structure dict;
    source_id is the composition, or null ab initio), plus "screen" with --screen: whether the
    candidate passed and, if not, the stage and the reason. Crystals with overlapping atoms are
    redrawn up to --resample-rounds times; the summary counts the redraws (the sampling time
    and rate include them) and the crystals still invalid.

    With a masked generator, --prototypes PATH proposes N substitutions of its structures
    instead: lines {"source_id", "sample", "model", "substitution": {"from", "to",
    "log_prob"}, "structure"}.
    """
    from crystaloop.ml.generative.sampling import SeededSampler
    from crystaloop.workflows.generation import (
        GenerationTally,
        SamplingError,
        generation_rows,
        write_jsonl,
    )

    if prototypes is not None:
        if composition or spacegroup is not None or target_eform is not None:
            raise click.UsageError("--prototypes takes no --composition or conditions")
        settings = load_settings_or_fail()
        screener = (
            make_screener(settings, corpus=use_corpus, processes=processes, allow_p1=allow_p1)
            if do_screen
            else None
        )
        from crystaloop.cli.masked import generate_from_prototypes

        report = generate_from_prototypes(
            model_name, prototypes, n, out_path,
            temperature=temperature, top_k=top_k, keep_present=keep_present,
            screener=screener, seed=seed, device=check_device(device or settings.device),
            settings=settings,
        )  # fmt: skip
        _report(report, as_json)
        return
    if top_k is not None or keep_present:
        raise click.UsageError("--top-k and --keep-present go with --prototypes")
    if spacegroup is not None and not 1 <= spacegroup <= 230:
        raise click.BadParameter(
            f"{spacegroup} is not a space group (1-230)", param_hint="--spacegroup"
        )
    settings = load_settings_or_fail()
    mode = "csp" if composition else "abinitio"
    directory = resolve_generator(model_name, mode)
    model = load_generator_or_fail(directory, "cpu")
    cfg = model.config
    if spacegroup is not None and not cfg.cond_spacegroup:
        raise click.UsageError(
            f"generator {model_name} was not trained with a space-group condition"
        )
    if target_eform is not None and not cfg.cond_eform:
        raise click.UsageError(f"generator {model_name} was not trained with an eform condition")
    numbers = parse_composition(composition, cfg.max_atoms) if composition else None
    if numbers is not None and cfg.elements and set(numbers) - set(cfg.elements):
        click.echo(
            f"warning: {composition} has elements {model_name} never saw in training", err=True
        )
    device = check_device(device or settings.device)
    try:
        sampler = SeededSampler(
            model,
            n,
            seed,
            composition=numbers,
            num_atoms=num_atoms_strategy,
            options=sampler_options(steps, guidance, step_lr, anti_annealing),
            spacegroup=spacegroup,
            eform=target_eform,
            batch_size=batch_size,
            device=device,
            resample_rounds=resample_rounds,
        )
    except ValueError as err:
        raise click.ClickException(str(err)) from err
    screener = (
        make_screener(settings, corpus=use_corpus, processes=processes, allow_p1=allow_p1)
        if do_screen
        else None
    )
    tally = GenerationTally()

    def rows():
        try:
            yield from generation_rows(sampler, model_name, composition, screener, tally)
        except SamplingError as err:
            raise click.ClickException(str(err)) from err

    write_jsonl(out_path, rows())
    report = {"model": str(directory), **tally.as_dict(), "out": str(out_path)}
    if resample_rounds:
        report["resampling"] = {
            k: v for k, v in sampler.resampling.as_dict().items() if k != "still_invalid_indices"
        }
    _report(report, as_json)


def _report(report: dict[str, Any], as_json: bool) -> None:
    if as_json:
        echo_json(report)
        return
    line = (
        f"{report['generated']} structures written to {report['out']} "
        f"({report['sampling_seconds']} s sampling, {report['structures_per_hour']:,}/h)"
    )
    if "screens" in report:
        s = report["screens"]
        dropped = ", ".join(f"{k} {v}" for k, v in s["dropped"].items() if v)
        line += f"; {s['passed']} passed the screens" + (
            f" (dropped: {dropped})" if dropped else ""
        )
    if "resampling" in report:
        r = report["resampling"]
        line += (
            f"; {r['invalid_first']} invalid at first draw, {r['replaced']} replaced by "
            f"{r['redraws']} redraws, {r['still_invalid']} still invalid"
        )
    click.echo(line)
    if "metrics" in report:
        echo_json(report["metrics"])


@main.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--model", "model_name", required=True, help="Shipped generator name or directory.")
@click.option("--samples", "k", default=1, show_default=True, type=click.IntRange(1, 1000))
@click.option("--out", "out_path", required=True, type=click.Path(path_type=Path))
@click.option(
    "--metrics",
    "with_metrics",
    is_flag=True,
    help="Score the samples against the input structures (CSP match rate and RMSE, k = 1 and K).",
)
@with_screen_options
def csp(
    path: Path,
    model_name: str,
    k: int,
    out_path: Path,
    with_metrics: bool,
    do_screen: bool,
    use_corpus: bool,
    allow_p1: bool,
    processes: int,
    steps: int | None,
    step_lr: float | None,
    anti_annealing: float,
    batch_size: int,
    seed: int,
    device: str | None,
    as_json: bool,
) -> None:
    """Crystal structure prediction: K samples of the composition of every structure in PATH.

    PATH is any format 'corpus ingest' reads; each sample has the atoms of its record's
    primitive cell (as DiffCSP generates them). Output lines are {"source_id", "sample",
    "model", "structure"} with source_id the record's id (material_id when it has one), plus
    "screen" with --screen.
    """
    import torch

    from crystaloop.ml.generative.samplers import sample_crystals
    from crystaloop.stores.ingest.labelled import check_records
    from crystaloop.stores.ingest.training_sets import read_crystals, too_large
    from crystaloop.workflows.generation import attach_screens, candidate_rows, write_jsonl

    settings = load_settings_or_fail()
    directory = resolve_generator(model_name, "csp")
    model = load_generator_or_fail(directory, "cpu")
    with data_errors():
        crystals, references, errors = read_crystals(path, **record_limits(settings))
        check_records(errors + too_large(crystals, model.config.max_atoms), str(path))
    device = check_device(device or settings.device)
    torch.manual_seed(seed)
    options = sampler_options(steps, 1.0, step_lr, anti_annealing)
    counts = [c.num_atoms for c in crystals for _ in range(k)]
    numbers = [c.numbers.tolist() for c in crystals for _ in range(k)]
    start = time.perf_counter()
    try:
        generated = sample_crystals(
            model,
            counts,
            numbers,
            options=options,
            batch_size=batch_size,
            device=device,
        )
    except ValueError as err:
        raise click.ClickException(str(err)) from err
    sampling = time.perf_counter() - start
    ids = [c.source_id for c in crystals for _ in range(k)]
    rows, structures = candidate_rows(
        generated, ids, [j for _ in crystals for j in range(k)], model_name
    )
    report: dict[str, Any] = {"model": str(directory), "records": len(crystals)}
    if do_screen:
        screener = make_screener(
            settings, corpus=use_corpus, processes=processes, allow_p1=allow_p1
        )
        report["screens"] = attach_screens(rows, structures, screener)
    written = write_jsonl(out_path, rows)
    report.update(
        generated=written,
        sampling_seconds=round(sampling, 2),
        structures_per_hour=round(written / max(sampling, 1e-9) * 3600),
        out=str(out_path),
    )
    if with_metrics:
        from crystaloop.chem.metrics import csp_metrics

        per_record = [structures[i * k : (i + 1) * k] for i in range(len(crystals))]
        report["metrics"] = csp_metrics(per_record, references, ks=sorted({1, k}))
    _report(report, as_json)
