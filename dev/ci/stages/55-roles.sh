#!/usr/bin/env bash
# Stage 55 — deckhand as the roles infra/ synthesizes, on the local stack (which enforces IAM): deploy
# infra/, mint the OIDC token each workflow job in .github/workflows/ would get, assume the role it
# names, run the real deckhand (dev/roles/test_roles.py: deploy, secrets sync, plan, status). The IAM actions the runs needed are
# regenerated into infra/test/role-actions.json; the stage fails when they differ from the checked-in
# file, and infra/test/security.test.ts (stage 50's, or this stage's when it runs alone) fails when the
# template grants other actions than those.
source "$(dirname "$0")/../lib.sh"
cd "$DECKHAND_ROOT"

need_apt buildah
npm_ci infra
local_aws_env
DECKHAND_BIN="$(deckhand_bin)"
export DECKHAND_BIN

log "roles: deckhand as DeployRole / PlanRole with each workflow's OIDC token (dev/roles)"
ROLES_UPDATE=1 "$HOME/.cache/deckhand/venv/bin/python" -m pytest -q -p no:cacheprovider -p no:logging dev/roles

log "roles: the recorded IAM actions are the checked-in infra/test/role-actions.json"
if ! git diff --exit-code -- infra/test/role-actions.json; then
  echo "the IAM actions deckhand's runs needed changed (diff above): review, commit infra/test/role-actions.json, and make the template grant exactly them (infra/test/security.test.ts)" >&2
  exit 1
fi
# infra/test/security.test.ts (the template's role policies against these recorded actions) is part of
# stage 50's `npm test`, on this very file: when dev/test-all runs stage 50 too (DECKHAND_STAGES), the
# same test on the same inputs is not run twice; otherwise this stage runs it.
if [[ " ${DECKHAND_STAGES:-} " != *" 50-infra "* ]]; then
  log "infra: security.test.ts (the template's role policies against the recorded actions)"
  (cd infra && node --import tsx --test --test-reporter=spec test/security.test.ts)
fi
