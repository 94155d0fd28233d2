"""deploy.yml's "Find the reviewed plan" step, rehearsed on its own against the GitHub API stand-in
(dev/github-api/server.py; no AWS): the step is copied from deploy.yml into a one-job workflow with
deploy.yml's permissions, so what runs is the step as committed. Every way to a plan or to none:
the merged pull request's newest successful preview run and its `deckhand-plan` artifact downloaded
as a zip; a direct push, a PR without a successful preview run, an expired or missing artifact, an
API that keeps failing: a fresh plan with the reason in the summary, or, with the repository
variable DECKHAND_REQUIRE_REVIEWED_PLAN=true, a failed step with the reason as an error annotation.
The stand-in's new routes are tested directly too."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import pytest
import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path.insert(0, str(HERE.parent))
import rehearse  # noqa: E402

REPO = "deckhand-local/spa-ecs"
TOKEN, READ_ONLY = "ghs_test_write_0123456789", "ghs_test_readonly_0123456789"
STEP = "Find the reviewed plan"
GIT_ENV = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@x"}


@pytest.fixture()
def api():
    proc = subprocess.Popen([sys.executable, str(ROOT / "dev" / "github-api" / "server.py"), "--port", "0",
                             "--token", TOKEN, "--read-only-token", READ_ONLY, "--stop-on-stdin-eof"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    url = proc.stdout.readline().strip()
    assert url.startswith("http://127.0.0.1:"), url
    yield url
    proc.stdin.close()
    proc.wait(timeout=10)


def call(url: str, path: str, payload: dict | None = None, token: str | None = None, method: str | None = None):
    req = urllib.request.Request(url + path, data=None if payload is None else json.dumps(payload).encode(),
                                 method=method or ("GET" if payload is None else "POST"))
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read(), dict(e.headers)


def get_json(url: str, path: str, token: str | None = TOKEN):
    status, body, _ = call(url, path, token=token)
    assert status == 200, (path, status, body[:300])
    return json.loads(body)


@pytest.fixture()
def repo(tmp_path):
    r = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", "-b", "main", str(r)], check=True)
    (r / "README").write_text("r\n")
    subprocess.run(["git", "-C", str(r), "add", "."], check=True, env=GIT_ENV)
    subprocess.run(["git", "-C", str(r), "commit", "-qm", "one"], check=True, env=GIT_ENV)
    return r


def head(repo: Path) -> str:
    return subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], check=True, text=True, capture_output=True).stdout.strip()


@pytest.fixture()
def workflow(tmp_path) -> Path:
    """deploy.yml's job reduced to the checkout and the lookup step, as committed."""
    deploy = rehearse.load_workflow(ROOT / ".github" / "workflows" / "deploy.yml")
    job = deploy["jobs"]["deploy"]
    [find] = [s for s in job["steps"] if s.get("name") == STEP]
    checkout = job["steps"][0]
    assert checkout["uses"].startswith("actions/checkout@")
    assert job["steps"].index(find) == 1, "the lookup runs right after the checkout, before anything else"
    wf = {"name": "deploy", "on": {"push": {"branches": ["main"]}}, "permissions": {},
          "jobs": {"deploy": {"runs-on": "ubuntu-24.04", "environment": "production", "permissions": job["permissions"],
                              "steps": [checkout, find]}}}
    p = tmp_path / "wf" / ".github" / "workflows" / "deploy.yml"
    p.parent.mkdir(parents=True)
    p.write_text(yaml.safe_dump(wf, sort_keys=False))
    return p


def artifact_store(tmp_path: Path, run_id: int, files: dict[str, str]) -> Path:
    d = tmp_path / "artifacts" / str(run_id)
    for name, text in files.items():
        art, _, fname = name.partition("/")
        (d / art).mkdir(parents=True, exist_ok=True)
        (d / art / fname).write_text(text)
    return d


def merged_pr(url: str, number: int, merge_sha: str, head_sha: str = "a" * 40) -> None:
    assert call(url, "/_control/pulls", {"repo": REPO, "number": number, "head_sha": head_sha, "merged": True,
                                         "merge_commit_sha": merge_sha})[0] == 201


