#!/usr/bin/env bash
# Backend (NestJS): eslint, tsc, build, jest (unit + HTTP e2e against the fake Anthropic API,
# including the built server's startup and SIGTERM behaviour); then the container image:
# assemble the local Node base image, build backend/Dockerfile with buildah (vfs, chroot) and
# inspect/run-check the result (dev/node-image/image.test.mjs).
source "$(dirname "$0")/../lib.sh"
cd "$DECKHAND_ROOT"

need_apt buildah busybox-static
npm_ci backend

log "backend: eslint, tsc, build"
(
  cd backend
  npx eslint . --max-warnings=0
  npx tsc -p tsconfig.json --noEmit
  npm run --silent build
)

log "backend: jest (unit + e2e)"
(cd backend && npx jest --ci)

log "backend image: dev/node-image/build + build-backend, inspected with buildah"
node --test --test-reporter=spec dev/node-image/image.test.mjs
