#!/usr/bin/env bash
# The GitHub action image, built and run here the way the runner runs it:
#   1. dev/action-image/build: the top-level Dockerfile, unchanged, with buildah on local Debian
#      bases (mmdebstrap, cached in ~/.cache/deckhand/action-image) and the debug binary the Rust
#      stage already built (stripped; dev/bench/action-image measures a release build);
#   2. the image's size: without the docker CLI + buildx (the `runtime` part) it must stay under
#      issue 13's 120 MB even with this debug binary (a release build is smaller still; figures:
#      dev/bench/action-image); `deckhand --version` through dev/action-image/run (prints the
#      start time; no assertion on it);
#   3. a real frontend deploy through the image into the local stack, as the runner runs the action
#      (checkout owned by uid 1001, /github/* mounts, INPUT_*, GITHUB_*, AWS_* from the job), then
#      the same deploy again (a no-op); GITHUB_OUTPUT, GITHUB_STEP_SUMMARY and the bucket checked.
source "$(dirname "$0")/../lib.sh"
cd "$DECKHAND_ROOT"
stage_start=$(date +%s)
need_apt buildah mmdebstrap binutils git python3-yaml
local_aws_env
AWS="$HOME/.cache/deckhand/venv/bin/aws"

bin="${DECKHAND_BIN:-$(deckhand_bin)}"
# DECKHAND_ACTION_TAG: another name for the image (checkouts sharing one buildah storage).
image="$(dev/action-image/build --binary "$bin" --tag "${DECKHAND_ACTION_TAG:-localhost/deckhand-action:ci}")"
built=$(date +%s)

# Sizes as the image's root filesystem holds them (uncompressed, what `docker images` shows).
ctr="$(buildah from --pull=never --quiet "$image")"
mnt="$(buildah mount "$ctr")"
size_total="$(du -sb --apparent-size "$mnt" | cut -f1)"
size_deckhand="$(stat -c %s "$mnt/usr/local/bin/deckhand")"
size_docker="$(( $(stat -c %s "$mnt/usr/bin/docker") + $(stat -c %s "$mnt/usr/libexec/docker/cli-plugins/docker-buildx") ))"
buildah umount "$ctr" >/dev/null
buildah rm "$ctr" >/dev/null

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
ws="$work/workspace"
mkdir -p "$ws/site/assets"

log "deckhand --version under buildah run"
dev/action-image/run --image "$image" --workspace "$ws" --runner-temp "$work/t0" --result "$work/version.json" \
  -- --version > "$work/version.out"

log "a checkout owned by uid 1001 and a site on the local stack"
id="ai-$(date +%s)-$$"
"$AWS" s3api create-bucket --bucket "$id-site" >/dev/null
"$AWS" s3api create-bucket --bucket "$id-state" >/dev/null
dist="$("$AWS" cloudfront create-distribution --origin-domain-name "$id-site.s3.us-east-1.amazonaws.com" \
  --default-root-object index.html --query Distribution.Id --output text)"
cat > "$ws/deckhand.yml" <<YAML
region: us-east-1
state-bucket: $id-state
frontend:
  dir: site
  bucket: $id-site
  distribution: $dist
  invalidation: { wait: false }
YAML
printf 'console.log("action image");\n' > "$ws/site/assets/app-1a2b3c4d.js"
printf '<!doctype html><script type="module" src="/assets/app-1a2b3c4d.js"></script>\n' > "$ws/site/index.html"
printf 'region: us-east-1\nfrontend:\n  dir: site\n  bukcet: typo\n' > "$ws/broken.yml"
git -C "$ws" init -q -b main
git -C "$ws" -c user.name=ci -c user.email=ci@example.invalid add -A
git -C "$ws" -c user.name=ci -c user.email=ci@example.invalid commit -qm site
sha="$(git -C "$ws" rev-parse HEAD)"
chown -R 1001:1001 "$ws"

log "git in the image reads the checkout owned by uid 1001"
dev/action-image/run --image "$image" --workspace "$ws" --runner-temp "$work/tg" --entrypoint git \
  -- rev-parse HEAD > "$work/git.out"

for run in 1 2; do
  log "deploy $run through the image (dev/action-image/run)"
  set +e
  dev/action-image/run --image "$image" --workspace "$ws" --runner-temp "$work/t$run" \
    --input endpoint-url="$AWS_ENDPOINT_URL" --result "$work/deploy$run.json" > "$work/deploy$run.out"
  set -e
