# syntax=docker/dockerfile:1
# One image for both components: /usr/local/bin/oxlb-controller,
# /usr/local/bin/oxlb-speaker and /usr/local/bin/oxlb-bgp. deploy/ picks
# the binary per container (`command:`).
#
# Built by your registry pipeline, not from this repository's machines
# (they cannot push): docker build -t REGISTRY/oxlb:TAG . && docker push
# REGISTRY/oxlb:TAG, then point deploy/ at it (docs/quick-start.md).
#
# Runtime: distroless/cc (glibc, libgcc_s; no shell, no package manager).
# Static musl binaries would allow `scratch`, but the musl build (ring's
# and jemalloc's C parts need musl-gcc) is untried, so the glibc build the
# tests run is what ships.

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked \
      -p speaker --features kube --bin oxlb-speaker \
      -p controller --bin oxlb-controller \
      -p bgp-session --bin oxlb-bgp \
 && install -D -m 0755 -t /out \
      target/release/oxlb-speaker target/release/oxlb-controller target/release/oxlb-bgp

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/ /usr/local/bin/
# Non-root by default (the controller). The speaker's DaemonSet sets
# runAsUser: 0 with only NET_RAW and NET_ADMIN (deploy/speaker.yaml).
USER 65532:65532
EXPOSE 7472
ENTRYPOINT ["/usr/local/bin/oxlb-controller"]
CMD ["run"]
