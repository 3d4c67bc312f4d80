#!/usr/bin/env bash
# Quick start, command 2: install dependencies, build, and run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
export OMP_WAIT_POLICY=PASSIVE
ctest --test-dir build --output-on-failure --timeout 600
