"""``crystaloop train masked-gan``: GAN fine-tuning of a masked generator (seed 003)."""

from __future__ import annotations

from pathlib import Path

import click

from crystaloop.cli.common import echo_json, load_settings_or_fail
from crystaloop.cli.surrogate import train
from crystaloop.cli.surrogate_data import data_errors


@train.command("masked-gan")
@click.option("--generator", "generator_name", required=True, help="Masked generator to tune.")
@click.option(
    "--critic",
    "critic_name",
    required=True,
    help="The critic's starting point: a classifier, e.g. the generator's downstream stability "
    "classifier ('train classifier --from-masked').",
)
@click.option("--data", "data_path", required=True, type=click.Path(path_type=Path))
@click.option(
    "--label",
    help="The real crystals' stability label (0/1, or a number made 0/1 by --at-most); "
    "default: every real crystal counts as 1.",
)
@click.option("--at-most", type=float, help="Positive when the label is at most this.")
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path))
@click.option("--epochs", default=5, show_default=True, type=click.IntRange(1))
@click.option("--minutes", type=float, help="Stop after this much training time.")
@click.option("--batch-size", default=32, show_default=True, type=click.IntRange(1))
@click.option("--w-adversarial", default=0.1, show_default=True, type=click.FloatRange(0))
@click.option("--critic-every", default=10, show_default=True, type=click.IntRange(1))
@click.option("--seed", default=0, show_default=True)
@click.option(
    "--val-fraction",
    type=float,
    help="With --test-fraction: the split of --data (default: the generator's own split, so "
    "its held-out structures stay out of the GAN too).",
)
@click.option("--test-fraction", type=float)
@click.option("--device", default=None, help="Torch device (default: settings).")
@click.option("--json", "as_json", is_flag=True, help="Print the generator's card as JSON.")
def train_masked_gan_command(
    generator_name: str,
    critic_name: str,
    data_path: Path,
    label: str | None,
    at_most: float | None,
    out_dir: Path,
    epochs: int,
    minutes: float | None,
    batch_size: int,
    w_adversarial: float,
    critic_every: int,
    seed: int,
    val_fraction: float | None,
    test_fraction: float | None,
    device: str | None,
    as_json: bool,
) -> None:
    """Fine-tune a masked generator against a critic on the training split of --data.

    The seed's recipe: Wasserstein-style losses with the reconstruction terms kept in the
    generator's loss (weight --w-adversarial on the adversarial term), learning rates 1e-4 and
    1e-5, the generator updated --critic-every times per critic update, 0.001 Å noise on the
    real crystals. The tuned generator goes to OUT, the critic to OUT/critic.
    """
    from crystaloop.cli.classifier import read_binary
    from crystaloop.cli.generator_io import check_device
    from crystaloop.cli.masked import load_masked_or_fail
    from crystaloop.ml.checkpoint import CheckpointError, read_card
    from crystaloop.ml.classifier_checkpoint import find_classifier, load_classifier
    from crystaloop.ml.data.split import SplitPlan
    from crystaloop.ml.masked.gan import GanOptions, fit_gan
    from crystaloop.ml.masked.sampling import check_known

    settings = load_settings_or_fail()
    if at_most is not None and label is None:
        raise click.UsageError("--at-most goes with --label")
    directory, generator = load_masked_or_fail(generator_name)
    pretraining = read_card(directory).get("training") or {}
    if (val_fraction is None) != (test_fraction is None):
        raise click.UsageError("give both --val-fraction and --test-fraction, or neither")
    if val_fraction is None and "split" not in pretraining:
        raise click.UsageError(
            f"{generator_name}'s card has no split: give --val-fraction and --test-fraction "
            "(the structures it was not trained on must stay out of the GAN too)"
        )
    try:
        if val_fraction is None:
            plan = SplitPlan.from_dict(pretraining["split"])
        else:
            plan = SplitPlan(val_fraction, test_fraction, seed)
    except ValueError as err:
        raise click.BadParameter(str(err)) from err
    labelled = read_binary(data_path, settings, label, at_most)
    with data_errors():
        for sid, s, _ in labelled:  # a clear error before any training
            check_known(generator, sid, s)
    try:
        critic = load_classifier(find_classifier(critic_name))
    except CheckpointError as err:
        raise click.ClickException(str(err)) from err
    options = GanOptions(
        epochs=epochs,
        batch_size=batch_size,
        seed=seed,
        device=check_device(device or settings.device),
        time_limit=minutes * 60 if minutes else None,
        w_adversarial=w_adversarial,
        critic_every=critic_every,
    )
    training = {
        "gan_of": generator_name,
        "critic_from": critic_name,
        "data": str(data_path),
        "label": label,
        "at_most": at_most,
        "split": plan.as_dict(),
        "pretraining": pretraining,
    }
    with data_errors():
        card, _ = fit_gan(
            generator, critic, labelled, plan, options, out_dir, training,
            log=lambda line: click.echo(line, err=True),
        )  # fmt: skip
    if as_json:
        echo_json(card)
        return
    gan = card["training"]["gan"]
    click.echo(
        f"masked generator tuned against its critic on {gan['train_size']} structures "
        f"({gan['generator_steps']} generator / {gan['critic_steps']} critic steps); "
        f"written to {out_dir} (critic: {out_dir / 'critic'})"
    )
