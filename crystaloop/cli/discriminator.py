"""``crystaloop train discriminator``: seed 000's match discriminator of a CSP generator."""

from __future__ import annotations

from pathlib import Path

import click

from crystaloop.cli.classifier import with_classifier_training
from crystaloop.cli.common import echo_json, load_settings_or_fail
from crystaloop.cli.surrogate import train

#: Sampling steps of the training samples: those campaigns sample with (CampaignOptions.steps;
#: workflows.discriminator.DEFAULT_STEPS, not imported here: ``--help`` stays free of jobflow).
DEFAULT_STEPS = 100


@train.command("discriminator")
@click.option("--generator", "generator_name", required=True, help="CSP generator (or bundle).")
@click.option(
    "--data",
    "data_path",
    type=click.Path(path_type=Path),
    help="Structures whose compositions are sampled (default: the generator's training data; "
    "only the records of its validation and test splits are used: held-out compositions).",
)
@click.option("--samples", default=5, show_default=True, type=click.IntRange(1, 100))
@click.option(
    "--rmsd",
    default=0.15,
    show_default=True,
    type=click.FloatRange(0, min_open=True),
    help="A sample is a match when DiffCSP's protocol matches it to the true structure with a "
    "normalised rms distance below this.",
)
@click.option(
    "--steps",
    default=DEFAULT_STEPS,
    show_default=True,
    type=click.IntRange(1),
    help="Sampling steps: those of the campaign whose candidates the discriminator will score "
    "(campaigns sample with 100).",
)
@click.option(
    "--from-masked",
    "masked_name",
    help="Start the classifier from this masked generator's backbone (else a fresh Crysformer).",
)
@click.option("--val-fraction", default=0.15, show_default=True)
@click.option("--test-fraction", default=0.25, show_default=True)
@with_classifier_training
def train_discriminator_command(
    generator_name: str,
    data_path: Path | None,
    samples: int,
    rmsd: float,
    steps: int,
    masked_name: str | None,
    out_dir: Path,
    epochs: int,
    minutes: float | None,
    batch_size: int,
    lr: float,
    seed: int,
    val_fraction: float,
    test_fraction: float,
    device: str | None,
    as_json: bool,
) -> None:
    """Train p_match: the chance that a CSP sample of the generator is the true structure.

    The generator samples --samples structures of every record of --data (default: its own
    data) whose composition it did not train on (not in its training split, no polymorph of a
    training composition); each is labelled a match or not by DiffCSP's protocol and --rmsd; a
    binary Crysformer learns the label. Samples of one composition stay in one split of the
    discriminator's own seeded split (ROC AUC and precision at p_match > 0.5 on its test split
    are in the card). p_match is a calibrated probability (no class re-weighting). Run from
    where the generator card's data path resolves (the repository root for shipped models).
    """
    from crystaloop.cli.classifier import make_classifier
    from crystaloop.cli.generator_io import check_device, load_generator_or_fail, resolve_generator
    from crystaloop.cli.masked import read_records
    from crystaloop.cli.surrogate_data import data_errors
    from crystaloop.ml.checkpoint import read_card
    from crystaloop.ml.classifier_fit import fit_classifier, labelled_sets
    from crystaloop.ml.crysformer.classifier import ClassifierOptions
    from crystaloop.ml.data.split import SplitPlan
    from crystaloop.workflows.discriminator import (
        GROUP_KEY,
        group_of,
        held_out_records,
        match_examples,
    )

    settings = load_settings_or_fail()
    try:
        plan = SplitPlan(val_fraction, test_fraction, seed)
    except ValueError as err:
        raise click.BadParameter(str(err)) from err
    directory = resolve_generator(generator_name, "csp")
    generator = load_generator_or_fail(directory, "cpu")
    card = read_card(directory)
    training = card.get("training") or {}
    own = card_data_path(training.get("data"))
    if "split" not in training or own is None:
        raise click.ClickException(
            f"{generator_name}'s card names no split or no data file here "
            f"({training.get('data')!r}): which compositions it trained on is unknown, and a "
            "discriminator of compositions it trained on would be fooled"
        )
    path = data_path or own
    if not path.exists():
        raise click.UsageError(f"--data {str(path)!r} is not here")
    records = read_records(path, settings)
    generator_records = records if path == own else read_records(own, settings)
    held_out, polymorphs = held_out_records(
        records, generator_records, SplitPlan.from_dict(training["split"])
    )
    if not held_out:
        raise click.ClickException(
            f"{path}: no record has a composition {generator_name} did not train on"
        )
    too_big = [sid for sid, s in held_out if len(s) > generator.config.max_atoms]
    if too_big:
        raise click.ClickException(
            f"{too_big[0]}: more atoms than {generator_name} makes ({generator.config.max_atoms})"
        )
    device = check_device(device or settings.device)
    with data_errors():
        examples = match_examples(
            generator.to(device), held_out, samples, rmsd, seed, steps, device=device
        )
    model = make_classifier(f"match(rmsd<{rmsd:g})", masked_name, seed)
    target = model.config.targets[0]
    sets = labelled_sets(
        examples.items, plan, model.config.k, model.config.cutoff, target, group_of=group_of
    )
    if not len(sets["train"]) or not len(sets["val"]):
        raise click.ClickException("too few held-out compositions for a train and a val split")
    options = ClassifierOptions(
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        device=device,
        time_limit=minutes * 60 if minutes else None,
    )
    record = {
        "data": str(path),
        "split": {**plan.as_dict(), "group": GROUP_KEY},
        "held_out_polymorphs_left_out": polymorphs,
        "from_masked": masked_name,
        "examples": examples.summary(),
        "matcher_errors_first": examples.matcher_errors[:5],
    }
    extra = {
        "generator": generator_name,
        "generator_sha256": card["sha256"],
        "rmsd": rmsd,
        "samples": samples,
        "steps": steps,
    }
    with data_errors():
        out = fit_classifier(
            model, sets, options, out_dir, "match", record, extra,
            log=lambda line: click.echo(line, err=True),
        )  # fmt: skip
    if as_json:
        echo_json(out)
        return
    scored = out["metrics"].get("test") or out["metrics"]["val"]
    summary = examples.summary()
    click.echo(
        f"match discriminator of {generator_name}: {summary['samples']} samples of "
        f"{summary['records']} held-out compositions ({summary['match_share']:.1%} matches); "
        f"ROC AUC {scored['auc']:.3f}, precision at p > 0.5 {scored['precision']:.3f}; "
        f"written to {out_dir}"
    )


def card_data_path(data: object) -> Path | None:
    """Return a model card's data file: as written, else relative to the repository root.

    Shipped models record paths relative to the checkout's root (``../shared/data/...``); a
    card naming several files, or a file found in neither place, gives ``None``.
    """
    if not isinstance(data, str):
        return None
    path = Path(data)
    if path.exists():
        return path
    import crystaloop

    rooted = Path(crystaloop.__file__).resolve().parents[1] / path
    return rooted if not path.is_absolute() and rooted.exists() else None
