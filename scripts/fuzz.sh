#!/usr/bin/env bash
# Longer fuzz runs than CI's (docs/RELIABILITY.md). Builds the fuzz preset
# (clang, libFuzzer + ASan + UBSan), seeds the corpora from GLUE and the
# bundled models, and runs each target in turn; the corpus grows across runs.
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]   (default 600; all)
#   BEEX_FUZZ_BUILD=dir      build directory (default build-fuzz)
#   BEEX_FUZZ_FLAGS="..."    extra libFuzzer flags, e.g. "-fork=4"
# Targets: tokenizer validation bundle model. A finding stops with the input saved
# as BUILD/tests/fuzz-corpus/crash-*; fix it and copy the input to
# tests/fuzz/regressions/<target>/, where every build replays it.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
(($# > 0)) && shift
targets=("$@")
((${#targets[@]})) || targets=(tokenizer validation bundle model)
build=${BEEX_FUZZ_BUILD:-build-fuzz}
read -r -a flags <<<"${BEEX_FUZZ_FLAGS:-}"

cmake --preset fuzz -B "$build" >/dev/null
cmake --build "$build" --target "${targets[@]/%/_fuzz}"
python3 tests/fuzz/make_seeds.py . "$build/tests/fuzz-seeds"
for t in "${targets[@]}"; do
  echo "== $t: $seconds s"
  tests/fuzz/run_fuzzer.sh "$build/tests/${t}_fuzz" "$seconds" \
    "$build/tests/fuzz-corpus/$t" "$build/tests/fuzz-seeds/$t" \
    "tests/fuzz/seeds/$t" "tests/fuzz/regressions/$t" -- "${flags[@]}"
done
