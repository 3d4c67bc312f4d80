#!/usr/bin/env bash
# The test suite under sanitizers (CMakePresets.json, docs/RELIABILITY.md):
#   scripts/test-sanitizers.sh [PRESET...]   (default: asan-ubsan)
#     asan-ubsan  every test, AddressSanitizer + UndefinedBehaviorSanitizer
#     tsan        the batcher, work pool, metrics, access log and HTTP
#                 tests under ThreadSanitizer (docs/RELIABILITY.md says
#                 why the gRPC-level tests are not among them)
#     fuzz        each libFuzzer target for BEEX_FUZZ_SECONDS (default 20)
# Each preset builds into build<BEEX_BUILD_SUFFIX>-<preset>/ (suffix empty
# unless set in the environment).
set -euo pipefail
cd "$(dirname "$0")/.."
presets=("$@")
((${#presets[@]})) || presets=(asan-ubsan)
for preset in "${presets[@]}"; do
  echo "== $preset"
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset" --parallel "$(nproc)"
  ctest --preset "$preset" --timeout 900
done
