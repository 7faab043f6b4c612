#!/usr/bin/env bash
# Train the structure modifier shipped in crystaloop/models/modifiers/carbon24 from ../shared/data.
# Carbon-24's CDVAE validation file; polymorph groups = the same number of atoms per primitive
# cell (C2 ... C24), split whole by a seed-0 hash (70/15/15 → 7 / 2 / 3 groups); flow matching
# from the source structure (prior "source"), 4 targets per source (the group's most stable
# member + 3 lower-energy members drawn at random). On this 2-core CPU the budget is MINUTES of
# training on one core (best validation kept); on a GPU pass DEVICE=cuda and raise MINUTES.
#
#   scripts/train_shipped_modifier.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data}
MINUTES=${MINUTES:-25}
DEVICE=${DEVICE:-cpu}
OUT=${OUT:-crystaloop/models/modifiers/carbon24}
OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} python -m crystaloop train modifier \
    --data "$DATA/carbon_24/val.csv" --energy-label energy_per_atom \
    --kind flow --prior source --targets-per-source 4 \
    --out "$OUT" --epochs 400 --minutes "$MINUTES" --seed 0 --device "$DEVICE" \
    --description "Carbon-24 validation split, polymorph groups by cell size; downhill pairs (4 targets per source)"
