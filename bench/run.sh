#!/usr/bin/env bash
# One command for the engine benchmark (see bench/run.py for what it measures):
#   bench/run.sh [run.py flags, e.g. --batches 1,8,64 --rounds 3]
# By default it runs models/sst2.beex, models/sst2-xnor.beex beside it, and
# the trained FP32 twin when scripts/train-bundled-models.sh made one.
# Installs what it needs (onnxruntime-node into bench/node_modules, Debian's
# python3-matplotlib), builds Release into build-bench/, runs everything and
# writes docs/BENCHMARKS.md. Not a test: it takes a few minutes.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

if [ ! -e bench/node_modules/onnxruntime-node/package.json ]; then
  # The package ships its CPU library; its install script only fetches CUDA
  # binaries, which the benchmark does not use.
  (cd bench && ONNXRUNTIME_NODE_INSTALL_CUDA=skip npm ci --no-audit --no-fund --ignore-scripts)
fi
if ! /usr/bin/python3 -c 'import matplotlib' 2>/dev/null; then
  if [ "$(id -u)" = 0 ]; then apt-get install -y python3-matplotlib; else sudo apt-get install -y python3-matplotlib; fi
fi

cmake -S . -B build-bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DBEEX_BUILD_TESTS=OFF >/dev/null
cmake --build build-bench -j2 --target beex_bench kernel_bench

OMP_WAIT_POLICY=PASSIVE exec /usr/bin/python3 bench/run.py --build build-bench "$@"
