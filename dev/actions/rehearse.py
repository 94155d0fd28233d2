"""Rehearse a GitHub Actions workflow on this machine, step by step, the way the runner runs it.

    dev/actions/rehearse .github/workflows/deploy.yml --event push --repo-dir DIR --sha SHA \
        --var DEPLOY_ROLE_ARN=… --runner-env AWS_ENDPOINT_URL=http://127.0.0.1:4566 --work OUT

See dev/actions/README.md. Every step kind the project's workflows use is executed for real:

- `run:` in bash (`bash -e {0}`, or `bash --noprofile --norc -eo pipefail {0}` with `shell: bash`),
  in a clean environment holding only what the runner gives a step (GITHUB_*, RUNNER_*, the job's
  `env:`, what earlier steps wrote to GITHUB_ENV/GITHUB_PATH, and `--runner-env`);
- `actions/checkout`: a clone of `--repo-dir` at the event's sha into GITHUB_WORKSPACE;
- `actions/setup-node`: this machine's node (its version is reported beside the one asked for);
- `aws-actions/configure-aws-credentials`: the OIDC token that job would get (dev/oidc/token: sub,
  environment and permission rules as GitHub applies them) and the real AssumeRoleWithWebIdentity
  against the local stack (dev/oidc/assume); the credentials go to GITHUB_ENV as the action does;
- `uses: ./` and `docker://…` container actions: inputs → INPUT_<NAME> (hyphens kept, defaults from
  action.yml), `runs.env`/`runs.args` evaluated, then the image run as the runner runs it (gh-image's
  dev/action-image/run when present and `--action-runtime image`), or the deckhand binary of this
  checkout with the same environment and file commands (`--action-runtime host`);
- `actions/upload-artifact` / `actions/download-artifact`: a local artifact store, per run id;
- `actions/cache`: a miss (nothing restored, nothing saved), reported.

Anything else — another action, an input an emulated action does not implement, a workflow key the
rehearsal does not model (matrix, services, containers, reusable workflows), an expression it cannot
evaluate — fails the rehearsal with a message naming it. Nothing is skipped silently.

Results: `--work DIR` gets result.json (every job's and step's outcome, outputs, annotations),
summary-<job>.md (the job summary: what the steps wrote to GITHUB_STEP_SUMMARY), logs/, artifacts/.
Exit status 0 when every job succeeded, 1 when one failed, 2 for a usage or workflow error.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "oidc"))
from expr import Env, ExprError, condition, interpolate, interpolate_str, scalar_str, to_string  # noqa: E402
import github_oidc  # noqa: E402  (GitHub's filter pattern syntax, shared with the OIDC token issuer)

ROOT = Path(__file__).resolve().parents[2]
SERVER_URL = "https://github.com"


class RehearsalError(Exception):
    """The workflow uses something the rehearsal does not model, or is malformed: exit 2."""


class StepFailed(Exception):
    pass


# --- loading --------------------------------------------------------------------------------

WORKFLOW_KEYS = {"name", "run-name", "on", "permissions", "env", "defaults", "concurrency", "jobs"}
JOB_KEYS = {"name", "runs-on", "permissions", "environment", "concurrency", "steps", "env", "defaults",
            "timeout-minutes", "if", "outputs", "needs", "continue-on-error"}
STEP_KEYS = {"id", "name", "uses", "run", "with", "env", "if", "shell", "working-directory",
             "continue-on-error", "timeout-minutes"}
PERMISSION_SCOPES = {"actions", "attestations", "checks", "contents", "deployments", "discussions",
                     "id-token", "issues", "models", "packages", "pages", "pull-requests",
                     "repository-projects", "security-events", "statuses"}


def load_workflow(path: Path) -> dict:
    try:
        doc = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise RehearsalError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(doc, dict):
        raise RehearsalError(f"{path}: not a workflow (a mapping expected)")
    if True in doc:  # YAML 1.1 reads the key `on` as a boolean
        doc["on"] = doc.pop(True)
    unknown = set(doc) - WORKFLOW_KEYS
    if unknown:
        raise RehearsalError(f"{path}: workflow keys the rehearsal does not model: {', '.join(sorted(map(str, unknown)))}")
    for job_id, job in (doc.get("jobs") or {}).items():
        if not isinstance(job, dict):
            raise RehearsalError(f"{path}: job {job_id} is not a mapping")
        if "uses" in job:
            raise RehearsalError(f"{path}: job {job_id} calls a reusable workflow: not modelled by the rehearsal")
        unknown = set(job) - JOB_KEYS
        if unknown:
            raise RehearsalError(f"{path}: job {job_id}: keys the rehearsal does not model: {', '.join(sorted(unknown))}")
        for n, step in enumerate(job.get("steps") or [], 1):
            unknown = set(step) - STEP_KEYS
            if unknown:
                raise RehearsalError(f"{path}: job {job_id} step {n}: keys the rehearsal does not model: {', '.join(sorted(unknown))}")
            if ("uses" in step) == ("run" in step):
                raise RehearsalError(f"{path}: job {job_id} step {n}: exactly one of `uses` and `run` expected")
    return doc


def triggers(doc: dict) -> dict[str, Any]:
    on = doc.get("on")
    if isinstance(on, str):
        return {on: None}
    if isinstance(on, list):
        return {e: None for e in on}
    if isinstance(on, dict):
        return on
    raise RehearsalError("workflow has no `on:`")


def _glob_match(pattern: str, name: str) -> bool:
    """One filter pattern, GitHub's syntax (dev/oidc/github_oidc.py has the one implementation)."""
    try:
        return github_oidc.glob_match(pattern, name)
    except ValueError as e:
        raise RehearsalError(str(e)) from e


def _patterns_match(patterns: list[str], name: str) -> bool:
    try:
        return github_oidc.patterns_match(patterns, name)
    except ValueError as e:
        raise RehearsalError(str(e)) from e


def _filter(spec: Any, key: str, value: str | None) -> bool:
    if not isinstance(spec, dict) or value is None:
        return True
    try:
        return github_oidc.filter_allows(spec, key, value)
    except ValueError as e:
        raise RehearsalError(str(e)) from e


def workflow_runs_for(doc: dict, event: str, ref: str, base: str | None) -> bool:
    on = triggers(doc)
    if event not in on:
        return False
    spec = on[event]
    if event == "push":
        if ref.startswith("refs/heads/"):
            return _filter(spec, "branches", ref[len("refs/heads/"):]) and not (isinstance(spec, dict) and "tags" in spec and "branches" not in spec)
        if ref.startswith("refs/tags/"):
            return _filter(spec, "tags", ref[len("refs/tags/"):]) and not (isinstance(spec, dict) and "branches" in spec and "tags" not in spec)
    if event in ("pull_request", "pull_request_target"):
        return _filter(spec, "branches", base)
    return True


def permissions_of(doc: dict, job: dict) -> dict[str, str]:
    """The GITHUB_TOKEN permissions of a job: the job's `permissions`, else the workflow's, else the
    repository default (read for contents and packages only: GitHub's "restricted" default)."""
    spec = job.get("permissions", doc.get("permissions", {"contents": "read", "packages": "read"}))
    if spec == "read-all":
        return {s: "read" for s in PERMISSION_SCOPES}
    if spec == "write-all":
        return {s: "write" for s in PERMISSION_SCOPES}
    if spec in ({}, None):
        return {}
    if not isinstance(spec, dict):
        raise RehearsalError(f"permissions: {spec!r} is not a mapping, read-all or write-all")
    unknown = set(spec) - PERMISSION_SCOPES
    if unknown:
        raise RehearsalError(f"permissions: unknown scope(s) {', '.join(sorted(unknown))}")
    for scope, level in spec.items():
        if level not in ("read", "write", "none"):
            raise RehearsalError(f"permissions: {scope}: {level!r} is not read, write or none")
    return {s: v for s, v in spec.items() if v != "none"}


