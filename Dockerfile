# beex-server image: built with the same dependency script as the README and CI.
#   podman build -t beex .   (see deploy/ for running it)
FROM debian:bookworm-slim AS build
WORKDIR /src
COPY scripts/install-deps.sh scripts/
RUN scripts/install-deps.sh && rm -rf /var/lib/apt/lists/*
COPY . .
RUN rm -rf build && cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DBEEX_BUILD_TESTS=OFF -DCMAKE_INSTALL_PREFIX=/opt/beex \
 && cmake --build build --parallel && cmake --install build \
 && mkdir -p /opt/beex/models && cp models/*.beex /opt/beex/models/

FROM debian:bookworm-slim
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends \
      libgrpc++1.51 libprotobuf32 libdnnl2 libspdlog1.10 libsentencepiece0 \
      libabsl20220623 zlib1g libcpp-httplib0.11 \
 && rm -rf /var/lib/apt/lists/* && useradd --system --uid 10001 beex
COPY --from=build /opt/beex /opt/beex
USER beex
ENV OMP_WAIT_POLICY=PASSIVE
EXPOSE 50051
ENTRYPOINT ["/opt/beex/bin/beex-server"]
CMD ["--port=50051", "--model=sst2=/opt/beex/models/sst2.beex", "--model=stsb=/opt/beex/models/stsb.beex"]
