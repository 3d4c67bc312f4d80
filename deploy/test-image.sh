#!/usr/bin/env bash
# Builds the beex image from the Dockerfile and checks it: a Classify call to
# the server running from the image, its health check command, the non-root
# user, the exposed ports and the HEALTHCHECK.
#
# No Docker engine is needed: buildah builds with chroot isolation, from a
# debian:bookworm-slim made here by debootstrap (cached in $BEEX_BASE_DIR)
# when the local store has none, and `buildah run` runs the server (podman run
# fails on rlimits on the build machines). Needs root and Debian's mirror.
#   deploy/test-image.sh            build, then test
#   BEEX_IMAGE=beex:dev deploy/test-image.sh
#   BEEX_SKIP_BUILD=1 deploy/test-image.sh     test the image already built
set -euo pipefail
cd "$(dirname "$0")/.."
image=${BEEX_IMAGE:-localhost/beex:test}
base=docker.io/library/debian:bookworm-slim
base_dir=${BEEX_BASE_DIR:-/var/tmp/beex-base}

for tool in buildah podman debootstrap; do
  command -v $tool >/dev/null || missing+=("$tool")
done
if [[ -n ${missing:-} ]]; then
  apt-get update -qq && apt-get install -y -qq --no-install-recommends buildah podman debootstrap
fi

if ! buildah inspect --type image "$base" >/dev/null 2>&1; then
  if [[ ! -x $base_dir/rootfs/bin/bash ]]; then
    echo "test-image: debootstrap bookworm (minbase) into $base_dir"
    rm -rf "$base_dir" && mkdir -p "$base_dir"
    debootstrap --variant=minbase bookworm "$base_dir/rootfs" http://deb.debian.org/debian >"$base_dir/debootstrap.log"
  fi
  tar -C "$base_dir/rootfs" -c . | podman import - "$base" >/dev/null
fi

if [[ -z ${BEEX_SKIP_BUILD:-} ]]; then
  echo "test-image: building $image (log: /tmp/beex-image-build.log)"
  # --format=docker keeps HEALTHCHECK, which the OCI format has no field for.
  buildah bud --isolation=chroot --format=docker --layers -t "$image" . >/tmp/beex-image-build.log 2>&1 ||
    { tail -40 /tmp/beex-image-build.log; echo "FAIL: image build"; exit 1; }
fi

fail() { echo "FAIL: $*"; [[ -f ${log:-} ]] && cat "$log"; exit 1; }
buildah inspect --type image "$image" | /usr/bin/python3 -c '
import json, sys
c = json.load(sys.stdin)["Docker"]["config"]
assert c["User"] not in ("", "0", "root"), c["User"]
assert {"50051/tcp", "9090/tcp"} <= set(c["ExposedPorts"]), c["ExposedPorts"]
assert "beex-client" in " ".join(c["Healthcheck"]["Test"]), c.get("Healthcheck")
' || fail "image config"

port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mport=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
ctr=$(buildah from "$image")
log=$(mktemp)
cleanup() { [[ -n ${server:-} ]] && kill "$server" 2>/dev/null; wait 2>/dev/null; buildah rm "$ctr" >/dev/null 2>&1; rm -f "$log"; }
trap cleanup EXIT
# The image's own entrypoint, with the environment the image sets.
buildah run --isolation chroot --env BEEX_PORT="$port" --env BEEX_METRICS_PORT="$mport" "$ctr" -- \
  /opt/beex/bin/docker-entrypoint.sh --host=127.0.0.1 >"$log" 2>&1 &
server=$!
in_image() { buildah run --isolation chroot "$ctr" -- "$@"; }
for _ in $(seq 100); do in_image /opt/beex/bin/beex-client health --addr "127.0.0.1:$port" --timeout 1 >/dev/null 2>&1 && break; sleep 0.3; done
out=$(in_image /opt/beex/bin/beex-client health --addr "127.0.0.1:$port") || fail "health: $out"
out=$(in_image /opt/beex/bin/beex-client classify --addr "127.0.0.1:$port" --model sst2 "a gripping, beautifully acted film") ||
  fail "classify: $out"
echo "test-image: $out"
[[ $out =~ ^(positive|negative)\ .*exit\ layer\ [0-9]+/[0-9]+ ]] || fail "classify output: $out"
user=$(in_image id -u)
[[ $user != 0 ]] || fail "the container runs as root"
echo "test-image: all checks passed ($image, user $user)"
