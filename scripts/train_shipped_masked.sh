#!/usr/bin/env bash
# Train the masked generator shipped in crystaloop/models/generators/perov5-masked (seed 003's
# self-supervised pre-training: species masks + 0.1 Å Gaussian displacements) on the Perov-5
# CDVAE validation file, with the fixed-seed 80/10/10 split of the other shipped models (the
# test file is held back). MINUTES of training on one CPU core; best validation loss kept.
#
#   scripts/train_shipped_masked.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data}
MINUTES=${MINUTES:-25}
DEVICE=${DEVICE:-cpu}
OUT=${OUT:-crystaloop/models/generators/perov5-masked}
python -m crystaloop train generator --kind masked --data "$DATA/perov_5/val.csv" \
    --out "$OUT" --epochs 2000 --minutes "$MINUTES" --batch-size 64 --hidden 128 --layers 4 \
    --noise 0.1 --seed 0 --device "$DEVICE" \
    --description "Masked self-supervised generator (seed 003) pre-trained on the Perov-5 \
CDVAE validation file (3,046 training structures, 56 elements) for ${MINUTES} minutes on one \
CPU core: fills masked species of ABX3 perovskites and moves 0.1 Å-displaced atoms back."
