"""``crystaloop train generator``: train or fine-tune a diffusion / flow-matching generator."""

from __future__ import annotations

from pathlib import Path

import click

from crystaloop.cli.common import echo_json, load_settings_or_fail
from crystaloop.cli.generator_io import check_device, load_generator_or_fail, resolve_generator
from crystaloop.cli.surrogate import train
from crystaloop.cli.surrogate_data import data_errors, fail_on, record_limits
from crystaloop.ml.generative.config import (  # plain dataclasses: no torch at import
    DEFAULT_LAMBDA_TYPE,
    KINDS,
    MODES,
    SIZES,
    GeneratorConfig,
    GeneratorTrainOptions,
)
from crystaloop.ml.masked.config import MaskedConfig  # a plain dataclass: no torch at import


@train.command("generator")
@click.option(
    "--data",
    "data_paths",
    required=True,
    multiple=True,
    type=click.Path(path_type=Path),
    help="Structures, in any format 'corpus ingest' reads; repeat it to train on several files "
    "(each record keeps its file's id, so each file is split as it would be alone).",
)
@click.option(
    "--max-atoms",
    type=click.IntRange(1),
    help="Leave out crystals with more atoms in their primitive cell (counted in the card).",
)
@click.option(
    "--description",
    help="A sentence for the model card: what the model was trained on and what it is for.",
)
@click.option(
    "--kind",
    type=click.Choice([*KINDS, "masked"]),
    default=GeneratorConfig.kind,
    show_default=True,
    help="diffusion or flow: generate crystals; masked: the self-supervised generator that "
    "fills masked species and displaced atoms of known crystals in (seed 003; it proposes "
    "substitutions of prototypes).",
)
@click.option(
    "--mode",
    type=click.Choice(list(MODES)),
    help="csp (default): generate L, F for given atoms; abinitio: draw N and generate the types "
    "too. With --from: which model of a bundle to fine-tune.",
)
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path))
@click.option(
    "--epochs", default=GeneratorTrainOptions.epochs, show_default=True, type=click.IntRange(1)
)
@click.option("--minutes", type=float, help="Stop after this much training time (best kept).")
@click.option(
    "--batch-size",
    default=GeneratorTrainOptions.batch_size,
    show_default=True,
    type=click.IntRange(1),
)
@click.option(
    "--lr",
    default=GeneratorTrainOptions.lr,
    show_default=True,
    type=click.FloatRange(0, min_open=True),
)
@click.option(
    "--warmup",
    default=GeneratorTrainOptions.warmup,
    show_default=True,
    type=click.FloatRange(0, 1, max_open=True),
    help="Fraction of the budget (epochs or --minutes) warming the learning rate up; it then "
    "decays (cosine) to lr/10 at the end of the budget.",
)
@click.option(
    "--ema-decay",
    default=GeneratorTrainOptions.ema_decay,
    show_default=True,
    type=click.FloatRange(0, 1, max_open=True),
    help="Decay of the moving average of the weights that is validated and saved (0: none).",
)
@click.option(
    "--size",
    type=click.Choice(list(SIZES)),
    default="small",
    show_default=True,
    help="Denoiser size: small (128 × 4, the shipped CPU models) or diffcsp (512 × 6, 128 "
    "Fourier frequencies, 256-dim time embedding).",
)
@click.option(
    "--hidden",
    type=click.IntRange(1),
    help=f"Width (default: the size's, {SIZES['small']['hidden']} for small).",
)
@click.option(
    "--layers",
    type=click.IntRange(1),
    help=f"Message-passing layers (default: the size's, {SIZES['small']['layers']} for small).",
)
@click.option(
    "--timesteps",
    default=GeneratorConfig.timesteps,
    show_default=True,
    type=click.IntRange(1),
    help="Diffusion T.",
)
@click.option(
    "--lambda-type",
    type=float,
    help="Type-loss weight (ab initio; default: the kind's, "
    + ", ".join(f"{w:g} for {kind}" for kind, w in DEFAULT_LAMBDA_TYPE.items())
    + ").",
)
@click.option(
    "--noise",
    type=click.FloatRange(0),
    help=f"masked: Gaussian displacement of every atom in pre-training, Å (default "
    f"{MaskedConfig.noise}; the seed uses 0.1 and 0.2).",
)
@click.option(
    "--mask-fraction",
    type=click.FloatRange(0, 1, min_open=True),
    help=f"masked: share of atoms of the random mask (default {MaskedConfig.mask_fraction}; the "
    "other half of the crystals get all atoms of one species masked).",
)
@click.option(
    "--w-position",
    type=click.FloatRange(0),
    help=f"masked: weight of the displacement MSE against the species NLL (default "
    f"{MaskedConfig.w_position:g}).",
)
@click.option("--cond-spacegroup", is_flag=True, help="Condition on the space group (CFG).")
@click.option(
    "--cond-eform",
    "eform_label",
    help="Condition on this label (formation energy, eV/atom) with classifier-free guidance.",
)
@click.option(
    "--seed",
    default=0,
    show_default=True,
    help="Seeds the split, the initial weights and the training.",
)
@click.option("--val-fraction", default=0.1, show_default=True)
@click.option("--test-fraction", default=0.1, show_default=True)
@click.option("--from", "base_model", help="Fine-tune this generator (name or directory).")
@click.option(
    "--replay",
    "replay_path",
    type=click.Path(path_type=Path),
    help="With --from: old structures replayed beside the new ones.",
)
@click.option("--replay-fraction", default=1.0, show_default=True, type=click.FloatRange(0))
@click.option("--device", default=None, help="Torch device (default: settings).")
@click.option("--json", "as_json", is_flag=True, help="Print the model card as JSON.")
def train_generator_command(
    data_paths: tuple[Path, ...],
    max_atoms: int | None,
    description: str | None,
    kind: str,
    mode: str | None,
    out_dir: Path,
    epochs: int,
    minutes: float | None,
    batch_size: int,
    lr: float,
    warmup: float,
    ema_decay: float,
    size: str,
    hidden: int | None,
    layers: int | None,
    timesteps: int,
    lambda_type: float | None,
    noise: float | None,
    mask_fraction: float | None,
    w_position: float | None,
    cond_spacegroup: bool,
    eform_label: str | None,
    seed: int,
    val_fraction: float,
    test_fraction: float,
    base_model: str | None,
    replay_path: Path | None,
    replay_fraction: float,
    device: str | None,
    as_json: bool,
) -> None:
    """Train a crystal generator on the structures of the --data files and write it to OUT.

    Records go to train / validation / test by a seeded hash of their id (as for the
    surrogate); the model with the best validation loss is kept. With --from MODEL the
    generator continues training on the new structures (its configuration, sizes and
    normalisation are kept; --replay OLD mixes old structures in so it does not forget them).

    --kind masked pre-trains the masked generator instead: each crystal gets all atoms of one
    species or --mask-fraction of its atoms masked and every atom displaced by --noise Å, and
    the network learns to fill the species in and move the atoms back.
    """
    from crystaloop.ml.data.split import SplitPlan
    from crystaloop.ml.generative.fit import fit_generator, new_generator
    from crystaloop.ml.generative.training import merge_statistics, replay_mix
    from crystaloop.stores.ingest.labelled import check_records
    from crystaloop.stores.ingest.training_sets import (
        read_crystal_sources,
        read_crystals,
        too_large,
    )

    settings = load_settings_or_fail()
    masked = {"noise": noise, "mask_fraction": mask_fraction, "w_position": w_position}
    if kind != "masked" and any(v is not None for v in masked.values()):
        raise click.UsageError("--noise, --mask-fraction and --w-position go with --kind masked")
    try:
        plan = SplitPlan(val_fraction, test_fraction, seed)
    except ValueError as err:
        raise click.BadParameter(str(err)) from err
    limits = record_limits(settings)
    base = None
    if kind == "masked":
        if cond_spacegroup or eform_label or mode or lambda_type is not None:
            raise click.UsageError(
                "a masked generator takes no --mode, --lambda-type or conditions"
            )
        if base_model is not None and (hidden or layers):
            raise click.UsageError("--hidden and --layers size a new model, not one --from")
        if replay_path is not None and base_model is None:
            raise click.UsageError("--replay goes with --from")
    elif base_model is not None:
        base = load_generator_or_fail(resolve_generator(base_model, mode), "cpu")
        cond_spacegroup = base.config.cond_spacegroup
        if base.config.cond_eform and eform_label is None:
            raise click.UsageError("the base model is conditioned on eform: give --cond-eform")
    elif replay_path is not None:
        raise click.UsageError("--replay goes with --from")
    what = ", ".join(map(str, data_paths))
    with data_errors():
        crystals, errors, sources = read_crystal_sources(
            data_paths,
            spacegroups=cond_spacegroup,
            eform_label=eform_label,
            max_atoms=max_atoms,
            **limits,
        )
        check_records(errors, what)
    splits = plan.partition(crystals, lambda c: c.source_id)
    if not splits["train"]:
        raise click.ClickException(f"{what}: no records fell in the training split")
    device = check_device(device or settings.device)
    options = GeneratorTrainOptions(
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        device=device,
        time_limit=minutes * 60 if minutes else None,
        eval_every=1,
        warmup=warmup,
        ema_decay=ema_decay or None,
    )
    training = {
        "data": str(data_paths[0]) if len(data_paths) == 1 else [str(p) for p in data_paths],
        "sources": sources,
        **({"max_atoms": max_atoms} if max_atoms is not None else {}),
        **({"description": description} if description else {}),
        "split": plan.as_dict(),
        "fine_tuned_from": base_model,
    }
    if kind == "masked":
        from crystaloop.cli.masked import train_masked

        sizes = {"scalar_channels": hidden, "num_layers": layers}
        old = None
        if replay_path is not None:
            with data_errors():
                old, _, old_errors = read_crystals(replay_path, **limits)
                check_records(old_errors, str(replay_path))
        card, result = train_masked(
            splits, options, out_dir, training, masked, sizes, base_model, old, plan,
            replay_fraction,
        )  # fmt: skip
        _say_trained(card, result.best_val_loss, out_dir, as_json)
        return
    if base is None:
        try:
            widths = {k: v for k, v in (("hidden", hidden), ("layers", layers)) if v is not None}
            config = GeneratorConfig.sized(
                size,
                **widths,
                kind=kind,
                mode=mode or GeneratorConfig.mode,
                timesteps=timesteps,
                lambda_type=lambda_type,  # None: the kind's default
                cond_spacegroup=cond_spacegroup,
                cond_eform=eform_label is not None,
            )
        except ValueError as err:
            raise click.BadParameter(str(err)) from err
        model = new_generator(config, splits, seed)  # seeded as the split and the training
    else:
        model = base
        fail_on(too_large(crystals, model.config.max_atoms), what)
        merge_statistics(model.config, splits["train"])
    if replay_path is not None:
        with data_errors():
            old, _, old_errors = read_crystals(
                replay_path, spacegroups=cond_spacegroup, eform_label=eform_label, **limits
            )
            check_records(old_errors + too_large(old, model.config.max_atoms), str(replay_path))
        old_splits = plan.partition(old, lambda c: c.source_id)
        splits["train"] = replay_mix(splits["train"], old_splits["train"], replay_fraction, seed)
        splits["val"] = replay_mix(splits["val"], old_splits["val"], replay_fraction, seed)
    card, result = fit_generator(
        model, splits, options, out_dir, training, log=lambda line: click.echo(line, err=True)
    )
    _say_trained(card, result.best_val_loss, out_dir, as_json)


def _say_trained(card: dict, best: float, out_dir: Path, as_json: bool) -> None:
    if as_json:
        echo_json(card)
        return
    click.echo(
        f"{card['generator']} {card['mode']} generator ({card['parameters']:,} parameters) "
        f"trained on {card['training']['sizes']['train']} structures for "
        f"{card['training']['epochs_run']} "
        f"epochs; best validation loss {best:.4f}; written to {out_dir}"
    )
