#!/usr/bin/env bash
# Train the generators shipped in crystaloop/models/generators/ from ../shared/data.
# Fixed-seed 80/10/10 splits of the CDVAE validation files (the test files are held back),
# the same seed-0 hash split as the surrogates. Each model directory gets model.pt,
# model.json (sha256, config, training record) and history.json.
# On this 2-core CPU the budget is MINUTES of training per model (best validation kept);
# on a GPU raise MINUTES and EPOCHS and pass DEVICE=cuda.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data}
MINUTES=${MINUTES:-8}
EPOCHS=${EPOCHS:-2000}
DEVICE=${DEVICE:-cpu}
OUT=crystaloop/models/generators
train() {  # dataset name mode [extra options]
    python -m crystaloop train generator --data "$DATA/$1/val.csv" --kind diffusion \
        --mode "$3" --out "$OUT/$2/$3" --epochs "$EPOCHS" --minutes "$MINUTES" \
        --hidden 128 --layers 4 --seed 0 --device "$DEVICE" "${@:4}"
}
train perov_5 perov5 csp
train perov_5 perov5 abinitio
train carbon_24 carbon24 csp --batch-size 64
train carbon_24 carbon24 abinitio --batch-size 64
