#!/usr/bin/env bash
# Stage 80 — the demo, end to end (dev/demo/run): infra into the local stack, deckhand deploy, a second
# deploy that must make zero write calls (request log), status, then the API started from the pushed
# image's files (fake Anthropic API as the model) behind the local edge with the real spa-router.js:
# /chat must serve the deployed index.html, /api/health and /api/chat must answer through the edge.
source "$(dirname "$0")/../lib.sh"
cd "$DECKHAND_ROOT"
out="$DECKHAND_ARTIFACTS/demo.log"
set +e
DEMO_SERVE=0 dev/demo/run 2>&1 | tee "$out" | grep -E '^(demo: |second deploy: )'
rc=${PIPESTATUS[0]}
set -e
if [ "$rc" -ne 0 ]; then
  tail -n 60 "$out"
fi
echo "demo: $(grep -c '^demo: ok:' "$out") checks passed (log: $out)"
exit "$rc"
