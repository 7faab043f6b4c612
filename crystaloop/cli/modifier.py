"""``crystaloop train modifier`` and ``crystaloop modify``: seed 001's structure modification."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from crystaloop.cli import main
from crystaloop.cli.common import echo_json, load_settings_or_fail
from crystaloop.cli.generator_io import check_device, load_generator_or_fail, resolve_generator
from crystaloop.cli.surrogate import train
from crystaloop.cli.surrogate_data import data_errors, record_limits
from crystaloop.ml.generative.config import KINDS, SIZES, GeneratorTrainOptions

ENERGY_HELP = "Label holding each structure's energy per atom, eV (total or formation)."


def _read(paths: tuple[Path, ...], settings: Any, energy_label: str | None, sg: bool) -> list:
    from crystaloop.stores.ingest.labelled import check_records
    from crystaloop.stores.ingest.training_sets import read_crystal_sources

    what = ", ".join(map(str, paths))
    with data_errors():
        crystals, errors, _ = read_crystal_sources(
            paths, spacegroups=sg, eform_label=energy_label, **record_limits(settings)
        )
        check_records(errors, what)
    if not crystals:
        raise click.ClickException(f"{what}: no structures")
    return crystals


@train.command("modifier")
@click.option(
    "--data",
    "data_paths",
    required=True,
    multiple=True,
    type=click.Path(path_type=Path),
    help="Labelled structures (any format 'corpus ingest' reads): polymorph groups are the "
    "structures with the same formula per primitive cell.",
)
@click.option("--energy-label", default="energy_per_atom", show_default=True, help=ENERGY_HELP)
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path))
@click.option("--kind", type=click.Choice(list(KINDS)), default="flow", show_default=True)
@click.option(
    "--prior",
    type=click.Choice(["noise", "source"]),
    help="Where generation starts: source (flow only, the default for flow: the input "
    "structure plus noise) or noise (the generator's priors; diffusion always).",
)
@click.option("--source-noise", default=0.05, show_default=True, type=click.FloatRange(0, 1))
@click.option(
    "--targets-per-source",
    default=1,
    show_default=True,
    type=click.IntRange(1),
    help="Pairs per source: the group's most stable member, plus this minus one other members "
    "of lower energy drawn at random (downhill pairs; test pairs keep the most stable only).",
)
@click.option("--size", type=click.Choice(list(SIZES)), default="small", show_default=True)
@click.option("--cond-spacegroup", is_flag=True, help="Also condition on the target's space group.")
@click.option(
    "--from-generator",
    help="Start the denoiser from this CSP generator (same kind and size). It must not have "
    "seen the held-out groups.",
)
@click.option("--epochs", default=200, show_default=True, type=click.IntRange(1))
@click.option("--minutes", type=float, help="Stop after this much training time (best kept).")
@click.option("--batch-size", default=64, show_default=True, type=click.IntRange(1))
@click.option("--lr", default=1e-3, show_default=True, type=click.FloatRange(0, min_open=True))
@click.option("--seed", default=0, show_default=True, help="Seeds the group split and training.")
@click.option("--val-fraction", default=0.15, show_default=True)
@click.option("--test-fraction", default=0.15, show_default=True)
@click.option("--description", help="A sentence for the model card.")
@click.option("--device", default=None, help="Torch device (default: settings).")
@click.option("--json", "as_json", is_flag=True, help="Print the model card as JSON.")
def train_modifier_command(
    data_paths: tuple[Path, ...],
    energy_label: str,
    out_dir: Path,
    kind: str,
    prior: str | None,
    source_noise: float,
    targets_per_source: int,
    size: str,
    cond_spacegroup: bool,
    from_generator: str | None,
    epochs: int,
    minutes: float | None,
    batch_size: int,
    lr: float,
    seed: int,
    val_fraction: float,
    test_fraction: float,
    description: str | None,
    device: str | None,
    as_json: bool,
) -> None:
    """Train a structure modifier: less stable polymorph → the group's most stable one.

    Pairs are (each member of a polymorph group → its lowest-energy member) with their energy
    difference as a condition; groups go whole to train / validation / test by a seeded hash of
    their formula, so no group is in two splits.
    """
    from crystaloop.ml.data.split import SplitPlan
    from crystaloop.ml.generative.config import GeneratorConfig
    from crystaloop.ml.modify.fit import fit_modifier, new_modifier, pair_splits
    from crystaloop.ml.modify.model import ModifierConfig

    settings = load_settings_or_fail()
    try:
        plan = SplitPlan(val_fraction, test_fraction, seed)
        config = ModifierConfig(
            GeneratorConfig.sized(
                size, kind=kind, mode="csp", cond_eform=True, cond_spacegroup=cond_spacegroup
            ),
            prior=prior or ("source" if kind == "flow" else "noise"),
            source_noise=source_noise,
        )
    except ValueError as err:
        raise click.BadParameter(str(err)) from err
    crystals = _read(data_paths, settings, energy_label, cond_spacegroup)
    with data_errors():
        splits = pair_splits(crystals, plan, targets_per_source)
    if not splits["train"]:
        raise click.ClickException("no polymorph group fell in the training split")
    device = check_device(device or settings.device)
    base = None
    if from_generator is not None:
        base = load_generator_or_fail(resolve_generator(from_generator, "csp"), "cpu")
    with data_errors():
        model = new_modifier(config, splits, seed, init_from=base)
    options = GeneratorTrainOptions(
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        device=device,
        time_limit=minutes * 60 if minutes else None,
    )
    training = {
        "data": [str(p) for p in data_paths],
        "energy_label": energy_label,
        "targets_per_source": targets_per_source,
        "split": {**plan.as_dict(), "by": "polymorph group (formula per primitive cell)"},
        "initialised_from": from_generator,
        **({"description": description} if description else {}),
    }
    card, result = fit_modifier(
        model, splits, options, out_dir, training, log=lambda line: click.echo(line, err=True)
    )
    if as_json:
        echo_json(card)
        return
    sizes = card["training"]["sizes"]
    click.echo(
        f"{kind} modifier ({card['parameters']:,} parameters) trained on {sizes['train']} pairs "
        f"of {len(card['training']['groups']['train'])} groups for "
        f"{card['training']['epochs_run']} epochs; best validation loss "
        f"{result.best_val_loss:.4f}; written to {out_dir}"
    )


@main.command("modify")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--model", "model_name", required=True, help="Modifier name or directory.")
@click.option("--samples", default=1, show_default=True, type=click.IntRange(1, 100))
@click.option("--out", "out_path", required=True, type=click.Path(path_type=Path))
@click.option(
    "--delta-e",
    type=float,
    help="Energy drop to condition on, eV/atom (default: the mean of the model's training "
    "pairs). With --metrics each source's own drop to its group's best.",
)
@click.option(
    "--metrics",
    "with_metrics",
    is_flag=True,
    help="PATH holds whole polymorph groups with energies: modify every member but the most "
    "stable and report how many outputs match it (StructureMatcher, DiffCSP's tolerances).",
)
@click.option("--energy-label", default="energy_per_atom", show_default=True, help=ENERGY_HELP)
@click.option("--steps", type=click.IntRange(1), help="Sampling steps (default: the kind's).")
@click.option("--seed", default=0, show_default=True)
@click.option("--device", default=None, help="Torch device (default: settings).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def modify(
    path: Path,
    model_name: str,
    samples: int,
    out_path: Path,
    delta_e: float | None,
    with_metrics: bool,
    energy_label: str,
    steps: int | None,
    seed: int,
    device: str | None,
    as_json: bool,
) -> None:
    """Modify each structure of PATH toward a more stable polymorph; write JSON lines to OUT.

    Each line is {source_id, sample, structure} (a pymatgen Structure dict); the atoms of the
    source are kept.
    """
    from crystaloop.ml.checkpoint import CheckpointError
    from crystaloop.ml.generative.crystal import to_structure
    from crystaloop.ml.generative.samplers import SamplerOptions
    from crystaloop.ml.modify.checkpoint import find_modifier, load_modifier
    from crystaloop.ml.modify.sampling import modify_crystals

    settings = load_settings_or_fail()
    device = check_device(device or settings.device)
    try:
        model = load_modifier(find_modifier(model_name), device=device)
    except CheckpointError as err:
        raise click.ClickException(str(err)) from err
    crystals = _read((path,), settings, energy_label if with_metrics else None, False)
    targets = None
    if with_metrics:
        from crystaloop.ml.modify.pairs import polymorph_groups, polymorph_pairs

        with data_errors():
            pairs = polymorph_pairs(polymorph_groups(crystals))
        if not pairs:
            raise click.ClickException(f"{path}: no polymorph group of two or more structures")
        sources = [p.source for p in pairs]
        drops: Any = [p.delta_e for p in pairs]
        targets = [p.target for p in pairs]
    else:
        sources = crystals
        drops = model.config.eform_mean if delta_e is None else delta_e
    with data_errors():
        outputs = modify_crystals(
            model,
            sources,
            samples,
            drops,
            seed=seed,
            options=SamplerOptions(steps=steps),
            device=device,
        )
    structures = [[to_structure(c.lattice, c.frac, c.numbers) for c in row] for row in outputs]
    with out_path.open("w") as fh:
        for source, row in zip(sources, structures, strict=True):
            for k, structure in enumerate(row):
                line = {"source_id": source.source_id, "sample": k}
                fh.write(json.dumps({**line, "structure": structure.as_dict()}) + "\n")
    summary: dict[str, Any] = {"sources": len(sources), "samples": samples, "out": str(out_path)}
    if targets is not None:
        from crystaloop.chem.metrics import csp_metrics

        refs = [to_structure(t.lattice, t.frac, t.numbers) for t in targets]
        summary["match_to_most_stable"] = csp_metrics(structures, refs, ks=sorted({1, samples}))
    if as_json:
        echo_json(summary)
        return
    click.echo(f"modified {len(sources)} structures × {samples} samples → {out_path}")
    for k, row in (summary.get("match_to_most_stable") or {}).items():
        click.echo(
            f"match to the group's most stable polymorph, {k}: {row['match_rate']:.3f} "
            f"({row['n']} sources, {row['matcher_errors']} matcher errors)"
        )
