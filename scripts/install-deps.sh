#!/usr/bin/env bash
# Installs every build, test and training dependency from Debian 12 packages.
# Idempotent: packages already present are skipped by apt. Used by the README,
# .ci/run and the Dockerfile, so there is one list to keep right.
#   install-deps.sh               everything: build, tests, training, clients
#   install-deps.sh --build-only  what building the server and client needs
#                                 (the Dockerfile's build stage)
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config git ca-certificates
  # serving stack
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libdnnl-dev libspdlog-dev libfmt-dev zlib1g-dev
  libsentencepiece-dev libcpp-httplib-dev libjemalloc-dev
)
build_only=0
[[ ${1:-} == --build-only ]] && build_only=1
((build_only)) || packages+=(
  # tests
  libgtest-dev libgmock-dev
  clang libclang-rt-14-dev libomp-14-dev  # fuzz and sanitizer presets (CMakePresets.json)
  # training and export (Debian's torch; OpenBLAS so it is not the reference BLAS)
  python3 python3-numpy python3-torch python3-sentencepiece libopenblas0-pthread
  python3-matplotlib  # calibration plots (train/beex_train/calibration.py)
  # the Python example client and its test
  python3-grpcio python3-protobuf
  # deployment tests: manifests, and nginx as the gRPC balancer of scale-out
  python3-yaml nginx
)
# The Node.js example client's test needs node and npm; a machine that has
# them already (e.g. from NodeSource) keeps its own.
((build_only)) || command -v npm >/dev/null || packages+=(nodejs npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  # No package may start a service (nginx would take port 80): tests start
  # what they need on loopback. policy-rc.d is Debian's switch for that.
  policy=/usr/sbin/policy-rc.d
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee $policy >/dev/null
    $sudo chmod +x $policy
    trap '$sudo rm -f $policy' EXIT
  fi
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
echo "install-deps: all ${#packages[@]} packages present"
