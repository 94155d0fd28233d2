#!/usr/bin/env bash
# Frontend SPA (lint, typecheck, vitest, build), the CloudFront Function (spa-router.js), the local edge,
# then the browser end-to-end: Chromium -> dev/edge (real spa-router.js) -> real backend -> fake Anthropic.
source "$(dirname "$0")/../lib.sh"
cd "$DECKHAND_ROOT"

need_apt chromium fonts-dejavu-core
npm_ci frontend
npm_ci dev/edge
npm_ci dev/e2e

log "frontend: eslint, tsc, vitest, vite build"
(
  cd frontend
  npx eslint . --max-warnings=0
  npx tsc -b
  npx vitest run
  npx vite build --logLevel warn
)

log "infra/functions: spa-router.js in the CloudFront Functions emulator"
node --test --test-reporter=spec infra/functions/

log "dev/edge: emulator, server, S3 origin on the local stack"
local_aws_env
node --test --test-reporter=spec dev/edge/test/

# The e2e runs the real backend; it needs its dependencies and an up-to-date dist/.
npm_ci backend
if [ ! -f backend/dist/main.js ] \
  || [ -n "$(find backend/src backend/package-lock.json backend/tsconfig.build.json -newer backend/dist/main.js -print -quit)" ]; then
  log "backend: npm run build"
  (cd backend && npm run --silent build)
fi

log "browser e2e (screenshots in $DECKHAND_ARTIFACTS)"
node --test --test-reporter=spec --test-concurrency=1 dev/e2e/
