"""The masked generator's commands: its training branch and ``crystaloop reconstruct``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from crystaloop.cli import main


def train_masked(
    splits: dict[str, list[Any]],
    options: Any,
    out_dir: Path,
    training: dict[str, Any],
    masked: dict[str, float | None],
    sizes: dict[str, int | None],
    base_model: str | None,
    old: list[Any] | None,
    plan: Any,
    replay_fraction: float,
) -> tuple[dict[str, Any], Any]:
    """Pre-train (or, with ``base_model``, fine-tune) a masked generator; return the card.

    ``splits`` hold crystals (:class:`~crystaloop.ml.generative.crystal.CrystalArrays`);
    ``masked`` the options of the masked pre-training left ``None`` for the default (or, when
    fine-tuning, the base model's); ``sizes`` the backbone widths; ``old`` replayed crystals.
    """
    from crystaloop.ml.checkpoint import CheckpointError
    from crystaloop.ml.generative.training import replay_mix
    from crystaloop.ml.masked.checkpoint import find_masked, load_masked
    from crystaloop.ml.masked.config import MaskedConfig
    from crystaloop.ml.masked.data import crystal_graphs
    from crystaloop.ml.masked.fit import check_elements, fit_masked, new_masked

    given = {k: v for k, v in masked.items() if v is not None}
    if base_model is None:
        backbone = {k: v for k, v in sizes.items() if v is not None}
        try:
            config = MaskedConfig(backbone=backbone, **given)
            from crystaloop.ml.masked.model import backbone_config

            backbone_config(config)  # widths checked before the graphs are built
        except ValueError as err:
            raise click.BadParameter(str(err)) from err
        k, cutoff = _graph_shape(config)
        graphs = {name: crystal_graphs(part, k, cutoff) for name, part in splits.items()}
        model = new_masked(config, graphs, options.seed)
    else:
        try:
            model = load_masked(find_masked(base_model))
        except CheckpointError as err:
            raise click.ClickException(str(err)) from err
        try:
            model.config = MaskedConfig.from_dict({**model.config.to_dict(), **given})
        except ValueError as err:
            raise click.BadParameter(str(err)) from err
        k, cutoff = _graph_shape(model.config)
        graphs = {name: crystal_graphs(part, k, cutoff) for name, part in splits.items()}
        if old is not None:
            old_splits = plan.partition(old, lambda c: c.source_id)
            for name in ("train", "val"):
                mixed = replay_mix(splits[name], old_splits[name], replay_fraction, options.seed)
                graphs[name] = crystal_graphs(mixed, k, cutoff)
        try:
            for name, part in graphs.items():
                check_elements(model, part, f"the {name} split")
        except ValueError as err:
            raise click.ClickException(str(err)) from err
    return fit_masked(
        model, graphs, options, out_dir, training, log=lambda line: click.echo(line, err=True)
    )


def _graph_shape(config: Any) -> tuple[int, float]:
    from crystaloop.ml.masked.model import backbone_config

    backbone = backbone_config(config)
    return backbone.k, backbone.cutoff


def read_records(path: Path, settings: Any) -> list[tuple[str, Any]]:
    """Return ``(source_id, primitive structure)`` of every record of ``path``.

    Exits naming the invalid records, or saying the file holds none.
    """
    from crystaloop.cli.surrogate_data import data_errors, record_limits
    from crystaloop.ml.generative.crystal import to_structure
    from crystaloop.stores.ingest.labelled import check_records
    from crystaloop.stores.ingest.training_sets import read_crystals

    with data_errors():
        crystals, _, errors = read_crystals(path, **record_limits(settings))
        check_records(errors, str(path))
    if not crystals:
        raise click.ClickException(f"{path}: no records")
    return [(c.source_id, to_structure(c.lattice, c.frac, c.numbers)) for c in crystals]


def load_masked_or_fail(model_name: str, device: str = "cpu") -> tuple[Path, Any]:
    """Return the directory and the model of a masked generator, or exit saying why not."""
    from crystaloop.ml.checkpoint import CheckpointError
    from crystaloop.ml.masked.checkpoint import find_masked, load_masked

    try:
        directory = find_masked(model_name)
        return directory, load_masked(directory, device=device)
    except (CheckpointError, ValueError) as err:
        raise click.ClickException(str(err)) from err


sampling_options = [
    click.option(
        "--temperature",
        default=1.0,
        show_default=True,
        type=click.FloatRange(0, min_open=True),
        help="Masked generators: divides the species log-probabilities before the draw.",
    ),
    click.option(
        "--top-k",
        type=click.IntRange(1),
        help="Masked generators: draw only among the K most probable elements (default: all).",
    ),
]


def with_sampling_options(func):
    """Add ``--temperature`` and ``--top-k``."""
    for option in reversed(sampling_options):
        func = option(func)
    return func


@main.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--model", "model_name", required=True, help="Masked generator: name or directory.")
@click.option(
    "--mask",
    type=click.Choice(["species", "random"]),
    default="species",
    show_default=True,
    help="species: every site of one element (--species, else a random one of the record's); "
    "random: --fraction of the sites.",
)
@click.option("--species", help="With --mask species: the element to mask (e.g. Sr).")
@click.option(
    "--fraction",
    default=0.15,
    show_default=True,
    type=float,
    help="With --mask random: share of sites masked (at least one).",
)
@click.option(
    "--noise",
    default=0.1,
    show_default=True,
    type=click.FloatRange(0),
    help="Gaussian displacement of every atom, Å (mean-free per crystal).",
)
@click.option("--samples", "k", default=1, show_default=True, type=click.IntRange(1, 1000))
@click.option(
    "--exclude-original",
    is_flag=True,
    help="Never draw a masked site's own element (propose substitutions instead).",
)
@with_sampling_options
@click.option("--out", "out_path", required=True, type=click.Path(path_type=Path))
@click.option("--seed", default=0, show_default=True, help="Seeds the masks, noise and draws.")
@click.option("--device", default=None, help="Torch device (default: settings).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def reconstruct(
    path: Path,
    model_name: str,
    mask: str,
    species: str | None,
    fraction: float,
    noise: float,
    k: int,
    exclude_original: bool,
    temperature: float,
    top_k: int | None,
    out_path: Path,
    seed: int,
    device: str | None,
    as_json: bool,
) -> None:
    """Mask and displace every structure in PATH and let a masked generator reconstruct it.

    For each record (its primitive cell) the output has the masked and displaced input
    ({"role": "input", "sample": 0}, masked sites as the dummy species X), then K
    reconstructions ({"role": "reconstruction", "sample": 1..K}); every line holds
    {source_id, sample, role, masked_species, masked_sites, structure}. The summary gives
    the share of masked sites whose element came back (species recovery).
    """
    from crystaloop.cli.common import echo_json, load_settings_or_fail
    from crystaloop.cli.generator_io import check_device
    from crystaloop.ml.masked.sampling import mask_inputs
    from crystaloop.ml.masked.sampling import reconstruct as run
    from crystaloop.workflows.generation import write_jsonl

    settings = load_settings_or_fail()
    directory, model = load_masked_or_fail(model_name)
    records = read_records(path, settings)
    device = check_device(device or settings.device)
    model.to(device)
    try:
        inputs = mask_inputs(model, records, mask, noise, seed, species, fraction)
        results = run(model, inputs, k, seed, temperature, top_k, exclude_original, device)
    except ValueError as err:
        raise click.ClickException(str(err)) from err
    recovered = total = 0

    def rows():
        nonlocal recovered, total
        for rec in results:
            x = rec.input
            head = {
                "source_id": x.source_id,
                "masked_species": x.masked_species,
                "masked_sites": [int(i) for i in x.mask.nonzero()[0]],
            }
            yield {
                **head,
                "sample": 0,
                "role": "input",
                "structure": x.masked_structure().as_dict(),
            }
            original = [site.specie.Z for site in x.structure]
            for j, (numbers, s) in enumerate(zip(rec.numbers, rec.structures(), strict=True)):
                hits = [numbers[i] == original[i] for i in head["masked_sites"]]
                recovered += sum(hits)
                total += len(hits)
                yield {**head, "sample": j + 1, "role": "reconstruction", "structure": s.as_dict()}

    written = write_jsonl(out_path, rows())
    report = {
        "model": str(directory),
        "records": len(records),
        "written": written,
        "species_recovery": round(recovered / max(total, 1), 4),
        "out": str(out_path),
    }
    if as_json:
        echo_json(report)
    else:
        click.echo(
            f"{len(records)} records × {k} reconstructions written to {out_path}; species "
            f"recovery {report['species_recovery']:.3f} of {total} masked sites"
        )


def generate_from_prototypes(
    model_name: str,
    prototypes: Path,
    n: int,
    out_path: Path,
    *,
    temperature: float,
    top_k: int | None,
    keep_present: bool,
    screener: Any,
    seed: int,
    device: str,
    settings: Any,
) -> dict[str, Any]:
    """Write ``n`` substitution proposals of a masked generator on the prototypes; return a summary.

    Lines are {source_id, sample, model, substitution: {from, to, log_prob}, structure} (plus
    "screen" when ``screener`` is given).
    """
    import time

    from crystaloop.ml.masked.proposals import propose
    from crystaloop.workflows.generation import attach_screens, write_jsonl

    directory, model = load_masked_or_fail(model_name, device)
    records = read_records(prototypes, settings)
    start = time.perf_counter()
    try:
        proposals = propose(
            model, records, n, seed, temperature, top_k, not keep_present, device=device
        )
    except ValueError as err:
        raise click.ClickException(str(err)) from err
    seconds = time.perf_counter() - start
    rows = [
        {
            "source_id": p.source_id,
            "sample": j,
            "model": model_name,
            "substitution": {"from": p.original, "to": p.element, "log_prob": round(p.log_prob, 4)},
            "structure": p.structure.as_dict(),
        }
        for j, p in enumerate(proposals)
    ]
    report: dict[str, Any] = {"model": str(directory), "prototypes": len(records)}
    if screener is not None:
        report["screens"] = attach_screens(rows, [p.structure for p in proposals], screener)
    written = write_jsonl(out_path, rows)
    report.update(
        generated=written,
        sampling_seconds=round(seconds, 2),
        structures_per_hour=round(written / max(seconds, 1e-9) * 3600),
        out=str(out_path),
    )
    return report
