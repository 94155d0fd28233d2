"""Environments, their protection rules, and the deployment Actions makes for a job that names one:
the part of GitHub's service and REST API the workflow rehearsal (dev/actions/rehearse.py) holds a
job on. A mixin of server.py's Handler (it uses its state, send and error).

What GitHub does, and where it says so:
- An environment's protection rules ("Deployments and environments", Deployment protection rules):
  required reviewers — "up to six users or teams", "Only one of the required reviewers needs to
  approve the job for it to proceed"; prevent self-review — "users who initiate a deployment cannot
  approve the deployment job, even if they are a required reviewer"; a wait timer — "delay a job
  after the job is initially triggered", 0..43,200 minutes (REST "Create or update an environment").
  GitHub refuses prevent_self_review on an environment without reviewers (github/safe-settings#628).
- A job that references such an environment waits ("Reviewing deployments": "While a job is
  awaiting approval, it has a status of "Waiting"", the run's status `waiting`); "Once a job is
  approved (and any other deployment protection rules have passed), the job will proceed. At this
  point, the job can access any secrets stored in the environment"; "If a job is rejected, the
  workflow will fail". A rejected job runs no step, its annotation is "The deployment was rejected
  or didn't satisfy other protection rules", its deployment goes `waiting` -> `failure` and the run
  concludes `failure` (the API's view of such a run, quoted in damianvtran/local-operator#691).
- The job's deployment (Actions creates it; "Using environments for deployment"): its statuses are
  `waiting` while protection rules hold it, `queued` once they pass (runs-on/runs-on#386 reads
  both from the API), then `in_progress` when the job starts and `success`/`failure` when it ends,
  the last with the job's `environment.url` as environment_url; each links the run's job (log_url).
- REST "Workflow runs" (docs.github.com/rest/actions/workflow-runs):
  GET  /repos/{o}/{r}/actions/runs/{run_id}/pending_deployments -> [{environment {id, node_id, name,
       url, html_url}, wait_timer, wait_timer_started_at, current_user_can_approve, reviewers
       [{type, reviewer}]}]
  POST /repos/{o}/{r}/actions/runs/{run_id}/pending_deployments {environment_ids, state: approved |
       rejected, comment} -> 200, the deployments reviewed; "Required reviewers with read access to
       the repository contents and deployments can use this endpoint".
  GET  /repos/{o}/{r}/actions/runs/{run_id}/approvals -> the reviews (environment-approvals:
       environments, state, user, comment).
  REST "Deployment environments": GET /repos/{o}/{r}/environments[/{name}] (protection_rules).
  The documentation lists only 200 for the review; a review the rules do not allow (not a reviewer,
  the run's own actor under prevent_self_review, an environment the run does not wait for) is
  answered 422 here, with a message naming why; current_user_can_approve is false for such a user.
Teams as reviewers, custom (GitHub App) protection rules and admins' bypass are not modelled.
"""

from __future__ import annotations

import re
import time
import urllib.parse
from datetime import datetime, timezone

