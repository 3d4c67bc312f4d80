#!/usr/bin/env bash
# Retrains the bundled models under models/ (bundle, report, calibration CSV and
# plot) and the golden files the C++ tests compare against. Needs
# ../shared/data/glue (or GLUE_DIR). Checkpoints go to CKPT_DIR (default /tmp):
# rerun with RESUME=1 to continue interrupted runs. Wall times on 2 cores are
# in docs/MODELS.md. One model: scripts/train-bundled-models.sh sst2 (or
# stsb, mrpc, sst2-xnor)
# DENSE=1 trains the FP32 twins instead (models/twins/NAME-fp32.beex, .onnx
# and .report.json; only the reports are committed). STS-B and MRPC distil
# from their twins, which are trained first when missing. EXTRA_ARGS are
# appended to every train.py command (the last value of a flag wins).
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
# distil TASK FLAGS...: for the binarized model, FLAGS plus --teacher (TASK's
# FP32 twin, trained first when missing); nothing for the twin itself.
distil() {
  local task=$1 twin=models/twins/$1-fp32.beex
  shift
  ((dense)) && return 0
  [[ $want == all || $want == "$task" ]] || return 0
  [[ -f $twin ]] || DENSE=1 "$0" "$task" >&2
  echo "--teacher $twin $*"
}
# An assignment, so that a failed twin stops the script (set -e).
flags=$(distil stsb --kd-weight 0.5 --exit-loss sum)
# shellcheck disable=SC2086  # flags is a list of flags
run stsb STS-B $flags --epochs 12 --early-stop 3 --max-len 64 --dropout 0.2 --weight-decay 0.05 --lr 5e-4 --batch-size 32 --threads 1
flags=$(distil mrpc --kd-weight 0.9)
# shellcheck disable=SC2086
run mrpc MRPC $flags --epochs 12 --early-stop 3 --max-len 80 --dropout 0.2 --weight-decay 0.05 --lr 5e-4 --batch-size 32 --threads 1
