# The deckhand GitHub container action: the deckhand binary plus the tools it drives (git for
# source tags, the docker CLI for the runner's daemon, buildah as the daemonless fallback).
ARG RUST_IMAGE=rust:1-bookworm
ARG BASE_IMAGE=debian:bookworm-slim

FROM ${RUST_IMAGE} AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
RUN cargo build --release --locked --bin deckhand && strip target/release/deckhand

FROM ${BASE_IMAGE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates git buildah docker.io \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/deckhand /usr/local/bin/deckhand
# The workspace is owned by another uid than the container's root.
RUN git config --system --add safe.directory '*'
ENTRYPOINT ["/usr/local/bin/deckhand"]
