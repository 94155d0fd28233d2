#!/usr/bin/env python3
"""A stand-in for the part of GitHub's REST API that deckhand's PR comment uses.

Issue (pull request) comments are held in memory:

    GET    /repos/{owner}/{repo}/issues/{n}/comments      paged: per_page (default 30, at most 100)
                                                          and page, with a Link header (next, last,
                                                          first, prev) as GitHub sends it
    POST   /repos/{owner}/{repo}/issues/{n}/comments      create  {"body": "..."}
    GET    /repos/{owner}/{repo}/issues/comments/{id}     one comment
    PATCH  /repos/{owner}/{repo}/issues/comments/{id}     update  {"body": "..."} (POST too, as GitHub)
    DELETE /repos/{owner}/{repo}/issues/comments/{id}

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
    POST /_control/reset    forget comments, requests and faults (declared issues stay)

Usage: server.py [--port 0] [--token T]... [--read-only-token T]... [--issue o/r#N]...
                 [--stop-on-stdin-eof]
Prints the base URL (http://127.0.0.1:PORT) as the first line on stdout once it listens.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

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


class Handler(BaseHTTPRequestHandler):
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
        self._status = status

    def error(self, status: int, message: str, extra: dict | None = None,
              headers: dict[str, str] | None = None) -> None:
        body = {"message": message, "documentation_url": DOCS, "status": str(status)}
        body.update(extra or {})
        self.send(status, body, headers)

    def token(self) -> tuple[str, str | None]:
        """('none'|'write'|'read-only'|'bad', token)."""
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
        return "bad", tok

    # -- dispatch ---------------------------------------------------------------------------
    def handle_any(self, method: str) -> None:
        self._status = 0
        # Read the whole body first, whatever the answer: the connection is kept alive.
        n = int(self.headers.get("Content-Length") or 0)
        self._raw = self.rfile.read(n) if n else b""
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        auth, _ = self.token()
        try:
            if url.path.startswith("/_control/"):
                self.control(method, url.path)
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
            if not url.path.startswith("/_control/"):
                with self.state.lock:
                    self.state.requests.append({
                        "method": method,
                        "path": url.path,
                        "query": query,
                        "auth": auth,
                        "status": self._status,
                    })

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
        self.error(404, "Not Found")

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
    ap.add_argument("--stop-on-stdin-eof", action="store_true",
                    help="exit when stdin closes (the process that started it went away)")
    args = ap.parse_args()

    state = State(args.token, args.read_only_token)
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
