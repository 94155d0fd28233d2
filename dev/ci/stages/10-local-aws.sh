#!/usr/bin/env bash
# Stage 10: bring up the local AWS stack (moto + deckhand plugin on 127.0.0.1:4566, OCI registry on
# 127.0.0.1:5001) and run the plugin's pytest suite against it. The stack stays up for later stages.
source "$(dirname "$0")/../lib.sh"

log "local AWS stack (dev/local-aws/up)"
local_aws_env

log "local AWS stack tests (pytest, dev/local-aws/tests)"
cd "$DECKHAND_ROOT/dev/local-aws"
exec "$HOME/.cache/deckhand/venv/bin/python" -m pytest -q
