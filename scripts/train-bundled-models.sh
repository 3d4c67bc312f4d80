#!/usr/bin/env bash
# Retrains the bundled models under models/ and the golden files the C++ tests
# compare against. Needs ../shared/data/glue (or GLUE_DIR). About 25 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
glue=${GLUE_DIR:-../shared/data/glue}
export OMP_WAIT_POLICY=PASSIVE PYTHONUNBUFFERED=1
py=/usr/bin/python3
$py train/train.py --task sst2 --train "$glue/SST-2/train.tsv" --dev "$glue/SST-2/dev.tsv" \
  --epochs 6 --out models/sst2.beex --golden tests/data/sst2.golden.json
$py train/train.py --task stsb --train "$glue/STS-B/train.tsv" --dev "$glue/STS-B/dev.tsv" \
  --epochs 15 --max-len 96 --out models/stsb.beex --golden tests/data/stsb.golden.json
