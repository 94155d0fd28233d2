"""`deckhand init` against the rehearsal's stack writes exactly what the rehearsals run (issue 24: what
init writes is rehearsed unedited): the three workflows byte for byte as this checkout's (the files
test_rehearsals.py runs on every trigger), and the repository variables it tells the user to set are
the ones the rehearsals set (vars_for, less the three that point at the local stack and are unset on
GitHub). Its deckhand.yml names the stack and passes `validate --online` against it.

Run by dev/ci/stages/47-rehearsal.sh with the rehearsals' environment (REHEARSAL_STACK, REHEARSAL_DECKHAND,
the local stack's AWS_ENDPOINT_URL and bootstrap credentials)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
WORKFLOWS = ["deploy.yml", "preview.yml", "rollback.yml"]
LOCAL_ONLY = {"DECKHAND_AWS_ENDPOINT", "DECKHAND_REGISTRY_OVERRIDE", "DECKHAND_BUILD_ARGS"}


def scratch_repo(tmp_path: Path) -> Path:
    """An application repository as a newcomer has it: this checkout's backend/Dockerfile and
    frontend/package.json, git on main, no deckhand.yml and no workflows yet."""
    repo = tmp_path / "app"
    for rel in ["backend/Dockerfile", "frontend/package.json"]:
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, repo / rel)
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    return repo


def test_init_writes_the_workflows_the_rehearsals_run(tmp_path):
    from test_rehearsals import vars_for  # the rehearsals' repository variables

    repo = scratch_repo(tmp_path)
    stack = os.environ["REHEARSAL_STACK"]
    deckhand = os.environ["REHEARSAL_DECKHAND"]
    proc = subprocess.run([deckhand, "init", "--stack", stack, "--action", "./", "--json"], cwd=repo,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert sorted(f["path"] for f in out["files"]) == sorted(["deckhand.yml", *(f".github/workflows/{w}" for w in WORKFLOWS)])
    for w in WORKFLOWS:
        written = (repo / ".github" / "workflows" / w).read_bytes()
        assert written == (ROOT / ".github" / "workflows" / w).read_bytes(), \
            f"deckhand init wrote a {w} that is not the rehearsed one"
    # The settings it prints are the rehearsal's repository variables and environment.
    import boto3

    outs = boto3.client("cloudformation", endpoint_url=os.environ["AWS_ENDPOINT_URL"],
                        region_name=os.environ.get("AWS_REGION", "us-east-1")).describe_stacks(StackName=stack)["Stacks"][0]["Outputs"]
    rehearsed = dict(a.removeprefix("--var=").split("=", 1)
                     for a in vars_for({"name": stack, "node_base": "-", **{o["OutputKey"]: o["OutputValue"] for o in outs}}))
    told = {v["name"]: v["value"] for v in out["github"]["variables"]}
    assert told == {k: v for k, v in rehearsed.items() if k not in LOCAL_ONLY}
    assert out["github"]["environment"] == "production" and out["github"]["branch"] == "main"
    import yaml

    configured = yaml.safe_load((ROOT / "deckhand.yml").read_text())["backend"]["secrets"]
    assert sorted(out["github"]["secrets"]) == sorted(configured)
    # Its deckhand.yml works against the stack (the SPA directory must exist for validate).
    config = yaml.safe_load((repo / "deckhand.yml").read_text())
    assert config["stack"] == stack
    # The same variables, read from the same parameters (named after the stack: /<stack>/claude-api-key).
    assert {k: v.rsplit("/", 1)[1] for k, v in config["backend"]["secrets"].items()} == \
        {k: v.rsplit("/", 1)[1] for k, v in configured.items()}
    (repo / config["frontend"]["dir"]).mkdir(parents=True)
    (repo / config["frontend"]["dir"] / "index.html").write_text("<!doctype html>\n")
    proc = subprocess.run([deckhand, "validate", "--online"], cwd=repo, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_init_with_a_staging_stack_writes_the_two_stage_workflows_the_rehearsal_runs(tmp_path):
    """`deckhand init --stack <production> --staging-stack <staging>` against the rehearsal's two
    stacks: deploy.yml and rollback.yml are .github/two-stage/'s byte for byte (the files the
    two-environment rehearsal runs), deckhand.yml validates online in each environment, and each
    GitHub environment is told its own DeployRole."""
    repo = scratch_repo(tmp_path)
    stack, staging = os.environ["REHEARSAL_STACK"], os.environ.get("REHEARSAL_STAGING_STACK", "")
    assert staging, "REHEARSAL_STAGING_STACK is not set (dev/ci/stages/47-rehearsal.sh deploys it)"
    deckhand = os.environ["REHEARSAL_DECKHAND"]
    proc = subprocess.run([deckhand, "init", "--stack", stack, "--staging-stack", staging, "--action", "./", "--json"],
                          cwd=repo, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    for w in ["deploy.yml", "rollback.yml"]:
        assert (repo / ".github" / "workflows" / w).read_bytes() == (ROOT / ".github" / "two-stage" / w).read_bytes(), w
    import boto3

    cfn = boto3.client("cloudformation", endpoint_url=os.environ["AWS_ENDPOINT_URL"],
                       region_name=os.environ.get("AWS_REGION", "us-east-1"))
    role = {name: {o["OutputKey"]: o["OutputValue"] for o in cfn.describe_stacks(StackName=name)["Stacks"][0]["Outputs"]}["DeployRoleArn"]
            for name in (stack, staging)}
    told = {(v["name"], v.get("environment")): v["value"] for v in out["github"]["variables"]}
    assert told[("DEPLOY_ROLE_ARN", "staging")] == role[staging] and told[("DEPLOY_ROLE_ARN", "production")] == role[stack]
    assert out["github"]["staging"] == "staging" and out["github"]["environment"] == "production"
    import yaml

    config = yaml.safe_load((repo / "deckhand.yml").read_text())
    assert config["environments"]["staging"]["stack"] == staging
    assert config["environments"]["production"] == {"stack": stack, "promote-from": "staging"}
    (repo / config["frontend"]["dir"]).mkdir(parents=True)
    (repo / config["frontend"]["dir"] / "index.html").write_text("<!doctype html>\n")
    for env in ("staging", "production"):
        proc = subprocess.run([deckhand, "validate", "--online", "--environment", env], cwd=repo, capture_output=True, text=True)
        assert proc.returncode == 0, f"{env}: {proc.stderr}"
