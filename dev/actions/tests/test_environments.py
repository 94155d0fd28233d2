"""Environments' protection rules as GitHub applies them (no AWS): a job whose environment has
required reviewers waits (no step, no secret, no OIDC token) until a reviewer approves it through
the REST API of the stand-in (dev/github-api/server.py + environments.py), never the run's own actor
when the environment prevents self-review; a rejection fails the job before any step and skips
its dependants; a wait timer delays the job; each job naming an environment gets the deployment
Actions makes, with GitHub's statuses."""

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path.insert(0, str(HERE))
from test_engine import repo, write_wf  # noqa: E402,F401  (the fixture and the helper)

REPO = "deckhand-local/spa-ecs"
TOKENS = {"write": "ghs_env_write", "read": "ghs_env_read", "octocat": "ghp_octocat", "alice": "ghp_alice",
          "mallory": "ghp_mallory"}


@pytest.fixture()
def api():
    proc = subprocess.Popen([sys.executable, str(ROOT / "dev" / "github-api" / "server.py"), "--port", "0",
                             "--token", TOKENS["write"], "--read-only-token", TOKENS["read"],
                             *(f"--user={u}={TOKENS[u]}" for u in ("octocat", "alice", "mallory")),
                             "--stop-on-stdin-eof"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    url = proc.stdout.readline().strip()
    yield url
    proc.stdin.close()
    proc.wait(timeout=10)


def call(url: str, method: str, path: str, body: dict | None = None, token: str | None = None) -> tuple[int, object]:
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    req = urllib.request.Request(url + path, data=None if body is None else json.dumps(body).encode(),
                                 method=method, headers=headers)
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


def environment(url: str, name: str, **rules) -> dict:
    status, env = call(url, "POST", "/_control/environments", {"repo": REPO, "name": name, **rules})
    assert status == 201, env
    return env


WORKFLOW = """\
    name: t
    on: {push: {branches: [main]}}
    jobs:
      build:
        runs-on: ubuntu-24.04
        steps:
          - run: echo built
      deploy:
        needs: build
        runs-on: ubuntu-24.04
        permissions: {id-token: write, contents: read}
        environment: {name: production, url: "https://prod.example.test/"}
        steps:
          - env: {SECRET: "${{ secrets.PROD_KEY }}"}
            run: echo "ran $SECRET $ACTIONS_ID_TOKEN_REQUEST_URL" > "${{ vars.MARKER }}"
      after:
        needs: deploy
        runs-on: ubuntu-24.04
        steps:
          - run: echo after
    """


def start(wf: Path, repo: Path, tmp_path: Path, url: str, run_id: int, *extra: str) -> subprocess.Popen:
    envs = tmp_path / "environments.json"
    envs.write_text(json.dumps({"production": {"secrets": {"PROD_KEY": "prod-secret-value"}}}))
    return subprocess.Popen([str(HERE.parent / "rehearse"), str(wf), "--event=push", f"--repo-dir={repo}",
                             f"--work={tmp_path / 'work'}", "--quiet", f"--run-id={run_id}", "--actor=octocat",
                             f"--github-api-url={url}", f"--github-service={url}", f"--token={TOKENS['write']}",
                             f"--environments={envs}", f"--var=MARKER={tmp_path / 'ran'}", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def pending(url: str, run_id: int, who: str, proc: subprocess.Popen) -> list[dict]:
    """The run's pending deployments once it waits (as `who` sees them)."""
    for _ in range(600):
        status, got = call(url, "GET", f"/repos/{REPO}/actions/runs/{run_id}/pending_deployments", token=TOKENS[who])
        if status == 200 and got:
            return got
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    raise AssertionError("the run never waited for a review")


def deployment_states(url: str) -> dict[str, list[str]]:
    _, state = call(url, "GET", "/_control/state")
    return {d["environment"]: [s["state"] for s in d["statuses"]] for d in state["deployments"].get(REPO, [])}


def finish(proc: subprocess.Popen, tmp_path: Path) -> tuple[int, dict]:
    out, err = proc.communicate(timeout=120)
    result = tmp_path / "work" / "result.json"
    return proc.returncode, json.loads(result.read_text()) if result.exists() else {"stderr": err}


def test_a_job_waits_for_a_required_reviewer_and_never_its_own_actor(repo, tmp_path, api):  # noqa: F811
    env = environment(api, "production", reviewers=["octocat", "alice"], prevent_self_review=True)
    assert [r["type"] for r in env["protection_rules"]] == ["required_reviewers"]
    proc = start(write_wf(tmp_path, WORKFLOW), repo, tmp_path, api, 4101)
    waiting = pending(api, 4101, "alice", proc)
    assert [(p["environment"]["name"], p["current_user_can_approve"]) for p in waiting] == [("production", True)]
    assert [r["reviewer"]["login"] for r in waiting[0]["reviewers"]] == ["octocat", "alice"]
    # Held: the run waits, nothing of the job ran (no step, so no secret and no OIDC token used).
    assert call(api, "GET", f"/repos/{REPO}/actions/runs/4101")[1]["status"] == "waiting"
    assert not (tmp_path / "ran").exists()
    assert deployment_states(api) == {"production": ["waiting"]}
    # Who may not approve: the pusher (prevent self-review), a non-reviewer, a read-only token, no token.
    assert pending(api, 4101, "octocat", proc)[0]["current_user_can_approve"] is False
    review = {"environment_ids": [env["id"]], "state": "approved", "comment": "ship it"}
    path = f"/repos/{REPO}/actions/runs/4101/pending_deployments"
    status, err = call(api, "POST", path, review, TOKENS["octocat"])
    assert status == 422 and "prevents self-review" in err["message"], err
    status, err = call(api, "POST", path, review, TOKENS["mallory"])
    assert status == 422 and "not a required reviewer" in err["message"], err
    assert call(api, "POST", path, review, TOKENS["read"])[0] == 403
    assert call(api, "POST", path, review)[0] == 401
    assert call(api, "POST", path, {**review, "state": "ok"}, TOKENS["alice"])[0] == 422
    assert call(api, "POST", path, {**review, "environment_ids": [env["id"] + 1]}, TOKENS["alice"])[0] == 422
    time.sleep(0.5)
    assert proc.poll() is None and not (tmp_path / "ran").exists(), "a refused review let the job run"
    # A required reviewer approves: the job runs, with the environment's secret and its OIDC token.
    status, deps = call(api, "POST", path, review, TOKENS["alice"])
    assert status == 200 and [d["environment"] for d in deps] == ["production"], deps
    code, result = finish(proc, tmp_path)
    assert code == 0, result
    jobs = result["jobs"]
    assert {j: jobs[j]["result"] for j in jobs} == {"build": "success", "deploy": "success", "after": "success"}
    assert jobs["deploy"]["review"]["by"] == "alice"
    assert (tmp_path / "ran").read_text().startswith("ran prod-secret-value http")
    assert deployment_states(api) == {"production": ["waiting", "queued", "in_progress", "success"]}
    _, state = call(api, "GET", "/_control/state")
    [dep] = state["deployments"][REPO]
    assert dep["statuses"][-1]["environment_url"] == "https://prod.example.test/"
    assert all("/actions/runs/4101/job/2" in s["log_url"] for s in dep["statuses"])
    [approval] = state["approvals"]["4101"]
    assert (approval["user"]["login"], approval["state"], approval["comment"]) == ("alice", "approved", "ship it")
    assert call(api, "GET", path, token=TOKENS["alice"])[1] == []
    run = call(api, "GET", f"/repos/{REPO}/actions/runs/4101")[1]
    assert (run["status"], run["conclusion"]) == ("completed", "success"), run


def test_a_rejection_fails_the_job_before_any_step_and_skips_its_dependants(repo, tmp_path, api):  # noqa: F811
    env = environment(api, "production", reviewers=["alice"], prevent_self_review=True)
    # A dependant with `if: always()` still runs (the rejected job failed: "If a job is rejected, the
    # workflow will fail"), and reads its result.
    report = """\
      report:
        needs: deploy
        if: always()
        runs-on: ubuntu-24.04
        steps:
          - run: echo "${{ needs.deploy.result }}" > "${{ vars.MARKER }}.report"
    """
    proc = start(write_wf(tmp_path, WORKFLOW.rstrip(" ") + report), repo, tmp_path, api, 4102)
    pending(api, 4102, "alice", proc)
    status, _ = call(api, "POST", f"/repos/{REPO}/actions/runs/4102/pending_deployments",
                     {"environment_ids": [env["id"]], "state": "rejected", "comment": "not today"}, TOKENS["alice"])
    assert status == 200
    code, result = finish(proc, tmp_path)
    assert code == 1 and result["conclusion"] == "failure", result
    jobs = result["jobs"]
    assert {j: jobs[j]["result"] for j in jobs} == {"build": "success", "deploy": "failure", "after": "skipped",
                                                    "report": "success"}
    assert (tmp_path / "ran.report").read_text().strip() == "failure"
    assert jobs["deploy"]["steps"] == {}
    assert [a["message"] for a in jobs["deploy"]["annotations"]] == [
        "The deployment was rejected or didn't satisfy other protection rules"]
    assert not (tmp_path / "ran").exists()
    assert deployment_states(api) == {"production": ["waiting", "failure"]}
    # "If a job is rejected, the workflow will fail" ("Reviewing deployments"): the run completes, failed.
    run = call(api, "GET", f"/repos/{REPO}/actions/runs/4102")[1]
    assert (run["status"], run["conclusion"]) == ("completed", "failure"), run


def test_a_wait_timer_delays_the_job_and_an_environment_without_rules_never_waits(repo, tmp_path, api):  # noqa: F811
    environment(api, "timed", wait_timer=0.05)  # 3 s (the API takes whole minutes; a fraction here)
    environment(api, "plain")
    wf = write_wf(tmp_path, """\
        name: t
        on: {push: {branches: [main]}}
        jobs:
          plain:
            runs-on: ubuntu-24.04
            environment: plain
            steps:
              - run: date +%s.%N > "${{ vars.MARKER }}.plain"
          timed:
            runs-on: ubuntu-24.04
            environment: timed
            steps:
              - run: date +%s.%N > "${{ vars.MARKER }}"
        """)
    t0 = time.time()
    proc = start(wf, repo, tmp_path, api, 4103)
    [held] = pending(api, 4103, "alice", proc)
    assert held["environment"]["name"] == "timed" and held["wait_timer"] == 0.05 and held["wait_timer_started_at"]
    assert held["reviewers"] == [] and held["current_user_can_approve"] is False
    assert (tmp_path / "ran.plain").exists(), "the job without rules waited"
    code, result = finish(proc, tmp_path)
    assert code == 0, result
    ran = float((tmp_path / "ran").read_text())
    assert ran - t0 >= 3, f"the timed job started {ran - t0:.1f} s after the run, before its 3 s timer"
    assert deployment_states(api) == {"plain": ["queued", "in_progress", "success"],
                                      "timed": ["waiting", "queued", "in_progress", "success"]}


def test_protection_rules_github_refuses(api):
    assert call(api, "POST", "/_control/environments",
                {"repo": REPO, "name": "x", "reviewers": [f"u{i}" for i in range(7)]})[0] == 422
    assert call(api, "POST", "/_control/environments", {"repo": REPO, "name": "x", "prevent_self_review": True})[0] == 422
    assert call(api, "POST", "/_control/environments", {"repo": REPO, "name": "x", "wait_timer": 43_201})[0] == 422
    # "The reviewers must have at least read access to the repository" ("Deployments and
    # environments"): a login the repository does not know is refused, it could never approve.
    status, err = call(api, "POST", "/_control/environments", {"repo": REPO, "name": "x", "reviewers": ["nobody"]})
    assert status == 422 and "nobody" in err["message"], err
    env = environment(api, "x", reviewers=["alice"], wait_timer=5)
    assert call(api, "GET", f"/repos/{REPO}/environments/x")[1] == env
    # A person's token writes as that person (the deployment's and its status's creator).
    status, d = call(api, "POST", f"/repos/{REPO}/deployments", {"ref": "main", "environment": "x"}, TOKENS["alice"])
    assert status == 201 and d["creator"]["login"] == "alice", d
    status, s = call(api, "POST", f"/repos/{REPO}/deployments/{d['id']}/statuses", {"state": "success"}, TOKENS["alice"])
    assert status == 201 and s["creator"]["login"] == "alice", s
    status, err = call(api, "GET", f"/repos/{REPO}/environments/y")
    assert status == 404 and err["documentation_url"].endswith("/rest/deployments/environments#get-an-environment"), err
    assert [r["type"] for r in env["protection_rules"]] == ["required_reviewers", "wait_timer"]


def test_a_job_naming_an_unknown_environment_creates_it_and_deployment_false_makes_no_deployment(repo, tmp_path, api):  # noqa: F811
    """"Managing environments for deployment": "Running a workflow that references an environment that
    does not exist will create an environment with the referenced name. The newly created environment
    will not have any protection rules or secrets configured." And GitHub's workflow schema
    (@actions/workflow-parser, job-environment-mapping): `deployment` — "Whether to create a
    deployment record for this environment. Defaults to true." """
    environment(api, "quiet", reviewers=["alice"])
    wf = write_wf(tmp_path, """\
        name: t
        on: {push: {branches: [main]}}
        jobs:
          fresh:
            runs-on: ubuntu-24.04
            environment: never-declared
            steps:
              - run: echo fresh
          quiet:
            runs-on: ubuntu-24.04
            environment: {name: quiet, deployment: false}
            steps:
              - run: echo quiet > "${{ vars.MARKER }}"
        """)
    proc = start(wf, repo, tmp_path, api, 4104)
    # deployment: false still names the environment: its rules hold the job (only the record is not made).
    pending(api, 4104, "alice", proc)
    quiet = call(api, "GET", f"/repos/{REPO}/environments/quiet")[1]
    status, _ = call(api, "POST", f"/repos/{REPO}/actions/runs/4104/pending_deployments",
                     {"environment_ids": [quiet["id"]], "state": "approved", "comment": "ok"}, TOKENS["alice"])
    assert status == 200
    code, result = finish(proc, tmp_path)
    assert code == 0, result
    assert (tmp_path / "ran").exists()
    status, env = call(api, "GET", f"/repos/{REPO}/environments/never-declared")
    assert status == 200 and env["name"] == "never-declared" and env["protection_rules"] == [], env
    names = {e["name"] for e in call(api, "GET", f"/repos/{REPO}/environments")[1]["environments"]}
    assert names == {"never-declared", "quiet"}
    assert deployment_states(api) == {"never-declared": ["queued", "in_progress", "success"]}


def test_environment_names_are_not_case_sensitive(repo, tmp_path, api):  # noqa: F811
    """"Managing environments for deployment": "Environment names are not case sensitive. An
    environment name may not exceed 255 characters and must be unique within the repository." A job
    naming `Production` is production's: its reviewers hold it, it gets production's secrets."""
    env = environment(api, "production", reviewers=["alice"])
    assert environment(api, "PRODUCTION", reviewers=["alice", "octocat"])["id"] == env["id"]
    assert call(api, "GET", f"/repos/{REPO}/environments/Production")[1]["id"] == env["id"]
    assert call(api, "GET", f"/repos/{REPO}/environments")[1]["total_count"] == 1
    assert call(api, "POST", "/_control/environments", {"repo": REPO, "name": "x" * 256})[0] == 422
    proc = start(write_wf(tmp_path, WORKFLOW.replace("name: production,", "name: Production,")), repo, tmp_path, api, 4105)
    [held] = pending(api, 4105, "alice", proc)
    assert held["environment"]["id"] == env["id"], held
    assert not (tmp_path / "ran").exists()
    status, _ = call(api, "POST", f"/repos/{REPO}/actions/runs/4105/pending_deployments",
                     {"environment_ids": [env["id"]], "state": "approved", "comment": "ok"}, TOKENS["alice"])
    assert status == 200
    code, result = finish(proc, tmp_path)
    assert code == 0, result
    assert (tmp_path / "ran").read_text().startswith("ran prod-secret-value http")


def test_a_run_cancelled_while_its_job_waits_leaves_nothing_to_review(repo, tmp_path, api):  # noqa: F811
    """A cancelled run is completed: GitHub lists no pending deployment of it, and a review of it is
    refused ("No pending deployment requests": only a waiting job's environment can be reviewed)."""
    import signal
    env = environment(api, "production", reviewers=["alice"])
    proc = start(write_wf(tmp_path, WORKFLOW), repo, tmp_path, api, 4106)
    pending(api, 4106, "alice", proc)
    proc.send_signal(signal.SIGTERM)
    code, result = finish(proc, tmp_path)
    assert code != 0 and result["conclusion"] == "cancelled", result
    assert not (tmp_path / "ran").exists()
    run = call(api, "GET", f"/repos/{REPO}/actions/runs/4106")[1]
    assert (run["status"], run["conclusion"]) == ("completed", "cancelled"), run
    path = f"/repos/{REPO}/actions/runs/4106/pending_deployments"
    assert call(api, "GET", path, token=TOKENS["alice"])[1] == []
    status, err = call(api, "POST", path, {"environment_ids": [env["id"]], "state": "approved", "comment": "late"},
                       TOKENS["alice"])
    assert status == 422, err
