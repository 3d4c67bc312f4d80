#!/bin/sh
# Maps the image's environment to beex-server flags; arguments given to the
# container come after them, so a flag there overrides the environment.
#   BEEX_PORT           gRPC port (50051)
#   BEEX_METRICS_PORT   HTTP port for /metrics, /healthz, /readyz (9090)
#   BEEX_MODELS         comma-separated NAME=PATH list
#   BEEX_ARGS           further flags, split on spaces
set -eu
set -- --host=0.0.0.0 --port="${BEEX_PORT:-50051}" \
  --metrics_port="${BEEX_METRICS_PORT:-9090}" \
  $(echo "${BEEX_MODELS:-}" | tr ',' '\n' | sed -n 's/^\(..*\)$/--model=\1/p') \
  ${BEEX_ARGS:-} "$@"
exec /opt/beex/bin/beex-server "$@"