def preview_run(url: str, run_id: int, head_sha: str = "a" * 40, conclusion: str = "success", artifacts: Path | None = None,
                created_at: str | None = None, expired: list[str] | None = None, pr: int = 14) -> None:
    payload = {"repo": REPO, "id": run_id, "path": ".github/workflows/preview.yml", "event": "pull_request",
               "head_sha": head_sha, "head_branch": f"pr-{pr}", "conclusion": conclusion, "pull_requests": [pr],
               "artifacts_dir": str(artifacts) if artifacts else None, "expired": expired or []}
    if created_at:
        payload["created_at"] = created_at
    assert call(url, "/_control/runs", payload)[0] == 201


def lookup(workflow: Path, repo: Path, tmp_path: Path, url: str, *, require: str | None = None):
    work = tmp_path / "work"
    args = [str(workflow), "--event", "push", "--repo-dir", str(repo), "--work", str(work), "--quiet",
            f"--github-api-url={url}", f"--token={TOKEN}", f"--read-only-token={READ_ONLY}"]
    if require is not None:
        args.append(f"--var=DECKHAND_REQUIRE_REVIEWED_PLAN={require}")
    code = rehearse.main(args)
    result = json.loads((work / "result.json").read_text())
    job = result["jobs"]["deploy"]
    [step] = [v for v in job["steps"].values() if v["name"] == STEP]
    return code, step, job, (work / "summary-deploy.md").read_text(), work


def requests(url: str) -> list[tuple[str, str, int, str]]:
    state = get_json(url, "/_control/state", token=None)
    return [(r["method"], r["path"], r["status"], r["auth"]) for r in state["requests"]]


PLAN = json.dumps({"version": 1, "commit": "c" * 40, "verdict": "frontend uploads 3 files"})


def test_the_merged_pull_requests_plan_is_downloaded_into_the_workspace(api, repo, tmp_path, workflow):
    sha = head(repo)
    merged_pr(api, 14, sha)
    # an older successful run of the same head, and a newer failed one: the newest successful one counts
    preview_run(api, 300, artifacts=artifact_store(tmp_path, 300, {"deckhand-plan/deckhand-plan.json": "older"}),
                created_at="2026-01-01T00:00:00Z")
    preview_run(api, 301, artifacts=artifact_store(tmp_path, 301, {"deckhand-plan/deckhand-plan.json": PLAN,
                                                                   "other/x.txt": "not this one"}),
                created_at="2026-01-02T00:00:00Z")
    preview_run(api, 302, conclusion="failure", created_at="2026-01-03T00:00:00Z")
    code, step, job, summary, work = lookup(workflow, repo, tmp_path, api)
    assert code == 0 and step["outcome"] == "success"
    assert step["outputs"] == {"plan": "deckhand-plan.json", "pr": "14", "run-id": "301"}
    ws = work / "runner" / "deploy" / "work" / "spa-ecs" / "spa-ecs"
    assert (ws / "deckhand-plan.json").read_text() == PLAN
    assert not list((work / "runner" / "deploy" / "_temp").glob("*.zip")), "the zip is removed"
    assert "### Reviewed plan: pull request #14" in summary and "preview run 301" in summary
    assert "a fresh plan is deployed instead, and deckhand's section below names what moved" in summary
    # The job's token is deploy.yml's: read-only (no write scope), and it reads only.
    assert job["permissions"] == {"contents": "read", "id-token": "write", "pull-requests": "read", "actions": "read"}
    reqs = requests(api)
    aid = get_json(api, f"/repos/{REPO}/actions/runs/301/artifacts?name=deckhand-plan")["artifacts"][0]["id"]
    assert [(m, p, s) for m, p, s, _ in reqs[:4]] == [
        ("GET", f"/repos/{REPO}/commits/{sha}/pulls", 200),
        ("GET", f"/repos/{REPO}/actions/workflows/preview.yml/runs", 200),
        ("GET", f"/repos/{REPO}/actions/runs/301/artifacts", 200),
        ("GET", f"/repos/{REPO}/actions/artifacts/{aid}/zip", 302),
    ], reqs
    assert reqs[4][0] == "GET" and reqs[4][1].startswith("/_blobs/") and reqs[4][2] == 200 and len(reqs) == 5, reqs
    assert {a for _, _, _, a in reqs[:4]} == {"read-only"}
    log = (work / "logs" / "rehearsal.log").read_text()
    assert READ_ONLY not in log and TOKEN not in log


