#!/usr/bin/env bash
# beex-loadgen when its server dies mid-run: every call then fails at once,
# and the last ones are still being freed on gRPC's threads as the tool
# finishes. It must report them and exit 1, not crash. It once let go of its
# channel while they were (a use-after-free in gRPC's callback queue, about
# one run in two under the tsan preset, a double free now and then under
# asan-ubsan), so the run is repeated; streams are run the same way.
set -euo pipefail
bin=$1 src=$2
source "$(dirname "$0")/lib.sh"
dir=$(mktemp -d)
server=
trap 'kill -9 $server 2>/dev/null || true; rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; cat "$dir/out"; exit 1; }
printf '%s\n' "a quiet film that earns its ending" "nothing here works" >"$dir/sents.txt"

for run in 1 2 3 4 5 6; do
  mode=$( ((run % 2)) && echo "" || echo --stream)
  port=$(free_port)
  "$bin/server/beex-server" --host 127.0.0.1 --port "$port" --metrics_port 0 \
    --model sst2="$src/models/sst2.beex" >"$dir/log" 2>&1 &
  server=$!
  wait_for_server "$bin" "$port"
  (sleep 0.7 && kill -9 "$server") &
  killer=$!
  rc=0
  "$bin/client/beex-loadgen" --addr "127.0.0.1:$port" --model sst2 \
    --inputs "$dir/sents.txt" --concurrency 64 --duration 1.5 --timeout 5 $mode \
    >"$dir/out" 2>&1 || rc=$?
  wait "$killer"
  wait "$server" 2>/dev/null || true
  [[ $rc == 1 ]] || fail "run $run: beex-loadgen exited $rc, not 1"
  grep -q "Sanitizer" "$dir/out" && fail "run $run: a sanitizer report"
  # Answered before the kill, refused after it.
  grep -Eq '^closed +64 .* OK=[0-9]+ .*UNAVAILABLE=[0-9]+' "$dir/out" ||
    fail "run $run: no OK and UNAVAILABLE counts"
done
echo "loadgen_server_gone_test: 6 runs, unary and streamed, each reported and exited 1"
