#!/usr/bin/env bash
# The soak test (issue 7): beex-server on loopback with the bundled sst2 and
# stsb models under mixed Classify/Regress at high concurrency with random
# client cancellations (bench/soak.py), then SIGTERM, which must drain and
# exit 0. Builds nothing; stops by itself.
#
#   bench/soak.sh [SECONDS] [CONCURRENCY]        defaults: 600 s, 32 callers
# Env: BUILD_DIR (default build/), SOAK_JSON (also write soak.py's report
# there), SOAK_FLAGS (more soak.py flags), SERVER_FLAGS (more beex-server
# flags).
# Exit status: soak.py's (0 only for a PASS), or 1 when the server does not
# start or does not exit 0 after SIGTERM.
set -euo pipefail
# The client shares the cores with the server; OpenMP's spinning workers
# (the default ACTIVE wait) would starve it.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
src=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$src/build}
seconds=${1:-600}
concurrency=${2:-32}
source "$src/tests/integration/lib.sh"

work=$(mktemp -d)
server=""
trap '[[ -n $server ]] && kill $server 2>/dev/null; rm -rf "$work"' EXIT
log=$work/server.log
fail() { echo "soak: FAIL: $*"; echo "--- server log (last 40 lines)"; tail -n 40 "$log" 2>/dev/null || true; exit 1; }

port=$(free_port) mport=$(free_port)
# shellcheck disable=SC2086  # SERVER_FLAGS is a list of flags
"$build/server/beex-server" --host 127.0.0.1 --port "$port" --metrics_port "$mport" \
  --model sst2="$src/models/sst2.beex" --model stsb="$src/models/stsb.beex" \
  ${SERVER_FLAGS:-} >"$log" 2>&1 &
server=$!
wait_for_server "$build" "$port"
"$build/client/beex-client" --addr "127.0.0.1:$port" health >/dev/null 2>&1 ||
  fail "server did not become healthy on 127.0.0.1:$port"
echo "soak: beex-server pid $server on 127.0.0.1:$port (metrics :$mport), ${seconds} s, $concurrency callers, $(nproc) cores, $(date -u '+%Y-%m-%d %H:%M UTC')"

verdict=0
# shellcheck disable=SC2086  # SOAK_FLAGS is a list of flags
PYTHONPATH="$build/python" /usr/bin/python3 "$src/bench/soak.py" \
  --addr "127.0.0.1:$port" --pid "$server" \
  --metrics_url "http://127.0.0.1:$mport/metrics" \
  --seconds "$seconds" --concurrency "$concurrency" \
  ${SOAK_JSON:+--json "$SOAK_JSON"} ${SOAK_FLAGS:-} || verdict=$?

kill -TERM "$server"
rc=0
wait "$server" || rc=$?
server=""
[[ $rc == 0 ]] || fail "beex-server exited $rc after SIGTERM"
grep -q "stopped" "$log" || fail "no clean shutdown in the server log"
echo "soak: beex-server drained and exited 0 after SIGTERM"
if [[ $verdict != 0 ]]; then
  echo "--- server log (last 40 lines)"
  tail -n 40 "$log"
fi
exit "$verdict"
