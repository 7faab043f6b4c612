"""``crystaloop train classifier``: a binary Crysformer classifier (stability, match)."""

from __future__ import annotations

from pathlib import Path

import click

from crystaloop.cli.common import echo_json, load_settings_or_fail
from crystaloop.cli.surrogate import train
from crystaloop.cli.surrogate_data import data_errors, fail_on, read_labelled

TASKS = ("stability", "match", "other")

#: Options of every classifier training command (``train classifier``, ``train discriminator``).
classifier_training = [
    click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path)),
    click.option("--epochs", default=50, show_default=True, type=click.IntRange(1)),
    click.option("--minutes", type=float, help="Stop after this much training time (best kept)."),
    click.option("--batch-size", default=64, show_default=True, type=click.IntRange(1)),
    click.option("--lr", default=1e-3, show_default=True, type=click.FloatRange(0, min_open=True)),
    click.option("--seed", default=0, show_default=True),
    click.option("--device", default=None, help="Torch device (default: settings)."),
    click.option("--json", "as_json", is_flag=True, help="Print the model card as JSON."),
]


def with_classifier_training(func):
    """Add the options of :data:`classifier_training`."""
    for option in reversed(classifier_training):
        func = option(func)
    return func


def read_binary(
    data_path: Path, settings: object, label: str | None, at_most: float | None
) -> list[tuple[str, object, float]]:
    """Return ``(id, structure, 0/1)`` of every record of ``data_path``, or exit saying why not.

    ``label`` ``None``: every record is 1.
    """
    from crystaloop.ml.classifier_fit import binary_label

    items, errors = read_labelled(data_path, settings)
    fail_on(errors, str(data_path))
    if not items:
        raise click.ClickException(f"{data_path}: no records")
    with data_errors():
        return [
            (sid, s, 1.0 if label is None else binary_label(labels, label, at_most, sid))
            for sid, s, labels in items
        ]


@train.command("classifier")
@click.option("--data", "data_path", required=True, type=click.Path(path_type=Path))
@click.option(
    "--label",
    required=True,
    help="The record label to learn: 0/1 as it is, or a number made 0/1 by --at-most.",
)
@click.option(
    "--at-most",
    type=float,
    help="Positive when the label is at most this (e.g. --label e_hull --at-most 0.1).",
)
@click.option("--task", type=click.Choice(TASKS), default="stability", show_default=True)
@click.option(
    "--from-masked",
    "masked_name",
    help="Start from this masked generator's backbone (seed 003's downstream fine-tuning).",
)
@click.option("--freeze-backbone", is_flag=True, help="Train the head only (with --from-masked).")
@click.option("--hidden", type=click.IntRange(1), help="Scalar channels of a fresh backbone.")
@click.option("--layers", type=click.IntRange(1), help="Attention layers of a fresh backbone.")
@click.option("--patience", default=10, show_default=True, type=click.IntRange(1))
@click.option("--val-fraction", default=0.1, show_default=True)
@click.option("--test-fraction", default=0.1, show_default=True)
@with_classifier_training
def train_classifier_command(
    data_path: Path,
    label: str,
    at_most: float | None,
    task: str,
    masked_name: str | None,
    freeze_backbone: bool,
    hidden: int | None,
    layers: int | None,
    out_dir: Path,
    epochs: int,
    minutes: float | None,
    batch_size: int,
    lr: float,
    patience: int,
    seed: int,
    val_fraction: float,
    test_fraction: float,
    device: str | None,
    as_json: bool,
) -> None:
    """Train a binary classifier p(label) on the structures of --data and write it to OUT.

    Records are split by a seeded hash of their id; the epoch of the lowest validation loss is
    kept and scored on the test split (ROC AUC, precision and recall at p > 0.5 in the card).
    With --from-masked the classifier starts from a masked generator's pre-trained backbone.
    """
    from crystaloop.cli.generator_io import check_device
    from crystaloop.ml.classifier_fit import fit_classifier, labelled_sets
    from crystaloop.ml.crysformer.classifier import ClassifierOptions
    from crystaloop.ml.data.split import SplitPlan

    settings = load_settings_or_fail()
    if masked_name is None and freeze_backbone:
        raise click.UsageError("--freeze-backbone goes with --from-masked")
    if masked_name is not None and (hidden or layers):
        raise click.UsageError("--hidden and --layers size a fresh backbone, not --from-masked")
    try:
        plan = SplitPlan(val_fraction, test_fraction, seed)
    except ValueError as err:
        raise click.BadParameter(str(err)) from err
    labelled = read_binary(data_path, settings, label, at_most)
    target = label if at_most is None else f"{label}<={at_most:g}"
    model = make_classifier(target, masked_name, seed, hidden, layers)
    sets = labelled_sets(labelled, plan, model.config.k, model.config.cutoff, target)
    if not len(sets["train"]) or not len(sets["val"]):
        raise click.ClickException(f"{data_path}: too few records for a train and a val split")
    options = ClassifierOptions(
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        device=check_device(device or settings.device),
        patience=patience,
        time_limit=minutes * 60 if minutes else None,
        freeze_backbone=freeze_backbone,
    )
    training = {
        "data": str(data_path),
        "label": label,
        "at_most": at_most,
        "split": plan.as_dict(),
        "from_masked": masked_name,
    }
    with data_errors():
        card = fit_classifier(
            model, sets, options, out_dir, task, training,
            log=lambda line: click.echo(line, err=True),
        )  # fmt: skip
    if as_json:
        echo_json(card)
        return
    scored = card["metrics"].get("test") or card["metrics"]["val"]
    click.echo(
        f"{task} classifier ({card['parameters']:,} parameters) trained on "
        f"{card['training']['sizes']['train']} structures; "
        f"{'test' if 'test' in card['metrics'] else 'val'} ROC AUC {scored['auc']:.3f}, "
        f"precision at p > 0.5 {scored['precision']:.3f}; written to {out_dir}"
    )


def make_classifier(
    target: str,
    masked_name: str | None,
    seed: int,
    hidden: int | None = None,
    layers: int | None = None,
):
    """Return a binary Crysformer: from a masked generator's backbone, or fresh (sized)."""
    import torch

    from crystaloop.cli.masked import load_masked_or_fail
    from crystaloop.ml.crysformer.classifier import classifier_config, from_backbone
    from crystaloop.ml.crysformer.config import CrysformerConfig
    from crystaloop.ml.crysformer.model import Crysformer

    if masked_name is not None:
        _, masked = load_masked_or_fail(masked_name)
        return from_backbone(masked.backbone, target, seed)
    sizes = {k: v for k, v in (("scalar_channels", hidden), ("num_layers", layers)) if v}
    try:
        config = classifier_config(CrysformerConfig(**sizes), target)
    except ValueError as err:
        raise click.BadParameter(str(err)) from err
    torch.manual_seed(seed)
    return Crysformer(config)
