#!/usr/bin/env bash
# Quick start, command 2: install dependencies, build, and run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
export OMP_WAIT_POLICY=PASSIVE
ctest --test-dir build --output-on-failure --timeout 600
# Each fuzz target for a bounded time (clang + libFuzzer, ASan + UBSan): an
# engine-only build (7 min on a busy 2-core machine) and 70 s of fuzzing.
# The full suite under ASan + UBSan is scripts/test-sanitizers.sh.
scripts/test-sanitizers.sh fuzz
