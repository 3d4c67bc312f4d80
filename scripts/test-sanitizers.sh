#!/usr/bin/env bash
# The test suite under sanitizers (CMakePresets.json, docs/RELIABILITY.md):
#   scripts/test-sanitizers.sh [PRESET...]   (default: asan-ubsan)
#     asan-ubsan  every test, AddressSanitizer + UndefinedBehaviorSanitizer
#     tsan        the batcher, server, serving, stream, bad-input, fault-injection,
#                 load generator (server gone mid-run),
#                 metrics, access log and HTTP tests under ThreadSanitizer,
#                 on an instrumented build of gRPC (scripts/build-tsan-grpc.sh,
#                 once per checkout, about 7 minutes)
#     fuzz        each libFuzzer target for BEEX_FUZZ_SECONDS (default 20)
# Each preset builds into build<BEEX_BUILD_SUFFIX>-<preset>/ (suffix empty
# unless set in the environment).
set -euo pipefail
cd "$(dirname "$0")/.."
presets=("$@")
((${#presets[@]})) || presets=(asan-ubsan)
for preset in "${presets[@]}"; do
  echo "== $preset"
  [[ $preset == tsan ]] && scripts/build-tsan-grpc.sh
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset" --parallel "$(nproc)"
  ctest --preset "$preset" --timeout 900
done
