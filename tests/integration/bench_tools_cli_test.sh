#!/usr/bin/env bash
# The two programs bench/serving_bench.sh runs besides the server: --help
# lists their flags and exits, and a flag they do not know is refused rather
# than ignored (grpc_floor_server once took --help for a start and served on
# port 50051; serving_engine_bench once ran without a flag it was given).
set -euo pipefail
bin=$1 src=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

floor=$bin/tests/grpc_floor_server
engine=$bin/tests/serving_engine_bench

# Abseil's --help exits 1. timeout: a program that starts serving instead of
# answering fails here (124) instead of hanging the test.
rc=0
help=$(timeout 10 "$floor" --help 2>&1) || rc=$?
[[ $rc != 124 ]] || fail "grpc_floor_server --help did not exit"
for flag in port async; do
  grep -q -- "--$flag" <<<"$help" || fail "grpc_floor_server --help does not list --$flag"
done
rc=0
timeout 10 "$floor" --prot 50051 >"$work/out" 2>&1 || rc=$?
[[ $rc != 0 && $rc != 124 ]] || fail "grpc_floor_server took an unknown flag (exit $rc)"
grep -q "prot" "$work/out" || fail "grpc_floor_server did not name the unknown flag"
rc=0
timeout 10 "$floor" --port 70000 >"$work/out" 2>&1 || rc=$?
[[ $rc == 2 ]] || fail "grpc_floor_server took port 70000 (exit $rc)"

rc=0
help=$(timeout 10 "$engine" --help 2>&1) || rc=$?
[[ $rc != 124 ]] || fail "serving_engine_bench --help did not exit"
for flag in model inputs batch seconds workers intra_op_threads policy; do
  grep -q -- "--$flag" <<<"$help" || fail "serving_engine_bench --help does not list --$flag"
done
printf '%s\n' "the soup was cold and the waiter never came back" \
  "a bright, funny film that earns every one of its tears" >"$work/texts.txt"
run=("$engine" --model "$src/models/sst2.beex" --inputs "$work/texts.txt" --seconds 0.2)
rc=0
timeout 60 "${run[@]}" --polcy none >"$work/out" 2>&1 || rc=$?
[[ $rc != 0 && $rc != 124 ]] || fail "serving_engine_bench ran with an unknown flag (exit $rc)"
grep -q "polcy" "$work/out" || fail "serving_engine_bench did not name the unknown flag"
rc=0
timeout 60 "${run[@]}" --batch 0 >"$work/out" 2>&1 || rc=$?
[[ $rc == 2 ]] || fail "serving_engine_bench took --batch 0 (exit $rc)"
# The flags it knows still work: every block computed with --policy none.
out=$(timeout 60 "${run[@]}" --policy none) || fail "serving_engine_bench failed: $out"
/usr/bin/python3 - "$out" <<'PY' || fail "unexpected output: $out"
import json, sys
r = json.loads(sys.argv[1])
assert r["inputs"] > 0 and r["inputs_per_second"] > 0, r
assert r["mean_exit_layer"] == 6.0, r  # sst2 has 6 blocks; none runs them all
PY
echo "bench tools CLI: all checks passed"
