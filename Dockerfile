# beex-server image. Built with the same dependency script as the README and
# CI; deploy/test-image.sh builds it with buildah and checks a Classify call
# against the server running from it.
#
#   buildah bud --isolation=chroot -t beex .      (or: docker build -t beex .)
#   docker run -p 50051:50051 -p 9090:9090 beex
#
# Configuration: flags after the image name are passed to beex-server; the
# environment sets the common ones (see deploy/docker-entrypoint.sh).

FROM debian:bookworm-slim AS build
WORKDIR /src
COPY scripts/install-deps.sh scripts/
RUN scripts/install-deps.sh --build-only && rm -rf /var/lib/apt/lists/*
COPY . .
RUN rm -rf build && cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DBEEX_BUILD_TESTS=OFF -DCMAKE_INSTALL_PREFIX=/opt/beex \
 && cmake --build build --parallel \
 && cmake --install build --strip \
 && mkdir -p /opt/beex/models && cp models/*.beex /opt/beex/models/ \
 && cp deploy/docker-entrypoint.sh /opt/beex/bin/ \
 && scripts/runtime-packages.sh /opt/beex/bin/beex-server \
      /opt/beex/bin/beex-client /opt/beex/lib/*.so > /opt/beex/runtime-packages.txt

# The runtime stage: the server, the client, the models, and the Debian
# packages of exactly the shared libraries they load.
FROM debian:bookworm-slim
COPY --from=build /opt/beex/runtime-packages.txt /tmp/
RUN apt-get update -qq \
 && xargs -a /tmp/runtime-packages.txt apt-get install -y -qq --no-install-recommends \
 && rm -rf /var/lib/apt/lists/* /tmp/runtime-packages.txt \
 && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin beex
COPY --from=build /opt/beex /opt/beex
USER 10001
ENV OMP_WAIT_POLICY=PASSIVE \
    BEEX_PORT=50051 \
    BEEX_METRICS_PORT=9090 \
    BEEX_MODELS="sst2=/opt/beex/models/sst2.beex,stsb=/opt/beex/models/stsb.beex"
EXPOSE 50051 9090
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["/opt/beex/bin/beex-client", "health", "--addr=127.0.0.1:50051", "--timeout=2"]
ENTRYPOINT ["/opt/beex/bin/docker-entrypoint.sh"]
