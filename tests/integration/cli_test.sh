#!/usr/bin/env bash
# End to end as a user runs it: beex-server on loopback with the bundled
# models, beex-client in each mode, then SIGTERM and a clean exit.
set -euo pipefail
bin=$1 src=$2 allocator=${3:-system}
source "$(dirname "$0")/lib.sh"
port=$(free_port)
log=$(mktemp)
"$bin/server/beex-server" --host 127.0.0.1 --port "$port" \
  --model sst2="$src/models/sst2.beex" --model stsb="$src/models/stsb.beex" >"$log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; rm -f "$log"' EXIT
client() { "$bin/client/beex-client" --addr "127.0.0.1:$port" "$@"; }
fail() { echo "FAIL: $*"; cat "$log"; exit 1; }

wait_for_server "$bin" "$port"
client list >/dev/null || fail "server did not come up"
# The build's allocator is the one serving (CMake's BEEX_ALLOCATOR).
case $allocator in
  jemalloc) grep -q "allocator jemalloc [0-9]" "$log" || fail "not running on jemalloc" ;;
  *) grep -q "allocator system malloc" "$log" || fail "expected the system malloc" ;;
esac

out=$(client classify --model sst2 "a gripping, beautifully acted film")
echo "$out"
[[ $out =~ ^positive\ \(0\.[0-9]+\)\ +scores\ \[0\.[0-9]+,\ 0\.[0-9]+\]\ +exit\ layer\ [1-6]/6\ +latency\ [0-9.]+\ ms ]] \
  || fail "classify output: $out"

out=$(client regress --model stsb "A man is playing a guitar." "A person plays the guitar.")
echo "$out"
[[ $out =~ ^([0-9]+\.[0-9]+)\ +exit\ layer\ [1-6]/6 ]] || fail "regress output: $out"
value=${BASH_REMATCH[1]}
awk -v v="$value" 'BEGIN { exit !(v >= 0 && v <= 5) }' || fail "value $value outside [0, 5]"

out=$(printf 'great fun\nterrible\n\nsolid work\n' | client classify --model sst2 --json --batch 2)
echo "$out"
[[ $(wc -l <<<"$out") -eq 3 ]] || fail "stdin mode: expected 3 results"
/usr/bin/python3 -c '
import json, sys
for line in sys.stdin:
    r = json.loads(line)
    assert r["label"] in ("positive", "negative"), r
    assert 1 <= r["exit_layer"] <= 6 and r["num_layers"] == 6, r
    assert len(r["scores"]) == 2 and int(r["timing"]["total_us"]) > 0, r
' <<<"$out" || fail "stdin --json output"

# --stream: the same lines as requests on one stream, answered in order; a
# bad request (a blank text) is reported with its number and the rest go on.
rc=0
out=$(printf 'great fun\nterrible\n   \nsolid work\n' |
  client classify --model sst2 --json --batch 1 --stream 2>err.txt) || rc=$?
echo "$out"
[[ $rc == 1 ]] || fail "a stream with a bad request exited $rc, not 1"
[[ $(wc -l <<<"$out") -eq 3 ]] || fail "stream mode: expected 3 results: $out"
grep -q "^request 3: error: INVALID_ARGUMENT" err.txt || fail "stream error: $(cat err.txt)"
out=$(printf 'A cat sleeps.\tA cat is sleeping.\nA man cooks.\tA woman sings.\n' |
  client regress --model stsb --stream --batch 2) || fail "regress on a stream"
[[ $(grep -c "exit layer" <<<"$out") -eq 2 ]] || fail "regress stream output: $out"
[[ $(sed -n 1p <<<"$out") =~ A\ cat\ sleeps ]] || fail "stream answers out of order: $out"

out=$(printf 'A cat sleeps.\tA cat is sleeping.\n' | client regress --model stsb)
[[ $out =~ exit\ layer ]] || fail "pair from stdin: $out"

if client classify --model stsb "x" 2>err.txt; then fail "classify on regression model succeeded"; fi
grep -q "INVALID_ARGUMENT" err.txt || fail "wrong error: $(cat err.txt)"
if client classify --model missing "x" 2>err.txt; then fail "unknown model succeeded"; fi
grep -q "NOT_FOUND" err.txt || fail "wrong error: $(cat err.txt)"
rm -f err.txt

kill -TERM $server
wait $server || fail "server exited with $? after SIGTERM"
grep -q "stopped" "$log" || fail "no clean shutdown in log"
echo "cli_test: all checks passed"