MAX_REVIEWERS = 6
MAX_NAME = 255
MAX_WAIT_MINUTES = 43_200
REJECTED = "The deployment was rejected or didn't satisfy other protection rules"
DOCS_ENV = "https://docs.github.com/rest/deployments/environments#get-an-environment"
DOCS_RUNS = "https://docs.github.com/rest/actions/workflow-runs#review-pending-deployments-for-a-workflow-run"


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class EnvironmentsApi:
    # -- objects as GitHub returns them ----------------------------------------------------
    def env_json(self, repo: str, env: dict) -> dict:
        base = self.base()
        rules = []
        if env["reviewers"]:
            rules.append({"id": env["id"] * 10 + 1, "node_id": f"GA_{env['id']}_1", "type": "required_reviewers",
                          "prevent_self_review": env["prevent_self_review"],
                          "reviewers": [{"type": "User", "reviewer": self.user_json(login)}
                                        for login in env["reviewers"]]})
        if env["wait_timer"]:
            rules.append({"id": env["id"] * 10 + 2, "node_id": f"GA_{env['id']}_2", "type": "wait_timer",
                          "wait_timer": env["wait_timer"]})
        return {"id": env["id"], "node_id": f"EN_{env['id']}", "name": env["name"],
                "url": f"{base}/repos/{repo}/environments/{env['name']}",
                "html_url": f"{base}/{repo}/deployments/activity_log?environments_filter={env['name']}",
                "created_at": env["created_at"], "updated_at": env["created_at"], "can_admins_bypass": True,
                "protection_rules": rules, "deployment_branch_policy": None}

    def env_ref(self, repo: str, env: dict) -> dict:
        full = self.env_json(repo, env)
        return {k: full[k] for k in ("id", "node_id", "name", "url", "html_url")}

    # -- the service side: a job naming an environment (called by the rehearsal) ---------------
    def held(self, env: dict | None) -> bool:
        return bool(env and (env["reviewers"] or env["wait_timer"]))

    def advance(self, job: dict) -> None:
        """A waiting job proceeds once every rule passed: approved by a reviewer (when the
        environment has reviewers) and its wait timer, counted from when it was triggered, ran out.
        Called with the state lock held."""
        if job["state"] != "waiting":
            return
        env = job["env"]
        reviewed = job["approved_by"] is not None or not (env and env["reviewers"])
        timer = (env["wait_timer"] if env else 0) * 60
        if reviewed and time.time() >= job["triggered"] + timer:
            job["state"] = "approved"
            self.job_status(job, "queued")
            run = self.state.runs.get(job["run_id"])
            if run is not None and not any(j["state"] == "waiting" for j in self.run_jobs(job["run_id"])):
                run["status"] = "in_progress"

    def run_jobs(self, run_id: int) -> list[dict]:
        return [j for (rid, _), j in self.state.jobs.items() if rid == run_id]

    def job_status(self, job: dict, state: str, environment_url: str = "") -> dict | None:
        if job["deployment"] is None:  # `environment: {deployment: false}`: no record, no status
            return None
        d = next(x for x in self.state.deployments[job["repo"]] if x["id"] == job["deployment"])
        return self.new_status(job["repo"], d, {"state": state, "log_url": job["log_url"],
                                                "environment_url": environment_url}, "github-actions[bot]")

    def control_environment(self, payload: dict) -> None:
        """POST /_control/environments {"repo", "name", "reviewers": [logins], "prevent_self_review",
        "wait_timer": minutes (a fraction: the rehearsal's tests)}: GitHub's "Create or update an
        environment", with its limits."""
        st = self.state
        repo, name = payload["repo"], payload["name"]
        reviewers = list(payload.get("reviewers") or [])
        wait = payload.get("wait_timer", 0) or 0
        # "Environment names are not case sensitive. An environment name may not exceed 255
        # characters and must be unique within the repository" ("Managing environments for
        # deployment"): environments are kept by their name in lower case (the first spelling shown).
        if not isinstance(name, str) or not 0 < len(name) <= MAX_NAME:
            self.error(422, f"Validation Failed: name must be 1 to {MAX_NAME} characters")
            return
        if len(reviewers) > MAX_REVIEWERS:
            self.error(422, f"Validation Failed: reviewers: at most {MAX_REVIEWERS} users or teams")
            return
        if not isinstance(wait, (int, float)) or not 0 <= wait <= MAX_WAIT_MINUTES:
            self.error(422, f"Validation Failed: wait_timer must be between 0 and {MAX_WAIT_MINUTES} minutes")
            return
        with st.lock:
            people = set(st.users.values())
        # "The reviewers must have at least read access to the repository" ("Deployments and
        # environments", Required reviewers): here, a person the stand-in knows (--user, /_control/users).
        strangers = [r for r in reviewers if r not in people]
        if strangers:
            self.error(422, f"Validation Failed: reviewers: {', '.join(strangers)} cannot be a required reviewer: "
                            f"a reviewer must have at least read access to {repo}")
            return
        if payload.get("prevent_self_review") and not reviewers:
            self.error(422, "Validation Failed: prevent_self_review needs required reviewers")
            return
        with st.lock:
            st.repo_id(repo)
            old = st.environments.get((repo, name.lower()))
            st.next_id += 1
            env = {"id": old["id"] if old else st.next_id, "name": old["name"] if old else name, "reviewers": reviewers,
                   "prevent_self_review": bool(payload.get("prevent_self_review")), "wait_timer": wait,
                   "created_at": old["created_at"] if old else iso(time.time())}
            st.environments[(repo, name.lower())] = env
        self.send(201, self.env_json(repo, env))

    def control_job(self, payload: dict) -> None:
        """POST /_control/jobs {"repo", "run_id", "job", "job_number", "environment", "sha", "ref",
        "actor", "path", "event", "head_branch"}: a job that names an environment is about to start.
        Creates its deployment (`waiting` when a rule holds it, else `queued`) and answers whether
        it is held."""
        st = self.state
        repo, rid = payload["repo"], int(payload["run_id"])
        with st.lock:
            st.repo_id(repo)
            env = st.environments.get((repo, payload["environment"].lower()))
            if env is None:
                # "Managing environments for deployment": "Running a workflow that references an
                # environment that does not exist will create an environment with the referenced name.
                # The newly created environment will not have any protection rules or secrets configured."
                st.next_id += 1
                env = {"id": st.next_id, "name": payload["environment"], "reviewers": [],
                       "prevent_self_review": False, "wait_timer": 0, "created_at": iso(time.time())}
                st.environments[(repo, payload["environment"].lower())] = env
            # GitHub's workflow schema (@actions/workflow-parser, job-environment-mapping): `deployment`,
            # "Whether to create a deployment record for this environment. Defaults to true." Without
            # one the environment's rules still apply to the job.
            d = None
            if payload.get("deployment", True) is not False:
                d = self.new_deployment(repo, {"ref": payload["sha"], "environment": payload["environment"],
                                               "production_environment": False}, "github-actions[bot]")
            job = {"repo": repo, "run_id": rid, "job": payload["job"], "env": env, "name": payload["environment"],
                   "deployment": d["id"] if d else None, "state": "waiting", "triggered": time.time(), "approved_by": None,
                   "comment": None, "actor": payload.get("actor", ""),
                   "log_url": f"https://github.com/{repo}/actions/runs/{rid}/job/{payload.get('job_number', 1)}"}
            st.jobs[(rid, payload["job"])] = job
            held = self.held(env)
            if held:
                self.job_status(job, "waiting")
            if rid not in st.runs:
                wf = payload.get("path") or ".github/workflows/unknown.yml"
                st.runs[rid] = {
                    "repo": repo, "id": rid, "path": wf, "name": wf.rsplit("/", 1)[-1], "workflow_id": 9_000_000,
                    "event": payload.get("event", "push"), "head_sha": str(payload["sha"]).lower(),
                    "head_branch": payload.get("head_branch", ""), "conclusion": None, "status": "in_progress",
                    "pull_requests": [], "artifacts_dir": None, "expired": set(), "run_number": 1,
                    "created_at": iso(time.time()), "expires_at": "", "actor": job["actor"],
                }
            if held:
                st.runs[rid]["status"] = "waiting"
            self.advance(job)
            answer = {"deployment_id": d["id"] if d else None, "held": held, "state": job["state"],
                      "reviewers": env["reviewers"] if env else [], "wait_timer": env["wait_timer"] if env else 0}
        self.send(201, answer)

    def control_job_get(self, rid: int, name: str) -> None:
        """GET /_control/jobs/{run_id}/{job}: {"state": waiting | approved | rejected | cancelled, "by",
        "comment"}."""
        with self.state.lock:
            job = self.state.jobs.get((rid, name))
            if job is not None:
                self.advance(job)
                answer = {"state": job["state"], "by": job["approved_by"], "comment": job["comment"]}
        if job is None:
            self.error(404, "Not Found")
        else:
            self.send(200, answer)

    def control_job_status(self, rid: int, name: str, payload: dict) -> None:
        """POST /_control/jobs/{run_id}/{job}/status {"state": in_progress | success | failure,
        "environment_url"}: the job started or ended."""
        if payload.get("state") not in ("in_progress", "success", "failure", "error"):
            self.error(422, "state: in_progress, success, failure or error")
            return
        with self.state.lock:
            job = self.state.jobs.get((rid, name))
            if job is not None and job["state"] == "waiting":
                job["state"] = "cancelled"  # it ended while held (cancelled): nothing is left to review
            s = self.job_status(job, payload["state"], payload.get("environment_url") or "") if job else None
        if job is None:
            self.error(404, "Not Found")
        else:
            self.send(201, s or {})

    def control_run_ended(self, payload: dict) -> None:
        """POST /_control/run-ended {"run_id", "conclusion"}: the rehearsal's run ended; a run the
        service knows (one with a job that named an environment) is `completed` with that
        conclusion, as GitHub shows it ("Reviewing deployments": "If a job is rejected, the workflow
        will fail"); it was `waiting` or `in_progress` until then."""
        if payload.get("conclusion") not in ("success", "failure", "cancelled"):
            self.error(422, "conclusion: success, failure or cancelled")
            return
        with self.state.lock:
            run = self.state.runs.get(int(payload["run_id"]))
            if run is not None:
                run["status"], run["conclusion"] = "completed", payload["conclusion"]
                for job in self.run_jobs(int(payload["run_id"])):
                    if job["state"] == "waiting":  # a completed run has no pending deployment
                        job["state"] = "cancelled"
        if run is None:
            self.error(404, "Not Found")
        else:
            self.send(201, {"ok": True})

    # -- the REST API ------------------------------------------------------------------------
    def environments_api(self, repo: str, rest: str, method: str, auth: str, login: str | None) -> bool:
        """Environments and a run's pending deployments / approvals; False when no route matches."""
        st = self.state
        if method == "GET" and rest == "/environments":
            with st.lock:
                envs = [e for (r, _), e in st.environments.items() if r == repo]
            self.send(200, {"total_count": len(envs), "environments": [self.env_json(repo, e) for e in envs]})
            return True
        m = re.fullmatch(r"/environments/([^/]+)", rest)
        if m and method == "GET":
            with st.lock:
                env = st.environments.get((repo, urllib.parse.unquote(m.group(1)).lower()))
            if env is None:
                self.error(404, "Not Found", {"documentation_url": DOCS_ENV})
            else:
                self.send(200, self.env_json(repo, env))
            return True
        m = re.fullmatch(r"/actions/runs/(\d+)/(pending_deployments|approvals)", rest)
        if not m:
            return False
        rid = int(m.group(1))
        with st.lock:
            run = st.runs.get(rid)
        if run is None or run["repo"] != repo:
            self.error(404, "Not Found")
            return True
        if m.group(2) == "approvals":
            if method != "GET":
                self.error(404, "Not Found")
                return True
            with st.lock:
                approvals = list(st.approvals.get(rid, []))
            self.send(200, approvals)
            return True
        if method == "GET":
            self.pending(repo, rid, run, login)
        elif method == "POST":
            self.review(repo, rid, run, login or ("github-actions[bot]" if auth == "write" else ""))
        else:
            self.error(404, "Not Found")
        return True

    def may_review(self, job: dict, login: str | None, run: dict) -> str | None:
        """Why `login` may not review the job's environment (None: it may)."""
        env = job["env"]
        if not env or not env["reviewers"]:
            return f"environment {job['name']} has no required reviewers: nothing to approve or reject"
        if login not in env["reviewers"]:
            return f"{login or 'this token'} is not a required reviewer of environment {job['name']}"
        if env["prevent_self_review"] and login == (run.get("actor") or job["actor"]):
            return (f"{login} triggered this run and environment {job['name']} prevents self-review: "
                    "another required reviewer must approve")
        if job["approved_by"] is not None:
            return f"environment {job['name']} was already approved by {job['approved_by']}"
        return None

    def pending(self, repo: str, rid: int, run: dict, login: str | None) -> None:
        out, seen = [], set()
        with self.state.lock:
            for job in self.run_jobs(rid):
                self.advance(job)
                env = job["env"]
                if job["state"] != "waiting" or job["name"] in seen:
                    continue
                seen.add(job["name"])
                out.append({
                    "environment": self.env_ref(repo, env),
                    "wait_timer": env["wait_timer"],
                    "wait_timer_started_at": iso(job["triggered"]) if env["wait_timer"] else None,
                    "current_user_can_approve": self.may_review(job, login, run) is None,
                    "reviewers": [{"type": "User", "reviewer": self.user_json(r)}
                                  for r in env["reviewers"]],
                })
        self.send(200, out)

    def review(self, repo: str, rid: int, run: dict, login: str) -> None:
        body = self.read_json()
        if not isinstance(body, dict) or body.get("state") not in ("approved", "rejected"):
            self.error(422, "Invalid request.\n\nFor 'properties/state', it is not one of [\"approved\", \"rejected\"].",
                       {"documentation_url": DOCS_RUNS})
            return
        ids = body.get("environment_ids")
        if not isinstance(ids, list) or not ids or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
            self.error(422, "Invalid request.\n\n\"environment_ids\" must be a non-empty array of integers.",
                       {"documentation_url": DOCS_RUNS})
            return
        if not isinstance(body.get("comment"), str):
            self.error(422, "Invalid request.\n\n\"comment\" wasn't supplied.", {"documentation_url": DOCS_RUNS})
            return
        with self.state.lock:
            refused = self.apply_review(repo, rid, run, login, ids, body)
        if isinstance(refused, str):
            self.error(422, refused, {"documentation_url": DOCS_RUNS})
        else:
            self.send(200, refused)

    def apply_review(self, repo: str, rid: int, run: dict, login: str, ids: list[int], body: dict) -> str | list[dict]:
        """The review, applied (the deployments reviewed), or why it is refused. Lock held."""
        for job in self.run_jobs(rid):
            self.advance(job)
        waiting = [j for j in self.run_jobs(rid) if j["state"] == "waiting" and j["env"]]
        chosen = {i: [j for j in waiting if j["env"]["id"] == i] for i in ids}
        missing = [i for i, js in chosen.items() if not js]
        why = next((w for js in chosen.values() if js for w in [self.may_review(js[0], login, run)] if w), None)
        if missing or why:
            return why or f"No pending deployment requests to approve or reject for environment ids {missing}"
        reviewed = [j for js in chosen.values() for j in js]
        approval = {"environments": [self.env_json(repo, js[0]["env"]) for js in chosen.values()],
                    "state": body["state"], "user": self.user_json(login),
                    "comment": body["comment"]}
        self.state.approvals.setdefault(rid, []).append(approval)
        for job in reviewed:
            job["comment"] = body["comment"]
            if body["state"] == "approved":
                job["approved_by"] = login
                self.advance(job)
            else:
                job["state"] = "rejected"
                job["approved_by"] = None
                self.job_status(job, "failure")
                # The run goes on (the jobs that do not need this one run); it ends failed.
                if not any(j["state"] == "waiting" for j in self.run_jobs(rid)):
                    run["status"] = "in_progress"
        return [d for d in self.state.deployments.get(repo, []) if d["id"] in {j["deployment"] for j in reviewed}]