done
log "a config error through the image (annotation, outputs, summary)"
set +e
dev/action-image/run --image "$image" --workspace "$ws" --runner-temp "$work/t3" \
  --input endpoint-url="$AWS_ENDPOINT_URL" --input config=broken.yml --result "$work/deploy3.json" \
  > "$work/deploy3.out" 2> "$work/deploy3.err"
set -e
cat "$work/deploy3.err" >&2
"$AWS" s3api list-objects-v2 --bucket "$id-site" --query 'Contents[].Key' --output json > "$work/keys.json"

python3 - "$work" "$sha" "$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1)" \
  "$size_total" "$size_docker" "$size_deckhand" <<'PY'
import json, re, sys
work, sha, version = sys.argv[1:4]
size_total, size_docker, size_deckhand = map(int, sys.argv[4:7])
short_sha = sha[:7]
checks = []
def check(name, ok, detail=""):
    checks.append((name, bool(ok)))
    print(f"{'ok  ' if ok else 'FAIL'} {name}" + (f"  ({detail})" if detail and not ok else ""))
load = lambda n: json.load(open(f"{work}/{n}.json"))

mb = lambda b: f"{b / 1e6:.1f} MB"
without = size_total - size_docker
print(f"     image {mb(size_total)}; without the docker CLI + buildx ({mb(size_docker)}) {mb(without)}, of which deckhand (debug, stripped) {mb(size_deckhand)}")
check("the image without the docker CLI is under 120 MB (issue 13), with the debug binary", without < 120_000_000, mb(without))

v = load("version")
out = open(f"{work}/version.out").read().strip()
check("--version exits 0 under buildah run", v["exit_code"] == 0, v)
check("--version prints the crate version", out == f"deckhand {version}", out)
print(f"     deckhand --version under buildah run (runner emulation): {v['seconds']:.2f} s")

d1, d2 = load("deploy1"), load("deploy2")
check("deploy 1 exits 0", d1["exit_code"] == 0, d1["exit_code"])
o1 = d1["outputs"]
check("deploy 1 sets changed=true", o1.get("changed") == "true", o1)
rid = o1.get("release-id", "")
check("git in the image reads the uid-1001 checkout", open(f"{work}/git.out").read().strip() == sha)
check("deploy 1 sets release-id (UTC timestamp + the checkout's short sha)", re.fullmatch(r"\d{8}T\d{6}\d*Z-" + short_sha, rid), rid)
check("deploy 1 writes one Markdown summary document naming the release", d1["summary"].startswith("## deckhand deploy\n") and sum(1 for l in d1["summary"].splitlines() if l.startswith("## ")) == 1 and rid and rid in d1["summary"], d1["summary"][:300])
outs = ("changed", "release-id", "restored", "image", "task-definition")
check("deploy 1 sets every declared output", all(k in o1 for k in outs), o1)
keys = json.load(open(f"{work}/keys.json")) or []
check("the site's files are in the bucket", {"index.html", "assets/app-1a2b3c4d.js"} <= set(keys), keys)
check("deploy 2 (nothing changed) exits 0", d2["exit_code"] == 0, d2["exit_code"])
check("deploy 2 sets changed=false", d2["outputs"].get("changed") == "false", d2["outputs"])
check("deploy 2 sets release-id to the live release", d2["outputs"].get("release-id") == rid, d2["outputs"])
check("deploy 2 sets every declared output", all(k in d2["outputs"] for k in outs), d2["outputs"])
check("deploy 2 writes one summary document (no changes)", d2["summary"].startswith("## deckhand deploy\n") and "no changes" in d2["summary"], d2["summary"][:300])
d3 = load("deploy3")
err3 = open(f"{work}/deploy3.err").read()
check("a config error exits 2", d3["exit_code"] == 2, d3["exit_code"])
check("a config error is annotated at its file, line and column", "::error file=broken.yml,line=4,col=3," in err3, [l for l in err3.splitlines() if l.startswith("::error")])
check("a config error still sets every declared output", all(k in d3["outputs"] for k in outs) and d3["outputs"].get("changed") == "false", d3["outputs"])
check("a config error writes one summary document with the failure", d3["summary"].startswith("## deckhand deploy\n") and "failed (exit 2)" in d3["summary"], d3["summary"][:300])
failed = [n for n, ok in checks if not ok]
print(f"action image: {len(checks) - len(failed)} passed, {len(failed)} failed")
sys.exit(1 if failed else 0)
PY
rc=$?
now=$(date +%s)
printf 'action image stage: build %ss, runs %ss, total %ss\n' "$(( built - stage_start ))" "$(( now - built ))" "$(( now - stage_start ))"
exit "$rc"
