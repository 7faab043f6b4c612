"""``crystaloop train surrogate`` and ``crystaloop predict``: the Crysformer surrogate."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import click

from crystaloop.cli import main
from crystaloop.cli.common import echo_json, load_settings_or_fail
from crystaloop.cli.surrogate_data import fail_on, read_labelled, split_in_memory, split_to_cache
from crystaloop.ml.data.graph_sets import sample_ids
from crystaloop.ml.data.split import SplitPlan


def load_base(name_or_dir: str, names: list[str]) -> tuple[Any, str]:
    """Load the model to fine-tune; its targets must be the requested ones."""
    from crystaloop.ml.checkpoint import CheckpointError, load_ensemble, read_card

    directory = resolve_model_dir(name_or_dir)
    try:
        base = load_ensemble(directory)
    except CheckpointError as err:
        raise click.ClickException(str(err)) from err
    if list(base.config.targets) != names:
        raise click.ClickException(
            f"model {name_or_dir} predicts {', '.join(base.config.targets)}; "
            f"fine-tuning needs the same --target list"
        )
    return base, read_card(directory)["sha256"]


def resolve_model_dir(name_or_dir: str) -> Path:
    """Return the directory of a shipped model name or of a model directory."""
    from crystaloop.ml.checkpoint import CheckpointError, find_surrogate

    try:
        return find_surrogate(name_or_dir)
    except CheckpointError as err:
        raise click.ClickException(str(err)) from err


@main.group()
def train() -> None:
    """Train models: surrogates, generators, modifiers and classifiers.

    The Crysformer surrogate, the crystal generators (diffusion, flow, masked), structure
    modifiers and binary classifiers (stability, the match discriminator).
    """


@train.command("surrogate")
@click.option(
    "--data",
    "data_path",
    required=True,
    type=click.Path(path_type=Path),
    help="Labelled structures, in any format 'corpus ingest' reads.",
)
@click.option(
    "--target", "targets", required=True, help="Comma-separated label names, e.g. heat_ref,dir_gap."
)
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(path_type=Path),
    help="Model directory to write (model.pt, model.json, split.json).",
)
@click.option("--members", default=3, show_default=True, help="Deep-ensemble size K.")
@click.option("--epochs", default=100, show_default=True)
@click.option("--batch-size", default=64, show_default=True)
@click.option("--lr", default=2e-3, show_default=True)
@click.option("--patience", default=20, show_default=True, help="Early-stopping patience.")
@click.option(
    "--schedule",
    type=click.Choice(["plateau", "cosine"]),
    default="plateau",
    show_default=True,
    help="Learning rate: halve when validation stalls, or warm up then decay (cosine) to 1 % "
    "of --lr at the last epoch.",
)
@click.option(
    "--label-oracle",
    help="The oracle that made the labels (recorded in the model card; a campaign of that "
    "oracle then needs no bootstrap labels).",
)
@click.option("--seed", default=0, show_default=True, help="Seeds the split and the training.")
@click.option("--val-fraction", default=0.1, show_default=True)
@click.option("--test-fraction", default=0.1, show_default=True)
@click.option("--lmax", default=1, show_default=True, type=click.IntRange(1, 2))
@click.option("--layers", default=3, show_default=True)
@click.option(
    "--channels",
    default="64,16,8",
    show_default=True,
    help="Multiplicities of the 0e,1o,2e features.",
)
@click.option("--k", "k_neighbors", default=12, show_default=True, help="Neighbours per atom.")
@click.option("--device", default=None, help="Torch device (default: settings).")
@click.option("--workers", default=1, show_default=True, help="Processes for graph building.")
@click.option("--json", "as_json", is_flag=True, help="Print the model card as JSON.")
@click.option(
    "--cache",
    "cache_dir",
    type=click.Path(path_type=Path),
    help="Stream the data into graph shards in this folder (built once, reused; bounded memory).",
)
@click.option(
    "--from",
    "base_model",
    help="Fine-tune this model (name or directory) on the new labels instead of starting anew.",
)
@click.option(
    "--replay",
    "replay_path",
    type=click.Path(path_type=Path),
    help="With --from: old data to replay beside the new labels (no forgetting).",
)
@click.option(
    "--replay-fraction",
    default=1.0,
    show_default=True,
    help="Old samples replayed per new training sample.",
)
def train_surrogate(
    data_path: Path,
    targets: str,
    out_dir: Path,
    members: int,
    epochs: int,
    batch_size: int,
    lr: float,
    patience: int,
    schedule: str,
    label_oracle: str | None,
    seed: int,
    val_fraction: float,
    test_fraction: float,
    lmax: int,
    layers: int,
    channels: str,
    k_neighbors: int,
    device: str | None,
    workers: int,
    as_json: bool,
    cache_dir: Path | None,
    base_model: str | None,
    replay_path: Path | None,
    replay_fraction: float,
) -> None:
    """Train a Crysformer deep ensemble, calibrate σ and report held-out accuracy.

    Each record goes to train / validation / test by a seeded hash of its id (stable when the
    data grow); the ensemble trains on the first, early-stops and calibrates its σ on the
    second and is scored on the third. The split and its validation and test ids are written
    to OUT/split.json. With --cache, records stream from PATH into graph shards (one folder per
    split) that later runs reuse, so memory stays bounded for corpora of millions.

    With --from MODEL the members of MODEL continue training on the new labels (the seed's
    Crysformer-TL), keeping its architecture and normalisation; --replay OLD mixes a sample of
    the old data into training and validation so that the model does not forget it.
    """
    from crystaloop.ml.checkpoint import save_ensemble
    from crystaloop.ml.crysformer.config import CrysformerConfig
    from crystaloop.ml.crysformer.ensemble import train_ensemble
    from crystaloop.ml.crysformer.finetune import finetune_ensemble
    from crystaloop.ml.data.split import check_fractions
    from crystaloop.ml.training import TrainOptions

    settings = load_settings_or_fail()
    names = [t.strip() for t in targets.split(",") if t.strip()]
    try:
        check_fractions(val_fraction, test_fraction)
    except ValueError as err:
        raise click.BadParameter(str(err)) from err
    mult = [int(c) for c in channels.split(",")]
    config = CrysformerConfig(
        targets=names,
        k=k_neighbors,
        lmax=lmax,
        num_layers=layers,
        scalar_channels=mult[0],
        vector_channels=mult[1],
        tensor_channels=mult[2] if len(mult) > 2 else 8,
    )
    base = None
    if base_model is not None:
        base, base_sha256 = load_base(base_model, names)
        config, members = base.config, len(base.members)
    elif replay_path is not None:
        raise click.UsageError("--replay goes with --from")
    plan = SplitPlan(val_fraction, test_fraction, seed)
    if cache_dir is None:
        splits = split_in_memory(data_path, settings, config, plan, workers)
    else:
        splits = split_to_cache(data_path, settings, config, plan, cache_dir, workers)
    if replay_path is not None:
        if cache_dir is not None:
            raise click.UsageError("--replay needs in-memory data (drop --cache)")
        from crystaloop.ml.training import replay_mix

        old = split_in_memory(replay_path, settings, config, plan, workers)
        splits["train"] = replay_mix(splits["train"], old["train"], replay_fraction, seed)
        splits["val"] = replay_mix(splits["val"], old["val"], replay_fraction, seed)
    options = TrainOptions(
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        patience=patience,
        schedule=schedule,
        seed=seed,
        device=device or settings.device,
    )

    def progress(member: int, entry: dict[str, Any]) -> None:
        maes = " ".join(f"{n}={v['mae']:.4f}" for n, v in entry["val"].items())
        click.echo(
            f"member {member} epoch {entry['epoch']:>3} loss {entry['train_loss']:.4f} "
            f"val MAE {maes}",
            err=True,
        )

    try:
        if base is None:
            ensemble = train_ensemble(
                config, splits["train"], splits["val"], members, options, progress=progress
            )
        else:
            ensemble = finetune_ensemble(
                base, splits["train"], splits["val"], options, progress=progress
            )
    except ValueError as err:  # e.g. a target with no label in the training split
        raise click.ClickException(str(err)) from err
    if len(splits["test"]):
        ensemble.metrics["test"] = ensemble.evaluate(splits["test"], device=options.device)
    if base is not None:
        ensemble.metrics["finetuned_from"] = {
            "model": base_model,
            "sha256": base_sha256,
            "replay": str(replay_path) if replay_path else None,
            "replay_fraction": replay_fraction if replay_path else 0.0,
        }
    ensemble.metrics["data"] = {
        "path": str(data_path),
        **{f"n_{k}": len(v) for k, v in splits.items()},
        **plan.as_dict(),
    }
    card = save_ensemble(ensemble.to("cpu"), out_dir, label_oracle=label_oracle)
    split_ids = {k: sample_ids(splits[k]) for k in ("val", "test")}
    (Path(out_dir) / "split.json").write_text(json.dumps({**plan.as_dict(), **split_ids}))
    if as_json:
        echo_json(card)
        return
    click.echo(f"wrote {out_dir} (sha256 {card['sha256'][:12]}…)")
    for name, m in ensemble.metrics.get("test", {}).items():
        click.echo(
            f"test {name}: MAE {m['mae']:.4f}  RMSE {m['rmse']:.4f}  "
            f"miscalibration {m['miscalibration_area']:.3f}  "
            f"Spearman {m['spearman_abs_error_std']:.2f}  (n={m['n']})"
        )


@main.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--model", "model_name", required=True, help="Shipped model name or directory.")
@click.option(
    "--out", "out_file", required=True, type=click.Path(path_type=Path), help="CSV to write."
)
@click.option("--device", default=None, help="Torch device (default: settings).")
@click.option("--batch-size", default=256, show_default=True)
@click.option(
    "--mc-samples",
    type=int,
    default=None,
    help="MC-dropout samples per member (default: the number the model's σ was calibrated "
    "with; another number is refused).",
)
@click.option("--skip-invalid", is_flag=True, help="Skip invalid records instead of failing.")
def predict(
    path: Path,
    model_name: str,
    out_file: Path,
    device: str | None,
    batch_size: int,
    mc_samples: int | None,
    skip_invalid: bool,
) -> None:
    """Predict every structure of PATH with mean and σ per target.

    PATH is any format 'corpus ingest' reads. The CSV has the record id (material_id when the
    input has one), then <target>_mean, <target>_std and <target>_confidence per target
    (confidence: probability that the error is below the target's tolerance, 0.12 eV/atom for
    energies; a per-cell energy is judged per atom).
    """
    from pymatgen.core import Element

    from crystaloop.ml.checkpoint import CheckpointError, load_ensemble
    from crystaloop.ml.crysformer.scoring import score_structures

    settings = load_settings_or_fail()
    device = device or settings.device
    model_dir = resolve_model_dir(model_name)
    try:
        ensemble = load_ensemble(model_dir, device=device)
    except CheckpointError as err:
        raise click.ClickException(str(err)) from err
    items, errors = read_labelled(path, settings)
    for sid, structure, _ in items:
        unseen = ensemble.unseen_elements([site.specie.Z for site in structure])
        if unseen:
            symbols = ", ".join(Element.from_Z(z).symbol for z in unseen)
            reason = f"element(s) {symbols} never seen by model {model_name}"
            errors.append({"source_id": sid, "record": None, "reason": reason})
    if errors and not skip_invalid:
        fail_on(errors, str(path))
    bad = {e["source_id"] for e in errors}
    for error in errors:
        click.echo(f"skipped {error['source_id']}: {error['reason']}", err=True)
    items = [item for item in items if item[0] not in bad]
    if not items:
        raise click.ClickException(f"{path}: no valid record to predict")
    try:
        result = score_structures(
            ensemble,
            [(sid, s) for sid, s, _ in items],
            batch_size=batch_size,
            device=device,
            mc_samples=mc_samples,
        )
    except ValueError as err:  # e.g. another number of dropout samples than calibrated
        raise click.ClickException(str(err)) from err
    targets = ensemble.config.targets
    out_file.parent.mkdir(parents=True, exist_ok=True)
    with open(out_file, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        header = ["material_id"]
        for name in targets:
            header += [f"{name}_mean", f"{name}_std", f"{name}_confidence"]
        writer.writerow(header)
        for sid, scores in result.scores.items():
            row: list[Any] = [sid]
            for name in targets:
                v = scores[name]
                row += [f"{v['mean']:.6g}", f"{v['std']:.6g}", f"{v['confidence']:.4f}"]
            writer.writerow(row)
    click.echo(f"wrote {len(result.scores)} predictions to {out_file}")
