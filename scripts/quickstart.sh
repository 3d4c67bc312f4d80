#!/usr/bin/env bash
# Quick start, command 1: install dependencies, build, and serve the bundled
# models on localhost:50051 (Ctrl-C stops the server cleanly).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
port=${BEEX_PORT:-50051}
cat <<MSG

beex-server is starting on localhost:$port with models sst2, stsb and mrpc. In another shell:
  build/client/beex-client classify --model sst2 "a gripping, beautifully acted film"
  build/client/beex-client regress --model stsb "A man is playing a guitar." "A person plays the guitar."
  build/client/beex-client classify --model mrpc "The firm lost money." "The company was unprofitable."
  build/client/beex-client list

MSG
exec build/server/beex-server --host 127.0.0.1 --port "$port" \
  --model sst2=models/sst2.beex --model stsb=models/stsb.beex \
  --model mrpc=models/mrpc.beex
