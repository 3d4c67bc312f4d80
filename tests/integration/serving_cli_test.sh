#!/usr/bin/env bash
# beex-server as an operator starts it: --help lists the flags, the metrics
# port answers /healthz, /readyz and /metrics, SIGHUP reloads every model
# without dropping a call, a bad flag is refused, SIGTERM drains and exits 0.
set -euo pipefail
bin=$1 src=$2
source "$(dirname "$0")/lib.sh"
http() { /usr/bin/python3 - "$1" <<'PY'
import sys, urllib.request, urllib.error
try:
    r = urllib.request.urlopen(sys.argv[1], timeout=10)
    print(r.status); print(r.read().decode())
except urllib.error.HTTPError as e:
    print(e.code)
PY
}
work=$(mktemp -d)
server=""
trap '[[ -n $server ]] && kill $server 2>/dev/null; rm -rf "$work"' EXIT
log=$work/server.log
fail() { echo "FAIL: $*"; cat "$log" 2>/dev/null || true; exit 1; }

help=$("$bin/server/beex-server" --help 2>&1 || true)
for flag in max_batch_tokens max_queue tls_cert tls_key keepalive_time_ms \
            max_message_bytes metrics_port access_log drain_seconds reflection \
            tokenizer_threads intra_op_threads max_concurrent_streams \
            transport_memory_mb; do
  grep -q -- "-$flag" <<<"$help" || fail "--help does not list --$flag"
done

if "$bin/server/beex-server" --model sst2="$src/models/sst2.beex" \
    --tls_cert /nonexistent.pem --tls_key /nonexistent.pem >"$log" 2>&1; then
  fail "a missing TLS certificate was accepted"
fi
grep -q "cannot read the TLS certificate" "$log" || fail "no reason given for the TLS error"

# The compute pool is sized for the model with the most batch workers, not
# the server's --batch_threads: sst2's 64 workers get one thread each (the
# start line is logged before the bad certificate stops the server).
"$bin/server/beex-server" --batch_threads 1 --model sst2="$src/models/sst2.beex,batch_threads=64" \
  --tls_cert /nonexistent.pem --tls_key /nonexistent.pem >"$log" 2>&1 || true
grep -q "1 batch thread(s) per model, 1 intra-op thread(s)" "$log" ||
  fail "a model's own batch_threads did not size the compute pool"

# A transport quota below the message limit is allowed, and warned about.
"$bin/server/beex-server" --model sst2="$src/models/sst2.beex" --transport_memory_mb 1 \
  --tls_cert /nonexistent.pem --tls_key /nonexistent.pem >"$log" 2>&1 || true
grep -q "warn.*--transport_memory_mb (1 MB) is below --max_message_bytes (8388608 bytes)" "$log" ||
  fail "no warning for a transport quota below the message limit"

rc=0
"$bin/server/beex-server" --model sst2="$src/models/sst2.beex,max_batch=4" >"$log" 2>&1 || rc=$?
[[ $rc == 2 ]] || fail "an unknown per-model setting exited $rc, not 2"
grep -q "unknown setting 'max_batch'" "$log" || fail "no reason given for the bad --model"

# A second model without its own --model is refused, not skipped.
rc=0
"$bin/server/beex-server" --model sst2="$src/models/sst2.beex" stsb="$src/models/stsb.beex" \
  >"$log" 2>&1 || rc=$?
[[ $rc == 2 ]] || fail "a stray argument exited $rc, not 2"
grep -q "unexpected argument 'stsb=" "$log" || fail "no reason given for the stray argument"

port=$(free_port) mport=$(free_port)
cp "$src/models/sst2.beex" "$work/sst2.beex"
# sst2's own batching overrides the server's flags.
"$bin/server/beex-server" --host 127.0.0.1 --port "$port" --metrics_port "$mport" \
  --model sst2="$work/sst2.beex,max_batch_size=4,max_batch_delay_us=300" \
  --access_log 100 --drain_seconds 5 >"$log" 2>&1 &
server=$!
client() { "$bin/client/beex-client" --addr "127.0.0.1:$port" "$@"; }
for _ in $(seq 200); do client health >/dev/null 2>&1 && break; sleep 0.1; done
client health >/dev/null || fail "server did not become healthy"
[[ $(http "http://127.0.0.1:$mport/readyz" | sed -n 1p) == 200 ]] || fail "/readyz not 200"
[[ $(http "http://127.0.0.1:$mport/healthz" | sed -n 1p) == 200 ]] || fail "/healthz not 200"

client classify --model sst2 "a gripping, beautifully acted film" >/dev/null || fail "classify"
# Every thread, gRPC's included, runs under SCHED_BATCH (policy 3, the 41st
# field of /proc/PID/task/TID/stat).
for task in /proc/$server/task/*; do
  policy=$(sed 's/.*) //' "$task/stat" | cut -d' ' -f39)
  [[ $policy == 3 ]] || fail "thread $(cat "$task/comm") runs under policy $policy, not SCHED_BATCH"
done
grep -q "scheduling SCHED_BATCH" "$log" || fail "the start line does not name the scheduling policy"
grep -q "loaded model sst2 .*batch 4 inputs / 4096 tokens / 300 us" "$log" ||
  fail "sst2's own batching is not in its load line"
client info --model sst2 | grep -q "max_batch_size: 4" || fail "info does not show sst2's batching"
# Calls run during the reload; none may fail.
( for i in $(seq 30); do client classify --model sst2 "steady traffic $i" >/dev/null || echo "lost $i"; done ) >"$work/load.out" 2>&1 &
loader=$!
kill -HUP $server
for _ in $(seq 100); do grep -q "reloaded every model" "$log" && break; sleep 0.1; done
grep -q "reloaded every model" "$log" || fail "no reload after SIGHUP"
# A broken bundle: the reload fails, says why, and the old model serves on.
echo "not a bundle" >"$work/sst2.beex"
kill -HUP $server
for _ in $(seq 100); do grep -q "reload incomplete" "$log" && break; sleep 0.1; done
grep -q "reload of model sst2 failed.*sst2.beex" "$log" || fail "failed reload not explained"
wait $loader
[[ ! -s $work/load.out ]] || fail "calls failed during reload: $(cat "$work/load.out")"
client classify --model sst2 "still serving after a bad reload" >/dev/null || fail "old model gone"

metrics=$(http "http://127.0.0.1:$mport/metrics")
grep -q '^beex_requests_total{model="sst2",method="Classify",code="OK"} 32$' <<<"$metrics" \
  || fail "metrics do not count the 32 calls: $(grep requests_total <<<"$metrics")"
grep -q 'access: .*method=Classify model="sst2"' "$log" || fail "no access log line"
grep -q "beex-server: 1 model(s); batch.* 1024 calls per connection, transport memory 1024 MB" "$log" ||
  fail "configuration not logged"
# By default one batch worker per core, each computing on one thread: workers
# times intra-op threads never exceeds the cores.
grep -Eq "[0-9]+ batch thread\(s\) per model, 1 intra-op thread\(s\)" "$log" \
  || fail "default threads oversubscribe: $(grep -o '[0-9]* batch thread.*intra-op thread(s)' "$log")"

kill -TERM $server
wait $server || fail "server exited with $? after SIGTERM"
server=""
grep -q "stopped" "$log" || fail "no clean shutdown in log"
echo "serving_cli_test: all checks passed"
