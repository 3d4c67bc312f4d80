#!/usr/bin/env bash
# Quick start, command 2: install dependencies, build, and run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
export OMP_WAIT_POLICY=PASSIVE
ctest --test-dir build --output-on-failure --timeout 600
# Every test again under ASan + UBSan (GCC), then the batcher and every
# gRPC-level test under TSan (GCC, on gRPC rebuilt with -fsanitize=thread
# from Debian's source once per checkout: about 12 min in all), then each
# fuzz target for a bounded time (clang + libFuzzer, ASan + UBSan: an
# engine-only build and 90 s of fuzzing). docs/RELIABILITY.md has each.
scripts/test-sanitizers.sh asan-ubsan tsan fuzz
