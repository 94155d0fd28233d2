"""`deckhand init --cluster/--service` (a live ECS service, no stack: issue 24) writes workflows that run
unedited: rehearsed on push (deploy green), pull_request (the plan comment) and workflow_dispatch (a
rollback) against the rehearsal's stack, with exactly the repository variables and secrets init told to
set (plus the three that point at the local stack, unset on GitHub). `init --stack`'s are this
checkout's files byte for byte (test_init.py), which test_rehearsals.py rehearses; these differ from
them by the `stack:` lines alone.

Runs after test_rehearsals.py (the file name sorts after it): that file's pushes put this checkout's
image in the repository, so these pushes build nothing. Host mode throughout (the action image is
test_rehearsals.py's)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from test_rehearsals import (ROOT, WF, commit_change, git, live_service, node_base, open_pr, plan_artifact,  # noqa: F401
                             rehearse, registry, sim_mark, deckhand_sessions, assert_read_only_as_plan_role, site_index,
                             stack, work)

WORKFLOWS = ["deploy.yml", "preview.yml", "rollback.yml"]
PR = 21
REPOSITORY = "deckhand-local/spa-ecs"  # the repository the stack's roles trust (rehearse's default)


@pytest.fixture(scope="module")
def api():
    """The GitHub API stand-in, with PR #21 to comment on."""
    token = "ghs_rehearsal_init_service_0123456789"
    proc = subprocess.Popen([sys.executable, str(ROOT / "dev" / "github-api" / "server.py"), "--port", "0",
                             "--token", token, f"--issue={REPOSITORY}#{PR}", "--stop-on-stdin-eof"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    url = proc.stdout.readline().strip()
    assert url.startswith("http://127.0.0.1:"), url
    yield {"url": url, "token": token, "args": [f"--github-api-url={url}", f"--token={token}"]}
    proc.stdin.close()
    proc.wait(timeout=10)


def state(api: dict) -> dict:
    import urllib.request
    with urllib.request.urlopen(api["url"] + "/_control/state") as r:
        return json.load(r)


@pytest.fixture(scope="module")
def app(stack, work) -> dict:
    """An application repository (this checkout's files) in which `deckhand init --cluster --service
    --bucket --distribution` replaced deckhand.yml and the workflows, committed on main; its settings."""
    repo = work / "init-service-repo"
    if repo.exists():
        subprocess.run(["rm", "-rf", str(repo)], check=True)
    repo.mkdir()
    files = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-co", "--exclude-standard", "-z"], check=True,
                           capture_output=True).stdout.decode().split("\0")
    for f in filter(None, files):
        src = ROOT / f
        if src.is_file():
            (repo / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, repo / f)
    git(repo, "init", "-q", "-b", "main")
    proc = subprocess.run([os.environ["REHEARSAL_DECKHAND"], "init", "--cluster", stack["ClusterName"], "--service",
                           stack["ServiceName"], "--bucket", stack["BucketName"], "--distribution", stack["DistributionId"],
                           "--action", "./", "--force", "--json"], cwd=repo, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    told = json.loads(proc.stdout)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base: this checkout, deckhand init from the live service")
    variables = {v["name"]: v["value"] for v in told["github"]["variables"]}
    # The stack's roles are the person's to name without a stack: init prints placeholders for them.
    variables.update({"DEPLOY_ROLE_ARN": stack["DeployRoleArn"], "PLAN_ROLE_ARN": stack["PlanRoleArn"]})
    local = {"DECKHAND_AWS_ENDPOINT": os.environ["AWS_ENDPOINT_URL"], "DECKHAND_REGISTRY_OVERRIDE": registry(),
             "DECKHAND_BUILD_ARGS": f"NODE_IMAGE={stack['node_base']}"}
    canary = f"init-service-canary-{int(time.time() * 1000)}"
    return {"repo": repo, "told": told, "vars": [f"--var={k}={v}" for k, v in {**variables, **local}.items()],
            "secrets": {k: f"{canary}-{k.lower()}" for k in told["github"]["secrets"]}}


def secret_args(app: dict) -> list[str]:
    return [f"--secret={k}={v}" for k, v in app["secrets"].items()]


def secrets_in_any_order(text: str) -> str:
    """The workflow with each run of `NAME: ${{ secrets.NAME }}` lines sorted. init from a live service
    lists the secrets in its task definition's order: the CDK stack's at first, sorted once deckhand
    has registered a revision (the rehearsals before this test deploy). An `env:` mapping's order
    means nothing to the runner; every other byte must be the rehearsed file's."""
    out: list[str] = []
    run: list[str] = []
    for line in text.splitlines(keepends=True):
        if "${{ secrets." in line and line.lstrip().split(":", 1)[0].isupper():
            run.append(line)
            continue
        out += sorted(run)
        run = []
        out.append(line)
    return "".join(out + sorted(run))


def test_init_from_a_live_service_writes_the_rehearsed_workflows_without_the_stack(app, stack):
    repo = app["repo"]
    for w in WORKFLOWS:
        rehearsed = (ROOT / WF / w).read_text()
        without_stack = "".join(l for l in rehearsed.splitlines(keepends=True) if "stack: ${{ vars.STACK_NAME }}" not in l)
        written = (repo / WF / w).read_text()
        assert secrets_in_any_order(written) == secrets_in_any_order(without_stack), \
            f"init --cluster/--service wrote a {w} that is not the rehearsed one"
    import yaml

    cfg = yaml.safe_load((repo / "deckhand.yml").read_text())
    assert "stack" not in cfg
    assert (cfg["backend"]["cluster"], cfg["backend"]["service"]) == (stack["ClusterName"], stack["ServiceName"])
    assert (cfg["frontend"]["bucket"], cfg["frontend"]["distribution"]) == (stack["BucketName"], stack["DistributionId"])
    names = {v["name"] for v in app["told"]["github"]["variables"]}
    assert "STACK_NAME" not in names and {"DEPLOY_ROLE_ARN", "PLAN_ROLE_ARN", "AWS_REGION"} <= names, names
    assert app["secrets"], "the live service reads SSM secrets: init names their GitHub secrets"


def test_its_deploy_workflow_deploys_on_a_push(app, stack, work, api):
    sha = commit_change(app["repo"], f"init-service-a-{int(time.time())}")
    since = sim_mark()
    result, out = rehearse(work, "init-service-push", app["repo"] / WF / "deploy.yml", "--event=push", f"--repo-dir={app['repo']}",
                           f"--sha={sha}", *app["vars"], *secret_args(app), *api["args"])
    job = result["jobs"]["deploy"]
    assert job["result"] == "success" and job["environment"] == "production"
    assert job["steps"]["secrets"]["outcome"] == "success"
    deploy = job["steps"]["deploy"]["outputs"]
    assert deploy["changed"] == "true" and deploy["release-id"].endswith(sha[:7]), deploy
    assert live_service(stack)["taskDefinition"] == deploy["task-definition"]
    assert deckhand_sessions(since) == {stack["DeployRoleArn"].rsplit("/", 1)[-1]}
    log = (out / "logs" / "rehearsal.log").read_text()
    for v in app["secrets"].values():
        assert v not in log
    (work / "init-service-a.json").write_text(json.dumps({**deploy, "html": site_index(stack)}))


def test_its_preview_workflow_comments_the_plan_on_a_pull_request(app, stack, work, api):
    head, merge = open_pr(app["repo"], PR, f"init-service-pr-{int(time.time())}")
    before = live_service(stack)["taskDefinition"], site_index(stack)
    since = sim_mark()
    result, _ = rehearse(work, "init-service-pr", app["repo"] / WF / "preview.yml", "--event=pull_request", f"--pr={PR}",
                         f"--head-sha={head}", f"--sha={merge}", f"--repo-dir={app['repo']}", *app["vars"], *api["args"])
    job = result["jobs"]["plan"]
    assert job["result"] == "success"
    plan = plan_artifact(work, result)
    assert plan["commit"] == merge and plan["changes"] is True
    [c] = state(api)["issues"][f"{REPOSITORY}#{PR}"]
    assert c["body"].startswith(f"<!-- deckhand-plan: {plan['config']} -->\n"), c["body"][:200]
    assert plan["verdict"] in c["body"] and f"deckhand plan of commit `{merge[:12]}`" in c["body"]
    assert assert_read_only_as_plan_role(stack, since) > 0
    assert (live_service(stack)["taskDefinition"], site_index(stack)) == before


def test_its_rollback_workflow_restores_the_previous_release_on_dispatch(app, stack, work, api):
    a_file = work / "init-service-a.json"
    if not a_file.exists():
        pytest.fail("needs this file's push rehearsal first")
    a = json.loads(a_file.read_text())
    sha_b = commit_change(app["repo"], f"init-service-b-{int(time.time())}")
    result, _ = rehearse(work, "init-service-push-b", app["repo"] / WF / "deploy.yml", "--event=push",
                         f"--repo-dir={app['repo']}", f"--sha={sha_b}", *app["vars"], *secret_args(app), *api["args"])
    b = result["jobs"]["deploy"]["steps"]["deploy"]["outputs"]
    assert b["changed"] == "true" and site_index(stack) != a["html"]
    result, _ = rehearse(work, "init-service-rollback", app["repo"] / WF / "rollback.yml", "--event=workflow_dispatch",
                         f"--repo-dir={app['repo']}", *app["vars"], *api["args"])
    job = result["jobs"]["rollback"]
    assert job["result"] == "success" and job["environment"] == "production"
    rb = job["steps"]["rollback"]["outputs"]
    assert rb["restored"] == a["release-id"] and rb["changed"] == "true", rb
    assert live_service(stack)["taskDefinition"] == a["task-definition"] and site_index(stack) == a["html"]
