#!/usr/bin/env bash
# Rust: rustfmt, clippy (-D warnings, in the test build), then every test (unit + integration against the local stack), and a
# check that deckhand_bin (stages 50, 80, dev/demo/run) needs no second build of the dependency tree.
source "$(dirname "$0")/../lib.sh"
cd "$DECKHAND_ROOT"
need_apt openssl  # tests/plan.rs makes the certificates of its TLS test
local_aws_env
log "module graph (acyclic, layers point down)"
python3 dev/ci/modgraph.py src
log "no file under src/ above 600 lines (tests apart)"
python3 dev/ci/filesize.py src 600
log "cargo fmt --check"
cargo fmt --all -- --check
# A full dev/test-all has started this very build in the background (dev/ci/prebuild): cargo waits for
# its lock and finds every target fresh, or builds what is left (and reports the errors, if any).
log "cargo test --no-run: every target built once, linted by clippy on the way (-D warnings; see lib.sh)"
[ -x "$RUSTC_WORKSPACE_WRAPPER" ] || { echo "clippy-driver not found at $RUSTC_WORKSPACE_WRAPPER (rustup component add clippy)" >&2; exit 1; }
cargo test --no-run --quiet
# tests/prober.rs runs the local edge (dev/edge/server.mjs) through node (installed after the build:
# dev/ci/prefetch may be installing it in the background, and the build does not need it).
npm_ci "$DECKHAND_ROOT/dev/edge"
log "cargo test"
# Three test binaries (the lib's unit tests, the bin's, tests/integration.rs) run one after another;
# the tests inside one run in parallel. Four threads on two cores: most integration tests wait on the
# local stack's simulated rollouts (measured: 2 threads 92 s, 4 threads 66 s, 8 threads 70 s).
set +e
cargo test --quiet -- --color never --test-threads="${DECKHAND_TEST_THREADS:-4}" > "$DECKHAND_ARTIFACTS/cargo-test.log" 2>&1
rc=$?
set -e
grep -E '^(test result|failures:|---- |thread .* panicked)|FAILED|error(\[|:)' "$DECKHAND_ARTIFACTS/cargo-test.log" | head -n 80
if [ "$rc" -ne 0 ]; then
  tail -n 120 "$DECKHAND_ARTIFACTS/cargo-test.log"
  exit "$rc"
fi
log "deckhand_bin reuses what cargo test built (later stages and dev/demo/run compile nothing more)"
deckhand_bin_is_fresh