def test_with_require_reviewed_plan_the_step_says_the_deploy_will_fail_if_it_moved(api, repo, tmp_path, workflow):
    sha = head(repo)
    merged_pr(api, 14, sha)
    preview_run(api, 310, artifacts=artifact_store(tmp_path, 310, {"deckhand-plan/deckhand-plan.json": PLAN}))
    code, step, _, summary, _ = lookup(workflow, repo, tmp_path, api, require="true")
    assert code == 0 and step["outputs"]["plan"] == "deckhand-plan.json"
    assert "if it moved, the deploy fails (exit 7) and writes nothing" in summary


def no_plan_cases(api: str, tmp_path: Path, sha: str, case: str) -> str:
    """Sets the stand-in up for one way of having no reviewed plan; returns the reason's words."""
    if case == "direct push":
        # an open PR whose head this commit is, and a merged one with another merge commit: neither merged it
        assert call(api, "/_control/pulls", {"repo": REPO, "number": 20, "head_sha": sha, "merged": False})[0] == 201
        merged_pr(api, 21, "b" * 40)
        return f"no merged pull request has {sha[:12]} as its merge commit (a direct push)"
    merged_pr(api, 14, sha)
    if case == "no successful preview run":
        preview_run(api, 400, conclusion="failure", artifacts=artifact_store(tmp_path, 400, {"deckhand-plan/deckhand-plan.json": PLAN}))
        preview_run(api, 401, head_sha="d" * 40, artifacts=artifact_store(tmp_path, 401, {"deckhand-plan/deckhand-plan.json": PLAN}))
        return f"pull request #14 has no successful preview run of its head {'a' * 12}"
    if case == "no artifact":
        preview_run(api, 410, artifacts=artifact_store(tmp_path, 410, {"other/x.txt": "x"}))
        return "preview run 410 of pull request #14 kept no deckhand-plan artifact (or it expired)"
    if case == "expired artifact":
        preview_run(api, 420, artifacts=artifact_store(tmp_path, 420, {"deckhand-plan/deckhand-plan.json": PLAN}),
                    expired=["deckhand-plan"])
        return "preview run 420 of pull request #14 kept no deckhand-plan artifact (or it expired)"
    if case == "artifact without the plan file":
        preview_run(api, 430, artifacts=artifact_store(tmp_path, 430, {"deckhand-plan/plan.json": PLAN}))
        return "holds no deckhand-plan.json"
    if case == "API failing":
        assert call(api, "/_control/faults", {"faults": [{"method": "GET", "path": "/commits/", "status": 502, "times": 10}]})[0] == 201
        return f"the pull requests of {sha[:12]} could not be listed"
    raise AssertionError(case)


CASES = ["direct push", "no successful preview run", "no artifact", "expired artifact", "artifact without the plan file", "API failing"]


@pytest.mark.parametrize("case", CASES)
def test_no_reviewed_plan_means_a_fresh_plan_with_the_reason_in_the_summary(api, repo, tmp_path, workflow, case):
    why = no_plan_cases(api, tmp_path, head(repo), case)
    code, step, job, summary, work = lookup(workflow, repo, tmp_path, api, require="false")
    assert code == 0 and step["outcome"] == "success"
    assert "plan" not in step["outputs"], step["outputs"]
    assert "### Reviewed plan: none\n" in summary and why in summary and "deploying a fresh plan of this commit" in summary
    assert [a for a in job["annotations"] if a["level"] == "notice" and why in a["message"]], job["annotations"]
    ws = work / "runner" / "deploy" / "work" / "spa-ecs" / "spa-ecs"
    assert not (ws / "deckhand-plan.json").exists()


