# The deckhand GitHub container action (`action.yml` runs it as docker://ghcr.io/<owner>/deckhand:<tag>).
# A small runtime around a PREBUILT binary: no compiler, no Rust toolchain in any stage.
#
#   context/                     the build context holds only the binaries (see .dockerignore)
#     dist/amd64/deckhand        built by .github/workflows/release.yml (or dev/action-image/build)
#     dist/arm64/deckhand
#
# Stages: `runtime` = the deckhand binary, git, the CA bundle and the shared libraries they load,
# on no base (FROM scratch); `action` (the default, last) adds the docker CLI and its buildx
# plugin for the runner's daemon, which GitHub mounts at /var/run/docker.sock. `--target runtime`
# builds the image without them (dev/bench/action-image measures both). The other stages are
# throwaway.
#
# `deckhand-post` is a link to deckhand: action.yml's post-entrypoint (deckhand runs its post step,
# releasing a lock a killed main step left, when started under that name).
#
# Why no Debian userland: the action runs one program, `deckhand` (ENTRYPOINT, exec form), which
# runs only `git` and `docker`. A full debian:bookworm-slim (74 MB: apt, dpkg, perl-base, bash,
# coreutils, gconv modules, ...) would be most of the runtime image and none of it is ever run.
# The `rootfs` stage installs git and ca-certificates on bookworm-slim, then copies into /rootfs
# only: deckhand, /usr/bin/git, the libraries `ldd` names for both (glibc, libgcc_s, pcre2, zlib;
# whatever the binaries need on that architecture), the dynamic loader, an ld.so.cache for
# them, the CA bundle, /etc/{passwd,group,nsswitch.conf,os-release,gitconfig}, /tmp, and for
# each Debian package a file came from its dpkg status (/var/lib/dpkg/status.d/, the layout
# SBOM scanners read, as distroless images do) and its copyright file. No shell: `RUN` steps in
# the final stages use the exec form.
#
# git: deckhand runs `git rev-parse`, `status`, `symbolic-ref` and `config` (source tags, release
# metadata), all builtins of the one `git` binary, which needs only libpcre2 and zlib. The Debian
# package adds perl, curl and 150 helpers (~75 MB) deckhand never runs. The CA bundle
# (/etc/ssl/certs/ca-certificates.crt) is what deckhand's rustls reads.
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

FROM ${BASE_IMAGE} AS rootfs
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends git ca-certificates \
 && rm -rf /var/lib/apt/lists/*
# Set by BuildKit and buildah from --platform (amd64, arm64).
ARG TARGETARCH
COPY --chmod=0755 dist/${TARGETARCH}/deckhand /rootfs/usr/local/bin/deckhand
RUN set -eu; R=/rootfs; \
    for d in bin sbin lib lib32 lib64 libx32; do if [ -L "/$d" ]; then cp -a "/$d" "$R/"; fi; done; \
    mkdir -p "$R/usr/bin" "$R/etc/ssl/certs" "$R/tmp" "$R/root" "$R/var/lib/dpkg/status.d" "$R/usr/share/doc"; \
    chmod 1777 "$R/tmp"; chmod 0700 "$R/root"; \
    cp /usr/bin/git "$R/usr/bin/git"; \
    ln -s deckhand "$R/usr/local/bin/deckhand-post"; \
    files=/usr/bin/git; \
    for lib in $( (ldd /usr/bin/git; ldd "$R/usr/local/bin/deckhand") | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^\//) print $i }' | sort -u); do \
      dir="$R$(readlink -f "$(dirname "$lib")")"; mkdir -p "$dir"; cp -L "$lib" "$dir/"; \
      files="$files $lib"; \
    done; \
    cp -a /etc/ld.so.conf /etc/ld.so.conf.d "$R/etc/"; ldconfig -r "$R"; \
    cp /etc/ssl/certs/ca-certificates.crt "$R/etc/ssl/certs/"; \
    cp /etc/nsswitch.conf "$R/etc/"; cp -L /etc/os-release "$R/etc/os-release"; \
    printf 'root:x:0:0:root:/root:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' > "$R/etc/passwd"; \
    printf 'root:x:0:\nnogroup:x:65534:\n' > "$R/etc/group"; \
    git config --file "$R/etc/gitconfig" --add safe.directory '*'; \
    pkgs=ca-certificates; \
    for f in $files; do \
      owner="$(dpkg-query -S "$f" 2>/dev/null || dpkg-query -S "$(readlink -f "$f")" 2>/dev/null)" \
        || { echo "no Debian package owns $f" >&2; exit 1; }; \
      pkgs="$pkgs ${owner%%:*}"; \
    done; \
    for p in $(printf '%s\n' $pkgs | sort -u); do \
      dpkg-query -s "$p" > "$R/var/lib/dpkg/status.d/$p"; \
      if [ -f "/usr/share/doc/$p/copyright" ]; then mkdir -p "$R/usr/share/doc/$p"; cp "/usr/share/doc/$p/copyright" "$R/usr/share/doc/$p/"; fi; \
    done; \
    echo "rootfs: $(du -sh "$R" | cut -f1), packages: $(ls "$R/var/lib/dpkg/status.d" | tr '\n' ' ')"

FROM scratch AS runtime
COPY --from=rootfs /rootfs/ /
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# Each binary starts with only what was copied (no shell in this image: exec form).
RUN ["/usr/bin/git", "--version"]
RUN ["/usr/local/bin/deckhand", "--version"]
# The post step's name (no lock state here: it says so and exits 0).
RUN ["/usr/local/bin/deckhand-post"]
ENTRYPOINT ["/usr/local/bin/deckhand"]

FROM runtime AS action
COPY --from=docker-cli /usr/bin/docker /usr/bin/docker
COPY --from=docker-cli /usr/libexec/docker/cli-plugins/docker-buildx /usr/libexec/docker/cli-plugins/docker-buildx
# Both link only against libc (bookworm's 2.36 satisfies their >= 2.34).
RUN ["/usr/bin/docker", "--version"]
RUN ["/usr/bin/docker", "buildx", "version"]
LABEL org.opencontainers.image.title="deckhand" \
      org.opencontainers.image.description="Deploy a Vite SPA (S3 + CloudFront) and a container backend (ECR + ECS) to AWS"
