#!/usr/bin/env bash
# The Python and Node.js example clients against a live beex-server on
# loopback: a classification, a regression on a sentence pair, and the error
# a user sees for an unknown model, and a file of lines on one stream.
set -euo pipefail
bin=$1 src=$2 lang=$3
source "$(dirname "$0")/lib.sh"
port=$(free_port)
log=$(mktemp)
"$bin/server/beex-server" --host 127.0.0.1 --port "$port" \
  --model sst2="$src/models/sst2.beex" --model stsb="$src/models/stsb.beex" >"$log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; rm -f "$log"' EXIT
fail() { echo "FAIL: $*"; cat "$log"; exit 1; }

case $lang in
  python)
    client() { PYTHONPATH="$bin/python" /usr/bin/python3 "$src/client/python/beex_client.py" --addr "127.0.0.1:$port" "$@"; } ;;
  node)
    if [[ ! -d $src/client/node/node_modules/@grpc/grpc-js ]]; then
      (cd "$src/client/node" && npm ci --no-audit --no-fund --loglevel=error) || fail "npm ci"
    fi
    client() { node "$src/client/node/beex_client.js" "$@" --addr "127.0.0.1:$port"; } ;;
  *) fail "unknown language $lang" ;;
esac

wait_for_server "$bin" "$port"

out=$(client classify --model sst2 "a gripping, beautifully acted film") || fail "classify: $out"
echo "$lang: $out"
[[ $out =~ ^(positive|negative)\ \[0\.[0-9]{3},\ 0\.[0-9]{3}\]\ exit\ layer\ [1-6]/6\ latency\ [0-9]+\ us$ ]] \
  || fail "classify output: $out"

out=$(client regress --model stsb "A man is playing a guitar." "A person plays the guitar.") || fail "regress: $out"
echo "$lang: $out"
[[ $out =~ ^([0-9]+\.[0-9]{3})\ exit\ layer\ [1-6]/6\ latency\ [0-9]+\ us$ ]] || fail "regress output: $out"
awk -v v="${BASH_REMATCH[1]}" 'BEGIN { exit !(v >= 0 && v <= 5) }' || fail "value outside [0, 5]: $out"

if err=$(client classify --model missing "x" 2>&1); then fail "unknown model succeeded: $err"; fi
[[ $err == *"NOT_FOUND"*"'missing'"* ]] || fail "unknown model error: $err"
# --lines: one stream, answers in input order, a bad line answered with
# its error while the others go on.
lines=$(mktemp)
printf '%s\n' "a gripping, beautifully acted film" "a dull, lifeless film" \
  "   " "warm and funny" >"$lines"
if out=$(client classify --model sst2 --lines "$lines"); then
  rm -f "$lines"; fail "a stream with a bad line exited 0: $out"
fi
rm -f "$lines"
echo "$lang stream: $out"
mapfile -t answers <<<"$out"
((${#answers[@]} == 4)) || fail "stream answers: $out"
for i in 0 1 3; do
  [[ ${answers[i]} =~ ^$((i + 1)):\ (positive|negative)\ \[.*exit\ layer\ [1-6]/6 ]] \
    || fail "stream answer $((i + 1)): ${answers[i]}"
done
[[ ${answers[2]} == "3: error: INVALID_ARGUMENT: inputs[0].text"* ]] || fail "stream error line: ${answers[2]}"
echo "client_languages_test ($lang): all checks passed"
