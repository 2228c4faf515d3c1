# One image with every binary of argo-events-rs:
#   argo-events             EventSource and Sensor pods (`eventsource run`, `sensor run`)
#   argo-events-controller  the controller (`run`; `render` prints what it would create)
#   argo-events-webhook     the admission webhook server
#   kubectl-argo-events     the kubectl plugin, for `kubectl argo events lint` in CI jobs
#
#   docker build -t argo-events-rs:latest .
#
# Not built by this repository's tests or CI (they run without a Docker engine); keep it plain.

FROM rust:1.95 AS builder
# `version` and `argo_events_build_info` report these; the copy below has no .git, so without
# the first the commit is `unknown`, and without the second the build date is the build's time:
#   --build-arg ARGO_EVENTS_GIT_COMMIT="$(git rev-parse HEAD)"
#   --build-arg SOURCE_DATE_EPOCH="$(git log -1 --format=%ct)"
ARG ARGO_EVENTS_GIT_COMMIT
ARG SOURCE_DATE_EPOCH
WORKDIR /src
COPY . .
RUN cargo build --release --locked \
        -p argo-events-runtime \
        -p argo-events-controller \
        -p argo-events-webhook \
        -p argo-events-kubectl \
    && mkdir /out \
    && cp target/release/argo-events \
          target/release/argo-events-controller \
          target/release/argo-events-webhook \
          target/release/kubectl-argo-events \
          /out/

# glibc, libgcc, CA certificates and tzdata; no shell. Time zones used by calendar sources and
# filters come from chrono-tz, compiled into the binaries.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=builder /out/ /usr/local/bin/
# `nonroot` (65532) by number, so that Kubernetes' runAsNonRoot can verify it.
USER 65532:65532
ENTRYPOINT ["argo-events"]
