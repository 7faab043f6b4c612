"""Crysformer accuracy, calibration and speed, beside two baselines, on each model's held-out split.

For every model directory (the shipped ``perov5`` and ``carbon24`` by default) the script reads
the data file and ``split.json`` written by ``crystaloop train surrogate``, and reports on the
test split:

* MAE / RMSE of the calibrated ensemble, its miscalibration area and Spearman ρ(|error|, σ);
* the same errors for two baselines fitted on the training split: the training mean, and a
  composition-only ridge regression (element fractions and fraction-weighted k-hot features);
* inference speed (structures/s at batch 256, graph building excluded and included) and the
  training seconds per epoch recorded in the model card.

    python benchmarks/crysformer.py [--models perov5,carbon24] [--data ../shared/data]
        [--out benchmarks/results/crysformer.json]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from crystaloop.ml.checkpoint import load_ensemble, read_card
from crystaloop.ml.data.dataset import InMemoryGraphs, build_samples
from crystaloop.ml.data.features import khot_table
from crystaloop.ml.shipped import shipped_model_dir
from crystaloop.ml.training import metrics

DATA_FILES = {"perov5": "perov_5/val.csv", "carbon24": "carbon_24/val.csv"}


def _read_csv(path: Path) -> dict[str, dict]:
    from pymatgen.core import Structure

    csv.field_size_limit(sys.maxsize)
    rows = {}
    with open(path, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            rows[row["material_id"]] = {
                "structure": Structure.from_str(row["cif"], fmt="cif"),
                "labels": row,
            }
    return rows


def composition_features(structures: list) -> np.ndarray:
    """Element fractions (Z ≤ 100) and the fraction-weighted k-hot vector."""
    table = khot_table()
    out = np.zeros((len(structures), 101 + table.shape[1]))
    for i, s in enumerate(structures):
        for el, frac in s.composition.fractional_composition.items():
            out[i, el.Z] += frac
            out[i, 101:] += frac * table[el.Z]
    return out


def ridge(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, alpha: float = 1e-3):
    mask = np.isfinite(y_train)
    x, y = x_train[mask], y_train[mask]
    mean_x, mean_y = x.mean(0), y.mean()
    xc = x - mean_x
    w = np.linalg.solve(xc.T @ xc + alpha * len(x) * np.eye(x.shape[1]), xc.T @ (y - mean_y))
    return (x_test - mean_x) @ w + mean_y


def speed(ensemble, structures: list, batch: int = 256, repeats: int = 3) -> dict[str, float]:
    config = ensemble.config
    picks = [structures[i % len(structures)] for i in range(batch)]
    nan = np.full(len(config.targets), np.nan, np.float32)
    t0 = time.perf_counter()
    samples = list(
        build_samples(((str(i), s, nan) for i, s in enumerate(picks)), config.k, config.cutoff)
    )
    t_graph = time.perf_counter() - t0
    source = InMemoryGraphs(samples, config.targets)
    ensemble.predict(source, batch_size=batch)  # warm-up
    t0 = time.perf_counter()
    for _ in range(repeats):
        ensemble.predict(source, batch_size=batch)
    t_model = (time.perf_counter() - t0) / repeats
    members = len(ensemble.members)
    return {
        "batch": batch,
        "members": members,
        "ensemble_structures_per_s": batch / t_model,
        "member_structures_per_s": batch * members / t_model,
        "with_graphs_structures_per_s": batch / (t_model + t_graph),
        "torch_threads": torch.get_num_threads(),
    }


def benchmark(name: str, data_root: Path) -> dict:
    model_dir = Path(name) if Path(name).is_dir() else shipped_model_dir(name)
    if model_dir is None:
        raise SystemExit(f"no model {name!r}")
    card = read_card(model_dir)
    split = json.loads((model_dir / "split.json").read_text())
    data_file = data_root / DATA_FILES.get(model_dir.name, card["metrics"]["data"]["path"])
    # records the model could not use (invalid structures) are in neither split
    rows = _read_csv(data_file)
    targets = card["targets"]
    ensemble = load_ensemble(model_dir)

    def labels(ids):
        return np.array([[float(rows[i]["labels"].get(t) or np.nan) for t in targets] for i in ids])

    held = set(split["val"]) | set(split["test"])
    test_ids = split["test"]
    train_ids = [i for i in rows if i not in held]
    y_test, y_train = labels(test_ids), labels(train_ids)
    test_structures = [rows[i]["structure"] for i in test_ids]
    samples = build_samples(
        ((i, rows[i]["structure"], y) for i, y in zip(test_ids, y_test, strict=True)),
        ensemble.config.k,
        ensemble.config.cutoff,
    )
    test = InMemoryGraphs(list(samples), targets)
    result = {
        "model": name,
        "sha256": card["sha256"],
        "n_train": len(train_ids),
        "n_val": len(split["val"]),
        "n_test": len(test_ids),
        "crysformer": ensemble.evaluate(test),
    }
    mean_pred = np.broadcast_to(np.nanmean(y_train, 0), y_test.shape)
    result["baseline_mean"] = metrics(mean_pred, y_test, targets)
    x_train = composition_features([rows[i]["structure"] for i in train_ids])
    x_test = composition_features(test_structures)
    comp = np.stack([ridge(x_train, y_train[:, j], x_test) for j in range(len(targets))], 1)
    result["baseline_composition"] = metrics(comp, y_test, targets)
    result["speed_cpu"] = speed(ensemble, test_structures)
    result["train_seconds_per_epoch"] = [
        m["seconds_per_epoch"] for m in card["metrics"].get("training", [])
    ]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="perov5,carbon24")
    parser.add_argument(
        "--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data"
    )
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/crysformer.json"))
    args = parser.parse_args()
    results = [benchmark(m, args.data) for m in args.models.split(",")]
    print(
        f"CPU: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads"
    )
    header = (
        f"{'model':<10}{'target':<18}{'n test':>7}{'MAE':>9}{'RMSE':>9}{'mean MAE':>10}"
        f"{'comp MAE':>10}{'miscal':>8}{'rho':>6}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        for t, m in r["crysformer"].items():
            print(
                f"{r['model']:<10}{t:<18}{m['n']:>7}{m['mae']:>9.4f}{m['rmse']:>9.4f}"
                f"{r['baseline_mean'][t]['mae']:>10.4f}"
                f"{r['baseline_composition'][t]['mae']:>10.4f}"
                f"{m['miscalibration_area']:>8.3f}{m['spearman_abs_error_std']:>6.2f}"
            )
    print()
    for r in results:
        s = r["speed_cpu"]
        epochs = ", ".join(f"{x:.1f}" for x in r["train_seconds_per_epoch"])
        print(
            f"{r['model']}: {s['ensemble_structures_per_s']:.0f} structures/s "
            f"({s['members']}-member ensemble, batch {s['batch']}; "
            f"{s['member_structures_per_s']:.0f}/s per member; "
            f"{s['with_graphs_structures_per_s']:.0f}/s with graph building); "
            f"training s/epoch per member: {epochs}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {"cpu": platform.machine(), "cores": os.cpu_count(), "results": results},
            indent=2,
            default=float,
        )
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
