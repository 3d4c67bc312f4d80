#!/usr/bin/env bash
# Builds the gRPC libraries ThreadSanitizer needs to see into.
#
# The tsan preset's gRPC-level tests (server, serving, bad input, fault
# injection) cannot be checked against Debian's libgrpc: its synchronization is
# invisible to TSan, so every hand-off through a completion queue reads as a
# race. This builds Debian's own source package of the installed version (same
# patches, same CMake options, shared libraries with the same sonames) with
# -fsanitize=thread into build-tsan-grpc/lib. The tsan test preset puts that
# directory first on LD_LIBRARY_PATH, so the tests link against Debian's
# headers and run on the instrumented copy of the same code.
#
# Once per checkout (build-tsan-grpc/); about 7 minutes on 2 cores. Sources come from the
# configured Debian mirror and are checked against pinned SHA-256 sums.
set -euo pipefail
cd "$(dirname "$0")/.."

readonly upstream=1.51.1 debian_revision=3
readonly orig_sha256=b55696fb249669744de3e71acc54a9382bea0dce7cd5ba379b356b12b82d4229
readonly debian_sha256=767b69da166bae708a54c4740056d9e847d57d89885173016bfc57ebbf154b2d
readonly mirror=${BEEX_DEBIAN_MIRROR:-http://deb.debian.org/debian}
readonly out=$PWD/build-tsan-grpc
readonly stamp=$out/lib/.built-$upstream-$debian_revision

if [[ -e $stamp ]]; then
  echo "build-tsan-grpc: gRPC $upstream with TSan already built"
  exit 0
fi
installed=$(dpkg-query -W -f='${Version}' libgrpc++-dev)
if [[ $installed != "$upstream-$debian_revision"* ]]; then
  echo "build-tsan-grpc: libgrpc++-dev is $installed; this script pins" \
    "$upstream-$debian_revision, whose ABI the tests link against" >&2
  exit 1
fi

mkdir -p "$out/src"
cd "$out/src"
# Python's urllib rather than curl: python3 is in scripts/install-deps.sh's
# test packages (patch and xz come with build-essential), curl is not.
fetch() {  # file sha256
  if [[ ! -e $1 ]]; then
    /usr/bin/python3 - "$mirror/pool/main/g/grpc/$1" "$1.part" <<'PY'
import sys, time, urllib.request
for attempt in range(3):
    try:
        urllib.request.urlretrieve(sys.argv[1], sys.argv[2])
        break
    except OSError as e:
        if attempt == 2:
            sys.exit(f"build-tsan-grpc: cannot fetch {sys.argv[1]}: {e}")
        time.sleep(2)
PY
    mv "$1.part" "$1"
  fi
  echo "$2  $1" | sha256sum -c --quiet
}
fetch "grpc_$upstream.orig.tar.gz" "$orig_sha256"
fetch "grpc_$upstream-$debian_revision.debian.tar.xz" "$debian_sha256"

readonly tree=grpc-$upstream
if [[ ! -e $tree/.patched ]]; then
  rm -rf "$tree"
  tar xzf "grpc_$upstream.orig.tar.gz"
  tar xJf "grpc_$upstream-$debian_revision.debian.tar.xz" -C "$tree"
  grep -v '^#' "$tree/debian/patches/series" | while read -r patch; do
    patch -d "$tree" -p1 -s <"$tree/debian/patches/$patch"
  done
  touch "$tree/.patched"
fi

# Debian builds with CMAKE_BUILD_TYPE=None: no NDEBUG, and neither here, so
# the layout of every class the headers share is the same as the library's.
flags="-O1 -g1 -fsanitize=thread -fno-omit-frame-pointer -Wno-tsan"
cmake -S "$tree" -B build -G Ninja \
  -DCMAKE_BUILD_TYPE=None \
  -DCMAKE_C_COMPILER=gcc -DCMAKE_CXX_COMPILER=g++ \
  -DCMAKE_C_FLAGS="$flags" -DCMAKE_CXX_FLAGS="$flags" \
  -DCMAKE_SHARED_LINKER_FLAGS=-fsanitize=thread \
  -DBUILD_SHARED_LIBS=ON -DgRPC_BUILD_TESTS=OFF \
  -DgRPC_ABSL_PROVIDER=package -DgRPC_CARES_PROVIDER=package \
  -DgRPC_PROTOBUF_PROVIDER=package -DgRPC_RE2_PROVIDER=package \
  -DgRPC_SSL_PROVIDER=package -DgRPC_ZLIB_PROVIDER=package \
  -DgRPC_BACKWARDS_COMPATIBILITY_MODE=OFF \
  -DgRPC_BUILD_CODEGEN=OFF -DgRPC_BUILD_GRPC_CPP_PLUGIN=OFF \
  -DgRPC_BUILD_GRPC_CSHARP_PLUGIN=OFF -DgRPC_BUILD_GRPC_NODE_PLUGIN=OFF \
  -DgRPC_BUILD_GRPC_OBJECTIVE_C_PLUGIN=OFF -DgRPC_BUILD_GRPC_PHP_PLUGIN=OFF \
  -DgRPC_BUILD_GRPC_PYTHON_PLUGIN=OFF -DgRPC_BUILD_GRPC_RUBY_PLUGIN=OFF \
  -DProtobuf_PROTOC_LIBRARY=not-needed-plugin-support-is-not-built \
  >/dev/null
# Only the libraries every call goes through; the unsecure variants would
# double the build, and the reflection service (codegen, which needs protoc's
# library) stays Debian's: no test calls it.
nice cmake --build build --parallel "$(nproc)" \
  --target grpc++ grpc gpr upb address_sorting

mkdir -p "$out/lib"
find build -maxdepth 1 -name 'lib*.so.*' -exec cp -P {} "$out/lib/" \;
touch "$stamp"
echo "build-tsan-grpc: instrumented gRPC libraries in $out/lib:"
ls "$out/lib"
