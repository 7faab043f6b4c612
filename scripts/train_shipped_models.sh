#!/usr/bin/env bash
# Train the Crysformer checkpoints shipped in crystaloop/models/ from ../shared/data.
# Fixed-seed 80/10/10 splits of the CDVAE validation files (the test files are held back);
# each model directory gets model.pt, model.json (sha256, config, metrics) and split.json.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data}
EPOCHS=${EPOCHS:-50}
python -m crystaloop train surrogate --data "$DATA/perov_5/val.csv" \
    --target heat_ref,dir_gap,ind_gap --out crystaloop/models/perov5 \
    --members 3 --epochs "$EPOCHS" --patience 12 --seed 0 --workers 2
python -m crystaloop train surrogate --data "$DATA/carbon_24/val.csv" \
    --target energy_per_atom --out crystaloop/models/carbon24 \
    --members 3 --epochs "$EPOCHS" --patience 12 --seed 0 --workers 2