@pytest.mark.parametrize("case", CASES)
def test_no_reviewed_plan_with_require_reviewed_plan_fails_the_job(api, repo, tmp_path, workflow, case):
    why = no_plan_cases(api, tmp_path, head(repo), case)
    code, step, job, summary, _ = lookup(workflow, repo, tmp_path, api, require="true")
    assert code == 1 and step["outcome"] == "failure" and job["result"] == "failure"
    assert "### Reviewed plan: none, deploy refused" in summary and why in summary
    assert "`DECKHAND_REQUIRE_REVIEWED_PLAN` is `true`" in summary
    assert [a for a in job["annotations"] if a["level"] == "error" and why in a["message"]], job["annotations"]


# --- the stand-in's routes -------------------------------------------------------------------------

def test_stand_in_commit_pulls_runs_and_artifact_zip(api, tmp_path):
    merged_pr(api, 14, "e" * 40, head_sha="f" * 40)
    [pr] = get_json(api, f"/repos/{REPO}/commits/{'e' * 40}/pulls")
    assert (pr["number"], pr["state"], pr["merge_commit_sha"], pr["head"]["sha"]) == (14, "closed", "e" * 40, "f" * 40)
    assert pr["merged_at"]
    assert get_json(api, f"/repos/{REPO}/commits/{'f' * 40}/pulls") == []  # a merged PR's head: not "associated" here
    assert get_json(api, f"/repos/{REPO}/pulls/14")["number"] == 14
    assert call(api, f"/repos/{REPO}/pulls/99", token=TOKEN)[0] == 404
    preview_run(api, 500, head_sha="f" * 40, artifacts=artifact_store(tmp_path, 500, {"deckhand-plan/deckhand-plan.json": PLAN}))
    runs = get_json(api, f"/repos/{REPO}/actions/workflows/preview.yml/runs?event=pull_request&head_sha={'f' * 40}&status=success")
    assert runs["total_count"] == 1 and runs["workflow_runs"][0]["id"] == 500
    assert runs["workflow_runs"][0]["pull_requests"][0]["number"] == 14
    assert get_json(api, f"/repos/{REPO}/actions/workflows/deploy.yml/runs")["total_count"] == 0
    assert get_json(api, f"/repos/{REPO}/actions/workflows/preview.yml/runs?status=failure")["total_count"] == 0
    assert get_json(api, f"/repos/{REPO}/actions/workflows/preview.yml/runs?event=push")["total_count"] == 0
    arts = get_json(api, f"/repos/{REPO}/actions/runs/500/artifacts?name=deckhand-plan")
    [art] = arts["artifacts"]
    assert art["name"] == "deckhand-plan" and art["size_in_bytes"] == len(PLAN) and art["expired"] is False
    assert art["workflow_run"]["id"] == 500
    assert get_json(api, f"/repos/{REPO}/actions/runs/500/artifacts?name=nope")["total_count"] == 0
    assert call(api, f"/repos/{REPO}/actions/runs/999/artifacts", token=TOKEN)[0] == 404
    # The zip: a token is required; the 302 goes to a blob URL that serves the files at the zip's root.
    assert call(api, f"/repos/{REPO}/actions/artifacts/{art['id']}/zip")[0] == 401
    assert call(api, f"/repos/{REPO}/actions/artifacts/{art['id']}/zip", token="ghs_unknown")[0] == 401
    status, body, _ = call(api, f"/repos/{REPO}/actions/artifacts/{art['id']}/zip", token=READ_ONLY)  # urllib follows the 302
    assert status == 200
    with zipfile.ZipFile(io.BytesIO(body)) as z:
        assert z.namelist() == ["deckhand-plan.json"] and z.read("deckhand-plan.json").decode() == PLAN
    assert call(api, f"/_blobs/{'0' * 32}/deckhand-plan.zip")[0] == 403  # not a URL the API handed out
    preview_run(api, 501, artifacts=artifact_store(tmp_path, 501, {"deckhand-plan/deckhand-plan.json": PLAN}), expired=["deckhand-plan"])
    [old] = get_json(api, f"/repos/{REPO}/actions/runs/501/artifacts")["artifacts"]
    assert old["expired"] is True
    assert call(api, f"/repos/{REPO}/actions/artifacts/{old['id']}/zip", token=TOKEN)[0] == 410
    # A merged PR must name its merge commit.
    assert call(api, "/_control/pulls", {"repo": REPO, "number": 15, "head_sha": "1" * 40, "merged": True})[0] == 422
