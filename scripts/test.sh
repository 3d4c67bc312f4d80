#!/usr/bin/env bash
# Quick start, command 2: install dependencies, build, and run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
export OMP_WAIT_POLICY=PASSIVE
ctest --test-dir build --output-on-failure --timeout 600
# Every test again under ASan + UBSan (GCC; about 15 min to build on 2
# cores, 1 min to run), then each fuzz target for a bounded time (clang +
# libFuzzer, ASan + UBSan: an engine-only build and 70 s of fuzzing).
# ThreadSanitizer runs by hand (its instrumented gRPC build would add about
# 20 min): scripts/test-sanitizers.sh tsan.
scripts/test-sanitizers.sh asan-ubsan fuzz
