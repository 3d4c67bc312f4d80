#!/usr/bin/env bash
# The two programs bench/serving_bench.sh runs besides the server: --help
# lists their flags and exits, and a flag they do not know is refused rather
# than ignored (grpc_floor_server once took --help for a start and served on
# port 50051; serving_engine_bench once ran without a flag it was given).
set -euo pipefail
bin=$1 src=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; cat "$work/out" 2>/dev/null || true; exit 1; }

# Runs a command under a time limit, so that a program that starts serving
# instead of answering fails a check (exit 124) instead of hanging the test.
# Its output goes to $work/out, its exit code to stdout.
exit_code() {
  local rc=0
  timeout 60 "$@" >"$work/out" 2>&1 || rc=$?
  echo "$rc"
}

floor=$bin/tests/grpc_floor_server
engine=$bin/tests/serving_engine_bench

# Abseil's --help exits 1.
[[ $(exit_code "$floor" --help) != 124 ]] || fail "grpc_floor_server --help did not exit"
for flag in port async; do
  grep -q -- "--$flag" "$work/out" || fail "grpc_floor_server --help does not list --$flag"
done
rc=$(exit_code "$floor" --prot 50051)
[[ $rc != 0 && $rc != 124 ]] || fail "grpc_floor_server took an unknown flag (exit $rc)"
grep -q "prot" "$work/out" || fail "grpc_floor_server did not name the unknown flag"
rc=$(exit_code "$floor" --port 70000)
[[ $rc == 2 ]] || fail "grpc_floor_server took port 70000 (exit $rc)"

[[ $(exit_code "$engine" --help) != 124 ]] || fail "serving_engine_bench --help did not exit"
for flag in model inputs batch seconds workers intra_op_threads policy; do
  grep -q -- "--$flag" "$work/out" || fail "serving_engine_bench --help does not list --$flag"
done
printf '%s\n' "the soup was cold and the waiter never came back" \
  "a bright, funny film that earns every one of its tears" >"$work/texts.txt"
run=("$engine" --model "$src/models/sst2.beex" --inputs "$work/texts.txt" --seconds 0.2)
rc=$(exit_code "${run[@]}" --polcy none)
[[ $rc != 0 && $rc != 124 ]] || fail "serving_engine_bench ran with an unknown flag (exit $rc)"
grep -q "polcy" "$work/out" || fail "serving_engine_bench did not name the unknown flag"
rc=$(exit_code "${run[@]}" --batch 0)
[[ $rc == 2 ]] || fail "serving_engine_bench took --batch 0 (exit $rc)"
# The flags it knows still work: --policy none computes every block.
rc=$(exit_code "${run[@]}" --policy none)
[[ $rc == 0 ]] || fail "serving_engine_bench failed (exit $rc)"
/usr/bin/python3 - "$work/out" <<'PY' || fail "unexpected output"
import json, sys
r = json.loads(open(sys.argv[1]).read())
assert r["inputs"] > 0 and r["inputs_per_second"] > 0, r
assert r["mean_exit_layer"] == 6.0, r  # sst2 has 6 blocks; none runs them all
PY
echo "bench tools CLI: all checks passed"
