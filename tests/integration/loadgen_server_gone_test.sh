#!/usr/bin/env bash
# beex-loadgen when its server dies mid-run: every call then fails at once,
# and the last ones are still being freed on gRPC's threads as the tool
# finishes. It must report them and exit 1, not crash. It once let go of its
# channel while they were (a use-after-free in gRPC's callback queue, about
# one run in two under the tsan preset, a double free now and then under
# asan-ubsan), so the run is repeated. Its streams started writes from the
# main thread without a hold on the call, which gRPC could free meanwhile.
set -euo pipefail
bin=$1 src=$2
source "$(dirname "$0")/lib.sh"
dir=$(mktemp -d)
server=
trap 'kill -9 $server 2>/dev/null || true; rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; cat "$dir/out"; exit 1; }
printf '%s\n' "a quiet film that earns its ending" "nothing here works" >"$dir/sents.txt"

# Closed loops, unary and on streams, and an open loop whose main thread
# keeps sending on streams as they end.
runs=("--concurrency 64" "--concurrency 64 --stream" "--rate 3000 --stream --streams 4")
for run in 0 1 2 3 4 5; do
  mode=${runs[run % 3]}
  port=$(free_port)
  "$bin/server/beex-server" --host 127.0.0.1 --port "$port" --metrics_port 0 \
    --model sst2="$src/models/sst2.beex" >"$dir/log" 2>&1 &
  server=$!
  wait_for_server "$bin" "$port"
  (sleep 0.7 && kill -9 "$server") &
  killer=$!
  rc=0
  # shellcheck disable=SC2086  # $mode is several flags
  "$bin/client/beex-loadgen" --addr "127.0.0.1:$port" --model sst2 \
    --inputs "$dir/sents.txt" --duration 1.5 --timeout 5 $mode \
    >"$dir/out" 2>&1 || rc=$?
  wait "$killer"
  wait "$server" 2>/dev/null || true
  [[ $rc == 1 ]] || fail "run $run ($mode): beex-loadgen exited $rc, not 1"
  grep -q "Sanitizer" "$dir/out" && fail "run $run ($mode): a sanitizer report"
  # Answered before the kill, refused after it.
  grep -Eq '^(closed|open) .* OK=[0-9]+ .*UNAVAILABLE=[0-9]+' "$dir/out" ||
    fail "run $run ($mode): no OK and UNAVAILABLE counts"
done
echo "loadgen_server_gone_test: 6 runs, closed and open loops, unary and streamed, each reported and exited 1"
