"""Each trigger of the project's workflows rehearsed on the local AWS stack (dev/ci/stages/47-rehearsal.sh
sets the environment: REHEARSAL_STACK, REHEARSAL_DECKHAND, REHEARSAL_NODE_IMAGE, the local stack's
AWS_ENDPOINT_URL and bootstrap credentials for reading the state back).

The repository the workflows check out is a scratch git repository holding this checkout's files
(committed and not), with one commit per rehearsed push: the workflows as they are in the working tree
run against the infra/ stack deployed into the local stack, as the roles that stack creates."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
REHEARSE = ROOT / "dev" / "actions" / "rehearse"
WF = ".github/workflows"

GIT_ENV = {**os.environ, "GIT_AUTHOR_NAME": "Rehearsal", "GIT_AUTHOR_EMAIL": "rehearsal@deckhand.invalid",
           "GIT_COMMITTER_NAME": "Rehearsal", "GIT_COMMITTER_EMAIL": "rehearsal@deckhand.invalid"}


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, text=True, capture_output=True, env=GIT_ENV).stdout.strip()


def aws(service: str):
    return boto3.client(service, endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name=os.environ.get("AWS_REGION", "us-east-1"))




@pytest.fixture(scope="session")
def work(tmp_path_factory) -> Path:
    base = Path(os.environ.get("REHEARSAL_WORK") or tmp_path_factory.mktemp("rehearsals"))
    base.mkdir(parents=True, exist_ok=True)
    return base


@pytest.fixture(scope="session")
def repo(work: Path) -> Path:
    """A scratch repository: this checkout's files (tracked and untracked, not ignored) on main."""
    r = work / "repo"
    if r.exists():
        subprocess.run(["rm", "-rf", str(r)], check=True)
    r.mkdir()
    files = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-co", "--exclude-standard", "-z"], check=True,
                           capture_output=True).stdout.decode().split("\0")
    for f in filter(None, files):
        src = ROOT / f
        if not src.exists() or src.is_dir():
            continue
        dst = r / f
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)
    git(r, "init", "-q", "-b", "main")
    git(r, "add", "-A")
    git(r, "commit", "-qm", "base: this checkout")
    return r


def commit_change(repo: Path, marker: str, *, branch: str = "main", backend: bool = False) -> str:
    """A commit that changes the SPA (and, with backend=True, the API): its text carries `marker`."""
    git(repo, "checkout", "-q", branch)
    app = repo / "frontend" / "src" / "rehearsal-marker.ts"
    app.write_text(f'export const REHEARSAL_MARKER = "{marker}";\n')
    main = repo / "frontend" / "src" / "main.tsx"
    text = main.read_text()
    if "rehearsal-marker" not in text:
        main.write_text('import { REHEARSAL_MARKER } from "./rehearsal-marker";\n'
                        'document.documentElement.dataset.rehearsal = REHEARSAL_MARKER;\n' + text)
    if backend:
        (repo / "backend" / "src" / "rehearsal-marker.ts").write_text(f'export const REHEARSAL_MARKER = "{marker}";\n')
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", f"change {marker}")
    return git(repo, "rev-parse", "HEAD")


def runner_env() -> list[str]:
    """The runner machine: its environment (`run:` steps and JavaScript actions such as
    configure-aws-credentials inherit it; a container action never sees it) and its container builder
    (buildah stands for the runner's docker daemon: its settings are the builder's, not the action's).
    The action reaches the local stack only through what the workflows carry: the repository variables
    DECKHAND_AWS_ENDPOINT and DECKHAND_REGISTRY_OVERRIDE (vars_for)."""
    env = {
        "AWS_ENDPOINT_URL": os.environ["AWS_ENDPOINT_URL"],
        "npm_config_cache": str(Path.home() / ".npm"),  # the runner machine's npm cache, used offline first
        "npm_config_prefer_offline": "true",
    }
    daemon = {
        "STORAGE_DRIVER": os.environ.get("STORAGE_DRIVER", "vfs"),
        "BUILDAH_ISOLATION": os.environ.get("BUILDAH_ISOLATION", "chroot"),
        "CONTAINERS_STORAGE_CONF": os.environ.get("CONTAINERS_STORAGE_CONF", ""),
    }
    return [f"--runner-env={k}={v}" for k, v in env.items() if v != ""] + \
        [f"--daemon-env={k}={v}" for k, v in daemon.items() if v != ""]


def registry() -> str:
    return os.environ.get("DECKHAND_REGISTRY", "127.0.0.1:5001")


@pytest.fixture(scope="session")
def node_base() -> str:
    """The backend's base image (backend/Dockerfile's NODE_IMAGE default, node:22-bookworm-slim, from
    Docker Hub on GitHub) served by the local registry: the local node image (dev/node-image) pushed
    as library/node. The workflows name it through the repository variable DECKHAND_BUILD_ARGS."""
    m = re.search(r"^ARG NODE_IMAGE=(\S+)$", (ROOT / "backend" / "Dockerfile").read_text(), re.M)
    assert m, "backend/Dockerfile: no ARG NODE_IMAGE=<default>"
    name = m.group(1) if "/" in m.group(1) else f"library/{m.group(1)}"
    ref = f"{registry()}/{name}"
    subprocess.run(["buildah", "push", "--quiet", "--tls-verify=false", os.environ["REHEARSAL_NODE_IMAGE"], f"docker://{ref}"],
                   check=True, capture_output=True)
    return ref


def post_entrypoint(work: Path) -> list[str]:
    """action.yml's post-entrypoint, /usr/local/bin/deckhand-post (a link to deckhand in the image),
    on the host: a link named deckhand-post to this checkout's binary (argv[0] makes it the post step)."""
    link = work / "bin" / "deckhand-post"
    link.parent.mkdir(parents=True, exist_ok=True)
    if not link.is_symlink():
        link.symlink_to(os.environ["REHEARSAL_DECKHAND"])
    return [f"--action-entrypoint=/usr/local/bin/deckhand-post={link}"]


def rehearse(work: Path, name: str, workflow: str | Path, *args: str, expect: int = 0, image: bool = False) -> tuple[dict, Path]:
    """Runs the rehearsal of `workflow` (a name: this checkout's .github/workflows/NAME; a Path: that
    file, e.g. one `deckhand init` wrote). image=True runs the container action as the image built from this checkout
    (what the runner builds from action.yml's Dockerfile.source), by dev/action-image/run; otherwise as
    its entrypoint, the deckhand binary, on the host (the backend build needs the runner's docker
    daemon, which this machine does not have: buildah on the host stands in for it)."""
    return rehearsed(*start_rehearsal(work, name, workflow, *args, image=image), expect=expect)


def start_rehearsal(work: Path, name: str, workflow: str | Path, *args: str, image: bool = False) -> tuple[str, Path, subprocess.Popen, float]:
    """rehearse(), started in the background (a job it holds for a review can be approved meanwhile)."""
    out = work / name
    if out.exists():
        subprocess.run(["rm", "-rf", str(out)], check=True)  # shutil.rmtree is ~8x slower here
    argv = [str(REHEARSE), str(workflow if isinstance(workflow, Path) else ROOT / WF / workflow), "--work", str(out), "--artifacts", str(work / "artifacts"),
            "--deckhand", os.environ["REHEARSAL_DECKHAND"], "--quiet", *runner_env(), *args]
    if image:
        # action.yml on the default branch builds Dockerfile.source at the step: this checkout's image
        # (dev/action-image/build) stands for that build. A release's docker://…@digest is pulled by its
        # reference instead (--registry-mirror; test_container.py).
        argv += ["--action-runtime=image", f"--action-image={os.environ['REHEARSAL_ACTION_IMAGE']}"]
    else:
        argv += post_entrypoint(work)
    t0 = time.monotonic()
    return name, out, subprocess.Popen(argv, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE), t0


def rehearsed(name: str, out: Path, proc: subprocess.Popen, t0: float, expect: int = 0) -> tuple[dict, Path]:
    _, stderr = proc.communicate()
    print(f"rehearsal {name}: exit {proc.returncode} in {time.monotonic() - t0:.1f}s ({out}/logs/rehearsal.log)")
    log = (out / "logs" / "rehearsal.log").read_text() if (out / "logs" / "rehearsal.log").exists() else ""
    assert proc.returncode == expect, f"rehearsal {name} exited {proc.returncode}, expected {expect}\n{stderr}\n--- log (tail) ---\n{log[-6000:]}"
    return json.loads((out / "result.json").read_text()), out


@pytest.fixture(scope="session")
def stack(node_base: str) -> dict[str, str]:
    name = os.environ["REHEARSAL_STACK"]
    outs = aws("cloudformation").describe_stacks(StackName=name)["Stacks"][0]["Outputs"]
    return {"name": name, **{o["OutputKey"]: o["OutputValue"] for o in outs}, "node_base": node_base}


def vars_for(stack: dict) -> list[str]:
    """The repository's variables: the stack's roles and name, and the two a user's workflow reads for a
    stack that is not AWS's (unset on GitHub): the AWS endpoint, the registry that stands for ECR, and the
    backend's base image there (no Docker Hub here)."""
    return [f"--var=DEPLOY_ROLE_ARN={stack['DeployRoleArn']}", f"--var=PLAN_ROLE_ARN={stack['PlanRoleArn']}",
            f"--var=AWS_REGION={os.environ.get('AWS_REGION', 'us-east-1')}", f"--var=STACK_NAME={stack['name']}",
            f"--var=DECKHAND_AWS_ENDPOINT={os.environ['AWS_ENDPOINT_URL']}",
            f"--var=DECKHAND_REGISTRY_OVERRIDE={registry()}", f"--var=DECKHAND_BUILD_ARGS=NODE_IMAGE={stack['node_base']}"]


