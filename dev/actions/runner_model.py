"""Pieces of GitHub's runner and service the rehearsal models beside the step loop in rehearse.py: the
OIDC token endpoint a job with `id-token: write` gets, how a step's process is cancelled (the runner's
signal sequence), environments (deployment branch policy, scoped variables and secrets) and the path
translation of a container action's environment. Each cites the runner source or GitHub doc it follows."""

from __future__ import annotations

import json
import re
import os
import secrets as pysecrets
import signal
import subprocess
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable

# --- cancelling a step's process ----------------------------------------------------------------

# actions/runner src/Runner.Sdk/ProcessInvoker.cs: `_sigintTimeout = 7500 ms`, `_sigtermTimeout =
# 2500 ms`; CancelAndKillProcessTree sends SIGINT to the process, waits up to 7.5 s for it to exit,
# then SIGTERM, waits up to 2.5 s, then kills the whole process tree.
SIGINT_GRACE = 7.5
SIGTERM_GRACE = 2.5


def cancel_process(proc: subprocess.Popen, log: Callable[[str], None]) -> None:
    """The runner's cancellation of one step's process (ProcessInvoker.CancelAndKillProcessTree)."""
    for sig, grace in ((signal.SIGINT, SIGINT_GRACE), (signal.SIGTERM, SIGTERM_GRACE)):
        if proc.poll() is not None:
            return
        log(f"[rehearsal]   sending {sig.name} to the step's process (the runner then waits {grace} s)")
        try:
            proc.send_signal(sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            pass
    log("[rehearsal]   killing the step's process tree (it ignored SIGINT and SIGTERM)")
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


class Cancellation:
    """When the job is cancelled: its `timeout-minutes` passed (GitHub's service cancels the job then:
    "Workflow syntax: jobs.<job_id>.timeout-minutes", default 360) or the run was cancelled (SIGINT /
    SIGTERM to the rehearsal, or a newer run of the concurrency group). Read by the step loop."""

    def __init__(self) -> None:
        self.deadline: float | None = None
        self.reason: str | None = None
        self.event = threading.Event()
        self.files: list[Path] = []

    def watch(self, path: Path) -> None:
        """A file whose appearance cancels the run (a newer run of the concurrency group)."""
        self.files.append(path)

    def set_deadline(self, minutes: float) -> None:
        self.deadline = time.monotonic() + minutes * 60

    def cancel(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason
        self.event.set()

    def check(self) -> bool:
        if not self.event.is_set() and self.deadline is not None and time.monotonic() >= self.deadline:
            self.cancel("timeout")
        for f in self.files:
            if not self.event.is_set() and f.exists():
                self.cancel(f.read_text().strip() or "cancelled")
        return self.event.is_set()


# --- the docker daemon a container action's post step asks ---------------------------------------

class DockerEngine:
    """The part of the runner's docker daemon a container action's post step uses: the runner mounts
    the daemon's socket into every container action (ContainerActionHandler.cs: `/var/run/docker.sock`)
    and Docker gives each container its short id as hostname and `HOSTNAME`. With `--action-runtime
    host` each container action's process stands for its container, registered here by the id the
    rehearsal gave it; the Docker Engine API calls a post step makes are answered as dockerd does:
    `GET /containers/{id}/json` (a unique id prefix or the full id; 404 `No such container`) with
    `State.Running`/`Status`/`ExitCode`, and `POST /containers/{id}/stop?t=N` (SIGTERM, N seconds
    (default 10), then SIGKILL; 204, or 304 when it is not running). Not modelled: the main step's
    container outliving the runner's cancel (the runner kills the `docker run` client,
    ProcessInvoker.cs; here the final kill ends the process, i.e. the container, too), every other
    endpoint (404)."""

    def __init__(self, directory: Path) -> None:
        self.socket = directory / "docker.sock"
        self.containers: dict[str, subprocess.Popen] = {}
        self.calls: list[str] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a: Any) -> None:
                pass

            def address_string(self) -> str:
                return "docker.sock"

            def do_GET(self) -> None:
                owner.calls.append(f"GET {self.path}")
                parts = urllib.parse.urlparse(self.path).path.strip("/").split("/")
                if len(parts) == 3 and parts[0] == "containers" and parts[2] == "json":
                    cid, proc = owner.find(parts[1])
                    if proc is None:
                        return self._reply(404, {"message": f"No such container: {parts[1]}"})
                    code = proc.poll()
                    return self._reply(200, {"Id": cid, "State": {
                        "Status": "running" if code is None else "exited", "Running": code is None,
                        "ExitCode": 0 if code is None else (128 - code if code < 0 else code)}})
                self._reply(404, {"message": "page not found"})

            def do_POST(self) -> None:
                owner.calls.append(f"POST {self.path}")
                url = urllib.parse.urlparse(self.path)
                parts = url.path.strip("/").split("/")
                if len(parts) == 3 and parts[0] == "containers" and parts[2] == "stop":
                    _, proc = owner.find(parts[1])
                    if proc is None:
                        return self._reply(404, {"message": f"No such container: {parts[1]}"})
                    if proc.poll() is not None:
                        return self._reply(304, None)
                    grace = float(urllib.parse.parse_qs(url.query).get("t", ["10"])[0])
                    proc.send_signal(signal.SIGTERM)
                    try:
                        proc.wait(timeout=grace)
                    except subprocess.TimeoutExpired:
                        os.killpg(proc.pid, signal.SIGKILL)
                        proc.wait()
                    return self._reply(204, None)
                self._reply(404, {"message": "page not found"})

            def _reply(self, status: int, body: dict | None) -> None:
                data = json.dumps(body).encode() if body is not None else b""
                self.send_response(status)
                if body is not None:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        import socketserver

        class Server(socketserver.ThreadingUnixStreamServer):
            daemon_threads = True

        self.server = Server(str(self.socket), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def add(self, cid: str, proc: subprocess.Popen) -> None:
        self.containers[cid] = proc

    def find(self, ref: str) -> tuple[str, subprocess.Popen | None]:
        hits = [c for c in self.containers if c.startswith(ref)] if ref else []
        return (hits[0], self.containers[hits[0]]) if len(hits) == 1 else (ref, None)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.socket.unlink(missing_ok=True)


# --- the OIDC token endpoint ------------------------------------------------------------------

class IdTokenServer:
    """The endpoint behind ACTIONS_ID_TOKEN_REQUEST_URL (the runner sets it and
    ACTIONS_ID_TOKEN_REQUEST_TOKEN from the job's system connection, GenerateIdTokenUrl, in
    ContainerActionHandler.cs and ScriptHandler.cs / the node handler; GitHub gives a job one only with
    `permissions: id-token: write`). As GitHub's: GET URL&audience=AUD with `Authorization: bearer
    <request token>` answers {"value": "<JWT>"} (@actions/core getIDToken reads `.value`); the JWT is
    the job's, minted by dev/oidc (issuer, subject, claims as GitHub derives them), for any audience.
    A wrong or missing bearer gets 401."""

    def __init__(self) -> None:
        self.jobs: dict[str, tuple[str, Callable[[str], str]]] = {}
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a: Any) -> None:
                pass

            def do_GET(self) -> None:
                url = urllib.parse.urlparse(self.path)
                parts = url.path.strip("/").split("/")
                job_key = parts[-2] if len(parts) >= 2 and parts[-1] == "idtoken" else ""
                entry = owner.jobs.get(job_key)
                scheme, _, given = self.headers.get("Authorization", "").partition(" ")
                if not entry or scheme.lower() != "bearer" or not pysecrets.compare_digest(given.strip(), entry[0]):
                    return self._reply(401, {"message": "Unauthorized"})
                audience = urllib.parse.parse_qs(url.query).get("audience", [""])[0]
                try:
                    token = entry[1](audience)
                except Exception as e:  # noqa: BLE001 - the mint's refusal, as GitHub's 400
                    return self._reply(400, {"message": str(e)})
                self._reply(200, {"value": token})

            def _reply(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def register(self, mint: Callable[[str], str]) -> tuple[str, str]:
        """A job's (ACTIONS_ID_TOKEN_REQUEST_URL, ACTIONS_ID_TOKEN_REQUEST_TOKEN), in the runner's URL
        form (…/_apis/distributedtask/hubs/Actions/plans/<plan>/jobs/<job>/idtoken?api-version=2.0)."""
        job_key = pysecrets.token_hex(8)
        request_token = pysecrets.token_urlsafe(32)
        self.jobs[job_key] = (request_token, mint)
        host, port = self.server.server_address[:2]
        url = (f"http://{host}:{port}/_apis/distributedtask/hubs/Actions/plans/{pysecrets.token_hex(8)}/jobs/"
               f"{job_key}/idtoken?api-version=2.0")
        return url, request_token

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- environments -----------------------------------------------------------------------------

def load_environments(path: str | None) -> dict[str, dict]:
    """`--environments FILE`: {"NAME": {"branches": [patterns], "tags": [patterns], "variables": {…},
    "secrets": {…}}}; no "branches"/"tags" key: any ref may deploy (GitHub's default, "All branches")."""
    if not path:
        return {}
    data = json.loads(Path(path).read_text())
    if not isinstance(data, dict):
        raise ValueError(f"{path}: an object of environments expected")
    out = Environments()
    for k, v in data.items():
        if str(k).lower() in out:
            raise ValueError(f"{path}: environments {k!r} and another differ only in case: GitHub's environment "
                             "names are not case sensitive, one environment")
        out[str(k).lower()] = dict(v or {})
    return out


class Environments(dict):
    """The environments by name, in any case: "Environment names are not case sensitive"
    ("Managing environments for deployment"), so a job naming `Production` gets production's
    branch policy, variables and secrets."""

    def get(self, name, default=None):  # type: ignore[override]
        return super().get(str(name).lower(), default)


def ruby_fnmatch_pathname(pattern: str, name: str) -> bool:
    """Ruby's `File.fnmatch(pattern, name, File::FNM_PATHNAME)`, the syntax of GitHub's deployment
    branch and tag policies (REST API, deployment-branch-policy-name-pattern: "Wildcard characters
    will not match `/`. For example, to match branches that begin with `release/` and contain an
    additional single slash, use `release/*/*`", with a link to File.fnmatch): `*` and `?` never
    match `/`, `**/` matches zero or more directories, `[…]` (`[!…]`/`[^…]` negated) one character
    but not `/`, `\\` escapes; a wildcard at the start of a name or after `/` does not match a
    leading `.` (no FNM_DOTMATCH); `{a,b}` is literal (no FNM_EXTGLOB); case-sensitive."""
    out, i, n = [], 0, len(pattern)
    while i < n:
        c = pattern[i]
        segment_start = i == 0 or pattern[i - 1] == "/"
        nodot = "(?!\\.)" if segment_start else ""
        if pattern.startswith("**/", i) and segment_start:
            out.append("(?:(?!\\.)[^/]*/)*")
            i += 3
        elif c == "*":
            while i < n and pattern[i] == "*":
                i += 1
            out.append(nodot + "[^/]*")
        elif c == "?":
            out.append(nodot + "[^/]")
            i += 1
        elif c == "[":
            j = i + 1
            negate = j < n and pattern[j] in "!^"
            j += 1 if negate else 0
            start = j
            if j < n and pattern[j] == "]":
                j += 1
            while j < n and pattern[j] != "]":
                j += 1
            if j >= n:  # no closing bracket: a literal `[`
                out.append(re.escape(c))
                i += 1
                continue
            body = "".join("\\" + ch if ch in "\\[]^" else ch for ch in pattern[start:j])
            out.append(nodot + ("[^/" if negate else "(?!/)[") + body + "]")
            i = j + 1
        elif c == "\\" and i + 1 < n:
            out.append(re.escape(pattern[i + 1]))
            i += 2
        else:
            out.append(re.escape(c))
            i += 1
    return re.fullmatch("".join(out), name, re.DOTALL) is not None


def environment_refuses(env_name: str, spec: dict, ref: str, event: str) -> str | None:
    """GitHub's deployment branch and tag policy ("Managing environments for deployment", Deployment
    branches and tags): with a policy, only refs matching one of its name patterns (Ruby's
    File.fnmatch with FNM_PATHNAME: ruby_fnmatch_pathname) may run a job that references the
    environment; the job fails before any step with GitHub's message. A pull_request's merge ref
    never matches a branch policy."""
    if "branches" not in spec and "tags" not in spec:
        return None
    if ref.startswith("refs/heads/"):
        kind, name, patterns = "Branch", ref[len("refs/heads/"):], spec.get("branches") or []
    elif ref.startswith("refs/tags/"):
        kind, name, patterns = "Tag", ref[len("refs/tags/"):], spec.get("tags") or []
    else:
        kind, name, patterns = "Branch", ref.removeprefix("refs/"), []
    if any(ruby_fnmatch_pathname(p, name) for p in patterns):
        return None
    return f'{kind} "{name}" is not allowed to deploy to {env_name} due to environment protection rules.'


class GitHubService:
    """GitHub's service where it decides about a job that names an environment, played by the API
    stand-in (dev/github-api/environments.py, `--github-service`): the job's deployment (statuses
    `waiting` while a protection rule holds it, `queued`, `in_progress`, then `success`/`failure`
    with the job's environment url) and its hold until a required reviewer approves through the
    REST API (`POST …/actions/runs/{run_id}/pending_deployments`) and its wait timer ran out. The
    rules are the stand-in's ("Deployments and environments", "Reviewing deployments"; cited there)."""

    POLL = 0.2

    def __init__(self, url: str, repo: str) -> None:
        self.url = url.rstrip("/")
        self.repo = repo

    def _call(self, method: str, path: str, body: dict | None = None) -> dict:
        import urllib.request
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.load(r)

    def job(self, run_id: str, job: str, number: int, environment: str, **run: str | bool) -> dict:
        """A job naming `environment` is about to start: {"deployment_id", "held", "reviewers",
        "wait_timer"}; `deployment=False`: no deployment record (deployment_id None)."""
        return self._call("POST", "/_control/jobs", {"repo": self.repo, "run_id": int(run_id), "job": job,
                                                     "job_number": number, "environment": environment, **run})

    def wait(self, run_id: str, job: str, cancelled: Callable[[], bool]) -> dict:
        """Until the job is approved or rejected ({"state", "by", "comment"}), or `cancelled()`."""
        while True:
            got = self._call("GET", f"/_control/jobs/{int(run_id)}/{urllib.parse.quote(job)}")
            if got["state"] != "waiting":
                return got
            if cancelled():
                return {"state": "cancelled", "by": None, "comment": None}
            time.sleep(self.POLL)

    def run_ended(self, run_id: str, conclusion: str) -> None:
        """The run ended: the service shows it `completed` with `conclusion` (a run it does not
        know, no job of which named an environment, stays unknown: 404, ignored)."""
        import urllib.error
        try:
            self._call("POST", "/_control/run-ended", {"run_id": int(run_id), "conclusion": conclusion})
        except urllib.error.HTTPError as e:
            if e.code != 404:
                raise

    def status(self, run_id: str, job: str, state: str, environment_url: str | None = None) -> None:
        self._call("POST", f"/_control/jobs/{int(run_id)}/{urllib.parse.quote(job)}/status",
                   {"state": state, "environment_url": environment_url or ""})


# --- container paths --------------------------------------------------------------------------

def translate_to_container_path(value: str, mappings: list[tuple[str, str]]) -> str:
    """actions/runner src/Runner.Worker/Container/ContainerInfo.cs TranslateToContainerPath: a value
    equal to a mapped host path, or starting with it and a `/`, becomes the container path (the first
    mapping that matches, most recently added first); any other value is passed as it is."""
    for host, container in mappings:
        if value == host:
            return container
        if value.startswith(host + "/"):
            return container + value[len(host):]
    return value


# --- concurrency --------------------------------------------------------------------------------

class ConcurrencyGroup:
    """GitHub's concurrency groups ("Control the concurrency of workflows and jobs"), shared by the
    rehearsals of one artifact store (one repository): at most one run of a group in progress; with
    the default `queue: single` at most one pending, a newer pending run cancelling the older one
    ("Canceling since a higher priority waiting request … exists"); with `queue: max` up to 100
    pending, started in order; `cancel-in-progress: true` cancels the one in progress. State: one JSON
    file per group under DIR, changed under flock; a holder whose process died no longer holds it."""

    MAX_PENDING = 100

    def __init__(self, store: Path, group: str, run_id: str, log: Callable[[str], None]):
        import hashlib
        self.dir = store
        self.dir.mkdir(parents=True, exist_ok=True)
        self.group = group
        self.run_id = run_id
        self.log = log
        key = hashlib.sha256(group.encode()).hexdigest()[:16]
        self.state_file = self.dir / f"{key}.json"
        self.lock_file = self.dir / f"{key}.lock"

    def cancel_file(self, run_id: str) -> Path:
        return self.dir / f"cancel-{run_id}"

    def _update(self, change: Callable[[dict], Any]) -> Any:
        import fcntl
        with open(self.lock_file, "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            state = json.loads(self.state_file.read_text()) if self.state_file.exists() else {"running": None, "pending": []}
            alive = [p for p in state["pending"] if _alive(p["pid"])]
            state["pending"] = alive
            if state["running"] and not _alive(state["running"]["pid"]):
                state["running"] = None
            if state["running"] is None and state["pending"]:
                state["running"] = state["pending"].pop(0)
            out = change(state)
            self.state_file.write_text(json.dumps(state))
            return out

    def enter(self, cancel_in_progress: bool, queue: str, cancellation: Cancellation, poll: float = 0.2) -> bool:
        """Wait for the group; False when this run was cancelled while pending."""
        me = {"run": self.run_id, "pid": os.getpid()}
        cancellation.watch(self.cancel_file(self.run_id))

        def arrive(state: dict) -> bool:
            if state["running"] is None and not state["pending"]:
                state["running"] = me
                return True
            if cancel_in_progress and state["running"]:
                self.cancel_file(state["running"]["run"]).write_text(
                    f"Canceling since a higher priority waiting request for '{self.group}' exists")
            if queue == "single":
                for p in state["pending"]:
                    self.cancel_file(p["run"]).write_text(
                        f"Canceling since a higher priority waiting request for '{self.group}' exists")
                state["pending"] = []
            elif len(state["pending"]) >= self.MAX_PENDING:
                raise RuntimeError(f"concurrency group {self.group!r}: {self.MAX_PENDING} runs pending already")
            state["pending"].append(me)
            return False

        if self._update(arrive):
            return True
        self.log(f"[rehearsal] waiting for concurrency group {self.group!r} (queue: {queue})")
        while True:
            if cancellation.check():
                self._update(lambda s: s.__setitem__("pending", [p for p in s["pending"] if p["run"] != self.run_id]))
                return False
            if self._update(lambda s: bool(s["running"]) and s["running"]["run"] == self.run_id):
                return True
            time.sleep(poll)

    def leave(self) -> None:
        def done(state: dict) -> None:
            if state["running"] and state["running"]["run"] == self.run_id:
                state["running"] = state["pending"].pop(0) if state["pending"] else None
        self._update(done)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