# --- events ---------------------------------------------------------------------------------

def git(repo: Path | str, *args: str, capture: bool = True) -> str:
    r = subprocess.run(["git", "-C", str(repo), *args], check=True, text=True,
                       stdout=subprocess.PIPE if capture else None, stderr=subprocess.PIPE)
    return r.stdout.strip() if capture else ""


class Event:
    def __init__(self, args: argparse.Namespace, doc: dict):
        self.name = args.event
        self.repository = args.repository
        self.owner, self.repo_name = self.repository.split("/", 1)
        self.actor = args.actor
        self.repo_dir = Path(args.repo_dir).resolve()
        self.fork = bool(args.head_repo and args.head_repo != self.repository)
        self.head_repo = args.head_repo or self.repository
        self.run_id = args.run_id or str(int(time.time() * 1000) % 10**10)
        self.run_number = args.run_number
        self.inputs: dict[str, Any] = {}
        self.base = None
        self.head_ref = ""
        self.base_ref = ""
        repo_obj = {"full_name": self.repository, "name": self.repo_name, "owner": {"login": self.owner},
                    "default_branch": "main", "fork": False, "private": True}
        if self.name == "push":
            self.ref = args.ref or "refs/heads/main"
            self.sha = args.sha or git(self.repo_dir, "rev-parse", self.ref)
            before = args.before or _parent(self.repo_dir, self.sha)
            self.payload = {"ref": self.ref, "before": before, "after": self.sha, "created": False,
                            "deleted": False, "forced": False, "repository": repo_obj,
                            "head_commit": _commit(self.repo_dir, self.sha), "pusher": {"name": self.actor},
                            "sender": {"login": self.actor, "type": "User"}}
        elif self.name == "pull_request":
            if not args.pr or not args.head_sha:
                raise RehearsalError("--event pull_request needs --pr N and --head-sha SHA (and --base-sha, --sha for the merge commit)")
            self.base = args.base or "main"
            self.ref = args.ref or f"refs/pull/{args.pr}/merge"
            self.sha = args.sha or git(self.repo_dir, "rev-parse", self.ref)
            base_sha = args.base_sha or git(self.repo_dir, "rev-parse", f"refs/heads/{self.base}")
            self.head_ref = args.head or f"pr-{args.pr}"
            self.base_ref = self.base
            head_repo = dict(repo_obj, full_name=self.head_repo, name=self.head_repo.split("/", 1)[1],
                             owner={"login": self.head_repo.split("/", 1)[0]}, fork=self.fork)
            self.payload = {
                "action": args.pr_action, "number": args.pr,
                "pull_request": {"number": args.pr, "state": "open", "merged": False, "title": f"PR {args.pr}",
                                 "user": {"login": self.actor},
                                 "head": {"sha": args.head_sha, "ref": self.head_ref, "label": f"{head_repo['owner']['login']}:{self.head_ref}", "repo": head_repo},
                                 "base": {"sha": base_sha, "ref": self.base, "label": f"{self.owner}:{self.base}", "repo": repo_obj},
                                 "html_url": f"{SERVER_URL}/{self.repository}/pull/{args.pr}"},
                "repository": repo_obj, "sender": {"login": self.actor, "type": "User"}}
        elif self.name == "workflow_dispatch":
            self.ref = args.ref or "refs/heads/main"
            self.sha = args.sha or git(self.repo_dir, "rev-parse", self.ref)
            declared = (triggers(doc).get("workflow_dispatch") or {}).get("inputs") or {}
            given = dict(kv(s, "--input") for s in args.input)
            unknown = set(given) - set(declared)
            if unknown:
                raise RehearsalError(f"workflow_dispatch: inputs not declared by the workflow: {', '.join(sorted(unknown))}")
            for name, spec in declared.items():
                spec = spec or {}
                if name in given:
                    value: Any = given[name]
                elif "default" in spec:
                    value = scalar_str(spec["default"])
                elif spec.get("required"):
                    raise RehearsalError(f"workflow_dispatch: input {name} is required")
                else:
                    value = ""
                kind = spec.get("type", "string")
                if kind == "boolean":
                    if value not in ("true", "false"):
                        raise RehearsalError(f"workflow_dispatch: input {name} is a boolean, got {value!r}")
                    value = value == "true"
                elif kind == "choice" and value not in [scalar_str(o) for o in spec.get("options", [])]:
                    raise RehearsalError(f"workflow_dispatch: input {name}={value!r} is not one of {spec.get('options')}")
                elif kind == "number":
                    value = float(value)
                elif kind not in ("string", "choice", "environment"):
                    raise RehearsalError(f"workflow_dispatch: input {name}: type {kind} not modelled")
                self.inputs[name] = value
            self.payload = {"inputs": {k: (scalar_str(v) if not isinstance(v, str) else v) for k, v in self.inputs.items()},
                            "ref": self.ref, "repository": repo_obj, "sender": {"login": self.actor, "type": "User"},
                            "workflow": args.workflow_rel}
        else:
            raise RehearsalError(f"event {self.name}: the rehearsal models push, pull_request and workflow_dispatch")
        if args.event_extra:
            self.payload = _merge(self.payload, json.loads(Path(args.event_extra).read_text()))


def _merge(a: Any, b: Any) -> Any:
    if isinstance(a, dict) and isinstance(b, dict):
        out = dict(a)
        for k, v in b.items():
            out[k] = _merge(a.get(k), v)
        return out
    return b


def _parent(repo: Path, sha: str) -> str:
    try:
        return git(repo, "rev-parse", f"{sha}^")
    except subprocess.CalledProcessError:
        return "0" * 40


def _commit(repo: Path, sha: str) -> dict:
    msg = git(repo, "log", "-1", "--format=%B", sha)
    return {"id": sha, "message": msg, "timestamp": git(repo, "log", "-1", "--format=%cI", sha),
            "author": {"name": git(repo, "log", "-1", "--format=%an", sha)}}


def rmtree(path: Path) -> None:
    """`rm -rf` (shutil.rmtree takes ~8x longer on a node_modules tree on this machine's disk)."""
    subprocess.run(["rm", "-rf", "--one-file-system", str(path)], check=True)


def kv(s: str, flag: str) -> tuple[str, str]:
    if "=" not in s:
        raise RehearsalError(f"{flag} {s!r}: NAME=VALUE expected")
    k, v = s.split("=", 1)
    return k, v


# --- file commands and workflow commands ------------------------------------------------------

def parse_file_command(path: Path) -> dict[str, str]:
    """GITHUB_OUTPUT / GITHUB_ENV: `name=value` lines and `name<<DELIM` … `DELIM` blocks."""
    out: dict[str, str] = {}
    if not path.exists():
        return out
    lines = path.read_text().split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line.strip():
            continue
        heredoc = re.fullmatch(r"([^=<]+)<<(.+)", line)
        if heredoc and ("=" not in line or line.index("<<") < line.index("=")):
            name, delim = heredoc.group(1), heredoc.group(2)
            body = []
            while i < len(lines) and lines[i] != delim:
                body.append(lines[i])
                i += 1
            if i >= len(lines):
                raise StepFailed(f"{path.name}: matching delimiter {delim!r} not found for {name}")
            i += 1
            out[name] = "\n".join(body)
        elif "=" in line:
            name, value = line.split("=", 1)
            out[name] = value
        else:
            raise StepFailed(f"{path.name}: invalid line {line!r} (neither name=value nor name<<DELIM)")
    return out


