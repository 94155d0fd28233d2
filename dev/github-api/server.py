#!/usr/bin/env python3
"""A stand-in for the part of GitHub's REST API that deckhand's PR comment and deploy.yml use.

Issue (pull request) comments are held in memory:

    GET    /repos/{owner}/{repo}/issues/{n}/comments      paged: per_page (default 30, at most 100)
                                                          and page, with a Link header (next, last,
                                                          first, prev) as GitHub sends it
    POST   /repos/{owner}/{repo}/issues/{n}/comments      create  {"body": "..."}
    GET    /repos/{owner}/{repo}/issues/comments/{id}     one comment
    PATCH  /repos/{owner}/{repo}/issues/comments/{id}     update  {"body": "..."} (POST too, as GitHub)
    DELETE /repos/{owner}/{repo}/issues/comments/{id}

deploy.yml's lookup of the merged pull request's reviewed plan (pull requests, workflow runs and
their artifacts, declared through the control endpoints below; an artifact's files are read from its
directory in the rehearsal's artifact store when it is listed or downloaded):

    GET    /repos/{owner}/{repo}/commits/{sha}/pulls      the pull requests associated with a commit:
                                                          the merged one whose merge_commit_sha it is,
                                                          and open ones whose head it is
    GET    /repos/{owner}/{repo}/pulls/{n}                one pull request
    GET    /repos/{owner}/{repo}/actions/workflows/{file or id}/runs
                                                          {"total_count", "workflow_runs"}, newest
                                                          first; filters event, status (completed,
                                                          success, failure, ...), head_sha, branch;
                                                          paged (per_page, page)
    GET    /repos/{owner}/{repo}/actions/runs/{id}        one run
    GET    /repos/{owner}/{repo}/actions/runs/{id}/artifacts
                                                          {"total_count", "artifacts"}; filter name
    GET    /repos/{owner}/{repo}/actions/artifacts/{id}/zip
                                                          302 to a short-lived blob URL (GET
                                                          /_blobs/...) serving the zip; a token is
                                                          required (401 without); an expired artifact
                                                          410 "Artifact has expired"

The same routes answer under /repositories/{repo id}/..., which is the form GitHub's Link headers
use, so a client has to follow the links it is given instead of building page URLs itself.

As GitHub does: a token goes in `Authorization: Bearer T` or `Authorization: token T`; no token may
read (a public repository) but not write (401 "Requires authentication"); an unknown token gets 401
"Bad credentials"; a read-only token (the GITHUB_TOKEN of a pull request from a fork) reads, and
writes get 403 "Resource not accessible by integration"; a body over 65,536 characters gets 422
"Validation Failed"; an issue that does not exist gets 404 "Not Found".

Control endpoints (no token) for tests and the workflow rehearsal:

    POST /_control/issues   {"repo": "o/r", "number": 7}                  declare an issue / PR
    POST /_control/seed     {"repo": "o/r", "number": 7, "count": 250,
                             "body": "text {i}", "login": "someone",
                             "bodies": {"212": "override for comment 212 (1-based)"}}
    POST /_control/faults   {"faults": [{"method": "GET", "path": "/comments", "status": 502,
                             "times": 2, "retry_after": 0, "rate_limit": false}]}
                            the next `times` matching requests get that answer instead
                            (rate_limit: a 403 with x-ratelimit-remaining: 0, as a primary rate
                            limit; status 429 carries retry-after)
    GET  /_control/state    {"issues": {"o/r#7": [comments...]}, "requests": [...]}
    POST /_control/pulls    {"repo": "o/r", "number": 14, "head_sha": "...", "head_ref": "pr-14",
                             "base_ref": "main", "merge_commit_sha": "...", "merged": true}
                            declare a pull request (merged: closed with merged_at; else open);
                            its issue is declared too
    POST /_control/runs     {"repo": "o/r", "id": 123, "path": ".github/workflows/preview.yml",
                             "event": "pull_request", "head_sha": "...", "head_branch": "pr-14",
                             "conclusion": "success", "pull_requests": [14],
                             "artifacts_dir": "/ARTIFACTS/123", "expired": ["name"]}
                            record a finished workflow run; its artifacts are the directories
                            under artifacts_dir (the rehearsal's store for that run id)
    POST /_control/reset    forget comments, requests and faults (declared issues, pull requests
                            and runs stay)

Environments and the deployment Actions makes for a job that names one (environments.py: required
reviewers, prevent self-review, wait timer; the job's deployment and its statuses):

    GET  /repos/{owner}/{repo}/environments[/{name}]      with protection_rules
    GET  /repos/{owner}/{repo}/actions/runs/{id}/pending_deployments
    POST /repos/{owner}/{repo}/actions/runs/{id}/pending_deployments
                            {"environment_ids": [..], "state": "approved"|"rejected", "comment": ".."}
                            as a person's token (--user): a required reviewer of each environment,
                            not the run's actor when it prevents self-review, else 422
    GET  /repos/{owner}/{repo}/actions/runs/{id}/approvals
    POST /_control/users         {"login": "alice", "token": "..."}
    POST /_control/environments  {"repo", "name", "reviewers": [logins], "prevent_self_review": true,
                                  "wait_timer": minutes}
    POST /_control/jobs          {"repo", "run_id", "job", "job_number", "environment", "sha", "ref",
                                  "actor", "path", "event", "head_branch"}: the rehearsal's job is
                                  about to start: its deployment, and whether a rule holds it
    GET  /_control/jobs/{run_id}/{job}           {"state": waiting | approved | rejected, ...}
    POST /_control/jobs/{run_id}/{job}/status    {"state": in_progress | success | failure,
                                                  "environment_url"}
    POST /_control/run-ended     {"run_id", "conclusion"}: the run is completed with that conclusion

Usage: server.py [--port 0] [--token T]... [--read-only-token T]... [--issue o/r#N]... [--user LOGIN=TOKEN]...
                 [--stop-on-stdin-eof]
Prints the base URL (http://127.0.0.1:PORT) as the first line on stdout once it listens.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import secrets
import sys
import threading
import time
import zipfile
from pathlib import Path
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from environments import EnvironmentsApi  # noqa: E402

MAX_BODY = 65536
DEFAULT_PER_PAGE = 30
MAX_PER_PAGE = 100
DOCS = "https://docs.github.com/rest/issues/comments"


def now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def user(login: str, uid: int, base: str) -> dict:
    u = f"{base}/users/{login}"
    return {
        "login": login,
        "id": uid,
        "node_id": f"U_{uid}",
        "avatar_url": f"{base}/avatars/u/{uid}",
        "gravatar_id": "",
        "url": u,
        "html_url": f"{base}/{login}",
        "followers_url": f"{u}/followers",
        "following_url": f"{u}/following{{/other_user}}",
        "gists_url": f"{u}/gists{{/gist_id}}",
        "starred_url": f"{u}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{u}/subscriptions",
        "organizations_url": f"{u}/orgs",
        "repos_url": f"{u}/repos",
        "events_url": f"{u}/events{{/privacy}}",
        "received_events_url": f"{u}/received_events",
        "type": "Bot" if login.endswith("[bot]") else "User",
        "site_admin": False,
    }


class State:
    def __init__(self, tokens: list[str], read_only: list[str]) -> None:
        self.lock = threading.Lock()
        self.tokens = set(tokens)
        self.read_only = set(read_only)
        self.repos: dict[str, int] = {}  # "o/r" -> repo id
        self.issues: dict[tuple[str, int], list[dict]] = {}
        self.next_id = 1_000_000
        self.requests: list[dict] = []
        self.faults: list[dict] = []
        self.pulls: dict[tuple[str, int], dict] = {}
        self.runs: dict[int, dict] = {}  # run id -> the declared run
        self.artifact_ids: dict[tuple[int, str], int] = {}  # (run id, name) -> artifact id
        self.blobs: dict[str, tuple[int, float]] = {}  # blob key -> (artifact id, expiry)
        self.deployments: dict[str, list[dict]] = {}  # repo -> its deployments, oldest first
        self.statuses: dict[int, list[dict]] = {}  # deployment id -> its statuses, oldest first
        self.users: dict[str, str] = {}  # a person's token -> their login (may review deployments)
        self.user_ids: dict[str, int] = {}
        self.environments: dict[tuple[str, str], dict] = {}  # (repo, name) -> environments.py's rules
        self.jobs: dict[tuple[int, str], dict] = {}  # (run id, job) -> a job naming an environment
        self.approvals: dict[int, list[dict]] = {}  # run id -> its deployment reviews

    def uid(self, login: str) -> int:
        if login.endswith("[bot]"):
            return 41898282
        return self.user_ids.setdefault(login, 583231 + len(self.user_ids))

    def artifact_id(self, run_id: int, name: str) -> int:
        key = (run_id, name)
        if key not in self.artifact_ids:
            self.artifact_ids[key] = 5_000_000 + len(self.artifact_ids) + 1
        return self.artifact_ids[key]

    def repo_id(self, repo: str) -> int:
        if repo not in self.repos:
            self.repos[repo] = 100 + len(self.repos)
        return self.repos[repo]

    def declare(self, repo: str, number: int) -> None:
        self.repo_id(repo)
        self.issues.setdefault((repo, number), [])

    def repo_by_id(self, rid: int) -> str | None:
        return next((r for r, i in self.repos.items() if i == rid), None)

    def find_comment(self, repo: str, cid: int) -> tuple[tuple[str, int], dict] | None:
        for key, comments in self.issues.items():
            if key[0] != repo:
                continue
            for c in comments:
                if c["id"] == cid:
                    return key, c
        return None


class Handler(EnvironmentsApi, BaseHTTPRequestHandler):
    server_version = "github-api-stand-in/1"
    protocol_version = "HTTP/1.1"
    state: State

    # -- plumbing ---------------------------------------------------------------------------
    def log_message(self, fmt: str, *args) -> None:  # quiet; the request log is in /_control/state
        pass

    def base(self) -> str:
        return f"http://{self.headers.get('Host') or '127.0.0.1'}"

    def read_json(self) -> object:
        raw = self._raw
        if not raw:
            return None
        return json.loads(raw.decode("utf-8"))

    def send(self, status: int, body: object | None, headers: dict[str, str] | None = None) -> None:
        data = b"" if body is None else json.dumps(body).encode("utf-8")
        self.record(status)
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-GitHub-Api-Version-Selected", "2022-11-28")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if data:
            self.wfile.write(data)

    def send_bytes(self, status: int, data: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.record(status)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def error(self, status: int, message: str, extra: dict | None = None,
              headers: dict[str, str] | None = None) -> None:
        body = {"message": message, "documentation_url": DOCS, "status": str(status)}
        body.update(extra or {})
        self.send(status, body, headers)

    def author(self, auth: str) -> str:
        """Who a write is made as: the GITHUB_TOKEN's bot, or the person whose token it is (--user)."""
        if auth == "user":
            return self.state.users.get(self.token()[1] or "", "someone")
        return "github-actions[bot]" if auth == "write" else "someone"

    def user_json(self, login: str) -> dict:
        return user(login, self.state.uid(login), self.base())

    def token(self) -> tuple[str, str | None]:
        """('none'|'write'|'read-only'|'user'|'bad', token); 'user': a person's token (--user)."""
        auth = self.headers.get("Authorization") or ""
        m = re.fullmatch(r"(?i)(bearer|token)\s+(\S+)", auth.strip())
        if not auth:
            return "none", None
        if not m:
            return "bad", None
        tok = m.group(2)
        if tok in self.state.tokens:
            return "write", tok
        if tok in self.state.read_only:
            return "read-only", tok
        if tok in self.state.users:
            return "user", tok
        return "bad", tok

    # -- dispatch ---------------------------------------------------------------------------
    def record(self, status: int) -> None:
        """Logs the request with its answer's status, before the answer goes out: a client that
        has read an answer finds its request in /_control/state, in the order it was answered
        (each connection has a thread of its own; logging after the answer would let a later
        request on another connection be logged first)."""
        self._status = status
        if self._logged or self._entry is None:
            return
        self._logged = True
        with self.state.lock:
            self.state.requests.append({**self._entry, "status": status})

    def handle_any(self, method: str) -> None:
        self._status = 0
        self._logged = False
        self._entry = None
        # Read the whole body first, whatever the answer: the connection is kept alive.
        n = int(self.headers.get("Content-Length") or 0)
        self._raw = self.rfile.read(n) if n else b""
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        auth, _ = self.token()
        if not url.path.startswith("/_control/"):
            self._entry = {"method": method, "path": url.path, "query": query, "auth": auth}
        try:
            if url.path.startswith("/_control/"):
                self.control(method, url.path)
                return
            if url.path.startswith("/_blobs/"):
                self.blob(method, url.path)
                return
            with self.state.lock:
                fault = self.take_fault(method, url.path)
            if fault is not None:
                self.answer_fault(fault)
                return
            self.api(method, url.path, query, auth)
        except json.JSONDecodeError:
            self.error(400, "Problems parsing JSON")
        finally:
            # A request that got no answer (an exception) is logged with status 0.
            self.record(self._status)

    def do_GET(self) -> None:
        self.handle_any("GET")

    def do_POST(self) -> None:
        self.handle_any("POST")

    def do_PATCH(self) -> None:
        self.handle_any("PATCH")

    def do_DELETE(self) -> None:
        self.handle_any("DELETE")

    # -- faults -----------------------------------------------------------------------------
    def take_fault(self, method: str, path: str) -> dict | None:
        for f in self.state.faults:
            if f.get("method", "*") not in ("*", method):
                continue
            if f.get("path", "") not in path:
                continue
            f["times"] = f.get("times", 1) - 1
            if f["times"] <= 0:
                self.state.faults.remove(f)
            return f
        return None

    def answer_fault(self, f: dict) -> None:
        status = int(f.get("status", 502))
        headers: dict[str, str] = {}
        if "retry_after" in f:
            headers["Retry-After"] = str(f["retry_after"])
        if f.get("rate_limit"):
            headers["X-RateLimit-Limit"] = "1000"
            headers["X-RateLimit-Remaining"] = "0"
            headers["X-RateLimit-Reset"] = str(int(time.time()) + int(f.get("reset_in", 1)))
            self.error(status, "API rate limit exceeded for installation.", headers=headers)
        elif status == 429 or (status == 403 and "retry_after" in f):
            self.error(status, "You have exceeded a secondary rate limit.", headers=headers)
        elif status >= 500:
            self.error(status, "Server Error", headers=headers)
        else:
            self.error(status, f.get("message", "Injected"), headers=headers)

    # -- the API ----------------------------------------------------------------------------
    def api(self, method: str, path: str, query: dict, auth: str) -> None:
        st = self.state
        m = re.fullmatch(r"/repos/([^/]+)/([^/]+)(/.*)", path)
        if m:
            repo, rest = f"{m.group(1)}/{m.group(2)}", m.group(3)
        else:
            m = re.fullmatch(r"/repositories/(\d+)(/.*)", path)
            with st.lock:
                repo = st.repo_by_id(int(m.group(1))) if m else None
            if repo is None:
                self.error(404, "Not Found")
                return
            rest = m.group(2)
        if auth == "bad":
            self.error(401, "Bad credentials")
            return
        writes = method in ("POST", "PATCH", "DELETE")
        if writes and auth == "none":
            self.error(401, "Requires authentication")
            return
        if writes and auth == "read-only":
            self.error(403, "Resource not accessible by integration")
            return

        m = re.fullmatch(r"/issues/(\d+)/comments", rest)
        if m:
            number = int(m.group(1))
            with st.lock:
                exists = (repo, number) in st.issues
            if not exists:
                self.error(404, "Not Found")
                return
            if method == "GET":
                self.list_comments(repo, number, path, query)
            elif method == "POST":
                self.create_comment(repo, number)
            else:
                self.error(404, "Not Found")
            return
        m = re.fullmatch(r"/issues/comments/(\d+)", rest)
        if m:
            cid = int(m.group(1))
            with st.lock:
                found = st.find_comment(repo, cid)
            if found is None:
                self.error(404, "Not Found")
                return
            key, comment = found
            if method == "GET":
                self.send(200, comment)
            elif method in ("PATCH", "POST"):  # GitHub takes POST for PATCH too
                body = self.valid_body()
                if body is None:
                    return
                with st.lock:
                    comment["body"] = body
                    comment["updated_at"] = now_iso()
                self.send(200, comment)
            elif method == "DELETE":
                with st.lock:
                    st.issues[key].remove(comment)
                self.send(204, None)
            else:
                self.error(404, "Not Found")
            return
        if rest == "/deployments":
            self.deployments(repo, method, query, auth)
            return
        m = re.fullmatch(r"/deployments/(\d+)/statuses", rest)
        if m:
            self.deployment_statuses(repo, int(m.group(1)), method)
            return
        login = self.state.users.get(self.token()[1] or "") if auth == "user" else None
        if self.environments_api(repo, rest, method, auth, login):
            return
        if method == "GET" and self.actions_api(repo, rest, query, auth):
            return
        self.error(404, "Not Found")

    # -- deployments and their statuses (docs.github.com/en/rest/deployments) -----------------
    STATES = ("error", "failure", "inactive", "in_progress", "queued", "pending", "success")

    def new_deployment(self, repo: str, body: dict, login: str) -> dict:
        st = self.state
        st.next_id += 1
        did = st.next_id
        base = f"{self.base()}/repos/{repo}"
        ref = body["ref"]
        env = body.get("environment") or "production"
        d = {
            "url": f"{base}/deployments/{did}", "id": did, "node_id": f"DE_{did}",
            "sha": ref if re.fullmatch(r"[0-9a-f]{40}", ref) else "0" * 40, "ref": ref,
            "task": body.get("task") or "deploy", "payload": body.get("payload") or {},
            "original_environment": env, "environment": env, "description": body.get("description"),
            "creator": self.user_json(login),
            "created_at": now_iso(), "updated_at": now_iso(),
            "statuses_url": f"{base}/deployments/{did}/statuses", "repository_url": base,
            "transient_environment": bool(body.get("transient_environment", False)),
            "production_environment": bool(body.get("production_environment", env == "production")),
        }
        st.deployments.setdefault(repo, []).append(d)
        st.statuses[did] = []
        return d

    def new_status(self, repo: str, d: dict, body: dict, login: str) -> dict:
        st = self.state
        st.next_id += 1
        sid = st.next_id
        s = {
            "url": f"{d['url']}/statuses/{sid}", "id": sid, "node_id": f"DES_{sid}", "state": body["state"],
            "creator": self.user_json(login), "description": body.get("description") or "",
            "environment": body.get("environment") or d["environment"],
            "target_url": body.get("log_url") or body.get("target_url") or "",
            "log_url": body.get("log_url") or body.get("target_url") or "",
            "environment_url": body.get("environment_url") or "",
            "created_at": now_iso(), "updated_at": now_iso(),
            "deployment_url": d["url"], "repository_url": d["repository_url"],
        }
        st.statuses[d["id"]].append(s)
        # auto_inactive (default true): a success marks the prior non-transient, non-production
        # deployments of the environment that had a success inactive.
        if s["state"] == "success" and body.get("auto_inactive", True):
            for other in st.deployments.get(repo, []):
                prior = st.statuses.get(other["id"], [])
                if (other["id"] != d["id"] and other["environment"] == d["environment"]
                        and not other["transient_environment"] and not other["production_environment"]
                        and any(p["state"] == "success" for p in prior) and prior[-1]["state"] != "inactive"):
                    self.new_status(repo, other, {"state": "inactive"}, login)
        return s

    def deployments(self, repo: str, method: str, query: dict, auth: str) -> None:
        st = self.state
        if method == "GET":
            with st.lock:
                found = [d for d in reversed(st.deployments.get(repo, []))
                         if all(query.get(k) in (None, d[k]) for k in ("sha", "ref", "task", "environment"))]
            per_page = min(int(query.get("per_page", 30)), 100)
            self.send(200, found[:per_page])
            return
        if method != "POST":
            self.error(404, "Not Found")
            return
        body = self.read_json()
        if not isinstance(body, dict) or not isinstance(body.get("ref"), str) or not body["ref"]:
            self.error(422, "Invalid request.\n\n\"ref\" wasn't supplied.")
            return
        with st.lock:
            d = self.new_deployment(repo, body, self.author(auth))
        self.send(201, d)

    def deployment_statuses(self, repo: str, did: int, method: str) -> None:
        st = self.state
        with st.lock:
            d = next((x for x in st.deployments.get(repo, []) if x["id"] == did), None)
        if d is None:
            self.error(404, "Not Found")
            return
        if method == "GET":
            with st.lock:
                found = list(reversed(st.statuses[did]))
            self.send(200, found)
            return
        if method != "POST":
            self.error(404, "Not Found")
            return
        body = self.read_json()
        if not isinstance(body, dict) or body.get("state") not in self.STATES:
            self.error(422, "Invalid request.\n\nFor 'properties/state', it is not one of " + str(list(self.STATES)) + ".")
            return
        if len(body.get("description") or "") > 140:
            self.error(422, "Validation Failed: description is too long (maximum is 140 characters)")
            return
        with st.lock:
            s = self.new_status(repo, d, body, self.author(self.token()[0]))
        self.send(201, s)

    # -- pull requests, workflow runs, artifacts (deploy.yml's reviewed-plan lookup) ---------
    def actions_api(self, repo: str, rest: str, query: dict, auth: str) -> bool:
        """The read-only routes of pull requests, runs and artifacts; False when none matches."""
        st = self.state
        m = re.fullmatch(r"/commits/([0-9a-fA-F]{7,40})/pulls", rest)
        if m:
            sha = m.group(1).lower()
            with st.lock:
                prs = [pr for (r, _), pr in sorted(st.pulls.items(), key=lambda kv: -kv[0][1]) if r == repo and (
                    (pr["merged"] and pr["merge_commit_sha"] == sha) or (not pr["merged"] and pr["head_sha"] == sha))]
            self.send(200, [self.pull_json(repo, pr) for pr in prs])
            return True
        m = re.fullmatch(r"/pulls/(\d+)", rest)
        if m:
            with st.lock:
                pr = st.pulls.get((repo, int(m.group(1))))
            if pr is None:
                self.error(404, "Not Found")
            else:
                self.send(200, self.pull_json(repo, pr))
            return True
        m = re.fullmatch(r"/actions/workflows/([^/]+)/runs", rest)
        if m:
            self.list_runs(repo, m.group(1), query)
            return True
        m = re.fullmatch(r"/actions/runs/(\d+)(/artifacts)?", rest)
        if m:
            with st.lock:
                run = st.runs.get(int(m.group(1)))
            if run is None or run["repo"] != repo:
                self.error(404, "Not Found")
            elif m.group(2):
                arts = [a for a in self.artifacts_of(run) if not query.get("name") or a["name"] == query["name"]]
                self.send(200, {"total_count": len(arts), "artifacts": arts})
            else:
                self.send(200, self.run_json(run))
            return True
        m = re.fullmatch(r"/actions/artifacts/(\d+)/zip", rest)
        if m:
            if auth == "none":
                self.error(401, "Requires authentication")
                return True
            found = self.find_artifact(repo, int(m.group(1)))
            if found is None:
                self.error(404, "Not Found")
            elif found[1]["expired"]:
                self.error(410, "Artifact has expired")
            else:
                key = secrets.token_hex(16)
                with st.lock:
                    st.blobs[key] = (found[1]["id"], time.time() + 60)
                self.send(302, None, {"Location": f"{self.base()}/_blobs/{key}/{found[1]['name']}.zip"})
            return True
        return False

    def pull_json(self, repo: str, pr: dict) -> dict:
        base = self.base()
        n = pr["number"]
        with self.state.lock:
            rid = self.state.repo_id(repo)
        repo_json = {"id": rid, "full_name": repo, "name": repo.split("/", 1)[1], "owner": user(repo.split("/", 1)[0], 1, base)}
        return {
            "url": f"{base}/repos/{repo}/pulls/{n}", "id": 7_000_000 + n, "number": n,
            "html_url": f"{base}/{repo}/pull/{n}", "state": "closed" if pr["merged"] else "open",
            "title": pr.get("title", f"PR {n}"), "user": user("octocat", 1001, base),
            "merged_at": pr["merged_at"], "closed_at": pr["merged_at"], "merge_commit_sha": pr["merge_commit_sha"],
            "head": {"label": f"{repo.split('/', 1)[0]}:{pr['head_ref']}", "ref": pr["head_ref"], "sha": pr["head_sha"], "repo": repo_json},
            "base": {"label": f"{repo.split('/', 1)[0]}:{pr['base_ref']}", "ref": pr["base_ref"], "sha": pr.get("base_sha", ""), "repo": repo_json},
            "draft": False, "author_association": "MEMBER",
        }

    def run_json(self, run: dict) -> dict:
        base = self.base()
        repo = run["repo"]
        with self.state.lock:
            rid = self.state.repo_id(repo)
        url = f"{base}/repos/{repo}/actions/runs/{run['id']}"
        return {
            "id": run["id"], "name": run["name"], "node_id": f"WFR_{run['id']}", "head_branch": run["head_branch"],
            "head_sha": run["head_sha"], "path": run["path"], "display_title": run["name"], "run_number": run["run_number"],
            "event": run["event"], "status": run.get("status", "completed"), "conclusion": run["conclusion"],
            "workflow_id": run["workflow_id"],
            "url": url, "html_url": f"{base}/{repo}/actions/runs/{run['id']}", "artifacts_url": f"{url}/artifacts",
            "pull_requests": [{"number": n, "url": f"{base}/repos/{repo}/pulls/{n}"} for n in run["pull_requests"]],
            "created_at": run["created_at"], "updated_at": run["created_at"], "run_attempt": 1,
            "repository": {"id": rid, "full_name": repo},
        }

    def artifacts_of(self, run: dict) -> list[dict]:
        """The run's artifacts: the directories in its store, as GitHub lists them."""
        d = Path(run["artifacts_dir"]) if run.get("artifacts_dir") else None
        names = sorted(p.name for p in d.iterdir() if p.is_dir()) if d and d.is_dir() else []
        base = self.base()
        out = []
        for name in names:
            with self.state.lock:
                aid = self.state.artifact_id(run["id"], name)
            size = sum(f.stat().st_size for f in (d / name).rglob("*") if f.is_file())
            url = f"{base}/repos/{run['repo']}/actions/artifacts/{aid}"
            out.append({
                "id": aid, "node_id": f"MDg6QXJ0aWZhY3Q{aid}", "name": name, "size_in_bytes": size, "url": url,
                "archive_download_url": f"{url}/zip", "expired": name in run["expired"],
                "created_at": run["created_at"], "updated_at": run["created_at"], "expires_at": run["expires_at"],
                "workflow_run": {"id": run["id"], "repository_id": 1, "head_repository_id": 1,
                                 "head_branch": run["head_branch"], "head_sha": run["head_sha"]},
            })
        return out

    def find_artifact(self, repo: str, aid: int) -> tuple[dict, dict] | None:
        with self.state.lock:
            runs = [r for r in self.state.runs.values() if r["repo"] == repo]
        for run in runs:
            for a in self.artifacts_of(run):
                if a["id"] == aid:
                    return run, a
        return None

    def list_runs(self, repo: str, workflow: str, query: dict) -> None:
        with self.state.lock:
            runs = [r for r in self.state.runs.values() if r["repo"] == repo]
        # Any workflow file is taken to exist (a workflow with no declared run lists none).
        runs = [r for r in runs if workflow in (r["path"].rsplit("/", 1)[-1], str(r["workflow_id"]))]
        status = query.get("status")
        if status:
            conclusions = {"success", "failure", "neutral", "cancelled", "skipped", "timed_out", "action_required", "stale"}
            if status == "completed":
                pass
            elif status in conclusions:
                runs = [r for r in runs if r["conclusion"] == status]
            else:  # queued, in_progress, requested, waiting, pending: a run a job holds or runs
                runs = [r for r in runs if r.get("status", "completed") == status]
        for key, field in (("event", "event"), ("head_sha", "head_sha"), ("branch", "head_branch")):
            if query.get(key):
                runs = [r for r in runs if r[field] == query[key]]
        runs.sort(key=lambda r: (r["created_at"], r["id"]), reverse=True)
        try:
            per_page = max(1, min(int(query.get("per_page", DEFAULT_PER_PAGE)), MAX_PER_PAGE))
            page = max(1, int(query.get("page", 1)))
        except ValueError:
            self.error(422, "Invalid request.")
            return
        items = runs[(page - 1) * per_page: page * per_page]
        self.send(200, {"total_count": len(runs), "workflow_runs": [self.run_json(r) for r in items]})

    def blob(self, method: str, path: str) -> None:
        """The blob store a download redirects to: the artifact zipped as GitHub serves it."""
        m = re.fullmatch(r"/_blobs/([0-9a-f]+)/[^/]+\.zip", path)
        with self.state.lock:
            entry = self.state.blobs.get(m.group(1)) if m else None
        if method != "GET" or entry is None or entry[1] < time.time():
            self.error(403, "AuthenticationFailed: the signed URL is not valid or has expired")
            return
        aid = entry[0]
        found = None
        with self.state.lock:
            runs = list(self.state.runs.values())
        for run in runs:
            for a in self.artifacts_of(run):
                if a["id"] == aid:
                    found = (run, a)
        if found is None:
            self.error(404, "Not Found")
            return
        run, a = found
        root = Path(run["artifacts_dir"]) / a["name"]
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for f in sorted(root.rglob("*")):
                if f.is_file():
                    z.write(f, f.relative_to(root).as_posix())
        self.send_bytes(200, buf.getvalue(), "application/zip")

    def valid_body(self) -> str | None:
        payload = self.read_json()
        body = payload.get("body") if isinstance(payload, dict) else None
        if not isinstance(body, str):
            self.error(422, "Invalid request.\n\n\"body\" wasn't supplied.")
            return None
        if len(body) > MAX_BODY:
            self.error(422, "Validation Failed", {
                "errors": [{
                    "resource": "IssueComment",
                    "code": "custom",
                    "field": "body",
                    "message": f"body is too long (maximum is {MAX_BODY} characters)",
                }],
            })
            return None
        return body

    def new_comment(self, repo: str, number: int, body: str, login: str) -> dict:
        st = self.state
        st.next_id += 1
        cid = st.next_id
        base = self.base()
        stamp = now_iso()
        return {
            "id": cid,
            "node_id": f"IC_{cid}",
            "url": f"{base}/repos/{repo}/issues/comments/{cid}",
            "html_url": f"{base}/{repo}/pull/{number}#issuecomment-{cid}",
            "issue_url": f"{base}/repos/{repo}/issues/{number}",
            "body": body,
            "user": user(login, 41898282 if login.endswith("[bot]") else 1000 + len(login), base),
            "created_at": stamp,
            "updated_at": stamp,
            "author_association": "NONE" if login.endswith("[bot]") else "MEMBER",
        }

    def create_comment(self, repo: str, number: int) -> None:
        body = self.valid_body()
        if body is None:
            return
        with self.state.lock:
            c = self.new_comment(repo, number, body, "github-actions[bot]")
            self.state.issues[(repo, number)].append(c)
        self.send(201, c, {"Location": c["url"]})

    def list_comments(self, repo: str, number: int, path: str, query: dict) -> None:
        try:
            per_page = int(query.get("per_page", DEFAULT_PER_PAGE))
            page = int(query.get("page", 1))
        except ValueError:
            self.error(422, "Invalid request.")
            return
        per_page = max(1, min(per_page, MAX_PER_PAGE))
        page = max(1, page)
        with self.state.lock:
            comments = list(self.state.issues[(repo, number)])
            rid = self.state.repo_id(repo)
        last = max(1, -(-len(comments) // per_page))
        items = comments[(page - 1) * per_page: page * per_page]
        link_base = f"{self.base()}/repositories/{rid}/issues/{number}/comments"

        def href(p: int) -> str:
            return f"<{link_base}?per_page={per_page}&page={p}>"

        links = []
        if page < last:
            links.append(f'{href(page + 1)}; rel="next"')
            links.append(f'{href(last)}; rel="last"')
        if page > 1:
            links.append(f'{href(page - 1)}; rel="prev"')
            links.append(f'{href(1)}; rel="first"')
        self.send(200, items, {"Link": ", ".join(links)} if links else None)

    # -- control ----------------------------------------------------------------------------
    def control(self, method: str, path: str) -> None:
        st = self.state
        if method == "GET" and path == "/_control/state":
            with st.lock:
                self.send(200, {
                    "issues": {f"{r}#{n}": cs for (r, n), cs in st.issues.items()},
                    "requests": st.requests,
                    "faults": st.faults,
                    "deployments": {r: [{**d, "statuses": st.statuses.get(d["id"], [])} for d in ds]
                                    for r, ds in st.deployments.items()},
                    "approvals": {str(k): v for k, v in st.approvals.items()},
                })
            return
        payload = self.read_json() if method == "POST" else None
        payload = payload if isinstance(payload, dict) else {}
        if method == "POST" and path == "/_control/issues":
            with st.lock:
                st.declare(payload["repo"], int(payload["number"]))
            self.send(201, {"ok": True})
        elif method == "POST" and path == "/_control/seed":
            repo, number = payload["repo"], int(payload["number"])
            count = int(payload.get("count", 1))
            template = payload.get("body", "comment {i}")
            overrides = payload.get("bodies", {})
            login = payload.get("login", "someone")
            with st.lock:
                st.declare(repo, number)
                made = []
                for i in range(1, count + 1):
                    body = overrides.get(str(i), template.replace("{i}", str(i)))
                    c = self.new_comment(repo, number, body, login)
                    st.issues[(repo, number)].append(c)
                    made.append(c["id"])
            self.send(201, {"ids": made})
        elif method == "POST" and path == "/_control/pulls":
            repo, number = payload["repo"], int(payload["number"])
            merged = bool(payload.get("merged", False))
            pr = {"number": number, "head_sha": str(payload["head_sha"]).lower(),
                  "head_ref": payload.get("head_ref", f"pr-{number}"), "base_ref": payload.get("base_ref", "main"),
                  "base_sha": payload.get("base_sha", ""), "merged": merged, "title": payload.get("title", f"PR {number}"),
                  "merge_commit_sha": (payload.get("merge_commit_sha") or "").lower() or None,
                  "merged_at": now_iso() if merged else None}
            if merged and not pr["merge_commit_sha"]:
                self.error(422, "a merged pull request needs merge_commit_sha")
                return
            with st.lock:
                st.declare(repo, number)
                st.pulls[(repo, number)] = pr
            self.send(201, {"ok": True})
        elif method == "POST" and path == "/_control/runs":
            repo, rid = payload["repo"], int(payload["id"])
            wf_path = payload["path"]
            with st.lock:
                st.repo_id(repo)
                wf_ids = {r["path"]: r["workflow_id"] for r in st.runs.values()}
                st.runs[rid] = {
                    "repo": repo, "id": rid, "path": wf_path, "name": payload.get("name", wf_path.rsplit("/", 1)[-1]),
                    "workflow_id": wf_ids.get(wf_path, 9_000_000 + len(set(wf_ids.values())) + 1),
                    "event": payload["event"], "head_sha": str(payload["head_sha"]).lower(),
                    "head_branch": payload.get("head_branch", ""), "conclusion": payload.get("conclusion", "success"),
                    "pull_requests": [int(n) for n in payload.get("pull_requests", [])],
                    "artifacts_dir": payload.get("artifacts_dir"), "expired": set(payload.get("expired", [])),
                    "run_number": int(payload.get("run_number", 1)), "created_at": payload.get("created_at") or now_iso(),
                    "expires_at": payload.get("expires_at", ""), "status": "completed",
                    "actor": (st.runs.get(rid) or {}).get("actor", payload.get("actor", "")),
                }
            self.send(201, {"ok": True})
        elif method == "POST" and path == "/_control/deployments":
            # The deployment Actions makes for a job that names an environment, its status linking
            # the job of the run.
            repo = payload["repo"]
            with st.lock:
                st.repo_id(repo)
                d = self.new_deployment(repo, {"ref": payload["sha"], "environment": payload["environment"]},
                                        "github-actions[bot]")
                run = f"https://github.com/{repo}/actions/runs/{payload['run_id']}/job/1"
                self.new_status(repo, d, {"state": "in_progress", "log_url": run}, "github-actions[bot]")
            self.send(201, {"id": d["id"]})
        elif method == "POST" and path == "/_control/users":
            with st.lock:
                st.users[payload["token"]] = payload["login"]
            self.send(201, self.user_json(payload["login"]))
        elif method == "POST" and path == "/_control/environments":
            self.control_environment(payload)
        elif method == "POST" and path == "/_control/jobs":
            self.control_job(payload)
        elif method == "POST" and path == "/_control/run-ended":
            self.control_run_ended(payload)
        elif m := re.fullmatch(r"/_control/jobs/(\d+)/([^/]+)(/status)?", path):
            if method == "GET" and not m.group(3):
                self.control_job_get(int(m.group(1)), m.group(2))
            elif method == "POST" and m.group(3):
                self.control_job_status(int(m.group(1)), m.group(2), payload)
            else:
                self.error(404, "Not Found")
        elif method == "POST" and path == "/_control/faults":
            with st.lock:
                st.faults.extend(payload.get("faults", []))
            self.send(201, {"ok": True})
        elif method == "POST" and path == "/_control/reset":
            with st.lock:
                for key in st.issues:
                    st.issues[key] = []
                st.requests.clear()
                st.faults.clear()
            self.send(200, {"ok": True})
        else:
            self.error(404, "Not Found")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0: a free port")
    ap.add_argument("--token", action="append", default=[], help="a token that may write")
    ap.add_argument("--read-only-token", action="append", default=[],
                    help="a token that reads; writes get 403 (a fork PR's GITHUB_TOKEN)")
    ap.add_argument("--issue", action="append", default=[], help="owner/repo#N: an existing PR")
    ap.add_argument("--user", action="append", default=[], metavar="LOGIN=TOKEN",
                    help="a person and their token (writes as them; may review deployments they are a reviewer of)")
    ap.add_argument("--stop-on-stdin-eof", action="store_true",
                    help="exit when stdin closes (the process that started it went away)")
    args = ap.parse_args()

    state = State(args.token, args.read_only_token)
    for spec in args.user:
        login, _, tok = spec.partition("=")
        state.users[tok] = login
    for spec in args.issue:
        repo, _, num = spec.partition("#")
        state.declare(repo, int(num))
    handler = type("H", (Handler,), {"state": state})
    httpd = ThreadingHTTPServer((args.host, args.port), handler)
    httpd.daemon_threads = True
    host, port = httpd.server_address[:2]
    print(f"http://{host}:{port}", flush=True)
    if args.stop_on_stdin_eof:
        def watch() -> None:
            sys.stdin.read()
            httpd.shutdown()
        threading.Thread(target=watch, daemon=True).start()
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
