#!/usr/bin/env bash
# Stage 80 — the demo, end to end (dev/demo/run): infra into the local stack, deckhand deploy, a second
# deploy that must make zero write calls (request log), status, then the API started from the pushed
# image's files (fake Anthropic API as the model) behind the local edge with the real spa-router.js:
# /chat must serve the deployed index.html, /api/health and /api/chat must answer through the edge.
# Within it, a newcomer's run of docs/getting-started.md (dev/demo/getting-started): the guide's shell
# blocks, extracted from the Markdown, on a stack of its own (`shop`, no running task), init, the
# push's deploy job, the scale-up, a second push; first, its tests (a guide it cannot run in full fails).
source "$(dirname "$0")/../lib.sh"
cd "$DECKHAND_ROOT"
"$HOME/.cache/deckhand/venv/bin/python" -m pytest -q -p no:cacheprovider dev/demo/tests
out="$DECKHAND_ARTIFACTS/demo.log"
set +e
DEMO_SERVE=0 dev/demo/run 2>&1 | tee "$out" | grep -E '^(demo: |second deploy: )'
rc=${PIPESTATUS[0]}
set -e
if [ "$rc" -ne 0 ]; then
  tail -n 60 "$out"
fi
echo "demo: $(grep -c '^demo: ok:' "$out") checks passed (log: $out)"
[ "$rc" -eq 0 ] || exit "$rc"

# DEMO_SERVE=1 keeps the site and the API up behind the edge on :8080 until interrupted; an
# interrupt stops everything it started (nothing left listening).
serve_log="$DECKHAND_ARTIFACTS/demo-serve.log"
fail() { printf 'demo: FAILED: %s\n' "$*" >&2; exit 1; }
setsid env DEMO_SERVE=1 dev/demo/run > "$serve_log" 2>&1 &
serve_pid=$!
up=""
# Up to 5 minutes: the serving run synthesizes and deploys infra/ again before it serves; on a
# loaded 2-core machine reaching the edge took 154 s (load average ~13), past the former 150 s.
for _ in $(seq 1 600); do
  if grep -q 'serving s3://' "$serve_log"; then up=1; break; fi
  kill -0 "$serve_pid" 2>/dev/null || break
  sleep 0.5
done
if [ -z "$up" ]; then
  tail -n 40 "$serve_log"
  kill -TERM -- "-$serve_pid" 2>/dev/null || true
  fail "DEMO_SERVE=1: the demo did not reach its serving state"
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