class Log:
    def __init__(self, path: Path, quiet: bool):
        self.path = path
        self.quiet = quiet
        self.masks: list[str] = []
        path.parent.mkdir(parents=True, exist_ok=True)
        self.f = path.open("a")

    def mask(self, text: str) -> str:
        for m in sorted(self.masks, key=len, reverse=True):
            if m:
                text = text.replace(m, "***")
        return text

    def write(self, line: str) -> None:
        line = self.mask(line)
        self.f.write(line + "\n")
        self.f.flush()
        if not self.quiet:
            print(line, file=sys.stderr, flush=True)


WORKFLOW_COMMAND = re.compile(r"^::([a-zA-Z-]+)(?: ([^:]*))?::(.*)$")


def _unescape(s: str) -> str:
    return s.replace("%0D", "\r").replace("%0A", "\n").replace("%3A", ":").replace("%2C", ",").replace("%25", "%")


# --- the run ----------------------------------------------------------------------------------

class Rehearsal:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.workflow_path = Path(args.workflow).resolve()
        self.doc = load_workflow(self.workflow_path)
        args.workflow_rel = args.workflow_rel or _rel_workflow(self.workflow_path)
        self.event = Event(args, self.doc)
        self.work = Path(args.work).resolve()
        self.work.mkdir(parents=True, exist_ok=True)
        self.artifacts = Path(args.artifacts).resolve() if args.artifacts else self.work / "artifacts"
        self.vars = dict(kv(s, "--var") for s in args.var)
        self.secrets_in = dict(kv(s, "--secret") for s in args.secret)
        self.runner_env = dict(kv(s, "--runner-env") for s in args.runner_env)
        self.log = Log(self.work / "logs" / "rehearsal.log", args.quiet)
        self.event_path = self.work / "workflow" / "event.json"
        # Every job gets a GITHUB_TOKEN; without --token/--read-only-token, an opaque one per run.
        self.generated_tokens = (f"ghs_rehearsal_w_{uuid.uuid4().hex}", f"ghs_rehearsal_r_{uuid.uuid4().hex}")
        self.result: dict[str, Any] = {"workflow": args.workflow_rel, "event": self.event.name, "ref": self.event.ref,
                                       "sha": self.event.sha, "run_id": self.event.run_id, "jobs": {}}

    # -- contexts --
    def github_token(self, perms: dict[str, str]) -> str:
        """The job's GITHUB_TOKEN: the write token, or the read-only one for a fork's pull request
        (GitHub caps a fork PR's token at read) or a job whose permissions grant no write."""
        writes = any(v == "write" for k, v in perms.items() if k not in ("id-token",))
        if self.event.fork or not writes:
            return self.args.read_only_token or self.generated_tokens[1]
        return self.args.token or self.generated_tokens[0]

    def github_context(self, job_id: str, token: str, workspace: Path, action: str = "") -> dict:
        e = self.event
        ref_name = e.ref[len("refs/heads/"):] if e.ref.startswith("refs/heads/") else (
            e.ref[len("refs/tags/"):] if e.ref.startswith("refs/tags/") else e.ref[len("refs/"):] if e.ref.startswith("refs/pull/") else e.ref)
        if e.ref.startswith("refs/pull/"):
            ref_name = e.ref[len("refs/pull/"):]
        wf_ref = f"{e.repository}/{self.args.workflow_rel}@{e.ref}"
        return {
            "action": action, "action_path": "", "action_ref": "", "action_repository": "",
            "actor": e.actor, "actor_id": "1", "triggering_actor": e.actor,
            "api_url": self.args.github_api_url, "graphql_url": self.args.github_api_url + "/graphql",
            "server_url": SERVER_URL,
            "base_ref": e.base_ref, "head_ref": e.head_ref, "event": e.payload, "event_name": e.name,
            "event_path": str(self.event_path), "job": job_id, "ref": e.ref, "ref_name": ref_name,
            "ref_protected": e.ref == "refs/heads/main", "ref_type": "tag" if e.ref.startswith("refs/tags/") else "branch",
            "repository": e.repository, "repository_owner": e.owner, "repository_id": "1", "repository_owner_id": "1",
            "retention_days": "90", "run_id": e.run_id, "run_number": str(e.run_number), "run_attempt": "1",
            "secret_source": "Actions", "sha": e.sha, "token": token, "workflow": self.doc.get("name") or self.args.workflow_rel,
            "workflow_ref": wf_ref, "workflow_sha": e.sha, "workspace": str(workspace),
        }

    def vars_context(self) -> dict:
        # A fork's pull request gets no configuration variables either (GitHub passes neither
        # secrets nor variables to it): `vars.X` is empty there.
        return {} if self.event.fork else dict(self.vars)

    def secrets_context(self, token: str) -> dict:
        # A fork's pull request gets no repository secrets: only GITHUB_TOKEN (read-only).
        out = {} if self.event.fork else dict(self.secrets_in)
        out["GITHUB_TOKEN"] = token
        return out

    # -- jobs --
    def run(self) -> int:
        e = self.event
        if not workflow_runs_for(self.doc, e.name, e.ref, e.base):
            raise RehearsalError(f"{self.args.workflow_rel} does not run on {e.name} {e.ref}"
                                 f"{' into ' + e.base if e.base else ''} (see its `on:`)")
        self.event_path.parent.mkdir(parents=True, exist_ok=True)
        self.event_path.write_text(json.dumps(e.payload, indent=2))
        jobs = self.doc.get("jobs") or {}
        order = _job_order(jobs)
        if self.args.job:
            if self.args.job not in jobs:
                raise RehearsalError(f"no job {self.args.job} in {self.args.workflow_rel} (jobs: {', '.join(jobs)})")
            order = [self.args.job]
        ok = True
        for job_id in order:
            res = self.run_job(job_id, jobs[job_id])
            self.result["jobs"][job_id] = res
            ok = ok and res["result"] in ("success", "skipped")
        self.result["conclusion"] = "success" if ok else "failure"
        (self.work / "result.json").write_text(json.dumps(self.result, indent=2))
        self.log.write(f"[rehearsal] {self.args.workflow_rel} on {e.name}: {self.result['conclusion']}")
        return 0 if ok else 1

    def run_job(self, job_id: str, job: dict) -> dict:
        log = self.log
        perms = permissions_of(self.doc, job)
        if self.event.fork:  # GitHub caps every scope of a fork PR's token at read, id-token at none
            perms = {k: "read" for k, v in perms.items() if k != "id-token"}
        token = self.github_token(perms)
        if token:
            log.masks.append(token)
        for v in self.secrets_in.values():
            log.masks.append(v)
        base = self.work / "runner" / job_id
        if base.exists():
            rmtree(base)
        workspace = base / "work" / self.event.repo_name / self.event.repo_name
        temp = base / "_temp"
        home = base / "home"
        for d in (workspace, temp, home, base / "tool_cache"):
            d.mkdir(parents=True, exist_ok=True)
        environment = job.get("environment")
        needs_ctx = {n: self.result["jobs"].get(n, {"result": "skipped", "outputs": {}}) for n in _needs(job)}
        state: dict[str, Any] = {
            "status": "success", "steps": {}, "env": {}, "path": [], "workspace": workspace, "temp": temp,
            "home": home, "job_id": job_id, "token": token, "perms": perms, "job": job,
            "summary": [], "annotations": [], "environment": environment,
        }
        log.write(f"[rehearsal] job {job_id} ({self.args.workflow_rel}, {self.event.name} {self.event.ref} @ {self.event.sha[:12]}"
                  f"{', fork ' + self.event.head_repo if self.event.fork else ''})")
        log.write(f"[rehearsal]   permissions: {', '.join(f'{k}: {v}' for k, v in sorted(perms.items())) or 'none'}")
        base_contexts = {
            "github": self.github_context(job_id, token, workspace), "vars": self.vars_context(),
            "secrets": self.secrets_context(token), "inputs": self.event.inputs,
            "runner": {"os": "Linux", "arch": "X64", "name": "rehearsal", "temp": str(temp),
                       "tool_cache": str(base / "tool_cache"), "environment": "self-hosted", "debug": ""},
            "needs": needs_ctx, "strategy": {}, "matrix": {}, "job": {"status": "success"},
        }
        self.base_contexts = base_contexts
        if "if" in job:
            env_ = Env(dict(base_contexts), status=lambda: "success")
            if not condition(job["if"], env_):
                log.write(f"[rehearsal] job {job_id}: skipped (if: {job['if']})")
                return {"result": "skipped", "outputs": {}, "steps": {}}
        wf_env = self._env_block(self.doc.get("env"), base_contexts, {}, "workflow env")
        job_env = self._env_block(job.get("env"), base_contexts, wf_env, f"job {job_id} env")
        state["job_env"] = {**wf_env, **job_env}
        if isinstance(environment, dict):
            environment = environment.get("name")
        if environment is not None:
            environment = interpolate_str(environment, Env(dict(base_contexts)))
        state["environment"] = environment
        defaults = {**((self.doc.get("defaults") or {}).get("run") or {}), **((job.get("defaults") or {}).get("run") or {})}
        state["defaults"] = defaults
        summary_path = self.work / f"summary-{job_id}.md"
        summary_path.write_text("")
        for n, step in enumerate(job.get("steps") or [], 1):
            sid = step.get("id") or f"__step{n}"
            name = step.get("name") or (f"Run {step['uses']}" if "uses" in step else f"Run {str(step['run']).splitlines()[0][:60]}")
            contexts = self._contexts(state)
            env_ = Env(contexts, status=lambda: state["status"], workspace=str(workspace))
            try:
                run_it = condition(step.get("if"), env_)
            except ExprError as e:
                raise RehearsalError(f"job {job_id} step {n} ({name}) if: {e}") from None
            if not run_it:
                log.write(f"[rehearsal] step {n} {name}: skipped")
                state["steps"][sid] = {"outcome": "skipped", "conclusion": "skipped", "outputs": {}, "name": name}
                continue
            log.write(f"[rehearsal] step {n} {name}")
            t0 = time.monotonic()
            outputs: dict[str, str] = {}
            try:
                outputs = self.run_step(n, step, state, env_)
                outcome = "success"
            except StepFailed as e:
                log.write(f"[rehearsal]   step failed: {e}")
                outcome = "failure"
            except ExprError as e:
                raise RehearsalError(f"job {job_id} step {n} ({name}): {e}") from None
            coe = step.get("continue-on-error", False)
            if isinstance(coe, str):
                coe = condition(coe, env_)
            conclusion = "success" if outcome == "success" or coe else "failure"
            if conclusion == "failure":
                state["status"] = "failure"
            state["steps"][sid] = {"outcome": outcome, "conclusion": conclusion, "outputs": outputs,
                                   "name": name, "seconds": round(time.monotonic() - t0, 2)}
            log.write(f"[rehearsal]   {outcome} in {time.monotonic() - t0:.1f}s"
                      + (f", outputs: {', '.join(sorted(outputs))}" if outputs else ""))
        summary_path.write_text("".join(state["summary"]))
        contexts = self._contexts(state)
        outputs = {}
        for k, v in (job.get("outputs") or {}).items():
            outputs[k] = interpolate_str(v, Env(contexts, status=lambda: state["status"]))
        return {"result": state["status"], "outputs": outputs, "environment": environment,
                "permissions": perms, "steps": {k: v for k, v in state["steps"].items()},
                "summary": str(summary_path), "annotations": state["annotations"]}

    def _env_block(self, block: Any, contexts: dict, env_so_far: dict, what: str) -> dict[str, str]:
        if not block:
            return {}
        if not isinstance(block, dict):
            raise RehearsalError(f"{what}: a mapping expected")
        c = dict(contexts)
        c["env"] = dict(env_so_far)
        out = {}
        for k, v in block.items():
            out[str(k)] = interpolate_str(v, Env(c))
        return out

    def _contexts(self, state: dict) -> dict:
        c = dict(self.base_contexts)
        c["env"] = {**state["job_env"], **state["env"]}
        c["steps"] = {k: v for k, v in state["steps"].items() if not k.startswith("__step")}
        c["job"] = {"status": state["status"]}
        return c

    def runner_vars(self, state: dict, files: dict[str, Path], action: str) -> dict[str, str]:
        e = self.event
        g = self.github_context(state["job_id"], state["token"], state["workspace"], action)
        env = {
            "CI": "true", "GITHUB_ACTIONS": "true", "GITHUB_ACTION": action, "GITHUB_ACTOR": e.actor,
            "GITHUB_ACTOR_ID": "1", "GITHUB_TRIGGERING_ACTOR": e.actor,
            "GITHUB_API_URL": self.args.github_api_url, "GITHUB_GRAPHQL_URL": g["graphql_url"],
            "GITHUB_SERVER_URL": SERVER_URL, "GITHUB_BASE_REF": e.base_ref, "GITHUB_HEAD_REF": e.head_ref,
            "GITHUB_EVENT_NAME": e.name, "GITHUB_EVENT_PATH": str(self.event_path), "GITHUB_JOB": state["job_id"],
            "GITHUB_REF": e.ref, "GITHUB_REF_NAME": g["ref_name"], "GITHUB_REF_TYPE": g["ref_type"],
            "GITHUB_REF_PROTECTED": "true" if g["ref_protected"] else "false",
            "GITHUB_REPOSITORY": e.repository, "GITHUB_REPOSITORY_OWNER": e.owner, "GITHUB_REPOSITORY_ID": "1",
            "GITHUB_REPOSITORY_OWNER_ID": "1", "GITHUB_RETENTION_DAYS": "90", "GITHUB_RUN_ATTEMPT": "1",
            "GITHUB_RUN_ID": e.run_id, "GITHUB_RUN_NUMBER": str(e.run_number), "GITHUB_SHA": e.sha,
            "GITHUB_WORKFLOW": g["workflow"], "GITHUB_WORKFLOW_REF": g["workflow_ref"], "GITHUB_WORKFLOW_SHA": e.sha,
            "GITHUB_WORKSPACE": str(state["workspace"]),
            "RUNNER_ARCH": "X64", "RUNNER_OS": "Linux", "RUNNER_NAME": "rehearsal", "RUNNER_ENVIRONMENT": "self-hosted",
            "RUNNER_TEMP": str(state["temp"]), "RUNNER_TOOL_CACHE": str(state["temp"].parent / "tool_cache"),
            "HOME": str(state["home"]), "LANG": "C.UTF-8",
        }
        for k, p in files.items():
            env[k] = str(p)
        return env

    def file_commands(self, state: dict, n: int) -> dict[str, Path]:
        d = state["temp"] / "_runner_file_commands"
        d.mkdir(parents=True, exist_ok=True)
        files = {}
        for var in ("GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_PATH", "GITHUB_STEP_SUMMARY", "GITHUB_STATE"):
            p = d / f"{var.lower()}_{n}"
            p.write_text("")
            files[var] = p
        return files

    def collect_file_commands(self, state: dict, files: dict[str, Path]) -> dict[str, str]:
        outputs = parse_file_command(files["GITHUB_OUTPUT"])
        for k, v in parse_file_command(files["GITHUB_ENV"]).items():
            state["env"][k] = v
        for line in files["GITHUB_PATH"].read_text().splitlines():
            if line.strip():
                state["path"].insert(0, line.strip())
        text = files["GITHUB_STEP_SUMMARY"].read_text()
        if len(text.encode()) > 1024 * 1024:
            raise StepFailed(f"the step summary is {len(text.encode())} bytes; GitHub's limit is 1 MiB per step")
        if text:
            state["summary"].append(text if text.endswith("\n") else text + "\n")
        return outputs

    def step_env(self, step: dict, state: dict, env_: Env) -> dict[str, str]:
        c = dict(env_.contexts)
        se = self._env_block(step.get("env"), c, c["env"], "step env")
        return {**state["job_env"], **state["env"], **se}

    def run_process(self, argv: list[str], env: dict[str, str], cwd: Path, state: dict, timeout: float | None) -> int:
        log = self.log
        proc = subprocess.Popen(argv, env=env, cwd=str(cwd), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, errors="replace")
        deadline = time.monotonic() + timeout if timeout else None
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip("\n")
            m = WORKFLOW_COMMAND.match(line)
            if m:
                cmd, props, msg = m.group(1), m.group(2) or "", _unescape(m.group(3))
                if cmd == "add-mask":
                    log.masks.append(msg)
                    log.write("::add-mask::***")
                    continue
                if cmd in ("error", "warning", "notice"):
                    state["annotations"].append({"level": cmd, "properties": props, "message": log.mask(msg)})
                if cmd in ("set-output", "save-state"):
                    raise StepFailed(f"the deprecated `::{cmd}::` command is disabled on GitHub; use the GITHUB_OUTPUT file")
            log.write("  " + line)
            if deadline and time.monotonic() > deadline:
                proc.kill()
                raise StepFailed(f"timed out after {timeout:.0f}s")
        return proc.wait()

    def run_step(self, n: int, step: dict, state: dict, env_: Env) -> dict[str, str]:
        timeout = None
        if "timeout-minutes" in step:
            timeout = float(step["timeout-minutes"]) * 60
        if "run" in step:
            return self.run_shell(n, step, state, env_, timeout)
        uses = step["uses"]
        if uses == "./" or uses.startswith("./"):
            return self.run_local_action(n, step, state, env_, uses, timeout)
        if uses.startswith("docker://"):
            return self.run_container_action(n, step, state, env_, None, uses[len("docker://"):], timeout)
        m = re.fullmatch(r"([^/@]+/[^/@]+)(/[^@]*)?@(.+)", uses)
        if not m:
            raise RehearsalError(f"step {n}: uses {uses!r} is not owner/repo@ref")
        name, ref = m.group(1) + (m.group(2) or ""), m.group(3)
        handlers = {"actions/checkout": self.a_checkout, "actions/setup-node": self.a_setup_node,
                    "aws-actions/configure-aws-credentials": self.a_configure_aws,
                    "actions/upload-artifact": self.a_upload, "actions/download-artifact": self.a_download,
                    "actions/cache": self.a_cache}
        if name not in handlers:
            raise RehearsalError(f"step {n}: action {name} is not modelled by the rehearsal")
        with_ = {k: interpolate_str(v, env_) for k, v in (step.get("with") or {}).items()}
        self.log.write(f"[rehearsal]   {name}@{ref}" + (f" with {', '.join(f'{k}={v!r}' for k, v in with_.items())}" if with_ else ""))
        return handlers[name](n, with_, state, self.step_env(step, state, env_))

    def _path_env(self, state: dict, env: dict[str, str]) -> str:
        return ":".join([*state["path"], self.runner_env.get("PATH", os.environ.get("PATH", "/usr/bin:/bin"))])

    def run_shell(self, n: int, step: dict, state: dict, env_: Env, timeout: float | None) -> dict[str, str]:
        script = interpolate_str(step["run"], env_)
        shell = step.get("shell", state["defaults"].get("shell"))
        tmp = state["temp"] / f"step-{n}-{uuid.uuid4().hex[:8]}.sh"
        tmp.write_text(script)
        if shell in (None,):
            argv = ["bash", "-e", str(tmp)]
        elif shell == "bash":
            argv = ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(tmp)]
        elif shell == "sh":
            argv = ["sh", "-e", str(tmp)]
        elif shell == "python":
            argv = ["python3", str(tmp)]
        else:
            raise RehearsalError(f"step {n}: shell {shell!r} is not modelled")
        wd = step.get("working-directory", state["defaults"].get("working-directory"))
        cwd = state["workspace"] / interpolate_str(wd, env_) if wd else state["workspace"]
        if not cwd.is_dir():
            raise StepFailed(f"working-directory {cwd} does not exist")
        files = self.file_commands(state, n)
        env = {**self.runner_vars(state, files, step.get("id") or f"__run_{n}"), **self.runner_env,
               **self.step_env(step, state, env_)}
        env["PATH"] = self._path_env(state, env)
        rc = self.run_process(argv, env, cwd, state, timeout)
        outputs = self.collect_file_commands(state, files)
        if rc != 0:
            raise StepFailed(f"Process completed with exit code {rc}.")
        return outputs

    # -- emulated actions --
    @staticmethod
    def _only(n: int, name: str, with_: dict, allowed: set[str]) -> None:
        extra = set(with_) - allowed
        if extra:
            raise RehearsalError(f"step {n}: {name} input(s) not modelled by the rehearsal: {', '.join(sorted(extra))}")

    def a_checkout(self, n: int, with_: dict, state: dict, env: dict) -> dict[str, str]:
        self._only(n, "actions/checkout", with_, {"persist-credentials", "fetch-depth", "ref", "path"})
        ref = with_.get("ref") or self.event.sha
        dest = state["workspace"] / with_["path"] if with_.get("path") else state["workspace"]
        if dest.exists():
            rmtree(dest)
        depth = with_.get("fetch-depth", "1")
        # As the action fetches: the sha itself, shallow by default (no tags); with fetch-depth 0
        # the whole history with every branch (as origin/*) and every tag.
        subprocess.run(["git", "init", "-q", str(dest)], check=True)
        everything = ["+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*"] if depth == "0" else []
        subprocess.run(["git", "-C", str(dest), "fetch", "-q", *([] if depth == "0" else [f"--depth={depth}"]),
                        "file://" + str(self.event.repo_dir), *everything, ref], check=True, stderr=subprocess.PIPE)
        subprocess.run(["git", "-C", str(dest), "checkout", "-q", "--detach", "FETCH_HEAD"], check=True)
        got = git(dest, "rev-parse", "HEAD")
        if with_.get("ref") is None and got != self.event.sha:
            raise StepFailed(f"checkout: HEAD is {got}, the event's sha is {self.event.sha}")
        if with_.get("persist-credentials", "true") == "true":
            # The real action writes the token into .git/config (an http extraheader).
            subprocess.run(["git", "-C", str(dest), "config", "--local", "http.https://github.com/.extraheader",
                            f"AUTHORIZATION: basic {state['token']}"], check=True)
        self.log.write(f"[rehearsal]   checked out {got[:12]} into {dest}")
        return {"ref": ref, "commit": got}

    def a_setup_node(self, n: int, with_: dict, state: dict, env: dict) -> dict[str, str]:
        self._only(n, "actions/setup-node", with_, {"node-version", "cache", "cache-dependency-path", "package-manager-cache"})
        node = shutil.which("node")
        if not node:
            raise StepFailed("setup-node: this machine has no node")
        version = subprocess.run([node, "--version"], check=True, text=True, stdout=subprocess.PIPE).stdout.strip()
        want = with_.get("node-version", "")
        note = "" if not want or version.lstrip("v").split(".")[0] == want.split(".")[0] else f" (the workflow asks for {want})"
        self.log.write(f"[rehearsal]   node {version} from {node}{note}")
        if want and note:
            state["annotations"].append({"level": "rehearsal", "properties": "", "message": f"setup-node: node-version {want} asked, this machine's {version} used"})
        if with_.get("cache"):
            dep = with_.get("cache-dependency-path")
            if dep and not list(state["workspace"].glob(dep)):
                raise StepFailed(f"setup-node: cache-dependency-path {dep} matches no file (the real action fails the same way)")
            self.log.write("[rehearsal]   npm cache: a miss (the rehearsal has no cache service)")
        state["path"].insert(0, str(Path(node).parent))
        return {"node-version": version, "cache-hit": "false"}

    def a_configure_aws(self, n: int, with_: dict, state: dict, env: dict) -> dict[str, str]:
        self._only(n, "aws-actions/configure-aws-credentials", with_,
                   {"role-to-assume", "aws-region", "audience", "mask-aws-account-id"})
        if not with_.get("aws-region"):
            raise StepFailed("configure-aws-credentials: Input required and not supplied: aws-region")
        if not with_.get("role-to-assume"):
            raise StepFailed("configure-aws-credentials: no role-to-assume and no credentials (the rehearsal models OIDC only)")
        if state["perms"].get("id-token") != "write":
            # The runner sets ACTIONS_ID_TOKEN_REQUEST_URL only with id-token: write (never for a fork PR).
            raise StepFailed("Credentials could not be loaded, please check your action inputs: "
                             "Could not load credentials from any providers (no ACTIONS_ID_TOKEN_REQUEST_URL: "
                             "the job lacks `permissions: id-token: write`" + (", and a fork's pull request never gets one)" if self.event.fork else ")"))
        assume = ROOT / "dev" / "oidc" / "assume"
        if not assume.exists():
            raise StepFailed("configure-aws-credentials: dev/oidc/assume is missing (the OIDC token maker)")
        argv = [str(assume), "--workflow", str(self.workflow_path), "--event", self.event.name, "--ref", self.event.ref,
                "--job", state["job_id"], "--repo", self.event.repository, "--sha", self.event.sha,
                "--actor", self.event.actor, "--role-arn", with_["role-to-assume"], "--region", with_["aws-region"],
                "--format", "json"]
        if state["environment"]:
            argv += ["--environment", state["environment"]]
        if self.event.name == "pull_request":
            argv += ["--base", self.event.base, "--head", self.event.head_ref, "--head-repo", self.event.head_repo]
        if with_.get("audience"):
            argv += ["--audience", with_["audience"]]
        # dev/oidc/assume reads the step's `with:` itself; it gets the values the rehearsal resolved.
        for k, v in self.vars.items():
            argv += ["--var", f"{k}={v}"]
        proc_env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", ""), **self.runner_env}
        for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
            proc_env.pop(k, None)
        r = subprocess.run(argv, env=proc_env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for line in r.stderr.splitlines():
            self.log.write("  " + line)
        if r.returncode != 0:
            raise StepFailed(f"configure-aws-credentials: AssumeRoleWithWebIdentity refused (dev/oidc/assume exit {r.returncode})")
        creds = json.loads(r.stdout)
        for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
            if not creds.get(k):
                raise StepFailed(f"configure-aws-credentials: no {k} in the answer")
            self.log.masks.append(creds[k])
        for k, v in creds.items():
            if k.startswith("AWS_"):
                state["env"][k] = v
        account = with_["role-to-assume"].split(":")[4] if with_["role-to-assume"].startswith("arn:") else ""
        self.log.write(f"[rehearsal]   assumed {with_['role-to-assume']} (exported {', '.join(k for k in creds if k.startswith('AWS_'))})")
        return {"aws-account-id": account}

    # upload-artifact (v4+): characters an artifact name may not contain.
    ARTIFACT_NAME_FORBIDDEN = '":<>|*?\r\n\\/'

    def a_upload(self, n: int, with_: dict, state: dict, env: dict) -> dict[str, str]:
        """The artifact as upload-artifact (v4+) builds it: the files the `path` lines match, laid out
        relative to the least common ancestor of the search paths (a single file's own directory),
        hidden files left out unless `include-hidden-files`; stored in the run's artifact store."""
        self._only(n, "actions/upload-artifact", with_, {"name", "path", "if-no-files-found", "retention-days", "overwrite", "include-hidden-files", "compression-level"})
        name = with_.get("name") or "artifact"
        bad = sorted({c for c in name if c in self.ARTIFACT_NAME_FORBIDDEN})
        if bad:
            raise StepFailed(f"upload-artifact: The artifact name is not valid: {name!r}. Contains the following character(s): {' '.join(map(repr, bad))}")
        mode = with_.get("if-no-files-found", "warn")
        if mode not in ("warn", "error", "ignore"):
            raise StepFailed(f"upload-artifact: Unrecognized if-no-files-found input. Provided: {mode}. Available options: warn, error, ignore")
        retention = with_.get("retention-days", "")
        if retention and not (retention.isdigit() and 1 <= int(retention) <= 90):
            raise StepFailed(f"upload-artifact: retention-days {retention!r}: a whole number of days from 1 to 90 expected")
        for flag in ("overwrite", "include-hidden-files"):
            if with_.get(flag, "false") not in ("true", "false"):
                raise StepFailed(f"upload-artifact: {flag} {with_[flag]!r}: true or false expected")
        dest = self.artifacts / self.event.run_id / name
        if dest.exists():
            if with_.get("overwrite", "false") != "true":
                raise StepFailed(f"upload-artifact: Failed to CreateArtifact: an artifact named {name} already exists in run {self.event.run_id}")
            rmtree(dest)
        paths = [p.strip() for p in with_.get("path", "").splitlines() if p.strip()]
        if not paths:
            raise StepFailed("upload-artifact: Input required and not supplied: path")
        if any(p.startswith("!") for p in paths):
            raise RehearsalError(f"step {n}: upload-artifact exclusion patterns (!…) are not modelled by the rehearsal")
        ws = state["workspace"]
        searches: list[Path] = []
        files: list[Path] = []
        for p in paths:
            full = Path(p) if Path(p).is_absolute() else ws / p
            parts = full.parts
            wild = next((i for i, part in enumerate(parts) if any(ch in part for ch in "*?[")), None)
            if wild is None:
                searches.append(full)
                hits = [full] if full.exists() else []
            else:
                searches.append(Path(*parts[:wild]))
                hits = [Path(x) for x in sorted(glob.glob(str(full), recursive=True))]
            for h in hits:
                files += [h] if h.is_file() else sorted(x for x in h.rglob("*") if x.is_file())
        if len(searches) == 1 and searches[0].is_file():
            root = searches[0].parent
        else:
            root = Path(os.path.commonpath([str(x) for x in searches]))
            if root.is_file():
                root = root.parent
        hidden = with_.get("include-hidden-files", "false") == "true"
        kept = {}
        for f in files:
            rel = f.relative_to(root)
            if not hidden and any(part.startswith(".") for part in rel.parts):
                continue
            kept[rel] = f
        if not kept:
            msg = f"upload-artifact: No files were found with the provided path: {', '.join(paths)}. No artifacts will be uploaded."
            if mode == "error":
                raise StepFailed(msg)
            self.log.write(f"[rehearsal]   {msg} ({mode})")
            if mode == "warn":
                state["annotations"].append({"level": "warning", "properties": "", "message": msg})
            return {}
        digest = hashlib.sha256()
        for rel, f in sorted(kept.items()):
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(f, target)
            digest.update(str(rel).encode() + b"\0" + f.read_bytes())
        self.log.write(f"[rehearsal]   uploaded artifact {name} ({', '.join(str(r) for r in sorted(kept))}) to {dest}")
        return {"artifact-id": f"{self.event.run_id}-{name}", "artifact-digest": digest.hexdigest(),
                "artifact-url": f"{SERVER_URL}/{self.event.repository}/actions/runs/{self.event.run_id}/artifacts/{name}"}

    def a_download(self, n: int, with_: dict, state: dict, env: dict) -> dict[str, str]:
        self._only(n, "actions/download-artifact", with_, {"name", "path", "run-id", "github-token", "repository"})
        name = with_.get("name")
        if not name:
            raise RehearsalError(f"step {n}: download-artifact without a name is not modelled")
        run_id = with_.get("run-id") or self.event.run_id
        if run_id != self.event.run_id:
            if not with_.get("github-token"):
                raise StepFailed("download-artifact: a run-id of another run needs github-token")
            if state["perms"].get("actions") not in ("read", "write"):
                raise StepFailed("download-artifact: Resource not accessible by integration (the token lacks actions: read)")
        src = self.artifacts / run_id / name
        if not src.is_dir():
            raise StepFailed(f"download-artifact: Unable to download artifact(s): Artifact not found for name: {name} (run {run_id})")
        dest = state["workspace"] / (with_.get("path") or "")
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copytree(src, dest, dirs_exist_ok=True)
        self.log.write(f"[rehearsal]   downloaded artifact {name} of run {run_id} into {dest}")
        return {"download-path": str(dest)}

    def a_cache(self, n: int, with_: dict, state: dict, env: dict) -> dict[str, str]:
        self._only(n, "actions/cache", with_, {"path", "key", "restore-keys"})
        if not with_.get("key") or not with_.get("path"):
            raise StepFailed("cache: Input required and not supplied: key/path")
        self.log.write(f"[rehearsal]   cache key {with_['key']}: a miss (the rehearsal has no cache service)")
        return {"cache-hit": "false"}

    # -- container actions --
    def run_local_action(self, n: int, step: dict, state: dict, env_: Env, uses: str, timeout: float | None) -> dict[str, str]:
        action_dir = (state["workspace"] / uses).resolve()
        meta = None
        for fname in ("action.yml", "action.yaml"):
            if (action_dir / fname).exists():
                meta = yaml.safe_load((action_dir / fname).read_text())
                break
        if meta is None:
            raise StepFailed(f"Can't find 'action.yml' under '{action_dir}'. Did you forget to run actions/checkout before running your local action?")
        runs = meta.get("runs") or {}
        if runs.get("using") != "docker":
            raise RehearsalError(f"step {n}: {uses} runs.using {runs.get('using')!r}: only container actions are modelled")
        return self.run_container_action(n, step, state, env_, meta, runs.get("image", ""), timeout, action_dir)

    def run_container_action(self, n: int, step: dict, state: dict, env_: Env, meta: dict | None, image: str,
                             timeout: float | None, action_dir: Path | None = None) -> dict[str, str]:
        meta = meta or {}
        declared = meta.get("inputs") or {}
        with_raw = step.get("with") or {}
        unknown = set(with_raw) - set(declared) if declared else set()
        if unknown:
            # The runner only warns ("Unexpected input(s)"); the rehearsal refuses: a typo never passes.
            raise StepFailed(f"Unexpected input(s) {', '.join(sorted(unknown))}, valid inputs are {', '.join(declared)}")
        inputs: dict[str, str] = {}
        for name, spec in declared.items():
            spec = spec or {}
            if name in with_raw:
                inputs[name] = interpolate_str(with_raw[name], env_)
            elif "default" in spec:
                inputs[name] = interpolate_str(spec["default"], env_)
            else:
                inputs[name] = ""
            if spec.get("required") and not inputs[name]:
                raise StepFailed(f"Input required and not supplied: {name}")
        ctx = dict(env_.contexts)
        ctx["inputs"] = inputs
        aenv = Env(ctx, status=env_.status)
        runs = meta.get("runs") or {}
        runs_env = {str(k): interpolate_str(v, aenv) for k, v in (runs.get("env") or {}).items()}
        args = [interpolate_str(a, aenv) for a in (runs.get("args") or [])]
        if "entrypoint" in runs or "pre-entrypoint" in runs or "post-entrypoint" in runs:
            raise RehearsalError(f"step {n}: runs.entrypoint/pre-/post-entrypoint are not modelled")
        files = self.file_commands(state, n)
        env = {f"INPUT_{k.replace(' ', '_').upper()}": v for k, v in inputs.items()}
        env.update(self.runner_vars(state, files, step.get("id") or f"__action_{n}"))
        env.update(self.step_env(step, state, env_))
        env.update(runs_env)
        runtime = self.args.action_runtime
        if runtime == "image":
            return self.run_image(n, step, state, env_, meta, image, inputs, env, files, timeout, action_dir)
        deckhand = self.args.deckhand
        if not deckhand:
            raise RehearsalError(f"step {n}: --action-runtime host needs --deckhand BIN (the binary the image's ENTRYPOINT runs)")
        env = {**env, **self.runner_env}
        env["PATH"] = self._path_env(state, env)
        self.log.write(f"[rehearsal]   container action {image or '(image)'} as the host binary: deckhand {' '.join(shlex.quote(a) for a in args)}")
        rc = self.run_process([deckhand, *args], env, state["workspace"], state, timeout)
        outputs = self.collect_file_commands(state, files)
        if rc != 0:
            raise StepFailed(f"Docker run failed with exit code {rc}")
        return outputs


    def run_image(self, n: int, step: dict, state: dict, env_: Env, meta: dict, image: str, inputs: dict[str, str],
                  env: dict[str, str], files: dict[str, Path], timeout: float | None, action_dir: Path | None) -> dict[str, str]:
        """The action image run by gh-image's dev/action-image/run, as the runner runs it: the
        workspace at /github/workspace, event, home and file commands mounted, INPUT_*, GITHUB_*,
        the job's env and the exported AWS credentials."""
        run_script = ROOT / "dev" / "action-image" / "run"
        if not run_script.exists():
            raise RehearsalError("--action-runtime image needs dev/action-image/run")
        if not self.args.action_image:
            raise RehearsalError("--action-runtime image needs --action-image (dev/action-image/build prints it)")
        temp = state["temp"] / f"action-{n}"
        temp.mkdir(parents=True, exist_ok=True)
        # The runner's checkout belongs to its user (uid 1001), not to the container's root.
        subprocess.run(["chown", "-R", "1001:1001", str(state["workspace"])], check=True)
        result_file = temp / "result.json"
        # The runner's container paths are the script's; everything else is passed as the runner would.
        own = {"GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_PATH", "GITHUB_STEP_SUMMARY", "GITHUB_STATE", "GITHUB_WORKSPACE",
               "GITHUB_EVENT_PATH", "HOME", "RUNNER_TEMP", "RUNNER_TOOL_CACHE", "LANG", "PATH"}
        passed = {k: v for k, v in {**env, **self.runner_env}.items() if k not in own and not k.startswith("INPUT_")}
        aws = {k: passed.pop(k) for k in list(passed) if k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION")}
        env_file = temp / "env"
        env_file.write_text("".join(f"{k}={v}\n" for k, v in passed.items() if "\n" not in v))
        env_file.chmod(0o600)
        argv = [str(run_script), "--image", self.args.action_image, "--action", str((action_dir or state["workspace"]) / "action.yml"),
                "--workspace", str(state["workspace"]), "--env-file", str(env_file), "--event-name", self.event.name,
                "--event", str(self.event_path), "--runner-temp", str(temp), "--result", str(result_file)]
        for k, v in inputs.items():
            argv += ["--input", f"{k}={v}"]
        for k, v in passed.items():
            if "\n" in v:
                argv += ["--env", f"{k}={v}"]
        proc_env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", ""), **aws}
        for k in ("STORAGE_DRIVER", "BUILDAH_ISOLATION", "CARGO_TARGET_DIR"):
            if os.environ.get(k):
                proc_env[k] = os.environ[k]
        self.log.write(f"[rehearsal]   container action {image} as the image {self.args.action_image} (dev/action-image/run)")
        rc = self.run_process(argv, proc_env, state["workspace"], state, timeout)
        if not result_file.exists():
            raise StepFailed(f"dev/action-image/run exited {rc} without a result")
        res = json.loads(result_file.read_text())
        for k, v in (res.get("env") or {}).items():
            state["env"][k] = v
        for p in res.get("path") or []:
            state["path"].insert(0, p)
        if res.get("summary"):
            text = res["summary"]
            state["summary"].append(text if text.endswith("\n") else text + "\n")
        if rc != 0:
            raise StepFailed(f"Docker run failed with exit code {rc}")
        return dict(res.get("outputs") or {})


def _needs(job: dict) -> list[str]:
    n = job.get("needs") or []
    return [n] if isinstance(n, str) else list(n)


def _job_order(jobs: dict) -> list[str]:
    done: list[str] = []
    pending = list(jobs)
    while pending:
        progress = False
        for j in list(pending):
            if all(d in done for d in _needs(jobs[j])):
                missing = [d for d in _needs(jobs[j]) if d not in jobs]
                if missing:
                    raise RehearsalError(f"job {j} needs unknown job(s) {missing}")
                done.append(j)
                pending.remove(j)
                progress = True
        if not progress:
            raise RehearsalError(f"jobs {pending}: a cycle in needs")
    return done


def _rel_workflow(path: Path) -> str:
    parts = path.parts
    if ".github" in parts:
        return "/".join(parts[parts.index(".github"):])
    return path.name


# --- listing (no execution): what each step would do ------------------------------------------

def describe(args: argparse.Namespace) -> int:
    """`--list`: the jobs and steps with permissions and the evaluated scripts (nothing runs)."""
    r = Rehearsal(args)
    jobs = r.doc.get("jobs") or {}
    out: dict[str, Any] = {"workflow": args.workflow_rel, "on": triggers(r.doc),
                           "runs_for_event": workflow_runs_for(r.doc, r.event.name, r.event.ref, r.event.base),
                           "concurrency": r.doc.get("concurrency"), "jobs": {}}
    for job_id, job in jobs.items():
        perms = permissions_of(r.doc, job)
        ws = r.work / "list-workspace"
        ws.mkdir(parents=True, exist_ok=True)
        token = r.github_token(perms)
        contexts = {"github": r.github_context(job_id, token, ws), "vars": r.vars_context(), "secrets": r.secrets_context(token),
                    "inputs": r.event.inputs, "runner": {"os": "Linux", "arch": "X64", "temp": str(ws), "name": "rehearsal", "tool_cache": str(ws), "environment": "self-hosted", "debug": ""},
                    "env": {}, "steps": {}, "needs": {}, "job": {"status": "success"}, "strategy": {}, "matrix": {}}
        steps = []
        for step in job.get("steps") or []:
            env_ = Env(contexts, workspace=str(args.list_workspace or r.event.repo_dir))
            entry: dict[str, Any] = {"name": step.get("name"), "id": step.get("id")}
            if "run" in step:
                entry["run"] = interpolate_str(step["run"], env_)
                entry["working-directory"] = step.get("working-directory")
            else:
                entry["uses"] = step["uses"]
                entry["with"] = {k: interpolate_str(v, env_) for k, v in (step.get("with") or {}).items()}
            steps.append(entry)
        out["jobs"][job_id] = {"permissions": perms, "environment": job.get("environment"),
                               "concurrency": job.get("concurrency"), "timeout-minutes": job.get("timeout-minutes"),
                               "steps": steps}
    print(json.dumps(out, indent=2, default=str))
    return 0


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="dev/actions/rehearse", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("workflow")
    p.add_argument("--event", required=True, choices=["push", "pull_request", "workflow_dispatch"])
    p.add_argument("--repo-dir", default=str(ROOT), help="git repository the checkout clones (default: this checkout)")
    p.add_argument("--repository", default="deckhand-local/spa-ecs", help="OWNER/NAME (the one infra/scripts/deploy-local trusts)")
    p.add_argument("--ref")
    p.add_argument("--sha")
    p.add_argument("--before")
    p.add_argument("--actor", default="octocat")
    p.add_argument("--pr", type=int)
    p.add_argument("--pr-action", default="synchronize")
    p.add_argument("--head-sha")
    p.add_argument("--base-sha")
    p.add_argument("--base")
    p.add_argument("--head")
    p.add_argument("--head-repo", help="OWNER/NAME of the PR's head repository (another one = a fork)")
    p.add_argument("--input", action="append", default=[], metavar="NAME=VALUE", help="workflow_dispatch input")
    p.add_argument("--var", action="append", default=[], metavar="NAME=VALUE", help="a repository variable (vars.NAME)")
    p.add_argument("--secret", action="append", default=[], metavar="NAME=VALUE", help="a repository secret (secrets.NAME)")
    p.add_argument("--runner-env", action="append", default=[], metavar="NAME=VALUE",
                   help="the runner machine's environment for every step (e.g. AWS_ENDPOINT_URL of the local stack)")
    p.add_argument("--token", help="the GITHUB_TOKEN a job with write permissions gets (the API stand-in's write token)")
    p.add_argument("--read-only-token", help="the GITHUB_TOKEN of a fork PR or a read-only job")
    p.add_argument("--github-api-url", default="https://api.github.com")
    p.add_argument("--run-id")
    p.add_argument("--run-number", type=int, default=1)
    p.add_argument("--job")
    p.add_argument("--work", default=None, help="output directory (default: a new temporary one)")
    p.add_argument("--artifacts", help="artifact store shared by rehearsed runs (default WORK/artifacts)")
    p.add_argument("--event-extra", help="JSON merged into the event payload")
    p.add_argument("--action-runtime", choices=["host", "image"], default="host")
    p.add_argument("--action-image", help="image for --action-runtime image (default: the action's own)")
    p.add_argument("--deckhand", help="deckhand binary for --action-runtime host")
    p.add_argument("--list", action="store_true", help="print jobs, permissions and evaluated steps; run nothing")
    p.add_argument("--list-workspace", help="workspace hashFiles() reads for --list")
    p.add_argument("--quiet", action="store_true", help="log to WORK/logs only")
    p.add_argument("--workflow-rel", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.work is None:
        a.work = tempfile.mkdtemp(prefix="rehearsal-")
    return a


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    try:
        if args.list:
            return describe(args)
        r = Rehearsal(args)
        code = r.run()
        print(str(Path(args.work).resolve() / "result.json"))
        return code
    except (RehearsalError, ExprError) as e:
        print(f"rehearsal: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
