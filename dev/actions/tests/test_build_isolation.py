"""Build code never runs in a job that can mint an OIDC token. The runner gives
ACTIONS_ID_TOKEN_REQUEST_URL/_TOKEN to every step of a job with `id-token: write`, `run:` steps
included (actions/runner src/Runner.Worker/Handlers/ScriptHandler.cs): `npm ci` there lets any
dependency's install script assume the job's role. deploy.yml and preview.yml build the SPA in a job
without id-token and hand it over as an artifact with its checksum, which the job that calls AWS
verifies before anything else; rehearsed here with the workflows' own hand-over steps."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path.insert(0, str(HERE.parent))
import rehearse  # noqa: E402

WF = ROOT / ".github" / "workflows"
# Commands that run code from the checkout or its dependencies.
BUILD = re.compile(r"\b(npm (ci|install|i|run|exec|test)|npx|yarn|pnpm|cargo|make|pip install|docker (build|buildx))\b")
SETUP = ("actions/setup-node@", "actions/setup-python@", "dtolnay/rust-toolchain@", "docker/build-push-action@")


@pytest.mark.parametrize("name", sorted(p.name for p in WF.glob("*.yml")))
def test_no_job_with_id_token_write_runs_build_code(name):
    doc = rehearse.load_workflow(WF / name)
    for job_id, job in doc["jobs"].items():
        if rehearse.permissions_of(doc, job).get("id-token") != "write":
            continue
        for step in job.get("steps") or []:
            assert not BUILD.search(str(step.get("run", ""))), f"{name} job {job_id} (id-token: write) runs build code: {step.get('run')}"
            assert not str(step.get("uses", "")).startswith(SETUP), f"{name} job {job_id} (id-token: write) uses {step['uses']}"


@pytest.mark.parametrize("name,job_id", [("deploy.yml", "deploy"), ("preview.yml", "plan")])
def test_the_aws_job_verifies_the_built_site_before_anything_else(name, job_id):
    doc = rehearse.load_workflow(WF / name)
    job = doc["jobs"][job_id]
    assert "site" in (job["needs"] if isinstance(job["needs"], list) else [job["needs"]])
    site = doc["jobs"]["site"]
    assert rehearse.permissions_of(doc, site) == {"contents": "read"}
    assert site["outputs"] == {"sha256": "${{ steps.sum.outputs.sha256 }}"}
    steps = job["steps"]
    names = [s.get("name") or s.get("uses", "").split("@")[0] for s in steps]
    download = names.index("actions/download-artifact")
    assert steps[download]["with"] == {"name": "site", "path": "frontend/dist"}
    verify = names.index("Verify the SPA")
    assert steps[verify]["env"] == {"BUILT": "${{ needs.site.outputs.sha256 }}"}
    first_aws = min(i for i, s in enumerate(steps) if s.get("uses") == "./" or "configure-aws-credentials" in s.get("uses", ""))
    assert download < verify < first_aws


@pytest.fixture()
def handover(tmp_path):
    """deploy.yml's two jobs reduced to the hand-over: the site job's checksum and upload (its build
    replaced by two files), the deploy job's download and verification, as committed."""
    doc = rehearse.load_workflow(WF / "deploy.yml")
    site, deploy = doc["jobs"]["site"], doc["jobs"]["deploy"]
    by_name = lambda steps, n: next(s for s in steps if (s.get("name") or s.get("uses", "").split("@")[0]) == n)  # noqa: E731
    build = {"name": "Build the SPA", "run": "mkdir -p frontend/dist/assets && echo '<html>' > frontend/dist/index.html"
                                              " && echo 'x' > frontend/dist/assets/app.js && echo h > frontend/dist/.well-known"}
    wf = {"name": "deploy", "on": {"push": {"branches": ["main"]}}, "permissions": {}, "jobs": {
        "site": {"runs-on": "ubuntu-24.04", "permissions": site["permissions"], "outputs": site["outputs"],
                 "steps": [build, by_name(site["steps"], "Checksum"), by_name(site["steps"], "actions/upload-artifact")]},
        "deploy": {"needs": "site", "runs-on": "ubuntu-24.04", "permissions": {"contents": "read"},
                   "steps": [by_name(deploy["steps"], "actions/download-artifact"), by_name(deploy["steps"], "Verify the SPA"),
                             {"name": "After", "run": "echo deployed"}]}}}
    repo = tmp_path / "repo"
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@x"}
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    (repo / "README").write_text("r\n")
    subprocess.run(["git", "-C", str(repo), "add", "."], check=True, env=env)
    subprocess.run(["git", "-C", str(repo), "commit", "-qm", "one"], check=True, env=env)

    def run(doc: dict, name: str) -> tuple[int, dict, str]:
        p = tmp_path / name / ".github" / "workflows" / "deploy.yml"
        p.parent.mkdir(parents=True)
        p.write_text(yaml.safe_dump(doc, sort_keys=False))
        work = tmp_path / f"{name}-work"
        code = rehearse.main([str(p), "--event", "push", "--repo-dir", str(repo), "--work", str(work), "--quiet"])
        return code, json.loads((work / "result.json").read_text()), (work / "logs" / "rehearsal.log").read_text()
    return wf, run


def test_the_site_built_without_credentials_arrives_verified(handover):
    wf, run = handover
    code, result, log = run(wf, "ok")
    assert code == 0, log[-3000:]
    built = result["jobs"]["site"]["outputs"]["sha256"]
    assert re.fullmatch(r"[0-9a-f]{64}", built)
    assert f"frontend/dist: sha256 {built}, as the site job built it" in log
    assert [s["outcome"] for s in result["jobs"]["deploy"]["steps"].values()] == ["success"] * 3


def test_a_site_that_differs_from_what_was_built_is_refused(handover):
    """A file changed after the checksum (what a tampered artifact looks like): the deploy job stops
    at the verification, before the next step."""
    wf, run = handover
    wf["jobs"]["site"]["steps"].insert(2, {"name": "Tamper", "run": "echo evil >> frontend/dist/assets/app.js"})
    code, result, log = run(wf, "tampered")
    assert code == 1
    steps = list(result["jobs"]["deploy"]["steps"].values())
    assert [s["outcome"] for s in steps] == ["success", "failure", "skipped"], steps
    assert "is not what the site job built" in log and "not deploying" in log
