#!/usr/bin/env bash
# The CI-length soak (issue 7): bench/soak.sh for 20 s at 16 callers against
# the build's beex-server on loopback. Fails on any lost call, an unexpected
# status code, RSS growth over soak.py's limit, a server-side accounting
# mismatch, or a server that does not exit 0 after SIGTERM. Too short to
# tell slow growth from warm-up: bench/soak.sh 600 is the real run.
set -euo pipefail
bin=$1 src=$2
BUILD_DIR=$bin "$src/bench/soak.sh" 20 16 || { echo "soak_test: FAIL (verdict above)"; exit 1; }
echo "soak_test: passed"
