#!/usr/bin/env bash
# Train the generators shipped in crystaloop/models/generators/ from ../shared/data, one after
# another (not at once: on 2 cores parallel runs only slow each other down).
# Fixed-seed 80/10/10 splits of the CDVAE validation files (the test files are held back),
# the same seed-0 hash split as the surrogates. Each model directory gets model.pt,
# model.json (sha256, config, training record) and history.json.
# The recipe (ml/generative/recipe.py): warm-up, cosine decay over the real budget, EMA weights.
# On this 2-core CPU the budget is MINUTES of training per model (best validation kept);
# on a GPU raise MINUTES and EPOCHS, pass DEVICE=cuda and SIZE=diffcsp.
#
#   scripts/train_shipped_generators.sh [perov5|carbon24|mp ...]   (default: all three)
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data}
MINUTES=${MINUTES:-15}
MP_MINUTES=${MP_MINUTES:-30}
EPOCHS=${EPOCHS:-2000}
DEVICE=${DEVICE:-cpu}
SIZE=${SIZE:-small}
OUT=${OUT:-crystaloop/models/generators}
MP_NOTE="General-chemistry generator trained on a small data set: the Materials Project \
structures of Matbench matbench_dielectric with at most 20 atoms in the primitive cell \
(3,445 of 4,764) plus the Perov-5 and Carbon-24 CDVAE validation files (cells up to 20 atoms), \
about 7,400 training structures in all, 80 elements; MP-20 has 27,136 training structures. \
Trained on one CPU core for ${MP_MINUTES} minutes."
train() {  # name mode minutes [--data FILE ...] [extra options]
    local name=$1 mode=$2 minutes=$3
    shift 3
    python -m crystaloop train generator --kind diffusion --mode "$mode" \
        --out "$OUT/$name/$mode" --epochs "$EPOCHS" --minutes "$minutes" \
        --size "$SIZE" --seed 0 --device "$DEVICE" "$@"
}
for bundle in "${@:-perov5 carbon24 mp}"; do
    for name in $bundle; do
        case $name in
        perov5)
            train perov5 csp "$MINUTES" --data "$DATA/perov_5/val.csv"
            train perov5 abinitio "$MINUTES" --data "$DATA/perov_5/val.csv"
            ;;
        carbon24)
            train carbon24 csp "$MINUTES" --data "$DATA/carbon_24/val.csv" --batch-size 64
            train carbon24 abinitio "$MINUTES" --data "$DATA/carbon_24/val.csv" --batch-size 64
            ;;
        mp)
            for mode in csp abinitio; do
                train mp "$mode" "$MP_MINUTES" --batch-size 64 --max-atoms 20 \
                    --data "$DATA/matbench_dielectric/matbench_dielectric.json.gz" \
                    --data "$DATA/perov_5/val.csv" --data "$DATA/carbon_24/val.csv" \
                    --description "$MP_NOTE"
            done
            ;;
        *) echo "unknown generator $name (perov5, carbon24, mp)" >&2; exit 2 ;;
        esac
    done
done
