# The deckhand GitHub container action (`action.yml` runs it as docker://ghcr.io/<owner>/deckhand:<tag>).
# A small runtime around a PREBUILT binary: no compiler, no Rust toolchain in any stage.
#
#   context/                     the build context holds only the binaries (see .dockerignore)
#     dist/amd64/deckhand        built by .github/workflows/release.yml (or dev/action-image/build)
#     dist/arm64/deckhand
#
# Stages: `runtime` = Debian bookworm-slim + the CA bundle + git + deckhand; `action` (the
# default, last) adds the docker CLI and its buildx plugin for the runner's daemon, which GitHub
# mounts at /var/run/docker.sock. `--target runtime` builds the image without them
# (dev/bench/action-image measures both). The other stages are throwaway.
#
# git: deckhand runs `git rev-parse`, `status`, `symbolic-ref` and `config` (source tags, release
# metadata), all builtins of the one `git` binary, which needs only libpcre2 and zlib (in the base).
# The Debian package adds perl, curl and 150 helpers (~75 MB) deckhand never runs, so only the
# binary is copied from a throwaway stage. Likewise the CA bundle (/etc/ssl/certs/
# ca-certificates.crt, which deckhand's rustls reads): the package would add openssl (8 MB).
#
# docker: Debian bookworm has no package with just the docker CLI: `docker.io` 20.10 bundles
# dockerd, containerd and runc, and its client speaks API 1.41, which Docker Engine 29 (minimum
# API 1.44) refuses. Debian trixie splits out `docker-cli` (26.1, API 1.45; needs libc6 >= 2.34,
# bookworm has 2.36) and `docker-buildx` (BuildKit: `RUN --mount=type=cache`, as backend/Dockerfile
# uses, needs it). They are installed in a throwaway trixie stage and only their binaries copied.
ARG BASE_IMAGE=debian:bookworm-slim
ARG DOCKER_CLI_IMAGE=debian:trixie-slim

FROM ${DOCKER_CLI_IMAGE} AS docker-cli
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends docker-cli docker-buildx \
 && rm -rf /var/lib/apt/lists/* \
 && docker --version \
 && docker buildx version

FROM ${BASE_IMAGE} AS git
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends git ca-certificates \
 && rm -rf /var/lib/apt/lists/*

FROM ${BASE_IMAGE} AS runtime
COPY --from=git /usr/bin/git /usr/bin/git
COPY --from=git /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
# The runner mounts the checkout owned by another uid (1001) than the container's root.
RUN git config --system --add safe.directory '*' && git --version
# Set by BuildKit and buildah from --platform (amd64, arm64).
ARG TARGETARCH
COPY --chmod=0755 dist/${TARGETARCH}/deckhand /usr/local/bin/deckhand
ENTRYPOINT ["/usr/local/bin/deckhand"]

FROM runtime AS action
COPY --from=docker-cli /usr/bin/docker /usr/bin/docker
COPY --from=docker-cli /usr/libexec/docker/cli-plugins/docker-buildx /usr/libexec/docker/cli-plugins/docker-buildx
LABEL org.opencontainers.image.title="deckhand" \
      org.opencontainers.image.description="Deploy a Vite SPA (S3 + CloudFront) and a container backend (ECR + ECS) to AWS"