@pytest.fixture(scope="session")
def secret_values() -> dict[str, str]:
    """The repository's GitHub secrets deploy.yml's `secrets sync` step passes (deckhand.yml
    backend.secrets): canary values, new each session, that must never reach the log or the summary."""
    import yaml

    configured = yaml.safe_load((ROOT / "deckhand.yml").read_text())["backend"]["secrets"]
    canary = f"rehearsal-canary-{int(time.time() * 1000)}"
    return {var: f"{canary}-{var.lower()}" for var in configured}


def secrets_for(values: dict[str, str]) -> list[str]:
    return [f"--secret={k}={v}" for k, v in values.items()]


def parameters_of(secrets: dict[str, str]) -> dict[str, str]:
    """VAR -> the SSM parameter deckhand.yml names for it."""
    import yaml

    return {str(k): str(v) for k, v in yaml.safe_load((ROOT / "deckhand.yml").read_text())["backend"]["secrets"].items()
            if k in secrets}


def step_log(log: str, step_name: str) -> str:
    """The lines the rehearsal logged for one step (from its header to the next step's)."""
    lines = log.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("[rehearsal] step ")]
    mine = [i for i in starts if step_name in lines[i]]
    assert mine, f"no step {step_name!r} in the log"
    end = next((i for i in starts if i > mine[0]), len(lines))
    return "\n".join(lines[mine[0]:end])


def live_service(stack: dict) -> dict:
    return aws("ecs").describe_services(cluster=stack["ClusterName"], services=[stack["ServiceName"]])["services"][0]


def site_index(stack: dict) -> str:
    return aws("s3").get_object(Bucket=stack["BucketName"], Key="index.html")["Body"].read().decode()


def referenced_assets(html: str) -> list[str]:
    return sorted(set(re.findall(r'(?:src|href)="/(assets/[^"]+)"', html)))


# --- push to main -> deploy.yml ---------------------------------------------------------------

# A file of the SPA whose name carries the runner's legacy command form (a file a build produced is not
# deckhand's to trust): the deploy's plan lists it before later ::add-mask:: commands of the step.
INJECTED = "rehearsal-##[stop-commands]pwned-4e1f9c.txt"


def test_push_to_main_deploys_both_halves(stack, repo, work, secret_values, github_api):
    marker = f"push-{int(time.time())}"
    (repo / "frontend" / "public" / INJECTED).write_text("a file name is not a command\n")
    sha = commit_change(repo, marker)
    aws_since = sim_mark()
    result, out = rehearse(work, "push", "deploy.yml", "--event=push", f"--repo-dir={repo}", f"--sha={sha}", *vars_for(stack),
                           *secrets_for(secret_values), *api_args(github_api))
    job = result["jobs"]["deploy"]
    assert job["result"] == "success" and job["environment"] == "production"
    assert job["permissions"] == {"contents": "read", "id-token": "write", "pull-requests": "read", "actions": "read"}
    # The SPA was built in the site job (no id-token) and arrived verified against its checksum.
    site = result["jobs"]["site"]
    assert site["result"] == "success" and site["permissions"] == {"contents": "read"}
    assert re.fullmatch(r"[0-9a-f]{64}", site["outputs"]["sha256"]), site["outputs"]
    assert [v["outcome"] for v in job["steps"].values() if v.get("name") == "Verify the SPA"] == ["success"]
    # A direct push (no pull request merged it): no reviewed plan, a fresh one, and the summary says why.
    assert "plan" not in job["steps"]["reviewed"]["outputs"]
    steps = job["steps"]
    # The secrets step ran before the deploy and wrote the GitHub secrets' values (new this session)
    # into the parameters deckhand.yml names, as SecureString.
    order = list(steps)
    assert order.index("secrets") < order.index("deploy"), order
    assert steps["secrets"]["outcome"] == "success" and steps["secrets"]["outputs"]["changed"] == "true"
    ssm = aws("ssm")
    for var, name in parameters_of(secret_values).items():
        p = ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]
        assert (p["Type"], p["Value"]) == ("SecureString", secret_values[var]), name
    # ... and no value anywhere GitHub shows: not in the log (where a printed value would show as
    # *** after masking: the step's lines hold none but the ::add-mask:: commands), the summary or
    # the step outputs.
    log = (out / "logs" / "rehearsal.log").read_text()
    canary = next(iter(secret_values.values())).rsplit("-", 1)[0]
    secrets_log = step_log(log, "Sync secrets")
    assert "would change" in secrets_log or "would be created" in secrets_log, secrets_log
    assert [line for line in secrets_log.splitlines() if "***" in line and "::add-mask::***" not in line] == [], secrets_log
    assert secrets_log.count("::add-mask::***") >= len(secret_values)
    for text in (log, (out / "summary-deploy.md").read_text(), (out / "result.json").read_text()):
        assert canary not in text
    deploy = steps["deploy"]["outputs"]
    # Outputs: a release of this commit, both halves.
    assert deploy["changed"] == "true"
    assert re.fullmatch(r"\d{8}T\d{9}Z-" + sha[:7], deploy["release-id"]), deploy
    assert re.fullmatch(r".+@sha256:[0-9a-f]{64}", deploy["image"]), deploy
    assert ":task-definition/" in deploy["task-definition"]
    # AWS state: the service runs that task definition with that image ...
    svc = live_service(stack)
    assert svc["taskDefinition"] == deploy["task-definition"]
    td = aws("ecs").describe_task_definition(taskDefinition=deploy["task-definition"])["taskDefinition"]
    api = next(c for c in td["containerDefinitions"] if c["name"] == "api")
    assert api["image"].endswith(deploy["image"].split("@", 1)[1])
    primary = [d for d in svc["deployments"] if d["status"] == "PRIMARY"]
    assert primary and primary[0]["taskDefinition"] == deploy["task-definition"] and primary[0]["rolloutState"] == "COMPLETED"
    # ... and the bucket serves this commit's SPA: every asset its index.html references is there.
    html = site_index(stack)
    assets = referenced_assets(html)
    assert assets, html[:500]
    s3 = aws("s3")
    bundle = b"".join(s3.get_object(Bucket=stack["BucketName"], Key=a)["Body"].read() for a in assets if a.endswith(".js"))
    assert marker.encode() in bundle, f"the deployed bundle does not carry {marker}"
    # The job summary: deckhand's release section and the workflow's own line.
    summary = (out / "summary-deploy.md").read_text()
    assert f"### deckhand release `{deploy['release-id']}`" in summary
    assert f"Release `{deploy['release-id']}`, changed: true" in summary
    assert f"### Reviewed plan: none\n\nno merged pull request has {sha[:12]} as its merge commit (a direct push): deploying a fresh plan" in summary
    # The job ran as DeployRole through OIDC, each deckhand step assuming it itself with the job's
    # token from the runner's endpoint (role-to-assume: session `deckhand`, renewable): the
    # credentials are the assumed role's, never printed.
    assert deckhand_sessions(aws_since) == {stack["DeployRoleArn"].rsplit("/", 1)[-1]}
    assert "ASIA" not in log, "assumed-role credentials reached the log"
    # The SPA's file named `##[stop-commands]…` was listed by the plan as text (deckhand writes the `[`
    # of `##[` as \u005b: src/github/inert.rs), so the runner (CommandReader: ActionCommand.cs reads
    # `##[cmd]` anywhere in a line) stopped no command: every later ::add-mask:: of the step masked.
    deploy_log = step_log(log, "Deploy")
    listed = deploy_log.find("stop-commands]pwned-4e1f9c")
    assert listed >= 0, deploy_log[-3000:]
    assert "::add-mask::***" in deploy_log[listed:], deploy_log[listed:][-3000:]
    assert [line for line in log.splitlines() if "::add-mask::" in line and "::add-mask::***" not in line] == []
    assert not [a for a in job["annotations"] if "pwned" in a.get("message", "")], job["annotations"]
    (work / "release-a.json").write_text(json.dumps({**deploy, "html": html}))


# --- pull_request -> preview.yml ----------------------------------------------------------------

def open_pr(repo: Path, number: int, marker: str, *, push: bool = False) -> tuple[str, str]:
    """A PR branch with one change (push=True: one more commit on the PR's branch), and GitHub's
    test merge commit refs/pull/N/merge: (head, merge)."""
    if push:
        git(repo, "checkout", "-q", f"pr-{number}")
    else:
        git(repo, "checkout", "-q", "-B", f"pr-{number}", "main")
    head = commit_change(repo, marker, branch=f"pr-{number}")
    git(repo, "checkout", "-q", "--detach", "main")
    git(repo, "merge", "-q", "--no-ff", "-m", f"Merge {head} into main", head)
    merge = git(repo, "rev-parse", "HEAD")
    git(repo, "update-ref", f"refs/pull/{number}/head", head)
    git(repo, "update-ref", f"refs/pull/{number}/merge", merge)
    git(repo, "checkout", "-q", "main")
    return head, merge


