#!/usr/bin/env bash
# Runs one libFuzzer binary for a bounded time; fails on any finding.
# usage: run_fuzzer.sh FUZZER SECONDS CORPUS_DIR [SEED_DIR...] [-- LIBFUZZER_FLAGS...]
# New inputs go to CORPUS_DIR (kept between runs); a crashing input is saved
# beside it as crash-*/oom-*/timeout-*, to be copied to
# tests/fuzz/regressions/<target>/ once fixed.
set -euo pipefail
fuzzer=$1 seconds=$2 corpus=$3
shift 3
dirs=() flags=()
while (($#)); do
  if [[ $1 == -- ]]; then shift; flags=("$@"); break; fi
  [[ -d $1 ]] && dirs+=("$1")
  shift
done
mkdir -p "$corpus"
# -rss_limit_mb: an input that makes the loader allocate gigabytes is a bug.
# -use_value_profile: guides mutations by compared values, so e.g. a wrong
# UTF-8 bound (0x10ffff) is found in seconds from plain-text seeds.
exec "$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
  -use_value_profile=1 \
  -print_final_stats=1 -artifact_prefix="$(dirname "$corpus")/" \
  "${flags[@]}" "$corpus" "${dirs[@]}"
