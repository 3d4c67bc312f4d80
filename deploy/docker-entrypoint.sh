#!/bin/sh
# Maps the image's environment to beex-server flags; arguments given to the
# container come after them, so a flag there overrides the environment.
#   BEEX_PORT           gRPC port (50051)
#   BEEX_METRICS_PORT   HTTP port for /metrics, /healthz, /readyz (9090)
#   BEEX_MODELS         comma-separated NAME=PATH list; a model's own batching
#                       settings follow it, as in --model:
#                       sst2=/m/sst2.beex,max_batch_size=8,stsb=/m/stsb.beex
#   BEEX_ARGS           further flags, split on spaces
#   BEEX_SERVER         the server binary (/opt/beex/bin/beex-server)
set -eu
# One --model per model, its batching settings kept with it.
models=$(echo "${BEEX_MODELS:-}" | tr ',' '\n' | awk '
  /^(max_batch_size|max_batch_tokens|max_batch_delay_us|max_queue|batch_threads)=/ &&
    model != "" { model = model "," $0; next }
  NF { if (model != "") print "--model=" model; model = $0 }
  END { if (model != "") print "--model=" model }')
set -- --host=0.0.0.0 --port="${BEEX_PORT:-50051}" \
  --metrics_port="${BEEX_METRICS_PORT:-9090}" $models ${BEEX_ARGS:-} "$@"
exec "${BEEX_SERVER:-/opt/beex/bin/beex-server}" "$@"
