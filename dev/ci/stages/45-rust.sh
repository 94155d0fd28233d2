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
# history::random_histories (tests/history.rs) runs random histories for a wall-time budget (150 s,
# DECKHAND_HISTORY_BUDGET) on one thread; libtest starts tests in name order, so inside the
# integration binary it started only once the tests named before it had started, and the binary
# ended with it, three threads idle. It runs in a process of its own, started first, beside the three
# binaries (which skip it).
history_log="$DECKHAND_ARTIFACTS/cargo-test-history.log"
cargo test --quiet --test integration -- --color never --nocapture --exact history::random_histories > "$history_log" 2>&1 &
history_pid=$!
set +e
cargo test --quiet -- --color never --test-threads="${DECKHAND_TEST_THREADS:-4}" --skip history::random_histories > "$DECKHAND_ARTIFACTS/cargo-test.log" 2>&1
rc=$?
wait "$history_pid"
history_rc=$?
set -e
grep -E '^(test result|failures:|---- |thread .* panicked)|FAILED|error(\[|:)' "$DECKHAND_ARTIFACTS/cargo-test.log" | head -n 80
grep -E '^(test result|history run seed|[0-9]+ histories passed|budget of)|FAILED|panicked' "$history_log" | head -n 20
if [ "$rc" -ne 0 ]; then
  tail -n 120 "$DECKHAND_ARTIFACTS/cargo-test.log"
  exit "$rc"
fi
if [ "$history_rc" -ne 0 ]; then
  tail -n 120 "$history_log"
  exit "$history_rc"
fi
grep -q '^test result: ok. 1 passed' "$history_log" || { tail -n 40 "$history_log"; echo "history::random_histories did not run" >&2; exit 1; }
log "deckhand_bin reuses what cargo test built (later stages and dev/demo/run compile nothing more)"
deckhand_bin_is_fresh
