#!/usr/bin/env bash
# Train the shipped models that build on perov5-masked and on the perov5 CSP generator, one
# after another on one CPU core (run scripts/train_shipped_masked.sh first):
#   1. crystaloop/models/classifiers/perov5-stability: the downstream stability classifier
#      (E_hull <= 0.1 eV/atom) fine-tuned from the perov5-masked backbone, on the CHGNet labels
#      of the Perov-5 validation file (E_hull on the hull of all labelled reference data:
#      scripts/label_stability.py, bare ids so its split is the masked model's split);
#   2. crystaloop/models/generators/perov5-masked-gan: perov5-masked after GAN fine-tuning
#      against a critic initialised from that classifier (its critic in critic/);
#   3. crystaloop/models/classifiers/perov5-match: the match discriminator of the perov5 CSP
#      generator on its held-out compositions (validation + test records of its split), its
#      samples drawn with 100 steps as campaigns draw them (CampaignOptions.steps).
#
#   scripts/train_shipped_critics.sh [stability] [gan] [match]   (default: all three)
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data}
DEVICE=${DEVICE:-cpu}
MODELS=crystaloop/models
LABELS=build/stability/perov5_stability.jsonl.gz
if [ ! -f "$LABELS" ]; then
    [ -f build/eform-data/eform_labels.jsonl.gz ] ||
        python scripts/label_eform_data.py --from-labels scripts/data/eform_labels.csv.gz --data "$DATA"
    python scripts/label_stability.py --source perov_5 --bare-ids --out "$LABELS"
fi
for step in "${@:-stability gan match}"; do
    for name in $step; do
        case $name in
        stability)
            python -m crystaloop train classifier --data "$LABELS" --label e_hull --at-most 0.1 \
                --from-masked perov5-masked --epochs 100 --minutes "${STABILITY_MINUTES:-10}" \
                --patience 15 --seed 0 --device "$DEVICE" --out "$MODELS/classifiers/perov5-stability"
            ;;
        gan)
            python -m crystaloop train masked-gan --generator perov5-masked \
                --critic "$MODELS/classifiers/perov5-stability" --data "$LABELS" --label e_hull \
                --at-most 0.1 --epochs 100 --minutes "${GAN_MINUTES:-10}" --seed 0 --device "$DEVICE" \
                --out "$MODELS/generators/perov5-masked-gan"
            ;;
        match)
            python -m crystaloop train discriminator --generator perov5 --data "$DATA/perov_5/val.csv" \
                --samples 5 --rmsd 0.15 --steps 100 --epochs 100 --minutes "${MATCH_MINUTES:-10}" --seed 0 \
                --device "$DEVICE" --out "$MODELS/classifiers/perov5-match"
            ;;
        *) echo "unknown step $name" >&2; exit 2 ;;
        esac
    done
done
