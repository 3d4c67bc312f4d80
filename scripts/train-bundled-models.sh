#!/usr/bin/env bash
# Retrains the bundled models under models/ (bundle, report, calibration CSV and
# plot) and the golden files the C++ tests compare against. Needs
# ../shared/data/glue (or GLUE_DIR). Checkpoints go to CKPT_DIR (default /tmp):
# rerun with RESUME=1 to continue interrupted runs. Wall times on 2 cores are
# in docs/MODELS.md. One model: scripts/train-bundled-models.sh sst2 (or
# stsb, mrpc, sst2-xnor)
# DENSE=1 trains the FP32 twins instead (models/twins/NAME-fp32.beex, .onnx
# and .report.json; only the reports are committed). MRPC distils from its
# twin, which is trained first when missing. EXTRA_ARGS are appended to every
# train.py command (the last value of a flag wins).
set -euo pipefail
cd "$(dirname "$0")/.."
glue=${GLUE_DIR:-../shared/data/glue}
ckpt=${CKPT_DIR:-/tmp}
export OMP_WAIT_POLICY=PASSIVE PYTHONUNBUFFERED=1
py=/usr/bin/python3
resume=()
[[ ${RESUME:-0} == 1 ]] && resume=(--resume)
want=${1:-all}
dense=${DENSE:-0}

run() {  # NAME DIR ARGS...; NAME is the GLUE task, or TASK-VARIANT
  local name=$1 dir=$2 task=${1%%-*}
  shift 2
  [[ $want == all || $want == "$name" ]] || return 0
  local out=(--out "models/$name.beex" --golden "tests/data/$name.golden.json")
  if ((dense)); then
    [[ $name == "$task" ]] || return 0  # one twin per task
    name=$task-fp32
    out=(--dense --out "models/twins/$name.beex")
  fi
  # shellcheck disable=SC2086  # EXTRA_ARGS is a list of flags
  $py train/train.py --task "$task" --train "$glue/$dir/train.tsv" --dev "$glue/$dir/dev.tsv" \
    "${out[@]}" --checkpoint "$ckpt/beex-$name.ckpt" "${resume[@]}" "$@" ${EXTRA_ARGS:-}
}

# 8-bit activations: the engine's int8 path (oneDNN u8s8 matmuls).
run sst2 SST-2 --epochs 4 --early-stop 2 --act-bits 8 --threads 1
# 1-bit activations too: the engine's XNOR/popcount path (docs/BENCHMARKS.md).
run sst2-xnor SST-2 --epochs 4 --early-stop 2 --act-bits 1 --threads 1
run stsb STS-B --epochs 12 --early-stop 3 --max-len 64 --dropout 0.2 --weight-decay 0.05 --lr 5e-4 --batch-size 32 --threads 1
mrpc_twin=models/twins/mrpc-fp32.beex
if ((!dense)) && [[ ($want == all || $want == mrpc) && ! -f $mrpc_twin ]]; then
  DENSE=1 "$0" mrpc
fi
teacher=()
((dense)) || teacher=(--teacher "$mrpc_twin" --kd-weight 0.9)
run mrpc MRPC "${teacher[@]}" --epochs 12 --early-stop 3 --max-len 80 --dropout 0.2 --weight-decay 0.05 --lr 5e-4 --batch-size 32 --threads 1
