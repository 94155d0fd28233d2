#!/usr/bin/env bash
# Stage 80 — the demo, end to end (dev/demo/run): infra into the local stack, deckhand deploy, a second
# deploy that must make zero write calls (request log), status, then the API started from the pushed
# image's files (fake Anthropic API as the model) behind the local edge with the real spa-router.js:
# /chat must serve the deployed index.html, /api/health and /api/chat must answer through the edge.
# Within it, a newcomer's run of docs/getting-started.md (dev/demo/getting-started): the guide's shell
# blocks, extracted from the Markdown, on a stack of its own (`shop`, no running task), init, the
# push's deploy job, the scale-up, a second push; first, its tests (a guide it cannot run in full fails).
# One run (DEMO_SERVE=1 DEMO_NEWCOMER=1): after its checks it holds the edge open on :8080, checked, then
# interrupted.
source "$(dirname "$0")/../lib.sh"
cd "$DECKHAND_ROOT"
"$HOME/.cache/deckhand/venv/bin/python" -m pytest -q -p no:cacheprovider dev/demo/tests
out="$DECKHAND_ARTIFACTS/demo.log"
fail() { printf 'demo: FAILED: %s\n' "$*" >&2; exit 1; }
# One run does it all: every check of dev/demo/run, the newcomer's run of the guide (DEMO_NEWCOMER=1),
# then (DEMO_SERVE=1) the site and the API held open behind the edge on :8080 until interrupted; an
# interrupt must stop everything it started (nothing left listening). A second, serving run of the
# whole demo after a first one (as this stage did before) repeated every step for the :8080 checks.
setsid env DEMO_SERVE=1 DEMO_NEWCOMER=1 dev/demo/run > "$out" 2>&1 &
serve_pid=$!
up=""
# Until the demo serves or exits (each step's own waits bound it; 30 min is a backstop).
for _ in $(seq 1 3600); do
  if grep -q 'serving s3://' "$out"; then up=1; break; fi
  kill -0 "$serve_pid" 2>/dev/null || break
  sleep 0.5
done
grep -E '^(demo: |second deploy: )' "$out" || true
echo "demo: $(grep -c '^demo: ok:' "$out") checks passed (log: $out)"
if [ -z "$up" ]; then
  tail -n 60 "$out"
  kill -TERM -- "-$serve_pid" 2>/dev/null || true
  rc=0
  wait "$serve_pid" || rc=$?
  fail "dev/demo/run did not reach its serving state (exit $rc)"
fi
sleep 1
kill -0 "$serve_pid" 2>/dev/null || fail "DEMO_SERVE=1: the demo exited instead of holding the edge open"
code="$(curl -sS --noproxy '*' -o /dev/null -w '%{http_code}' http://127.0.0.1:8080/chat)"
[ "$code" = 200 ] || fail "DEMO_SERVE=1: GET http://127.0.0.1:8080/chat answered $code"
health="$(curl -sS --noproxy '*' http://127.0.0.1:8080/api/health)"
case "$health" in *ok*) ;; *) fail "DEMO_SERVE=1: /api/health answered $health" ;; esac
kill -INT -- "-$serve_pid" 2>/dev/null || true
for _ in $(seq 1 40); do kill -0 "$serve_pid" 2>/dev/null || break; sleep 0.25; done
if kill -0 "$serve_pid" 2>/dev/null; then
  kill -KILL -- "-$serve_pid" 2>/dev/null || true
  fail "DEMO_SERVE=1: the demo did not stop on an interrupt"
fi
if curl -sS --noproxy '*' -o /dev/null --max-time 2 http://127.0.0.1:8080/chat 2>/dev/null; then
  fail "DEMO_SERVE=1: something still answers on :8080 after the interrupt"
fi
echo "demo: DEMO_SERVE=1 held the edge open on :8080 (/chat 200, /api/health ok) and stopped cleanly on an interrupt"
