#!/usr/bin/env bash
# Stage 70 — the workflows rehearsed as the runner runs them (dev/actions/):
#   the engine's tests and the workflows' shape (no AWS; ci.yml only by its shape: it runs .ci/run,
#   which is this very test suite).
source "$(dirname "$0")/../lib.sh"
cd "$DECKHAND_ROOT"
PY="$HOME/.cache/deckhand/venv/bin/python"
[ -x "$PY" ] || "$DECKHAND_ROOT/dev/local-aws/up" >/dev/null

log "rehearsal: engine and workflow shape tests"
"$PY" -m pytest -q -p no:cacheprovider dev/actions/tests