@pytest.fixture(scope="session")
def github_api():
    """plan's GitHub API stand-in: a write token for the repository's own runs, a read-only one for forks."""
    tokens = {"write": "ghs_rehearsal_write_0123456789", "read": "ghs_rehearsal_readonly_0123456789",
              # People: the pusher (rehearse's default actor) and a reviewer of production.
              "octocat": "ghp_rehearsal_octocat_0123456789", "reviewer": "ghp_rehearsal_reviewer_0123456789"}
    proc = subprocess.Popen([sys.executable, str(ROOT / "dev" / "github-api" / "server.py"), "--port", "0",
                             "--token", tokens["write"], "--read-only-token", tokens["read"],
                             f"--user=octocat={tokens['octocat']}", f"--user=reviewer={tokens['reviewer']}",
                             *(f"--issue=deckhand-local/spa-ecs#{n}" for n in (11, 12, 13, 14, 15)),
                             "--stop-on-stdin-eof"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    url = proc.stdout.readline().strip()
    assert url.startswith("http://127.0.0.1:"), url
    yield {"url": url, **tokens}
    proc.stdin.close()
    proc.wait(timeout=10)


def api_state(api: dict) -> dict:
    import urllib.request
    with urllib.request.urlopen(api["url"] + "/_control/state") as r:
        return json.load(r)


def api_requests(api: dict, pr: int, since: int = 0) -> list[dict]:
    """The stand-in's requests about PR `pr` (its comments, or a comment of it), after the first `since`."""
    ids = {c["id"] for c in api_state(api)["issues"].get(f"deckhand-local/spa-ecs#{pr}", [])}
    def about(r: dict) -> bool:
        m = re.search(r"/issues/(\d+)/comments$", r["path"]) or re.search(r"/issues/comments/(\d+)$", r["path"])
        return bool(m) and (int(m.group(1)) == pr if "/comments/" not in r["path"] else int(m.group(1)) in ids)
    return [r for r in api_state(api)["requests"][since:] if about(r)]


def api_args(api: dict, *, token: str | None = None) -> list[str]:
    # --github-service: the stand-in is GitHub's service too (each environment job's deployment, the
    # environments' protection rules).
    return [f"--github-api-url={api['url']}", f"--github-service={api['url']}", f"--token={token or api['write']}",
            f"--read-only-token={api['read']}"]


def comments(api: dict, pr: int) -> list[dict]:
    return api_state(api)["issues"][f"deckhand-local/spa-ecs#{pr}"]


def sim_mark() -> int:
    import urllib.request
    with urllib.request.urlopen(os.environ["DECKHAND_SIM_URL"] + "/requests?tail=1") as r:
        tail = json.load(r)
    return tail[-1]["seq"] if tail else 0


def assumed_role_calls(since: int) -> dict[str, list[dict]]:
    """The local stack's requests after `since` made with assumed-role sessions, by role name."""
    import urllib.request
    with urllib.request.urlopen(os.environ["DECKHAND_SIM_URL"] + f"/requests?since={since}") as r:
        log = json.load(r)
    out: dict[str, list[dict]] = {}
    for e in log:
        m = re.search(r":assumed-role/([^/]+)/", e.get("principal") or "")
        if m:
            out.setdefault(m.group(1), []).append(e)
    return out


def deckhand_sessions(since: int) -> set[str]:
    """The roles whose sessions called AWS after `since`, each session deckhand's own (`role-to-assume`:
    session name `deckhand`, src/aws/renew.rs), none configure-aws-credentials' (`GitHubActions`)."""
    by_role = assumed_role_calls(since)
    names = {e["principal"].rsplit("/", 1)[-1] for calls in by_role.values() for e in calls}
    assert names == {"deckhand"}, f"sessions {sorted(names)} called AWS: only deckhand's own expected"
    return set(by_role)


def assert_read_only_as_plan_role(stack: dict, since: int) -> int:
    """Every AWS call after `since` came from a PlanRole session and none wrote; returns their count."""
    by_role = assumed_role_calls(since)
    plan_role = stack["PlanRoleArn"].rsplit("/", 1)[-1]
    assert set(by_role) == {plan_role}, f"sessions of {sorted(by_role)} called AWS, only {plan_role} expected"
    writes = [f"{e['service']}:{e['operation']}" for e in by_role[plan_role] if e["write"]]
    assert writes == [], f"PlanRole wrote: {writes}"
    return len(by_role[plan_role])


def plan_artifact(work: Path, result: dict) -> dict:
    """The `deckhand-plan` artifact the run uploaded (the one file deckhand plan --out wrote)."""
    art = work / "artifacts" / result["run_id"] / "deckhand-plan"
    files = sorted(p.name for p in art.iterdir()) if art.is_dir() else []
    assert files == ["deckhand-plan.json"], f"artifact deckhand-plan of run {result['run_id']}: {files}"
    return json.loads((art / "deckhand-plan.json").read_text())


def test_pull_request_posts_the_sticky_plan_comment_as_the_read_only_role(stack, repo, work, github_api):
    """preview.yml on a PR from this repository: `deckhand plan` through the action image as PlanRole,
    the plan as one comment on the PR (marker, commit, verdict), its JSON as the deckhand-plan
    artifact; a second push to the PR updates that comment in place. Nothing written to AWS."""
    pr = 11
    head, merge = open_pr(repo, pr, f"pr-{int(time.time())}")
    before = live_service(stack)["taskDefinition"], site_index(stack)
    api_since, aws_since = len(api_state(github_api)["requests"]), sim_mark()
    result, out = rehearse(work, "pr", "preview.yml", "--event=pull_request", f"--pr={pr}", f"--head-sha={head}",
                           f"--sha={merge}", f"--repo-dir={repo}", *vars_for(stack), *api_args(github_api), image=True)
    job = result["jobs"]["plan"]
    assert job["result"] == "success"
    assert job["permissions"] == {"contents": "read", "id-token": "write", "pull-requests": "write"}
    steps = job["steps"]
    plan_out = steps["plan"]["outputs"]
    assert plan_out["has-changes"] == "true" and plan_out["plan-json"] == "deckhand-plan.json", plan_out
    log = (out / "logs" / "rehearsal.log").read_text()
    assert deckhand_sessions(aws_since) == {stack["PlanRoleArn"].rsplit("/", 1)[-1]}
    assert "as the image" in log  # the action image ran, not the host binary
    assert github_api["write"] not in log and "ASIA" not in log, "a token or credentials reached the log"
    # The plan's JSON, kept for the deploy: this commit, this config, changes.
    plan = plan_artifact(work, result)
    assert plan["version"] == 1 and plan["commit"] == merge and plan["changes"] is True
    # ... what `deploy --plan` checks it against: the commit it was made from and the live state it saw.
    assert plan["origin"]["commit"] == merge and plan["fingerprint"]["last_release"], plan["fingerprint"]
    assert plan["config"] == f"deckhand.yml stack={stack['name']}"
    assert plan["frontend"]["uploads"], "the PR changes the SPA: the plan uploads files"
    # One comment: the marker first, the plan (its verdict), the commit it planned.
    [c] = comments(github_api, pr)
    body = c["body"]
    assert body.startswith(f"<!-- deckhand-plan: {plan['config']} -->\n"), body[:200]
    assert f"### deckhand plan: `{plan['config']}`" in body
    assert plan["verdict"] in body and plan["verdict"].startswith("frontend uploads")
    assert f"deckhand plan of commit `{merge[:12]}`" in body
    assert plan_out["comment-url"] == c["html_url"]
    reqs = api_requests(github_api, pr, api_since)
    assert [(r["method"], r["status"], r["auth"]) for r in reqs] == [("GET", 200, "write"), ("POST", 201, "write")], reqs
    summary = (out / "summary-plan.md").read_text()
    assert f"### deckhand plan: `{plan['config']}`" in summary and plan["verdict"] in summary and "index.html" in summary
    # Nothing was written: every AWS call was PlanRole's and a read; the service and the site are as they were.
    assert assert_read_only_as_plan_role(stack, aws_since) > 0
    assert (live_service(stack)["taskDefinition"], site_index(stack)) == before

    # A second push to the PR: the same comment, updated (PATCH, no second comment), with the new commit.
    head2, merge2 = open_pr(repo, pr, f"pr-{int(time.time())}-b", push=True)
    api_since, aws_since = len(api_state(github_api)["requests"]), sim_mark()
    result2, out2 = rehearse(work, "pr-again", "preview.yml", "--event=pull_request", f"--pr={pr}", f"--head-sha={head2}",
                             f"--sha={merge2}", f"--repo-dir={repo}", *vars_for(stack), *api_args(github_api), image=True)
    assert result2["jobs"]["plan"]["result"] == "success" and result2["run_id"] != result["run_id"]
    plan2 = plan_artifact(work, result2)
    assert plan2["commit"] == merge2
    [c2] = comments(github_api, pr)
    assert c2["id"] == c["id"] and c2["updated_at"] >= c["updated_at"]
    assert f"deckhand plan of commit `{merge2[:12]}`" in c2["body"] and merge[:12] not in c2["body"]
    assert plan2["verdict"] in c2["body"]
    reqs = api_requests(github_api, pr, api_since)
    assert [(r["method"], r["status"]) for r in reqs] == [("GET", 200), ("PATCH", 200)], reqs
    assert result2["jobs"]["plan"]["steps"]["plan"]["outputs"]["comment-url"] == c["html_url"]
    assert assert_read_only_as_plan_role(stack, aws_since) > 0
    assert (live_service(stack)["taskDefinition"], site_index(stack)) == before


def test_a_pull_request_whose_token_cannot_comment_keeps_the_plan_in_the_summary(stack, repo, work, github_api):
    """The job's GITHUB_TOKEN may not write comments (the stand-in answers 403, as GitHub answers a
    fork's read-only token; here the repository's own PR, so PlanRole's OIDC token exists and the
    plan is made): the plan in the job summary, a log line saying why there is no comment, green."""
    pr = 13
    head, merge = open_pr(repo, pr, f"ro-{int(time.time())}")
    before = live_service(stack)["taskDefinition"], site_index(stack)
    api_since, aws_since = len(api_state(github_api)["requests"]), sim_mark()
    result, out = rehearse(work, "pr-read-only", "preview.yml", "--event=pull_request", f"--pr={pr}", f"--head-sha={head}",
                           f"--sha={merge}", f"--repo-dir={repo}", *vars_for(stack),
                           *api_args(github_api, token=github_api["read"]), image=True)
    job = result["jobs"]["plan"]
    assert job["result"] == "success" and job["steps"]["plan"]["outcome"] == "success"
    plan_out = job["steps"]["plan"]["outputs"]
    assert plan_out["has-changes"] == "true" and not plan_out.get("comment-url"), plan_out
    plan = plan_artifact(work, result)
    assert plan["commit"] == merge
    why = f"no PR comment: the token may not write comments on deckhand-local/spa-ecs#{pr} (403"
    log = (out / "logs" / "rehearsal.log").read_text()
    assert why in log, log[-3000:]
    summary = (out / "summary-plan.md").read_text()
    assert f"### deckhand plan: `{plan['config']}`" in summary and plan["verdict"] in summary and why in summary
    assert comments(github_api, pr) == []
    reqs = api_requests(github_api, pr, api_since)
    assert [(r["method"], r["status"], r["auth"]) for r in reqs] == [("GET", 200, "read-only"), ("POST", 403, "read-only")], reqs
    assert assert_read_only_as_plan_role(stack, aws_since) > 0
    assert (live_service(stack)["taskDefinition"], site_index(stack)) == before


# --- what GitHub and the roles refuse --------------------------------------------------------------

def test_a_deploy_job_in_another_environment_cannot_assume_the_deploy_role(stack, repo, work, secret_values, github_api):
    """The OIDC subject follows the job's `environment:`; DeployRole trusts production only."""
    mutated = work / "mutated" / ".github" / "workflows" / "deploy.yml"
    mutated.parent.mkdir(parents=True, exist_ok=True)
    text = (ROOT / WF / "deploy.yml").read_text()
    assert "environment: production" in text
    mutated.write_text(text.replace("environment: production", "environment: staging"))
    before = live_service(stack)["taskDefinition"], site_index(stack)
    sha = git(repo, "rev-parse", "main")
    argv = [str(REHEARSE), str(mutated), "--work", str(work / "mutated-run"), "--deckhand", os.environ["REHEARSAL_DECKHAND"],
            "--quiet", *runner_env(), *post_entrypoint(work), "--event=push", f"--repo-dir={repo}", f"--sha={sha}",
            *vars_for(stack), *secrets_for(secret_values), *api_args(github_api)]
    proc = subprocess.run(argv, text=True, capture_output=True)
    assert proc.returncode == 1, proc.stderr
    result = json.loads((work / "mutated-run" / "result.json").read_text())
    steps = result["jobs"]["deploy"]["steps"]
    # its first deckhand step fails at AssumeRoleWithWebIdentity; nothing after it runs
    assert steps["secrets"]["outcome"] == "failure" and steps["deploy"]["outcome"] == "skipped"
    log = (work / "mutated-run" / "logs" / "rehearsal.log").read_text()
    assert "Not authorized to perform sts:AssumeRoleWithWebIdentity" in log, log[-3000:]
    # ... because of the subject: the token that job gets names the staging environment.
    claims = json.loads(subprocess.run([str(ROOT / "dev" / "oidc" / "token"), "--workflow", str(mutated), "--event", "push",
                                        "--ref", "refs/heads/main", "--claims"], check=True, text=True, capture_output=True).stdout)
    assert claims["sub"].startswith("repo:deckhand-local/spa-ecs:environment:staging:ref:refs/heads/main:"), claims["sub"]
    assert (live_service(stack)["taskDefinition"], site_index(stack)) == before


def test_a_dispatch_from_another_branch_cannot_assume_the_deploy_role(stack, repo, work, github_api):
    """workflow_dispatch runs the workflow file of the ref the person picks, and an environment a
    workflow names is created without protection rules: a branch edits rollback.yml (its steps deploy
    instead, and print the caller) and deckhand.yml, keeps `environment: production`, and is
    dispatched. Its token's customised subject names the branch (infra/github-oidc-sub.json), which
    DeployRole does not trust: the job fails at its first deckhand step's AssumeRoleWithWebIdentity
    (role-to-assume), no later step runs, no AWS session exists, nothing in AWS changes."""
    branch = "feature-dispatch"
    git(repo, "checkout", "-q", "-b", branch, "main")
    try:
        wf = repo / WF / "rollback.yml"
        text = wf.read_text()
        assert "environment: production" in text and "command: rollback" in text
        text = text.replace("command: rollback", "command: deploy")
        text = text.replace("      - name: Roll back\n", "      - name: Who am I\n        run: aws sts get-caller-identity\n"
                                                          "      - name: Roll back\n")
        wf.write_text(text)
        cfg = repo / "deckhand.yml"
        cfg.write_text(cfg.read_text().replace("    NODE_ENV: production\n", "    NODE_ENV: production\n    FROM_A_BRANCH: \"1\"\n"))
        git(repo, "commit", "-qam", "a branch edits rollback.yml and deckhand.yml")
        sha = git(repo, "rev-parse", "HEAD")
        before = live_service(stack)["taskDefinition"], site_index(stack)
        aws_since = sim_mark()
        out = work / "dispatch-feature"
        argv = [str(REHEARSE), str(wf), "--work", str(out), "--deckhand", os.environ["REHEARSAL_DECKHAND"], "--quiet",
                *runner_env(), *post_entrypoint(work), "--event=workflow_dispatch", f"--ref=refs/heads/{branch}", f"--sha={sha}",
                f"--repo-dir={repo}", *vars_for(stack), *api_args(github_api)]
        proc = subprocess.run(argv, text=True, capture_output=True)
        assert proc.returncode == 1, proc.stderr
        job = json.loads((out / "result.json").read_text())["jobs"]["rollback"]
        assert job["environment"] == "production" and job["permissions"]["id-token"] == "write"
        by_name = {v.get("name", k): v for k, v in job["steps"].items()}
        assert job["steps"]["plan"]["outcome"] == "failure"  # its role-to-assume: refused
        assert by_name["Who am I"]["outcome"] == "skipped" and job["steps"]["rollback"]["outcome"] == "skipped"
        log = (out / "logs" / "rehearsal.log").read_text()
        assert "Not authorized to perform sts:AssumeRoleWithWebIdentity" in log, log[-3000:]
        claims = json.loads(subprocess.run([str(ROOT / "dev" / "oidc" / "token"), "--workflow", str(wf), "--event",
                                            "workflow_dispatch", "--ref", f"refs/heads/{branch}", "--claims"],
                                           check=True, text=True, capture_output=True).stdout)
        assert claims["sub"] == ("repo:deckhand-local/spa-ecs:environment:production:ref:refs/heads/feature-dispatch:"
                                 "job_workflow_ref:deckhand-local/spa-ecs/.github/workflows/rollback.yml@refs/heads/feature-dispatch")
        assert assumed_role_calls(aws_since) == {}
        assert (live_service(stack)["taskDefinition"], site_index(stack)) == before
    finally:
        git(repo, "checkout", "-q", "main")


def test_a_fork_pull_request_gets_the_summary_only_and_stays_green(stack, repo, work, github_api):
    """A fork's PR: GitHub gives it no OIDC token, no variables and a read-only token (the stand-in
    answers 403 to its writes). No credentials, so no plan: the summary and the log say why there is
    no plan and no comment, the job is green, nothing reaches GitHub's API or AWS."""
    pr = 12
    head, merge = open_pr(repo, pr, f"fork-{int(time.time())}")
    before = live_service(stack)["taskDefinition"], site_index(stack)
    api_since, aws_since = len(api_state(github_api)["requests"]), sim_mark()
    result, out = rehearse(work, "fork", "preview.yml", "--event=pull_request", f"--pr={pr}", f"--head-sha={head}",
                           f"--sha={merge}", f"--repo-dir={repo}", "--head-repo=someone-else/spa-ecs",
                           *vars_for(stack), *api_args(github_api), image=True)
    job = result["jobs"]["plan"]
    assert job["result"] == "success"
    # GitHub caps a fork's token at read and gives it no id-token: no AWS credentials at all.
    assert job["permissions"] == {"contents": "read", "pull-requests": "read"}
    by_name = {v.get("name"): v for v in job["steps"].values()}
    assert job["steps"]["plan"]["outcome"] == "skipped"
    assert by_name["Keep the plan"]["outcome"] == "skipped"
    assert by_name["No plan for a fork"]["outcome"] == "success"
    summary = (out / "summary-plan.md").read_text()
    assert "someone-else/spa-ecs" in summary and "no OIDC token" in summary and "may not comment" in summary
    log = (out / "logs" / "rehearsal.log").read_text()
    assert "deckhand plan: not run for a fork (someone-else/spa-ecs)" in log and "no plan and no PR comment" in log
    # the site job built the PR's SPA (no credentials there); no plan was kept
    assert sorted(p.name for p in (work / "artifacts" / result["run_id"]).iterdir()) == ["site"]
    # No comment, no request about the PR at all; no AWS session; nothing in AWS changed.
    assert comments(github_api, pr) == [] and api_requests(github_api, pr, api_since) == []
    assert assumed_role_calls(aws_since) == {}
    assert (live_service(stack)["taskDefinition"], site_index(stack)) == before


# --- workflow_dispatch -> rollback.yml ----------------------------------------------------------

def test_workflow_dispatch_rolls_back_to_the_previous_release(stack, repo, work, secret_values, github_api):
    """Release A is the push rehearsal's. B changes the SPA and the task definition (an environment
    variable in deckhand.yml: a new revision, no build); rollback.yml with its defaults restores A."""
    a_file = work / "release-a.json"
    if not a_file.exists():
        pytest.fail("needs the push rehearsal's release (test_push_to_main_deploys_both_halves) first")
    a = json.loads(a_file.read_text())
    marker = f"b-{int(time.time())}"
    cfg = repo / "deckhand.yml"
    cfg.write_text(cfg.read_text().replace("    NODE_ENV: production\n", f"    NODE_ENV: production\n    REHEARSAL_MARKER: {marker}\n"))
    sha_b = commit_change(repo, marker)
    result, _ = rehearse(work, "push-b", "deploy.yml", "--event=push", f"--repo-dir={repo}", f"--sha={sha_b}", *vars_for(stack),
                         *secrets_for(secret_values), *api_args(github_api))
    # the secrets are those of push A: the sync step writes nothing
    assert result["jobs"]["deploy"]["steps"]["secrets"]["outputs"]["changed"] == "false"
    b = result["jobs"]["deploy"]["steps"]["deploy"]["outputs"]
    assert b["changed"] == "true" and b["task-definition"] != a["task-definition"]
    assert live_service(stack)["taskDefinition"] == b["task-definition"] and site_index(stack) != a["html"]

    result, out = rehearse(work, "rollback", "rollback.yml", "--event=workflow_dispatch", f"--repo-dir={repo}",
                           *vars_for(stack), image=True)
    job = result["jobs"]["rollback"]
    assert job["result"] == "success" and job["environment"] == "production"
    assert job["permissions"] == {"contents": "read", "id-token": "write"}
    rb = job["steps"]["rollback"]["outputs"]
    assert rb["restored"] == a["release-id"], rb
    assert rb["release-id"] not in (a["release-id"], b["release-id"]) and rb["changed"] == "true"
    # AWS state: A's task definition (no new revision) and A's pages.
    svc = live_service(stack)
    assert svc["taskDefinition"] == a["task-definition"]
    primary = [d for d in svc["deployments"] if d["status"] == "PRIMARY"][0]
    assert primary["taskDefinition"] == a["task-definition"] and primary["rolloutState"] == "COMPLETED"
    assert site_index(stack) == a["html"]
    # The job summary: the plan (dry run), the rollback deckhand wrote, the workflow's result table.
    summary = (out / "summary-rollback.md").read_text()
    assert "### deckhand rollback plan (dry run)" in summary
    assert f"### deckhand rollback `{rb['release-id']}` (restored `{a['release-id']}`)" in summary
    assert f"| `previous` | `{a['release-id']}` | `{rb['release-id']}` | true | both |" in summary
    assert "### Rollback: success" in summary


# --- push after a reviewed pull request -> deploy.yml applies the PR's plan ------------------------

def aws_seq() -> int:
    """The local stack's newest request number (its request log, dev/local-aws)."""
    import urllib.request
    with urllib.request.urlopen(os.environ["DECKHAND_SIM_URL"] + "/requests?tail=1") as r:
        tail = json.load(r)
    return tail[-1]["seq"] if tail else 0


def aws_writes_since(seq: int) -> list[str]:
    """The write calls the local stack served after `seq`, but STS's (the job's OIDC session is not
    state)."""
    import urllib.request
    with urllib.request.urlopen(os.environ["DECKHAND_SIM_URL"] + f"/requests?since={seq}") as r:
        return [f"{e['service']}:{e['operation']}" for e in json.load(r) if e["write"] and e["service"] != "sts"]


def reviewed_pr(stack: dict, repo: Path, work: Path, api: dict, number: int, marker: str) -> dict:
    """A pull request reviewed by preview.yml (its plan kept as the deckhand-plan artifact, the run
    recorded in the GitHub API stand-in as GitHub records it), then merged: main gets a merge commit
    of the same tree as the test merge the plan was made from. Returns the shas and the run id."""
    head, test_merge = open_pr(repo, number, marker)
    result, _ = rehearse(work, f"pr-{number}", "preview.yml", "--event=pull_request", f"--pr={number}", f"--head-sha={head}",
                         f"--sha={test_merge}", f"--repo-dir={repo}", *vars_for(stack), *api_args(api), image=True)
    assert result["jobs"]["plan"]["result"] == "success"
    store = work / "artifacts" / result["run_id"]
    assert (store / "deckhand-plan" / "deckhand-plan.json").is_file(), f"preview run {result['run_id']} kept no plan"
    post(api, "/_control/runs", {"repo": "deckhand-local/spa-ecs", "id": int(result["run_id"]), "path": f"{WF}/preview.yml",
                                 "event": "pull_request", "head_sha": head, "head_branch": f"pr-{number}",
                                 "conclusion": result["conclusion"], "pull_requests": [number], "artifacts_dir": str(store)})
    git(repo, "checkout", "-q", "main")
    git(repo, "merge", "-q", "--no-ff", "-m", f"Merge pull request #{number} from deckhand-local/pr-{number}", f"pr-{number}")
    merged = git(repo, "rev-parse", "HEAD")
    assert merged != test_merge and git(repo, "rev-parse", f"{merged}^{{tree}}") == git(repo, "rev-parse", f"{test_merge}^{{tree}}")
    post(api, "/_control/pulls", {"repo": "deckhand-local/spa-ecs", "number": number, "head_sha": head, "head_ref": f"pr-{number}",
                                  "merged": True, "merge_commit_sha": merged})
    return {"head": head, "test_merge": test_merge, "merged": merged, "run_id": result["run_id"],
            "plan": json.loads((store / "deckhand-plan" / "deckhand-plan.json").read_text())}


def post(api: dict, path: str, payload: dict) -> None:
    import urllib.request
    req = urllib.request.Request(api["url"] + path, data=json.dumps(payload).encode(), method="POST")
    with urllib.request.urlopen(req) as r:
        assert r.status == 201, (path, r.status)


def bundle_has(stack: dict, marker: str) -> bool:
    s3 = aws("s3")
    assets = [a for a in referenced_assets(site_index(stack)) if a.endswith(".js")]
    return marker.encode() in b"".join(s3.get_object(Bucket=stack["BucketName"], Key=a)["Body"].read() for a in assets)


def test_push_after_a_reviewed_pull_request_applies_its_plan(stack, repo, work, secret_values, github_api):
    """preview.yml planned PR 14 (the deckhand-plan artifact); nothing moved until it was merged: the
    push's deploy.yml finds that PR, its preview run and the artifact through the API stand-in, and
    applies exactly that plan (`deploy --plan`)."""
    marker = f"reviewed-{int(time.time())}"
    pr = reviewed_pr(stack, repo, work, github_api, 14, marker)
    assert not bundle_has(stack, marker)
    result, out = rehearse(work, "push-reviewed", "deploy.yml", "--event=push", f"--repo-dir={repo}", f"--sha={pr['merged']}",
                           *vars_for(stack), *secrets_for(secret_values), *api_args(github_api))
    job = result["jobs"]["deploy"]
    assert job["result"] == "success"
    assert job["permissions"] == {"contents": "read", "id-token": "write", "pull-requests": "read", "actions": "read"}
    found = job["steps"]["reviewed"]["outputs"]
    assert found == {"plan": "deckhand-plan.json", "pr": "14", "run-id": pr["run_id"]}, found
    log = (out / "logs" / "rehearsal.log").read_text()
    deploy_log = step_log(log, "Deploy")
    # deploy --plan plans afresh and applies only when every decision equals the reviewed one (22.4)
    assert "the fresh plan makes every decision of the reviewed plan in deckhand-plan.json" in deploy_log, deploy_log[-3000:]
    assert "no longer matches" not in deploy_log and "planning again" not in deploy_log
    summary = (out / "summary-deploy.md").read_text()
    assert f"### Reviewed plan: pull request #14\n\nThe plan reviewed on pull request #14 (preview run {pr['run_id']}" in summary
    assert "reviewed plan not applied" not in summary
    deploy = job["steps"]["deploy"]["outputs"]
    assert deploy["changed"] == "true" and deploy["release-id"].endswith("-" + pr["merged"][:7]), deploy
    assert f"### deckhand release `{deploy['release-id']}`" in summary
    # AWS state: the bucket serves the PR's SPA (the plan's uploads).
    assert bundle_has(stack, marker)
    assert pr["plan"]["frontend"]["uploads"]


def test_a_world_that_moved_after_the_review_is_refused_or_replanned(stack, repo, work, secret_values, github_api):
    """preview.yml planned PR 15; then someone edited index.html in the site bucket by hand. With the
    repository variable DECKHAND_REQUIRE_REVIEWED_PLAN=true the push's deploy refuses the reviewed
    plan (exit 7) and nothing is written; without it (false) the same push deploys a fresh plan and
    the summary names what moved."""
    marker = f"moved-{int(time.time())}"
    pr = reviewed_pr(stack, repo, work, github_api, 15, marker)
    s3 = aws("s3")
    bucket = stack["BucketName"]
    head = s3.head_object(Bucket=bucket, Key="index.html")
    edited = site_index(stack).replace("</body>", "<!-- edited by hand --></body>")
    s3.put_object(Bucket=bucket, Key="index.html", Body=edited.encode(), ContentType=head["ContentType"],
                  CacheControl=head.get("CacheControl", "no-cache"))
    before = live_service(stack)["taskDefinition"], site_index(stack)
    moved = f"objects in s3://{bucket} changed since the plan"
    # The secrets are in SSM already (as the earlier pushes of this session left them; set here so
    # the test stands alone): the sync step writes nothing either.
    for var, name in parameters_of(secret_values).items():
        aws("ssm").put_parameter(Name=name, Value=secret_values[var], Type="SecureString", Overwrite=True)

    seq = aws_seq()
    result, out = rehearse(work, "push-moved-refused", "deploy.yml", "--event=push", f"--repo-dir={repo}", f"--sha={pr['merged']}",
                           *vars_for(stack), "--var=DECKHAND_REQUIRE_REVIEWED_PLAN=true", *secrets_for(secret_values),
                           *api_args(github_api), expect=1)
    job = result["jobs"]["deploy"]
    steps = job["steps"]
    assert steps["reviewed"]["outputs"]["plan"] == "deckhand-plan.json"
    assert steps["secrets"]["outcome"] == "success" and steps["secrets"]["outputs"]["changed"] == "false"
    assert steps["deploy"]["outcome"] == "failure"
    log = (out / "logs" / "rehearsal.log").read_text()
    deploy_log = step_log(log, "Deploy")
    assert "Docker run failed with exit code 7" in deploy_log, deploy_log[-3000:]
    assert moved in deploy_log
    summary = (out / "summary-deploy.md").read_text()
    assert "if it moved, the deploy fails (exit 7) and writes nothing" in summary
    # Nothing written: no AWS write call at all during the run (no lock, no release record, no
    # upload, no parameter), the service and the site as they were.
    assert aws_writes_since(seq) == []
    assert (live_service(stack)["taskDefinition"], site_index(stack)) == before
    assert not bundle_has(stack, marker)

    result, out = rehearse(work, "push-moved-replanned", "deploy.yml", "--event=push", f"--repo-dir={repo}", f"--sha={pr['merged']}",
                           *vars_for(stack), "--var=DECKHAND_REQUIRE_REVIEWED_PLAN=false", *secrets_for(secret_values),
                           *api_args(github_api))
    job = result["jobs"]["deploy"]
    assert job["result"] == "success"
    summary = (out / "summary-deploy.md").read_text()
    assert "### deckhand: reviewed plan not applied" in summary
    assert f"the plan in deckhand-plan.json no longer matches ({moved}" in summary, summary
    assert [a for a in job["annotations"] if a["level"] == "warning" and moved in a["message"]], job["annotations"]
    deploy = job["steps"]["deploy"]["outputs"]
    assert deploy["changed"] == "true" and deploy["release-id"].endswith("-" + pr["merged"][:7])
    # The fresh plan deployed the PR's SPA over the hand edit.
    assert bundle_has(stack, marker) and "edited by hand" not in site_index(stack)


# --- a cancelled deploy -> the action's post step releases the lock (issue 22.6) ------------------

def sim_call(method: str, path: str, body: dict | None = None) -> None:
    import urllib.request
    req = urllib.request.Request(os.environ["DECKHAND_SIM_URL"] + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        r.read()


def requests_since(seq: int) -> list[dict]:
    import urllib.request
    with urllib.request.urlopen(os.environ["DECKHAND_SIM_URL"] + f"/requests?since={seq}") as r:
        return json.load(r)


def test_a_cancelled_deploy_whose_step_was_killed_leaves_no_lock(stack, repo, work, secret_values, github_api):
    """Issue 22.6 on the runner's terms. A push's deploy.yml rolls the service (a new task definition:
    an environment variable in deckhand.yml), whose new tasks never start (the rollout hangs), and the
    run is cancelled (SIGINT to the rehearsal: "Cancel workflow"). The runner cancels the Deploy step:
    SIGINT, 7.5 s, SIGTERM, 2.5 s, kill (ProcessInvoker.cs). Here deckhand cannot release its lock
    within that grace: from UpdateService on, every write of its session is held by the local stack
    (dev/local-aws "Injected faults"), as over a stalled connection; it is killed holding the lock. The
    job is cancelled; the action's post step (post-entrypoint deckhand-post, post-if always()) finds the
    Deploy step's container exited (the docker daemon the runner mounts) and releases the lock whose
    token that step saved to GITHUB_STATE, as a session of its own. Last in this file: it leaves the
    service rolled to a revision no release record names."""
    cluster, service = stack["ClusterName"], stack["ServiceName"]
    marker = f"cancel-{int(time.time())}"
    cfg = repo / "deckhand.yml"
    cfg.write_text(cfg.read_text().replace("    NODE_ENV: production\n", f"    NODE_ENV: production\n    REHEARSAL_CANCEL: {marker}\n"))
    sha = commit_change(repo, marker)
    out = work / "push-cancelled"
    if out.exists():
        subprocess.run(["rm", "-rf", str(out)], check=True)
    argv = [str(REHEARSE), str(ROOT / WF / "deploy.yml"), "--work", str(out), "--artifacts", str(work / "artifacts"),
            "--deckhand", os.environ["REHEARSAL_DECKHAND"], "--quiet", *runner_env(), *post_entrypoint(work),
            "--event=push", f"--repo-dir={repo}", f"--sha={sha}", *vars_for(stack), *secrets_for(secret_values),
            *api_args(github_api)]
    since = sim_mark()
    sim_call("PUT", f"/services/{cluster}/{service}", {"scenario": "stuck", "step-seconds": 0.1})
    held = None
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 900
        while held is None:
            assert proc.poll() is None, f"the rehearsal ended before the rollout: {proc.stderr.read() if proc.stderr else ''}"
            assert time.monotonic() < deadline, "no UpdateService by a deckhand session within 15 minutes"
            for e in requests_since(since):
                if e["operation"] == "UpdateService" and (e.get("principal") or "").endswith("/deckhand"):
                    held = e["access-key-id"]
            time.sleep(0.5)
        sim_call("PUT", f"/faults/{held}", {"hold-after-writes": 0})
        proc.send_signal(2)
        rc = proc.wait(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
        if held:
            sim_call("DELETE", f"/faults/{held}")
        sim_call("PUT", f"/services/{cluster}/{service}", {"scenario": "healthy", "step-seconds": 0.1})
    log = (out / "logs" / "rehearsal.log").read_text()
    assert rc == 1, log[-4000:]
    result = json.loads((out / "result.json").read_text())
    job = result["jobs"]["deploy"]
    assert result["conclusion"] == "cancelled" and job["result"] == "cancelled", job["result"]
    assert job["steps"]["deploy"]["outcome"] == "cancelled"
    assert job["steps"]["__post_deploy"]["outcome"] == "success", job["steps"]
    deploy_log = step_log(log, "Deploy")
    assert "sending SIGINT" in deploy_log, deploy_log[-3000:]
    post_log = log[log.index("[rehearsal] Post Deploy"):].split("[rehearsal] Post Sync secrets")[0]
    assert "released the lock the main step left" in post_log, post_log[-3000:]
    # The lock: taken by the Deploy step's session, its release held (never served), deleted by the
    # post step's own session; nothing holds it now.
    calls = requests_since(since)
    taken = [e for e in calls if e["operation"] == "PutObject" and e["path"].endswith("/_deckhand/lock")
             and e["access-key-id"] == held]
    assert taken, "the Deploy step's session took no lock"
    lock_path = taken[0]["path"]
    deleted = [e for e in calls if e["operation"] == "DeleteObject" and e["path"] == lock_path and e.get("status") == 204]
    assert [e["access-key-id"] != held and e["principal"].endswith("/deckhand") for e in deleted] == [True], deleted
    bucket, key = lock_path.lstrip("/").split("/", 1)
    with pytest.raises(aws("s3").exceptions.ClientError, match="404"):
        aws("s3").head_object(Bucket=bucket, Key=key)


# --- two environments: .github/two-stage/ (what `deckhand init` writes for staging + production) ---

TWO_STAGE = ROOT / ".github" / "two-stage"


@pytest.fixture(scope="session")
def staging_stack() -> dict[str, str]:
    """The staging stack stage 47 deploys beside the rehearsal's (infra/scripts/deploy-local --env
    staging --parameters GitHubDeployEnvironment=staging); the rehearsal's stack is production,
    deployed with -c promoteFrom=staging (its DeployRole reads staging's records, files and image)."""
    name = os.environ.get("REHEARSAL_STAGING_STACK")
    if not name:
        pytest.fail("REHEARSAL_STAGING_STACK is not set (dev/ci/stages/47-rehearsal.sh deploys it)")
    outs = aws("cloudformation").describe_stacks(StackName=name)["Stacks"][0]["Outputs"]
    return {"name": name, **{o["OutputKey"]: o["OutputValue"] for o in outs}}


def two_stage_repo(work: Path, repo: Path, stack: dict, staging: dict) -> Path:
    """A clone of the scratch repository set up as `deckhand init` sets up a repository with two
    environments: deckhand.yml's `environments:` (staging's stack and parameters; production = the
    rehearsal's stack, promote-from staging) and .github/two-stage/'s workflows as its workflows."""
    import yaml

    r = work / "repo-two-stage"
    if r.exists():
        subprocess.run(["rm", "-rf", str(r)], check=True)
    subprocess.run(["git", "clone", "-q", "--branch", "main", str(repo), str(r)], check=True, env=GIT_ENV)
    for f in ("deploy.yml", "rollback.yml"):
        shutil.copy2(TWO_STAGE / f, r / WF / f)
    shutil.copy2(two_stage_preview(work, stack, staging), r / WF / "preview.yml")
    cfg = yaml.safe_load((r / "deckhand.yml").read_text())
    # The local registry stands for both environments' ECR: the workflow's `registry-override` input
    # sets the environment promoted to; the one promoted from reads its image where deckhand.yml says.
    cfg["backend"]["registry-override"] = registry()
    staging_secrets = {var: f"/{staging['name']}/{Path(param).name}" for var, param in cfg["backend"]["secrets"].items()}
    cfg["environments"] = {
        "staging": {"stack": staging["name"], "backend": {"secrets": staging_secrets}},
        "production": {"stack": stack["name"], "promote-from": "staging"},
    }
    (r / "deckhand.yml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    git(r, "add", "-A")
    git(r, "commit", "-qm", "two environments: staging, then a promotion to production")
    return r


def two_stage_preview(work: Path, stack: dict, staging: dict) -> Path:
    """The preview.yml `deckhand init --stack <production> --staging-stack <staging>` writes (there is
    no .github/two-stage/preview.yml: init makes it from preview.yml, planning staging)."""
    app = work / "init-two-stage"
    if app.exists():
        subprocess.run(["rm", "-rf", str(app)], check=True)
    for rel in ["backend/Dockerfile", "frontend/package.json"]:
        (app / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, app / rel)
    subprocess.run(["git", "init", "-q", "-b", "main", str(app)], check=True)
    proc = subprocess.run([os.environ["REHEARSAL_DECKHAND"], "init", "--stack", stack["name"], "--staging-stack",
                           staging["name"], "--action", "./"], cwd=app, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return app / WF / "preview.yml"


def two_stage_args(work: Path, stack: dict, staging: dict, secrets: dict[str, dict[str, str]]) -> list[str]:
    """Repository variables (the region, the local stack's endpoints) and each GitHub environment's
    own DEPLOY_ROLE_ARN and secrets ("Store information in variables": an environment's variables win
    over the repository's; deploy.yml names no stack: deckhand.yml does, per environment)."""
    envs = {
        "staging": {"variables": {"DEPLOY_ROLE_ARN": staging["DeployRoleArn"]}, "secrets": secrets["staging"]},
        "production": {"variables": {"DEPLOY_ROLE_ARN": stack["DeployRoleArn"]}, "secrets": secrets["production"]},
    }
    path = work / "environments-two-stage.json"
    path.write_text(json.dumps(envs))
    return [f"--environments={path}", f"--var=AWS_REGION={os.environ.get('AWS_REGION', 'us-east-1')}",
            f"--var=DECKHAND_AWS_ENDPOINT={os.environ['AWS_ENDPOINT_URL']}", f"--var=DECKHAND_REGISTRY_OVERRIDE={registry()}",
            f"--var=DECKHAND_BUILD_ARGS=NODE_IMAGE={stack['node_base']}"]


def newest_record(bucket: str) -> dict | None:
    s3 = aws("s3")
    keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="_deckhand/releases/")
            for o in page.get("Contents", [])]
    return json.loads(s3.get_object(Bucket=bucket, Key=max(keys))["Body"].read()) if keys else None


def site_files(bucket: str) -> dict[str, str]:
    """Key -> ETag of every served file (not deckhand's own state)."""
    s3 = aws("s3")
    return {o["Key"]: o["ETag"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
            for o in page.get("Contents", []) if not o["Key"].startswith("_deckhand/")}


REPO = "deckhand-local/spa-ecs"
TWO_STAGE_PR = 16


def api_call(api: dict, method: str, path: str, body: dict | None = None, who: str | None = None) -> tuple[int, object]:
    """A call to the API stand-in as `who` (a key of the github_api fixture's tokens): (status, JSON)."""
    import urllib.error
    import urllib.request
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {api[who]}"} if who else {})}
    req = urllib.request.Request(api["url"] + path, data=None if body is None else json.dumps(body).encode(),
                                 method=method, headers=headers)
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


def held_for_review(api: dict, run_id: str, proc: subprocess.Popen) -> dict:
    """The one pending deployment of the run once a job of it waits for its environment's reviewers."""
    while proc.poll() is None:
        status, got = api_call(api, "GET", f"/repos/{REPO}/actions/runs/{run_id}/pending_deployments", who="reviewer")
        if status == 200 and got:
            assert len(got) == 1, got
            return got[0]
        time.sleep(0.5)
    pytest.fail(f"run {run_id} ended (exit {proc.returncode}) without waiting for a review")


def review(api: dict, run_id: str, pending: dict, state: str, who: str) -> tuple[int, object]:
    return api_call(api, "POST", f"/repos/{REPO}/actions/runs/{run_id}/pending_deployments",
                    {"environment_ids": [pending["environment"]["id"]], "state": state, "comment": f"{state} by {who}"}, who)


def run_deployments(api: dict, run_id: str) -> dict[str, list[dict]]:
    """Environment -> the deployments whose statuses link the run (Actions' and any of deckhand's)."""
    out: dict[str, list[dict]] = {}
    for d in api_state(api)["deployments"].get(REPO, []):
        if any(f"/actions/runs/{run_id}/" in s["log_url"] + "/" for s in d["statuses"]):
            out.setdefault(d["environment"], []).append(d)
    return out


def test_two_environments_push_deploys_staging_then_promotes_it_to_production_and_rolls_back(
        stack, staging_stack, repo, work, github_api):
    """Push to main with the two-stage deploy.yml: the staging job deploys staging as staging's role
    (its environment's DEPLOY_ROLE_ARN and secrets); the promote job, in the production environment,
    promotes the release the staging job output, as production's role: production then runs
    staging's image digest and serves staging's files, copied (no build, no upload from disk), its
    record names staging/R, the job's `url` is production's SiteUrl. Staging's role touched nothing
    of production, production's role wrote nothing of staging's. Production has required reviewers
    (the pusher among them, self-review prevented): the promote job waits, production untouched,
    until the other reviewer approves; the pusher's approval is refused. Each environment job has
    the one deployment Actions made (deckhand made none). Then rollback.yml, dispatched for
    production: rejected, nothing of production changes; dispatched again and approved, it restores
    production's release before the promotion."""
    staging = staging_stack
    r = two_stage_repo(work, repo, stack, staging)
    canary = f"two-stage-{int(time.time() * 1000)}"
    secrets = {env: {"CLAUDE_API_KEY": f"{canary}-{env}-claude", "API_ACCESS_TOKEN": f"{canary}-{env}-token"}
               for env in ("staging", "production")}
    args = two_stage_args(work, stack, staging, secrets)
    # A pull request, planned by init's two-stage preview.yml: staging's plan, as staging's PlanRole
    # (a repository variable: init tells PLAN_ROLE_ARN = staging's), the sticky comment, the
    # deckhand-plan artifact, no AWS write; merged, its push applies that plan to staging.
    # Staging already holds this session's secrets (an earlier push synced them): the push's `secrets
    # sync` then writes nothing, and the plan reviewed on the pull request still matches (new
    # parameter versions after the review would be the world moving: exit 7 or a fresh plan).
    synced = subprocess.run([os.environ["REHEARSAL_DECKHAND"], "secrets", "sync", "--environment", "staging"], cwd=r,
                            env={**os.environ, **secrets["staging"]}, capture_output=True, text=True)
    assert synced.returncode == 0, synced.stderr
    number, marker = TWO_STAGE_PR, f"two-stage-{int(time.time())}"
    post(github_api, "/_control/issues", {"repo": REPO, "number": number})
    head, test_merge = open_pr(r, number, marker)
    plan_since = sim_mark()
    result, _ = rehearse(work, "two-stage-pr", str(r / WF / "preview.yml"), "--event=pull_request", f"--pr={number}",
                         f"--head-sha={head}", f"--sha={test_merge}", f"--repo-dir={r}", *args,
                         f"--var=PLAN_ROLE_ARN={staging['PlanRoleArn']}", *api_args(github_api), image=True)
    assert result["jobs"]["plan"]["result"] == "success", result["jobs"]["plan"]
    assert assert_read_only_as_plan_role(staging, plan_since) > 0
    plan = plan_artifact(work, result)
    assert plan["commit"] == test_merge and plan["changes"] is True and "staging" in plan["config"], plan["config"]
    [c] = comments(github_api, number)
    assert c["body"].startswith(f"<!-- deckhand-plan: {plan['config']} -->\n"), c["body"][:200]
    store = work / "artifacts" / result["run_id"]
    post(github_api, "/_control/runs", {"repo": REPO, "id": int(result["run_id"]), "path": f"{WF}/preview.yml",
                                        "event": "pull_request", "head_sha": head, "head_branch": f"pr-{number}",
                                        "conclusion": result["conclusion"], "pull_requests": [number], "artifacts_dir": str(store)})
    git(r, "checkout", "-q", "main")
    git(r, "merge", "-q", "--no-ff", "-m", f"Merge pull request #{number} from deckhand-local/pr-{number}", f"pr-{number}")
    sha = git(r, "rev-parse", "HEAD")
    post(github_api, "/_control/pulls", {"repo": REPO, "number": number, "head_sha": head, "head_ref": f"pr-{number}",
                                         "merged": True, "merge_commit_sha": sha})
    before = newest_record(stack["BucketName"])
    if before is None:
        pytest.fail("needs a production release to roll back to: the push rehearsal's (test_push_to_main_deploys_both_halves)")
    staging_role, production_role = (x["DeployRoleArn"].rsplit("/", 1)[-1] for x in (staging, stack))
    production_td = live_service(stack)["taskDefinition"]
    status, _ = api_call(github_api, "POST", "/_control/environments", {
        "repo": REPO, "name": "production", "reviewers": ["octocat", "reviewer"], "prevent_self_review": True})
    assert status == 201
    try:
        two_environments(stack, staging, r, work, github_api, args, sha, before, staging_role, production_role,
                         production_td, secrets)
    finally:  # the other rehearsals' production environment has no protection rules
        api_call(github_api, "POST", "/_control/environments", {"repo": REPO, "name": "production"})


def two_environments(stack: dict, staging: dict, r: Path, work: Path, github_api: dict, args: list[str], sha: str,
                     before: dict, staging_role: str, production_role: str, production_td: str,
                     secrets: dict[str, dict[str, str]]) -> None:
    since = sim_mark()
    run_id = str(int(time.time() * 1000) % 10**10)
    started = start_rehearsal(work, "two-stage-push", str(r / WF / "deploy.yml"), "--event=push", f"--repo-dir={r}",
                              f"--sha={sha}", f"--run-id={run_id}", *args, *api_args(github_api))
    # The promote job waits for production's reviewers, after staging deployed: nothing of production
    # touched, its deployment `waiting`, the run `waiting`; the pusher may not approve.
    pending = held_for_review(github_api, run_id, started[2])
    assert pending["environment"]["name"] == "production" and pending["current_user_can_approve"], pending
    assert api_call(github_api, "GET", f"/repos/{REPO}/actions/runs/{run_id}")[1]["status"] == "waiting"
    assert production_role not in assumed_role_calls(since), "production's role was used before the approval"
    assert newest_record(stack["BucketName"]) == before and live_service(stack)["taskDefinition"] == production_td
    held = run_deployments(github_api, run_id)
    assert [[s["state"] for s in d["statuses"]] for d in held["production"]] == [["waiting"]], held
    status, err = review(github_api, run_id, pending, "approved", "octocat")
    assert status == 422 and "prevents self-review" in err["message"], (status, err)
    assert review(github_api, run_id, pending, "approved", "reviewer")[0] == 200
    result, out = rehearsed(*started)
    jobs = result["jobs"]
    assert jobs["promote"]["review"]["by"] == "reviewer", jobs["promote"].get("review")
    assert {j: jobs[j]["result"] for j in jobs} == {"site": "success", "staging": "success", "promote": "success"}, jobs.keys()
    assert jobs["staging"]["environment"] == "staging" and jobs["promote"]["environment"] == "production"
    assert jobs["promote"]["permissions"] == {"contents": "read", "id-token": "write"}
    # The staging job applied the pull request's reviewed plan (deploy --plan), not a fresh one.
    assert jobs["staging"]["steps"]["reviewed"]["outputs"]["pr"] == str(TWO_STAGE_PR)
    assert f"### Reviewed plan: pull request #{TWO_STAGE_PR}" in (out / "summary-staging.md").read_text()
    staging_log = step_log((out / "logs" / "rehearsal.log").read_text(), "Deploy")
    assert "the fresh plan makes every decision of the reviewed plan in deckhand-plan.json" in staging_log, staging_log[-3000:]
    staged = jobs["staging"]["steps"]["deploy"]["outputs"]
    assert jobs["staging"]["outputs"]["release-id"] == staged["release-id"] and staged["changed"] == "true"
    promoted = jobs["promote"]["steps"]["promote"]["outputs"]
    assert promoted["changed"] == "true" and promoted["release-id"] not in (staged["release-id"], before["id"])
    # The job's environment URL: production's site (the stack output SiteUrl), through the `url` output.
    assert promoted["url"] == stack["SiteUrl"] and staged["url"] == staging["SiteUrl"], (promoted, staged)
    assert jobs["promote"]["environment_url"] == stack["SiteUrl"], jobs["promote"].get("environment_url")
    # Each environment's own secrets, in its own parameters.
    ssm = aws("ssm")
    for env, prefix in (("staging", staging["name"]), ("production", stack["name"])):
        got = ssm.get_parameter(Name=f"/{prefix}/claude-api-key", WithDecryption=True)["Parameter"]["Value"]
        assert got == secrets[env]["CLAUDE_API_KEY"], env
    log = (out / "logs" / "rehearsal.log").read_text()
    assert secrets["staging"]["CLAUDE_API_KEY"].rsplit("-staging-", 1)[0] not in log  # the canary
    # Production runs staging's image digest, and names its source.
    staged_image, promoted_image = staged["image"], promoted["image"]
    assert staged_image.split("@")[1] == promoted_image.split("@")[1], (staged_image, promoted_image)
    assert promoted_image.split("@")[0].endswith(f"/{stack['RepositoryName']}"), promoted_image
    assert live_service(stack)["taskDefinition"] == promoted["task-definition"]
    record = newest_record(stack["BucketName"]) or {}
    assert record.get("id") == promoted["release-id"] and record.get("promoted_from") == f"staging/{staged['release-id']}", record
    # ... and serves staging's files, byte for byte (same ETags: no config.json is configured here;
    # production may still keep an earlier release's assets for GC's grace).
    # (the files of the release promoted: staging may keep an earlier release's assets for GC's grace too)
    staged_record = json.loads(aws("s3").get_object(Bucket=staging["BucketName"],
                                                    Key=f"_deckhand/releases/{staged['release-id']}.json")["Body"].read())
    staged_files = {k: v for k, v in site_files(staging["BucketName"]).items() if k in staged_record["site"]["files"]}
    served = site_files(stack["BucketName"])
    assert staged_files and {k: served.get(k) for k in staged_files} == staged_files, (staged_files, served)
    # Who did what: staging's role only staging's resources; production's role read staging's, wrote
    # only its own; the promotion put no site file from disk (copies only).
    by_role = assumed_role_calls(since)
    assert {staging_role, production_role} <= set(by_role), sorted(by_role)
    prod_names = (stack["BucketName"], stack["ClusterName"] + "/", stack["RepositoryName"], f"stack/{stack['name']}/")
    touched = [f"{e['operation']} {a['resource']}" for e in by_role[staging_role] for a in e.get("iam") or []
               if any(n in a["resource"] for n in prod_names)]
    assert touched == [], touched
    writes_on_staging = [f"{e['operation']} {a['resource']}" for e in by_role[production_role] if e["write"]
                         for a in e.get("iam") or [] if staging["name"] in a["resource"] and a["action"] != "s3:GetObject"]
    assert writes_on_staging == [], writes_on_staging
    puts = [e["path"] for e in by_role[production_role] if e["operation"] == "PutObject" and stack["BucketName"] in e["path"]
            and "/_deckhand/" not in e["path"]]
    assert puts == [], puts
    summary = (out / "summary-promote.md").read_text()
    assert f"Release `{promoted['release-id']}` (staging/`{staged['release-id']}`), changed: true" in summary
    # Never two deployments for one run: each environment job has the one Actions made (its statuses
    # as GitHub sets them, production's URL on its last), deckhand found it and made none.
    deps = run_deployments(github_api, run_id)
    states = {env: [[s["state"] for s in d["statuses"]] for d in ds] for env, ds in deps.items()}
    assert states == {"staging": [["queued", "in_progress", "success"]],
                      "production": [["waiting", "queued", "in_progress", "success"]]}, states
    assert all(d["creator"]["login"] == "github-actions[bot]" and d["payload"] == {} for ds in deps.values() for d in ds)
    assert deps["production"][0]["statuses"][-1]["environment_url"] == stack["SiteUrl"]

    # A dispatched rollback of production, rejected by its reviewer: the job runs no step, production
    # unchanged.
    since = sim_mark()
    run_id = str(int(time.time() * 1000) % 10**10)
    started = start_rehearsal(work, "two-stage-rollback-rejected", str(r / WF / "rollback.yml"), "--event=workflow_dispatch",
                              f"--repo-dir={r}", "--input=environment=production", f"--run-id={run_id}", *args,
                              *api_args(github_api), image=True)
    assert review(github_api, run_id, held_for_review(github_api, run_id, started[2]), "rejected", "reviewer")[0] == 200
    result, _ = rehearsed(*started, expect=1)
    job = result["jobs"]["rollback"]
    assert (job["result"], job["steps"], result["conclusion"]) == ("failure", {}, "failure"), job
    assert live_service(stack)["taskDefinition"] == promoted["task-definition"]
    assert (newest_record(stack["BucketName"]) or {}).get("id") == promoted["release-id"]
    assert production_role not in assumed_role_calls(since)
    assert [[s["state"] for s in d["statuses"]] for d in run_deployments(github_api, run_id)["production"]] == [["waiting", "failure"]]

    # A dispatched rollback of production: its release before the promotion, staging untouched.
    staging_td = live_service(staging)["taskDefinition"]
    run_id = str(int(time.time() * 1000) % 10**10)
    started = start_rehearsal(work, "two-stage-rollback", str(r / WF / "rollback.yml"), "--event=workflow_dispatch",
                              f"--repo-dir={r}", "--input=environment=production", f"--run-id={run_id}", *args,
                              *api_args(github_api), image=True)
    assert review(github_api, run_id, held_for_review(github_api, run_id, started[2]), "approved", "reviewer")[0] == 200
    result, out = rehearsed(*started)
    job = result["jobs"]["rollback"]
    assert job["result"] == "success" and job["environment"] == "production"
    rb = job["steps"]["rollback"]["outputs"]
    assert rb["restored"] not in ("", promoted["release-id"]) and rb["restored"] <= before["id"], (rb, before["id"])
    assert rb["url"] == stack["SiteUrl"], rb
    restored = json.loads(aws("s3").get_object(Bucket=stack["BucketName"],
                                               Key=f"_deckhand/releases/{rb['restored']}.json")["Body"].read())
    assert live_service(stack)["taskDefinition"] == restored["backend"]["task_definition_arn"]
    assert (newest_record(stack["BucketName"]) or {}).get("id") == rb["release-id"]
    assert live_service(staging)["taskDefinition"] == staging_td
    assert "### Rollback of production: success" in (out / "summary-rollback.md").read_text()
