#!/usr/bin/env bash
# beex-loadgen against a live server on loopback: a short closed-loop sweep and
# an open-loop run, their JSON and CSV, and a run whose requests all fail.
set -euo pipefail
bin=$1 src=$2
source "$(dirname "$0")/lib.sh"
port=$(free_port)
dir=$(mktemp -d)
"$bin/server/beex-server" --host 127.0.0.1 --port "$port" \
  --model sst2="$src/models/sst2.beex" --model stsb="$src/models/stsb.beex" >"$dir/log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; cat "$dir/log"; exit 1; }
wait_for_server "$bin" "$port"

printf '%s\n' "a warm and funny little film" "the plot never finds its footing" \
  "two hours I will not get back" "an actor at the top of his game" >"$dir/sents.txt"
printf 'A dog runs.\tA dog is running.\nA man cooks.\tA woman sings.\n' >"$dir/pairs.txt"
gen() { "$bin/client/beex-loadgen" --addr "127.0.0.1:$port" --duration 1 "$@"; }

gen --model sst2 --inputs "$dir/sents.txt" --concurrency 1,4 --batch 2 \
  --json "$dir/closed.json" --csv "$dir/closed.csv" || fail "closed loop"
gen --model stsb --method regress --inputs "$dir/pairs.txt" --rate 50 \
  --json "$dir/open.json" || fail "open loop"
/usr/bin/python3 - "$dir" <<'PY' || fail "reports"
import csv, json, sys
d = sys.argv[1]
closed = json.load(open(f"{d}/closed.json"))
assert [r["level"] for r in closed] == [1, 4], closed
for r in closed:
    assert r["mode"] == "closed" and r["requests"] > 0, r
    assert r["ok"] == r["requests"] == r["codes"]["OK"], r
    assert 1 <= r["mean_exit_layer"] <= 6, r
    assert 0 < r["p50_ms"] <= r["p90_ms"] <= r["p99_ms"], r
    assert abs(r["inputs_per_second"] - 2 * r["requests_per_second"]) < 1e-6 * r["inputs_per_second"] + 0.02, r
rows = list(csv.DictReader(open(f"{d}/closed.csv")))
assert [int(x["ok"]) for x in rows] == [r["ok"] for r in closed], rows
(open_run,) = json.load(open(f"{d}/open.json"))
# 50 requests per second for one second, all answered.
assert open_run["mode"] == "open" and 45 <= open_run["requests"] <= 51, open_run
assert open_run["ok"] == open_run["requests"], open_run
PY

# The same on streams: a stream per closed-loop client, and the open loop
# spread over three streams.
gen --model sst2 --inputs "$dir/sents.txt" --stream --concurrency 1,4 --batch 2 \
  --json "$dir/closed_stream.json" || fail "closed loop on streams"
gen --model stsb --method regress --inputs "$dir/pairs.txt" --stream --streams 3 --rate 50 \
  --json "$dir/open_stream.json" || fail "open loop on streams"
/usr/bin/python3 - "$dir" <<'PY' || fail "stream reports"
import json, sys
d = sys.argv[1]
for r in json.load(open(f"{d}/closed_stream.json")):
    assert r["requests"] > 0 and r["ok"] == r["requests"] == r["codes"]["OK"], r
    assert abs(r["inputs_per_second"] - 2 * r["requests_per_second"]) < 1e-6 * r["inputs_per_second"] + 0.02, r
(r,) = json.load(open(f"{d}/open_stream.json"))
assert 45 <= r["requests"] <= 51 and r["ok"] == r["requests"], r
assert 1 <= r["mean_exit_layer"] <= 6, r
PY

for mode in "" --stream; do
  if gen --model nope --inputs "$dir/sents.txt" --concurrency 2 --max_requests 5 $mode \
       --json "$dir/bad.json" >/dev/null; then fail "unknown model run $mode exited 0"; fi
  /usr/bin/python3 -c '
import json, sys
(r,) = json.load(open(sys.argv[1]))
assert r["requests"] == 5 and r["ok"] == 0 and r["codes"] == {"NOT_FOUND": 5}, r
' "$dir/bad.json" || fail "failed run report $mode"
done
# A word without a flag is refused, not skipped (a forgotten --rate would
# otherwise run the default closed loop).
rc=0
gen --model sst2 --inputs "$dir/sents.txt" --max_requests 5 100,400 >"$dir/stray.txt" 2>&1 || rc=$?
[[ $rc == 2 ]] || fail "a stray argument exited $rc, not 2"
grep -q "unexpected argument: 100,400" "$dir/stray.txt" || fail "no reason given for the stray argument"
# The serving benchmark's floor (bench/grpc_floor_server): the same API
# answering at once, on the callback API and on the completion queue, unary
# and streamed; every request answered OK with one result per input.
kill $server
wait $server 2>/dev/null || true
for api in "" --async; do
  "$bin/tests/grpc_floor_server" --port "$port" $api >"$dir/log" 2>&1 &
  server=$!
  for _ in $(seq 100); do  # it serves health, not ListModels
    "$bin/client/beex-client" --addr "127.0.0.1:$port" health >/dev/null 2>&1 && break
    sleep 0.1
  done
  for mode in "" --stream; do
    [[ $api == --async && $mode == "" ]] && continue  # --async serves streams only
    gen --model sst2 --inputs "$dir/sents.txt" --concurrency 4 --batch 3 $mode \
      --json "$dir/floor.json" >/dev/null || fail "floor server $api $mode"
    /usr/bin/python3 -c '
import json, sys
(r,) = json.load(open(sys.argv[1]))
assert r["requests"] > 0 and r["ok"] == r["requests"] == r["codes"]["OK"], r
assert abs(r["inputs_per_second"] - 3 * r["requests_per_second"]) < 1e-6 * r["inputs_per_second"] + 0.02, r
' "$dir/floor.json" || fail "floor report $api $mode"
  done
  if [[ $api == --async ]]; then
    # It never answers ListModels; beex-client's --timeout must still end the
    # call (it once waited for ever).
    rc=0
    timeout 20 "$bin/client/beex-client" --addr "127.0.0.1:$port" --timeout 0.5 list \
      >"$dir/list.out" 2>&1 || rc=$?
    [[ $rc == 1 ]] || fail "beex-client list against a silent server exited $rc, not 1"
    grep -q DEADLINE_EXCEEDED "$dir/list.out" || fail "no DEADLINE_EXCEEDED: $(cat "$dir/list.out")"
  fi
  kill $server
  wait $server 2>/dev/null || true
done
echo "loadgen_test: all checks passed"
