#!/usr/bin/env bash
# Stage 47 — the workflows rehearsed as the runner runs them (dev/actions/, on GitHub's own workflow parser
# and expression evaluator):
#   the engine's tests, the runner's behaviour it models (env precedence, no machine env in a container
#   action, OIDC token endpoint, environments, post steps, cancel/timeout signals, concurrency queues) and
#   the workflows' shape (no AWS, in the background beside the setup; ci.yml only by its shape: it runs .ci/run,
#   which is this very test suite; release.yml's first job, dispatched with a version: the version,
#   Cargo.toml and the default branch agree and the tag is new, or the release stops; the digest
#   set-version writes, the anonymous-pull check against a registry stand-in); then, on the local stack with infra/ deployed and IAM enforced,
#   each trigger (dev/actions/live): push to main -> deploy.yml syncs the secrets (canary values: in SSM
#   afterwards, nowhere in the log or summary; unchanged on the next push) and deploys both halves as DeployRole
#   (a direct push: no reviewed plan, a fresh one, the summary says why);
#   pull_request -> preview.yml runs `deckhand plan` as PlanRole through the action image: the sticky
#   comment on the GitHub API stand-in (dev/github-api; a second push updates it in place), the plan's
#   JSON as the deckhand-plan artifact, no AWS write; a token that may not comment (403) -> the plan in
#   the summary, green; a fork's pull request -> summary only, green, no comment, no AWS session;
#   a deploy job in another environment is refused DeployRole;
#   workflow_dispatch -> rollback.yml restores the previous release (both halves).
#   push after a reviewed pull request -> deploy.yml applies the PR's plan artifact (`deploy --plan`);
#   the world moved after the review -> refused (exit 7, no AWS write) with DECKHAND_REQUIRE_REVIEWED_PLAN=true,
#   else a fresh plan deployed and the summary says what moved.
#   two environments (.github/two-stage/, what `deckhand init --staging-stack` writes, on a staging stack
#   beside the rehearsal's, which is production): a pull request planned by init's two-stage preview.yml
#   (staging's plan as staging's PlanRole: the comment, the deckhand-plan artifact, no AWS write), merged
#   -> the staging job applies that plan (`deploy --plan`) as staging's DeployRole, the promote job
#   (environment production, its url the `url` output) waits for production's required reviewers
#   (nothing of production touched meanwhile; the pusher's own approval refused: prevent self-review),
#   then promotes that release as production's role (same digest, files copied; staging's role touches
#   nothing of production, production's writes nothing of staging's); each environment job has the one
#   GitHub deployment Actions made (deckhand makes none); a dispatch of rollback.yml for production is
#   rejected (no step, production unchanged), a second one approved restores its release before the promotion; `init --stack … --staging-stack …` writes the two-stage files byte for byte.
#   `deckhand init --stack` against that stack writes these very workflows, byte for byte, and tells the user to set
#   the rehearsals' repository variables (dev/actions/live/test_init.py). `deckhand init --cluster/--service`
#   (a live service, no stack) writes them less the `stack:` lines, and those run unedited: push -> deploy,
#   pull_request -> the plan comment, workflow_dispatch -> rollback (test_rehearsals_of_init_from_a_service.py,
#   after test_rehearsals.py, host mode, ~4 min here at load 12).
#   A container action as the runner runs it (dev/actions/live/test_container.py, a busybox probe image):
#   /github/runner_temp and the translated paths; the action image pulled by its digest from the registry
#   standing for ghcr.io (the workflows' action image is this checkout's, published there first), an
#   unpublished digest failing the step.
# test-all: own-stack, beside 45-rust (a full run starts this stage together with stage 45 and runs it
# beside the stages from 45 on, on a local stack of its own: the rehearsals read the stack's whole
# request log and deploy the default `spa-ecs` stack, as dev/demo/run does; its own moto and registry
# keep the two apart. It needs nothing stage 45 does: the deckhand binary is the build that
# dev/ci/prebuild started (deckhand_bin waits for it), and stage 45's tests mostly wait on the
# simulated rollouts, leaving a core for this stage's engine tests, stacks and image builds)
source "$(dirname "$0")/../lib.sh"
cd "$DECKHAND_ROOT"
PY="$HOME/.cache/deckhand/venv/bin/python"
[ -x "$PY" ] || "$DECKHAND_ROOT/dev/local-aws/up" >/dev/null

log "rehearsal: engine and workflow shape tests (in the background, beside the stack's setup: they need no AWS)"
npm_ci dev/actions/node   # GitHub's workflow parser and expression evaluator, which the engine runs on
engine_log="$DECKHAND_ARTIFACTS/rehearsal-engine-tests.log"
"$PY" -m pytest -q -p no:cacheprovider dev/actions/tests > "$engine_log" 2>&1 &
engine=$!

log "rehearsal: local AWS stack, infra/ deployed, the node base image, deckhand and its action image"
need_apt buildah mmdebstrap binutils git jq
local_aws_env
npm_ci infra
# Two environments: the rehearsal's stack is production, promoting from a staging stack beside it
# (one stack per environment, each DeployRole trusting its own GitHub environment's jobs). Staging's
# is deployed in the background beside the image builds, after production's (which creates the
# account's OIDC provider that staging's then reuses).
stack="$(infra/scripts/deploy-local -c promoteFrom=staging)"
staging_out="$DECKHAND_ARTIFACTS/rehearsal-staging-stack.txt"
infra/scripts/deploy-local --env staging --parameters GitHubDeployEnvironment=staging > "$staging_out" &
staging_pid=$!
node_image="$(dev/node-image/build)"
bin="${DECKHAND_BIN:-$(deckhand_bin)}"
action_image="$(dev/action-image/build --binary "$bin" --tag "${DECKHAND_ACTION_TAG:-localhost/deckhand-action:ci}")"

wait "$staging_pid" || { echo "deploy-local of the staging stack failed (exit $?)" >&2; exit 1; }
staging_stack="$(tail -n 1 "$staging_out")"

log "rehearsal: the engine and workflow shape tests' result"
engine_rc=0
wait "$engine" || engine_rc=$?
cat "$engine_log"
[ "$engine_rc" = 0 ] || { echo "rehearsal engine tests failed (exit $engine_rc)" >&2; exit 1; }

log "rehearsal: each trigger on the local stack (dev/actions/live)"
rm -rf "$DECKHAND_ARTIFACTS/rehearsal"
REHEARSAL_STACK="$stack" REHEARSAL_STAGING_STACK="$staging_stack" REHEARSAL_DECKHAND="$bin" REHEARSAL_ACTION_IMAGE="$action_image" REHEARSAL_NODE_IMAGE="$node_image" \
REHEARSAL_WORK="$DECKHAND_ARTIFACTS/rehearsal" \
  "$PY" -m pytest -p no:cacheprovider -s -v --durations=0 dev/actions/live
