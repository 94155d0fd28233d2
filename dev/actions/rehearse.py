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
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "oidc"))
import github_libs as gl  # noqa: E402  (GitHub's workflow parser and expression evaluator)
import runner_model as rm  # noqa: E402
import concurrency  # noqa: E402  (GitHub's concurrency settings and their refusals)
import github_oidc  # noqa: E402  (GitHub's filter pattern syntax and the OIDC token issuer)

ROOT = Path(__file__).resolve().parents[2]
SERVER_URL = "https://github.com"


class RehearsalError(Exception):
    """The workflow uses something the rehearsal does not model, or GitHub would refuse it: exit 2."""


class StepFailed(Exception):
    pass


class StepCancelled(Exception):
    """The step's process was cancelled with the job (the runner's signal sequence)."""


def _post_if_ctx() -> str:
    # A post-if is a plain string in action.yml; the helper evaluates it with a step if's contexts.
    return "step-if"


# --- loading --------------------------------------------------------------------------------
# GitHub's parser (@actions/workflow-parser) validates the workflow: keys, types, the contexts and
# functions each key allows, `if:`, `needs`. What is left here is what the rehearsal models: a valid
# key it does not model fails loudly (exit 2), it is never skipped.

MODELLED_WORKFLOW_KEYS = {"name", "run-name", "on", "permissions", "env", "defaults", "concurrency", "jobs"}
# (A job's `continue-on-error` is not modelled: GitHub's service decides what it does to the run; nor
# a job's `concurrency`: only the workflow's group is held, queued and cancelled.)
MODELLED_JOB_KEYS = {"name", "runs-on", "permissions", "environment", "steps", "env", "defaults",
                     "timeout-minutes", "if", "outputs", "needs"}
MODELLED_STEP_KEYS = {"id", "name", "uses", "run", "with", "env", "if", "shell", "working-directory",
                      "continue-on-error", "timeout-minutes"}
PERMISSION_SCOPES = {"actions", "attestations", "checks", "contents", "deployments", "discussions",
                     "id-token", "issues", "models", "packages", "pages", "pull-requests",
                     "repository-projects", "security-events", "statuses"}


def parse(path: Path) -> dict:
    """GitHub's parse of the workflow (the template tree, the converted job graph and `if:`s); its
    validation errors, or a key the rehearsal does not model, raise RehearsalError."""
    try:
        parsed = gl.parse_workflow(path)
    except gl.WorkflowInvalid as e:
        raise RehearsalError(str(e)) from None
    doc = parsed["tree"]
    unknown = set(doc) - MODELLED_WORKFLOW_KEYS
    if unknown:
        raise RehearsalError(f"{path}: workflow keys the rehearsal does not model: {', '.join(sorted(unknown))}")
    for job_id, job in (doc.get("jobs") or {}).items():
        if "uses" in job:
            raise RehearsalError(f"{path}: job {job_id} calls a reusable workflow: not modelled by the rehearsal")
        unknown = set(job) - MODELLED_JOB_KEYS
        if unknown:
            raise RehearsalError(f"{path}: job {job_id}: keys the rehearsal does not model: {', '.join(sorted(unknown))}")
        for n, step in enumerate(job.get("steps") or [], 1):
            unknown = set(step) - MODELLED_STEP_KEYS
            if unknown:
                raise RehearsalError(f"{path}: job {job_id} step {n}: keys the rehearsal does not model: {', '.join(sorted(unknown))}")
    return parsed


def load_workflow(path: Path) -> dict:
    """The workflow as written (YAML, `on` as a string key), once GitHub's parser accepted it: for
    checks of the workflow's shape."""
    parse(path)
    doc = yaml.safe_load(path.read_text())
    if True in doc:  # YAML 1.1 reads the key `on` as a boolean
        doc["on"] = doc.pop(True)
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


# The filters of an event the rehearsal evaluates; any other (`paths`, `paths-ignore`) would decide
# whether GitHub starts the run from what it does not model (the changed files): it fails loudly
# instead of being ignored.
MODELLED_EVENT_FILTERS = {"push": {"branches", "branches-ignore", "tags", "tags-ignore"},
                          "pull_request": {"branches", "branches-ignore", "types"},
                          "pull_request_target": {"branches", "branches-ignore", "types"},
                          "workflow_dispatch": {"inputs"}}
# "Events that trigger workflows", pull_request / pull_request_target: "By default, a workflow only
# runs when a pull_request event's activity type is opened, synchronize, or reopened."
DEFAULT_PR_TYPES = ["opened", "synchronize", "reopened"]


def workflow_runs_for(doc: dict, event: str, ref: str, base: str | None, action: str | None = None) -> bool:
    on = triggers(doc)
    if event not in on:
        return False
    spec = on[event]
    if isinstance(spec, dict) and event in MODELLED_EVENT_FILTERS:
        unknown = set(spec) - MODELLED_EVENT_FILTERS[event]
        if unknown:
            raise RehearsalError(f"on.{event}: {', '.join(sorted(unknown))}: not modelled by the rehearsal "
                                 "(GitHub decides from them whether the run starts)")
    if event in ("pull_request", "pull_request_target") and action is not None:
        types = spec.get("types", DEFAULT_PR_TYPES) if isinstance(spec, dict) else DEFAULT_PR_TYPES
        if action not in (types if isinstance(types, list) else [types]):
            return False
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
    repository default (read for contents and packages only: GitHub's "restricted" default). GitHub's
    parser has checked the scopes and levels."""
    spec = job.get("permissions", doc.get("permissions", {"contents": "read", "packages": "read"}))
    if spec == "read-all":
        return {s: "read" for s in PERMISSION_SCOPES}
    if spec == "write-all":
        return {s: "write" for s in PERMISSION_SCOPES}
    if spec in ({}, None):
        return {}
    return {s: v for s, v in spec.items() if v != "none"}


def scalar(value: Any) -> str:
    """A literal as the runner turns it into a string (booleans, numbers as GitHub formats them)."""
    return gl.evaluate_one(value, {}, "string")


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
        # A pull request's activity type (`--pr-action`), which `on.pull_request.types` filters.
        self.action = args.pr_action if self.name in ("pull_request", "pull_request_target") else None
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
                    value = scalar(spec["default"])
                elif spec.get("required"):
                    raise RehearsalError(f"workflow_dispatch: input {name} is required")
                else:
                    value = ""
                kind = spec.get("type", "string")
                if kind == "boolean":
                    if value not in ("true", "false"):
                        raise RehearsalError(f"workflow_dispatch: input {name} is a boolean, got {value!r}")
                    value = value == "true"
                elif kind == "choice" and value not in [scalar(o) for o in spec.get("options", [])]:
                    raise RehearsalError(f"workflow_dispatch: input {name}={value!r} is not one of {spec.get('options')}")
                elif kind == "number":
                    value = float(value)
                elif kind not in ("string", "choice", "environment"):
                    raise RehearsalError(f"workflow_dispatch: input {name}: type {kind} not modelled")
                self.inputs[name] = value
            self.payload = {"inputs": {k: (scalar(v) if not isinstance(v, str) else v) for k, v in self.inputs.items()},
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


# The workflow commands the runner registers (ActionCommandManager.cs: one extension each, and
# stop-commands); a line naming any other is plain output.
RUNNER_COMMANDS = frozenset({"stop-commands", "set-env", "set-output", "save-state", "add-mask", "add-path",
                             "add-matcher", "remove-matcher", "debug", "warning", "error", "notice", "group",
                             "endgroup", "echo"})
# Constants.cs (Runner): the messages of the deprecated and the disabled commands.
DEPRECATED_COMMAND = ("The `{0}` command is deprecated and will be disabled soon. Please upgrade to using Environment "
                      "Files. For more information see: https://github.blog/changelog/2022-10-11-github-actions-"
                      "deprecating-save-state-and-set-output-commands/")
DISABLED_COMMAND = ("The `{0}` command is disabled. Please upgrade to using Environment Files or opt into unsecure "
                    "command execution by setting the `ACTIONS_ALLOW_UNSECURE_COMMANDS` environment variable to `true`.")
BAD_STOP_TOKEN = ("You cannot use a endToken that is an empty string, the string 'pause-logging', or another "
                  "workflow command.")


def _unreplace(s: str, mappings: tuple[tuple[str, str], ...]) -> str:
    for token, escaped in mappings:
        s = s.replace(escaped, token)
    return s


# ActionCommand.cs: the escape mappings, undone in this order.
_DATA = (("\r", "%0D"), ("\n", "%0A"), ("%", "%25"))
_PROPERTY = (("\r", "%0D"), ("\n", "%0A"), (":", "%3A"), (",", "%2C"), ("%", "%25"))
_V1 = ((";", "%3B"), ("\r", "%0D"), ("\n", "%0A"), ("]", "%5D"), ("%", "%25"))


def _pairs(text: str, sep: str, mappings: tuple[tuple[str, str], ...]) -> dict[str, str]:
    props: dict[str, str] = {}
    for item in (x for x in text.split(sep) if x):
        pair = [x for x in item.split("=", 1) if x]  # StringSplitOptions.RemoveEmptyEntries
        if len(pair) == 2:
            props[pair[0].lower()] = _unreplace(pair[1], mappings)
    return props


def parse_workflow_command(line: str, registered: set[str] | frozenset[str]) -> tuple[str, dict[str, str], str] | None:
    """A line of a step's output as the runner reads it (ActionCommand.cs): `::name props::data`
    after leading whitespace (TryParseV2: TrimStart), else the legacy `##[name props]data` ANYWHERE in
    the line (TryParse: IndexOf("##[")), properties `k=v` split by `,` (`;` in the legacy form). Only
    registered names are commands (OrdinalIgnoreCase); `(name, properties, data)` or None."""
    msg = line.lstrip()
    if msg.startswith("::"):
        end = msg.find("::", 2)
        if end >= 0:
            info = msg[2:end]
            name, _, props = info.partition(" ")
            if name.lower() in registered:
                return name.lower(), _pairs(props.strip(), ",", _PROPERTY), _unreplace(msg[end + 2:], _DATA)
    start = line.find("##[")
    if start >= 0:
        rb = line.find("]", start)
        if rb >= 0:
            info = line[start + 3:rb]
            name, _, props = info.partition(" ")
            if name.lower() in registered:
                return name.lower(), _pairs(props, ";", _V1), _unreplace(line[rb + 1:], _V1)
    return None


class CommandReader:
    """One step's workflow commands, processed as ActionCommandManager.cs processes them: add-mask,
    annotations, the deprecated set-output and save-state (still honoured: only a warning),
    set-env/add-path (disabled: the step fails), and stop-commands (no command is processed until
    the token comes back as a command of its own)."""

    def __init__(self, log: "Log", state: dict, env: dict[str, str]):
        self.log, self.state, self.env = log, state, env
        self.registered = set(RUNNER_COMMANDS)
        self.stop_token: str | None = None
        self.outputs: dict[str, str] = {}
        self.saved: dict[str, str] = {}
        self.failure: Exception | None = None

    def _annotate(self, level: str, message: str, props: str = "") -> None:
        self.state["annotations"].append({"level": level, "properties": props, "message": self.log.mask(message)})

    def _fail(self, message: str) -> None:
        # "Unable to process command '…' successfully." + the error; CommandResult = Failed.
        self._annotate("error", message)
        self.failure = self.failure or StepFailed(message)

    def line(self, line: str) -> None:
        cmd = parse_workflow_command(line, self.registered)
        if cmd is None:
            self.log.write("  " + line)
            return
        name, props, data = cmd
        if self.stop_token is not None:
            if name == self.stop_token.lower():
                self.registered.discard(self.stop_token.lower())
                self.stop_token = None
            self.log.write("  " + line)
            return
        if name == "stop-commands":
            allowed = str(self.env.get("ACTIONS_ALLOW_UNSECURE_STOPCOMMAND_TOKENS", "")).lower() == "true"
            if (not data or data.lower() in self.registered or data.lower() == "pause-logging") and not allowed:
                self._fail(BAD_STOP_TOKEN)
                return
            self.stop_token = data
            self.registered.add(data.lower())
            if len(data) > 6:
                self.log.masks.append(data)
            self.log.write("  " + line)
            return
        if name == "add-mask":
            if not data.strip():
                self._annotate("warning", "Can't add secret mask for empty string in ##[add-mask] command.")
            else:
                self.log.masks.append(data)
                self.log.masks.extend(x.strip() for x in re.split(r"[\r\n]", data) if x.strip())
            self.log.write("::add-mask::***")
            return
        self.log.write("  " + line)
        if name in ("error", "warning", "notice"):
            self._annotate(name, data, ",".join(f"{k}={v}" for k, v in props.items()))
        elif name in ("set-output", "save-state"):
            self._annotate("warning", DEPRECATED_COMMAND.format(name))
            if not props.get("name"):
                self._fail(f"Required field 'name' is missing in ##[{name}] command.")
            else:
                (self.outputs if name == "set-output" else self.saved)[props["name"]] = data
        elif name in ("set-env", "add-path"):
            if str(self.env.get("ACTIONS_ALLOW_UNSECURE_COMMANDS", "")).lower() == "true":
                self.failure = self.failure or RehearsalError(f"`::{name}::` with ACTIONS_ALLOW_UNSECURE_COMMANDS is not modelled")
            else:
                self._fail(DISABLED_COMMAND.format(name))


# --- the run ----------------------------------------------------------------------------------

class Scope:
    """What one evaluation sees: the contexts, the job's status for success()/failure()/cancelled()
    (actions/runner src/Runner.Worker/Expressions/*Function.cs), the workspace for hashFiles(). The
    evaluation itself is GitHub's (github_libs: @actions/expressions)."""

    def __init__(self, contexts: dict, status: str = "success", workspace: Path | str | None = None):
        self.contexts = contexts
        self.status = status
        self.workspace = str(workspace) if workspace else None

    def many(self, items: list[tuple[Any, str]]) -> list[Any]:
        return gl.evaluate(items, self.contexts, status=self.status, workspace=self.workspace)

    def str(self, value: Any) -> str:
        return self.many([(value, "string")])[0]

    def bool(self, value: Any) -> bool:
        return self.many([(value, "bool")])[0]

    def strs(self, block: Any, what: str) -> dict[str, str]:
        if not block:
            return {}
        out = self.many([(block, "string")])[0]
        if not isinstance(out, dict):
            raise gl.EvalError(f"{what}: a mapping expected, got {type(out).__name__}")
        return {str(k): str(v) for k, v in out.items()}


class Rehearsal:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.workflow_path = Path(args.workflow).resolve()
        self.parsed = parse(self.workflow_path)
        self.doc = self.parsed["tree"]
        self.graph = {j["id"]: j for j in self.parsed["jobs"]}
        args.workflow_rel = args.workflow_rel or _rel_workflow(self.workflow_path)
        self.event = Event(args, self.doc)
        self.work = Path(args.work).resolve()
        self.work.mkdir(parents=True, exist_ok=True)
        self.artifacts = Path(args.artifacts).resolve() if args.artifacts else self.work / "artifacts"
        self.vars = dict(kv(s, "--var") for s in args.var)
        self.secrets_in = dict(kv(s, "--secret") for s in args.secret)
        self.runner_env = dict(kv(s, "--runner-env") for s in args.runner_env)
        self.daemon_env = dict(kv(s, "--daemon-env") for s in args.daemon_env)
        self.entrypoints = dict(kv(s, "--action-entrypoint") for s in args.action_entrypoint)
        self.mirrors = dict(kv(s, "--registry-mirror") for s in args.registry_mirror)
        try:
            self.environments = rm.load_environments(args.environments)
        except (OSError, ValueError) as e:
            raise RehearsalError(f"--environments: {e}") from None
        self.log = Log(self.work / "logs" / "rehearsal.log", args.quiet)
        self.service = rm.GitHubService(args.github_service, self.event.repository) if args.github_service else None
        self.event_path = self.work / "workflow" / "event.json"
        # Every job gets a GITHUB_TOKEN; without --token/--read-only-token, an opaque one per run.
        self.generated_tokens = (f"ghs_rehearsal_w_{uuid.uuid4().hex}", f"ghs_rehearsal_r_{uuid.uuid4().hex}")
        self.id_tokens: rm.IdTokenServer | None = None
        self.cancellation = rm.Cancellation()
        self.pulled: dict[str, str] = {}  # action image reference -> the image pulled for it
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

    def vars_context(self, environment: str | None = None) -> dict:
        # A fork's pull request gets no configuration variables either (GitHub passes neither
        # secrets nor variables to it): `vars.X` is empty there. An environment's variables win over
        # the repository's ("Store information in variables": environment > repository > organization).
        if self.event.fork:
            return {}
        return {**self.vars, **((self.environments.get(environment or "") or {}).get("variables") or {})}

    def secrets_context(self, token: str, environment: str | None = None) -> dict:
        # A fork's pull request gets no repository secrets: only GITHUB_TOKEN (read-only). An
        # environment's secrets win over the repository's ("Using secrets in GitHub Actions").
        out = {} if self.event.fork else {**self.secrets_in, **((self.environments.get(environment or "") or {}).get("secrets") or {})}
        out["GITHUB_TOKEN"] = token
        return out

    # -- jobs --
    def run(self) -> int:
        e = self.event
        if not workflow_runs_for(self.doc, e.name, e.ref, e.base, e.action):
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
        # A cancel of the run (GitHub's "Cancel workflow": the runner gets the job's cancellation) is
        # SIGINT or SIGTERM to the rehearsal.
        previous = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, lambda *_: self.cancellation.cancel("cancelled"))
        group = self.concurrency(self.doc.get("concurrency"), "workflow")
        try:
            ok = True
            if group and not group[0].enter(group[1], group[2], self.cancellation):
                self.log.write(f"[rehearsal] {self.cancellation.reason}: the run is cancelled before it starts")
                self.result["cancelled_pending"] = self.cancellation.reason
                ok = False
                order = []
            for job_id in order:
                res = self.run_job(job_id, jobs[job_id])
                self.result["jobs"][job_id] = res
                ok = ok and res["result"] in ("success", "skipped")
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            if self.id_tokens:
                self.id_tokens.close()
            if group:
                group[0].leave()
        cancelled = self.cancellation.check() or any(j["result"] == "cancelled" for j in self.result["jobs"].values())
        self.result["conclusion"] = "success" if ok else ("cancelled" if cancelled else "failure")
        (self.work / "result.json").write_text(json.dumps(self.result, indent=2))
        if self.service:
            try:
                self.service.run_ended(e.run_id, self.result["conclusion"])
            except OSError as err:  # the result stands; the service's view of the run is stale
                self.log.write(f"[rehearsal] --github-service: the run's end not recorded: {err}")
        self.log.write(f"[rehearsal] {self.args.workflow_rel} on {e.name}: {self.result['conclusion']}")
        return 0 if ok else 1

    def concurrency(self, spec: Any, where: str) -> tuple[rm.ConcurrencyGroup, bool, str] | None:
        """The run's (or a job's) concurrency group, evaluated with the contexts GitHub gives it."""
        if spec is None:
            return None
        contexts = {"github": self.github_context("", "", self.work), "inputs": self.event.inputs, "vars": self.vars_context()}
        try:
            got = concurrency.settings(spec, contexts)
        except (gl.EvalError, concurrency.ConcurrencyError) as e:
            raise RehearsalError(f"{where} concurrency: {e}") from None
        if got is None or not got.group:
            return None
        store = self.artifacts / ".concurrency"
        # "The concurrency group name is case insensitive" (concurrency.py's sources).
        group = rm.ConcurrencyGroup(store, f"{self.event.repository}:{got.group}".lower(), self.event.run_id, self.log.write)
        return group, got.cancel_in_progress, got.queue

    def run_job(self, job_id: str, job: dict) -> dict:
        log = self.log
        graph = self.graph[job_id]
        perms = permissions_of(self.doc, job)
        if self.event.fork:  # GitHub caps every scope of a fork PR's token at read, id-token at none
            perms = {k: "read" for k, v in perms.items() if k != "id-token"}
        token = self.github_token(perms)
        if token:
            log.masks.append(token)
        base = self.work / "runner" / job_id
        if base.exists():
            rmtree(base)
        workspace = base / "work" / self.event.repo_name / self.event.repo_name
        temp = base / "_temp"
        home = base / "home"
        for d in (workspace, temp, home, base / "tool_cache"):
            d.mkdir(parents=True, exist_ok=True)
        needs_ctx = {n: self.result["jobs"].get(n, {"result": "skipped", "outputs": {}}) for n in graph["needs"]}
        needs_ctx = {n: {"result": v["result"], "outputs": v.get("outputs") or {}} for n, v in needs_ctx.items()}
        state: dict[str, Any] = {
            "status": "success", "steps": {}, "env": {}, "path": [], "workspace": workspace, "temp": temp,
            "home": home, "job_id": job_id, "token": token, "perms": perms, "job": job,
            "summary": [], "annotations": [], "environment": None, "post": [], "state": {},
        }
        log.write(f"[rehearsal] job {job_id} ({self.args.workflow_rel}, {self.event.name} {self.event.ref} @ {self.event.sha[:12]}"
                  f"{', fork ' + self.event.head_repo if self.event.fork else ''})")
        log.write(f"[rehearsal]   permissions: {', '.join(f'{k}: {v}' for k, v in sorted(perms.items())) or 'none'}")
        base_contexts = {
            "github": self.github_context(job_id, token, workspace), "vars": self.vars_context(),
            "secrets": self.secrets_context(token), "inputs": self.event.inputs,
            "runner": {"os": "Linux", "arch": "X64", "name": "rehearsal", "temp": str(temp),
                       "tool_cache": str(base / "tool_cache"), "environment": "self-hosted",
                       "workspace": str(workspace.parent)},
            "needs": needs_ctx, "strategy": {}, "matrix": {}, "job": {"status": "success"},
        }
        # A job's `if:` status functions read every ancestor, not only its needs (GitHub's docs,
        # "Expressions": "If you have a chain of dependent jobs, failure() returns true if any
        # ancestor job fails"; "Workflow syntax", jobs.<job_id>.needs: a failure or a skip applies to
        # the whole chain after it): success() when every ancestor succeeded, failure() when one
        # failed; after a skipped ancestor neither holds. (GitHub's parser has already added the
        # implied success() && … to a condition without a status function.)
        results = [self.result["jobs"].get(a, {"result": "skipped"})["result"] for a in self._ancestors(job_id)]
        if self.cancellation.check():
            needs_status = "cancelled"
        elif any(r in ("failure", "cancelled") for r in results):
            needs_status = "failure"
        elif all(r == "success" for r in results):
            needs_status = "success"
        else:
            needs_status = "skipped"
        try:
            run_it = Scope(dict(base_contexts), needs_status).bool(graph["if"])
        except gl.EvalError as e:
            log.write(f"[rehearsal] job {job_id}: if: {e}")
            return {"result": "failure", "outputs": {}, "steps": {}}
        if not run_it:
            log.write(f"[rehearsal] job {job_id}: skipped (if: {graph['if']['$expr']})")
            return {"result": "skipped", "outputs": {}, "steps": {}}
        try:
            environment = job.get("environment")
            if isinstance(environment, dict) and not gl.is_expr(environment):
                environment = environment.get("name")
            if environment is not None:
                environment = Scope(dict(base_contexts)).str(environment)
        except gl.EvalError as e:
            log.write(f"[rehearsal] job {job_id}: environment: {e}")
            return {"result": "failure", "outputs": {}, "steps": {}}
        state["environment"] = environment
        if environment:
            spec = self.environments.get(environment) or {}
            refused = rm.environment_refuses(environment, spec, self.event.ref, self.event.name)
            if refused:
                log.write(f"[rehearsal] job {job_id}: {refused}")
                state["annotations"].append({"level": "error", "properties": "", "message": refused})
                return {"result": "failure", "outputs": {}, "steps": {}, "environment": environment,
                        "permissions": perms, "annotations": state["annotations"]}
            held = self.hold(job_id, environment, state, perms)
            if held is not None:
                return held
            base_contexts["vars"] = self.vars_context(environment)
            base_contexts["secrets"] = self.secrets_context(token, environment)
        for v in base_contexts["secrets"].values():
            log.masks.append(v)
        self.base_contexts = base_contexts
        # Job timeout: GitHub's service cancels a job past its timeout-minutes (default 360).
        try:
            minutes = float(Scope(dict(base_contexts)).many([(job.get("timeout-minutes", 360), "any")])[0])
            wf_env = Scope(dict(base_contexts, env={})).strs(self.doc.get("env"), "workflow env")
            job_env = Scope(dict(base_contexts, env=dict(wf_env))).strs(job.get("env"), f"job {job_id} env")
        except (gl.EvalError, TypeError, ValueError) as e:
            log.write(f"[rehearsal] job {job_id}: {e}")
            return {"result": "failure", "outputs": {}, "steps": {}}
        self.cancellation.set_deadline(minutes)
        state["job_env"] = {**wf_env, **job_env}
        if perms.get("id-token") == "write":
            state["id_token"] = self.id_token_vars(state)
        defaults = {**((self.doc.get("defaults") or {}).get("run") or {}), **((job.get("defaults") or {}).get("run") or {})}
        state["defaults"] = defaults
        summary_path = self.work / f"summary-{job_id}.md"
        summary_path.write_text("")
        steps = list(job.get("steps") or [])
        self.pull_step_images(steps, state)
        for n, step in enumerate(steps, 1):
            self.run_one_step(n, step, graph["steps"][n - 1], state)
        # Post steps, last registered first (ExecutionContext.RegisterPostJobStep: a stack), each with
        # its post-if (default always()), after a cancel too.
        for post in reversed(state["post"]):
            self.run_post(post, state)
        if "docker" in state:
            state["docker"].close()
            shutil.rmtree(state["docker"].socket.parent, ignore_errors=True)
        summary_path.write_text("".join(state["summary"]))
        result = "cancelled" if self.cancellation.check() and state["status"] != "failure" else state["status"]
        if self.cancellation.reason == "timeout":
            log.write(f"[rehearsal] job {job_id}: the job has exceeded the maximum execution time of {minutes:g} minutes")
        outputs = self.job_outputs(job_id, job, state)
        if outputs is None:
            outputs = {}
            if result == "success":
                result = "failure"
        url, url_ok = self.environment_url(job_id, job, state)
        if not url_ok and result == "success":
            result = "failure"
        if environment and self.service:
            # The job's deployment ends with the job (a cancelled job's too: not `success`).
            self.service.status(self.event.run_id, job_id, "success" if result == "success" else "failure", url)
        return {"result": result, "outputs": outputs, "environment": environment, "environment_url": url,
                "review": state.get("review"), "permissions": perms, "steps": {k: v for k, v in state["steps"].items()},
                "summary": str(summary_path), "annotations": state["annotations"]}

    def hold(self, job_id: str, environment: str, state: dict, perms: dict) -> dict | None:
        """GitHub's service before a job that names an environment starts (`--github-service`): it
        creates the job's deployment, and while a protection rule holds the job (required reviewers,
        a wait timer: "Reviewing deployments", "Deployments and environments") the job waits —
        status `waiting`, no step run, no OIDC token, none of the environment's secrets — until a
        required reviewer approves it through the REST API and its timer ran out; the job's
        timeout-minutes does not count the wait. A rejection fails the job before any step, with
        GitHub's annotation; the jobs that need it are skipped. Returns the job's result when it
        does not run, else None (it runs: deployment `in_progress`)."""
        if not self.service:
            return None
        e = self.event
        number = list(self.doc.get("jobs") or {}).index(job_id) + 1
        # `environment: {name, deployment: false}` (GitHub's workflow schema, job-environment-mapping:
        # "Whether to create a deployment record for this environment. Defaults to true."): the
        # environment's rules, secrets and variables apply, but no deployment is recorded.
        spec = (self.doc.get("jobs") or {}).get(job_id, {}).get("environment")
        record = not (isinstance(spec, dict) and spec.get("deployment") is False)
        got = self.service.job(e.run_id, job_id, number, environment, sha=e.sha, ref=e.ref, actor=e.actor,
                               path=self.args.workflow_rel, event=e.name,
                               head_branch=e.ref.removeprefix("refs/heads/"), deployment=record)
        if got["held"]:
            rules = [f"required reviewers: {', '.join(got['reviewers'])}"] if got["reviewers"] else []
            rules += [f"wait timer: {got['wait_timer']:g} min"] if got["wait_timer"] else []
            self.log.write(f"[rehearsal] job {job_id}: waiting for environment {environment}'s protection rules "
                           f"({'; '.join(rules)}), deployment {got['deployment_id'] or 'none (deployment: false)'}")
            self.cancellation.deadline = None  # the wait is not the job's run time
            decided = self.service.wait(e.run_id, job_id, self.cancellation.check)
            if decided["state"] != "approved":
                if decided["state"] == "cancelled":
                    self.log.write(f"[rehearsal] job {job_id}: cancelled while it waited for {environment}")
                    self.service.status(e.run_id, job_id, "failure")
                    return {"result": "cancelled", "outputs": {}, "steps": {}, "environment": environment,
                            "permissions": perms, "annotations": state["annotations"]}
                message = "The deployment was rejected or didn't satisfy other protection rules"
                self.log.write(f"[rehearsal] job {job_id}: {message} (environment {environment}, "
                               f"comment: {decided['comment']!r})")
                state["annotations"].append({"level": "error", "properties": "", "message": message})
                return {"result": "failure", "outputs": {}, "steps": {}, "environment": environment,
                        "permissions": perms, "annotations": state["annotations"], "review": decided}
            state["review"] = decided
            self.log.write(f"[rehearsal] job {job_id}: environment {environment} approved"
                           f"{' by ' + decided['by'] if decided['by'] else ''}")
        self.service.status(e.run_id, job_id, "in_progress")
        return None

    def environment_url(self, job_id: str, job: dict, state: dict) -> tuple[str | None, bool]:
        """JobExtension.cs (finalizing the job, after its outputs, "Evaluate environment data"):
        `environment.url` is evaluated once the steps ran (so it may name `steps`), and kept unless the
        secret masker would change it ("Skip setting environment url as environment '…' may contain
        secret.", a warning); an evaluation error fails the job ("Failed to evaluate environment url").
        The URL goes to the job's deployment (its `environment_url`, GitHub's "Deploying to a specific
        environment"). Returns (url or None, whether the job may stay green)."""
        spec = job.get("environment")
        if not isinstance(spec, dict) or gl.is_expr(spec) or spec.get("url") is None:
            return None, True
        try:
            url = self._scope(state).str(spec["url"])
        except gl.EvalError as e:
            self.log.write(f"[rehearsal] job {job_id}: Failed to evaluate environment url: {e}")
            state["annotations"].append({"level": "error", "properties": "", "message": f"Failed to evaluate environment url: {e}"})
            return None, False
        if self.log.mask(url) != url:
            warning = f"Skip setting environment url as environment '{state['environment']}' may contain secret."
            self.log.write(f"[rehearsal] job {job_id}: {warning}")
            state["annotations"].append({"level": "warning", "properties": "", "message": warning})
            return None, True
        self.log.write(f"[rehearsal] job {job_id}: Evaluated environment url: {url}")
        return url, True

    def _ancestors(self, job_id: str) -> set[str]:
        seen: set[str] = set()
        todo = list(self.graph[job_id]["needs"])
        while todo:
            j = todo.pop()
            if j not in seen:
                seen.add(j)
                todo.extend(self.graph[j]["needs"] if j in self.graph else [])
        return seen

    def job_outputs(self, job_id: str, job: dict, state: dict) -> dict[str, str] | None:
        """JobExtension.cs (finalizing the job, "Evaluate and set job outputs"): an empty value is not
        set; a value the secret masker would change is skipped with a warning; an evaluation error
        fails the job (None here)."""
        try:
            evaluated = self._scope(state).strs(job.get("outputs"), "outputs")
        except gl.EvalError as e:
            self.log.write(f"[rehearsal] job {job_id}: Fail to evaluate job outputs: {e}")
            state["annotations"].append({"level": "error", "properties": "", "message": f"Fail to evaluate job outputs: {e}"})
            return None
        outputs: dict[str, str] = {}
        for key, value in evaluated.items():
            if not value:
                continue
            if self.log.mask(value) != value:
                warning = f"Skip output '{key}' since it may contain secret."
                self.log.write(f"[rehearsal] job {job_id}: {warning}")
                state["annotations"].append({"level": "warning", "properties": "", "message": warning})
                continue
            outputs[key] = value
        return outputs

    def _status(self, state: dict) -> str:
        if self.cancellation.check():
            return "cancelled"
        return state["status"]

    def _scope(self, state: dict) -> Scope:
        return Scope(self._contexts(state), self._status(state), state["workspace"])

    def run_one_step(self, n: int, step: dict, converted: dict, state: dict) -> None:
        log = self.log
        sid = step.get("id") or f"__step{n}"
        # StepsRunner.cs: the step's `env:` is evaluated into the env context first (a failure
        # fails the step, its `if:` unevaluated); its `if:`, name, `with:` and script then see it.
        state["step_env"] = None
        try:
            state["step_env"] = self.step_env(step, state, self._scope(state))
        except gl.EvalError as e:
            name = self._step_name(n, step, state)
            log.write(f"[rehearsal] step {n} {name}: env: {e}")
            state["status"] = "failure"
            state["steps"][sid] = {"outcome": "failure", "conclusion": "failure", "outputs": {}, "name": name}
            return
        try:
            self._run_one_step(n, step, converted, state, sid)
        finally:
            state["step_env"] = None

    def _run_one_step(self, n: int, step: dict, converted: dict, state: dict, sid: str) -> None:
        log = self.log
        name = self._step_name(n, step, state)
        scope = self._scope(state)
        try:
            run_it = scope.bool(converted["if"])
        except gl.EvalError as e:
            log.write(f"[rehearsal] step {n} {name}: if: {e}")
            state["status"] = "failure"
            state["steps"][sid] = {"outcome": "failure", "conclusion": "failure", "outputs": {}, "name": name}
            return
        if not run_it:
            log.write(f"[rehearsal] step {n} {name}: skipped")
            state["steps"][sid] = {"outcome": "skipped", "conclusion": "skipped", "outputs": {}, "name": name}
            return
        log.write(f"[rehearsal] step {n} {name}")
        t0 = time.monotonic()
        outputs: dict[str, str] = {}
        state["current_if"] = converted["if"]
        try:
            outputs = self.run_step(n, step, state, scope)
            outcome = "success"
        except StepFailed as e:
            log.write(f"[rehearsal]   step failed: {e}")
            outcome = "failure"
        except gl.EvalError as e:
            log.write(f"[rehearsal]   step failed: {e}")
            outcome = "failure"
        except StepCancelled as e:
            log.write(f"[rehearsal]   step cancelled: {e}")
            outcome = "cancelled"
        coe = step.get("continue-on-error", False)
        if not isinstance(coe, bool):
            try:
                coe = scope.bool(coe)
            except gl.EvalError:
                coe = False
        conclusion = "success" if outcome == "success" or (coe and outcome == "failure") else outcome
        if conclusion == "failure":
            state["status"] = "failure"
        state["steps"][sid] = {"outcome": outcome, "conclusion": conclusion, "outputs": outputs,
                               "name": name, "seconds": round(time.monotonic() - t0, 2)}
        log.write(f"[rehearsal]   {outcome} in {time.monotonic() - t0:.1f}s"
                  + (f", outputs: {', '.join(sorted(outputs))}" if outputs else ""))

    def _step_name(self, n: int, step: dict, state: dict) -> str:
        if "name" in step:
            try:
                return self._scope(state).str(step["name"])
            except gl.EvalError:
                return gl.source(step["name"])
        if "uses" in step:
            return f"Run {step['uses']}"
        return f"Run {gl.source(step['run']).splitlines()[0][:60] if gl.source(step['run']) else ''}"

    def _env_context(self, state: dict) -> dict[str, str]:
        """The env context: the workflow's and job's env, GITHUB_ENV, and (while a step runs) its own
        `env:` (StepsRunner.cs merges the step's env into the env context before its `if:`)."""
        if state.get("step_env") is not None:
            return state["step_env"]
        return {**state["job_env"], **state["env"]}

    def _contexts(self, state: dict) -> dict:
        c = dict(self.base_contexts)
        c["env"] = self._env_context(state)
        c["steps"] = {k: v for k, v in state["steps"].items() if not k.startswith("__step")}
        c["job"] = {"status": self._status(state)}
        return c

    def id_token_vars(self, state: dict) -> dict[str, str]:
        """ACTIONS_ID_TOKEN_REQUEST_URL/_TOKEN for every step of a job with `id-token: write`: the
        runner sets them from the job's system connection (GenerateIdTokenUrl), which GitHub gives the
        job only with that permission (ContainerActionHandler.cs, ScriptHandler.cs). The token the
        endpoint mints is the job's (dev/oidc: subject from the environment, event and ref)."""
        if self.id_tokens is None:
            self.id_tokens = rm.IdTokenServer()

        # The subject as the repository has it (GitHub's OIDC subject customisation, when dev/oidc
        # knows the repository's: the same form configure-aws-credentials' token carries).
        sub = {"sub_keys": github_oidc.repository_sub_keys()} if hasattr(github_oidc, "repository_sub_keys") else {}

        def mint(audience: str) -> str:
            e = self.event
            claims = github_oidc.claims_for(
                self.workflow_path, e.name, e.ref, repository=e.repository, job=state["job_id"],
                base_ref=e.base or "main", head_ref=e.head_ref or None, head_repository=e.head_repo,
                environment=state["environment"], sha=e.sha, actor=e.actor,
                # A request without `audience` gets the repository owner's URL (GitHub's OIDC
                # reference, "aud": "By default, this is the URL of the repository owner"), not
                # the audience AWS trusts.
                audience=audience or f"{SERVER_URL}/{e.owner}", **sub)
            token = github_oidc.sign(claims)
            self.log.masks.append(token)
            return token

        url, request_token = self.id_tokens.register(mint)
        self.log.masks.append(request_token)
        return {"ACTIONS_ID_TOKEN_REQUEST_URL": url, "ACTIONS_ID_TOKEN_REQUEST_TOKEN": request_token}

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
            "RUNNER_WORKSPACE": str(state["workspace"].parent),
            "HOME": str(state["home"]), "LANG": "C.UTF-8",
            # ActionRunner.cs sets github.action_repository/action_ref to null for every step that is
            # not a repository's action (`run:`, `uses: ./`, `docker://`), and GitHubContext.cs exports
            # a null StringContextData as "" (its Value): both variables exist, empty.
            "GITHUB_ACTION_REPOSITORY": "", "GITHUB_ACTION_REF": "",
        }
        for k, p in files.items():
            env[k] = str(p)
        env.update(state.get("id_token") or {})
        return env

    def file_commands(self, state: dict, n: int | str) -> dict[str, Path]:
        d = state["temp"] / "_runner_file_commands"
        d.mkdir(parents=True, exist_ok=True)
        files = {}
        for var in ("GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_PATH", "GITHUB_STEP_SUMMARY", "GITHUB_STATE"):
            p = d / f"{var.lower()}_{n}"
            p.write_text("")
            files[var] = p
        return files

    def collect_file_commands(self, state: dict, files: dict[str, Path], action_state: dict | None = None) -> dict[str, str]:
        # set-output/save-state lines were processed while the step ran, the files after it
        # (ActionRunner.cs: fileCommandManager.ProcessFiles in the step's finally): a file wins.
        commands = state.pop("commands", None)
        outputs = {**(commands.outputs if commands else {}), **parse_file_command(files["GITHUB_OUTPUT"])}
        for k, v in parse_file_command(files["GITHUB_ENV"]).items():
            state["env"][k] = v
        for line in files["GITHUB_PATH"].read_text().splitlines():
            if line.strip():
                state["path"].insert(0, line.strip())
        if action_state is not None:
            action_state.update(commands.saved if commands else {})
            action_state.update(parse_file_command(files["GITHUB_STATE"]))
        text = files["GITHUB_STEP_SUMMARY"].read_text()
        if len(text.encode()) > 1024 * 1024:
            raise StepFailed(f"the step summary is {len(text.encode())} bytes; GitHub's limit is 1 MiB per step")
        if text:
            state["summary"].append(text if text.endswith("\n") else text + "\n")
        return outputs

    def step_env(self, step: dict, state: dict, scope: Scope) -> dict[str, str]:
        """The env context of a step: workflow and job env, what earlier steps wrote to GITHUB_ENV, the
        step's own env (evaluated with the env context before it)."""
        before = {**state["job_env"], **state["env"]}
        se = Scope(dict(scope.contexts, env=before), scope.status, scope.workspace).strs(step.get("env"), "step env")
        return {**before, **se}

    def run_process(self, argv: list[str], env: dict[str, str], cwd: Path, state: dict, timeout: float | None,
                    on_start: Callable[[subprocess.Popen], None] | None = None) -> int:
        """One step's process, its output read for workflow commands; cancelled as the runner cancels a
        step (rm.cancel_process) when the step's timeout-minutes passes (StepsRunner.cs: the step fails,
        "has timed out") or the job is cancelled while the step's `if:` no longer holds (StepsRunner.cs
        re-evaluates the running step's condition on a job cancellation: an always() step runs on)."""
        log = self.log
        proc = subprocess.Popen(argv, env=env, cwd=str(cwd), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, errors="replace", start_new_session=True)
        if on_start:
            on_start(proc)
        deadline = time.monotonic() + timeout if timeout else None
        assert proc.stdout is not None

        commands = CommandReader(log, state, env)
        state["commands"] = commands

        def read() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                commands.line(line.rstrip("\n"))

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        cancelled = None
        while proc.poll() is None:
            try:
                proc.wait(timeout=0.1)
            except subprocess.TimeoutExpired:
                pass
            if proc.poll() is not None:
                break
            if deadline and time.monotonic() > deadline:
                rm.cancel_process(proc, log.write)
                cancelled = StepFailed(f"The action has timed out after {timeout / 60:g} minutes.")
            elif self.cancellation.check() and not self._still_runs_on_cancel(state):
                rm.cancel_process(proc, log.write)
                cancelled = StepCancelled(f"the job was cancelled ({self.cancellation.reason})")
        # Every line the step wrote, up to EOF (a process it left behind may still hold the pipe: the
        # runner, too, reads the step's output to its end); after a cancel, what came within the grace.
        reader.join(timeout=10 if cancelled else None)
        if cancelled:
            raise cancelled
        if commands.failure:
            raise commands.failure
        return proc.returncode

    def _still_runs_on_cancel(self, state: dict) -> bool:
        cond = state.get("current_if")
        if cond is None:
            return False
        try:
            return Scope(self._contexts(state), "cancelled", state["workspace"]).bool(cond)
        except gl.EvalError:
            return False

    def run_step(self, n: int, step: dict, state: dict, scope: Scope) -> dict[str, str]:
        timeout = None
        if "timeout-minutes" in step:
            # PipelineTemplateConverter.ConvertToStepTimeout: `(Int32)number.Value` (whole minutes);
            # StepsRunner.cs sets a timeout only when that is > 0.
            minutes = int(float(scope.many([(step["timeout-minutes"], "any")])[0]))
            timeout = minutes * 60 if minutes > 0 else None
        if "run" in step:
            return self.run_shell(n, step, state, scope, timeout)
        uses = step["uses"]
        if uses == "./" or uses.startswith("./"):
            return self.run_local_action(n, step, state, scope, uses, timeout)
        if uses.startswith("docker://"):
            return self.run_container_action(n, step, state, scope, None, uses, timeout)
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
        with_ = scope.strs(step.get("with"), "with")
        self.log.write(f"[rehearsal]   {name}@{ref}" + (f" with {', '.join(f'{k}={v!r}' for k, v in with_.items())}" if with_ else ""))
        return handlers[name](n, with_, state, self._env_context(state))

    def _path_env(self, state: dict, env: dict[str, str]) -> str:
        return ":".join([*state["path"], self.runner_env.get("PATH", os.environ.get("PATH", "/usr/bin:/bin"))])

    def run_shell(self, n: int, step: dict, state: dict, scope: Scope, timeout: float | None) -> dict[str, str]:
        script = scope.str(step["run"])
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
        cwd = state["workspace"] / scope.str(wd) if wd else state["workspace"]
        if not cwd.is_dir():
            raise StepFailed(f"working-directory {cwd} does not exist")
        files = self.file_commands(state, n)
        # ScriptHandler.cs: the step's process gets the runner's own environment (the machine's
        # variables: --runner-env), the runner's GITHUB_*/RUNNER_*, and the step's env context.
        env = {**self.runner_env, **self.runner_vars(state, files, step.get("id") or f"__run_{n}"),
               **self._env_context(state)}
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
    # What reaches a `runs.using: docker` action, as the runner assembles it:
    #   ActionRunner.cs: the env context (workflow, job and step env, GITHUB_ENV) and STATE_<name>
    #     (what the action's main step saved to GITHUB_STATE: for its post step);
    #   Handler.cs AddInputsToEnvironment: INPUT_<NAME> (upper-cased, spaces to _, hyphens kept);
    #   ContainerActionHandler.cs: runs.env only where the key is not set yet; then the GitHub and
    #     runner contexts' variables (GITHUB_*, RUNNER_*), HOME = <temp>/_github_home, the Actions
    #     runtime's (ACTIONS_RUNTIME_URL/_TOKEN, ACTIONS_RESULTS_URL; ACTIONS_ID_TOKEN_REQUEST_* with
    #     id-token: write); every value then through TranslateToContainerPath;
    #   DockerCommandManager.cs DockerRun: `-e NAME` for each of those, GITHUB_ACTIONS=true, CI=true
    #     unless set. Nothing of the runner machine's own environment.
    def run_local_action(self, n: int, step: dict, state: dict, scope: Scope, uses: str, timeout: float | None) -> dict[str, str]:
        action_dir = (state["workspace"] / uses).resolve()
        meta_file = next((action_dir / f for f in ("action.yml", "action.yaml") if (action_dir / f).exists()), None)
        if meta_file is None:
            raise StepFailed(f"Can't find 'action.yml' under '{action_dir}'. Did you forget to run actions/checkout before running your local action?")
        try:
            meta = gl.parse_action(meta_file)
        except gl.WorkflowInvalid as e:
            raise StepFailed(str(e)) from None
        runs = meta.get("runs") or {}
        if runs.get("using") != "docker":
            raise RehearsalError(f"step {n}: {uses} runs.using {runs.get('using')!r}: only container actions are modelled")
        if "pre-entrypoint" in runs:
            # ActionRunner.cs: "`pre` execution is not supported for local action": a warning, no pre step.
            state["annotations"].append({"level": "warning", "properties": "", "message": f"`pre` execution is not supported for local action from '{uses}'"})
        return self.run_container_action(n, step, state, scope, meta, runs.get("image", ""), timeout, action_dir)

    def run_container_action(self, n: int, step: dict, state: dict, scope: Scope, meta: dict | None, image: str,
                             timeout: float | None, action_dir: Path | None = None) -> dict[str, str]:
        meta = meta or {}
        runs = meta.get("runs") or {}
        tag = step.get("id") or f"__action_{n}"
        shared = {"n": n, "tag": tag, "image": image, "meta": meta, "action_dir": action_dir, "state": {},
                  "name": self._step_name(n, step, state), "step": step}
        if runs.get("post-entrypoint"):
            # ActionRunner.cs: an action with `post` registers a post step (RegisterPostJobStep) before
            # its inputs are evaluated (so a failed or cancelled main step still gets it), its
            # condition the action's post-if (default always(): ActionManifestManager.cs). It shares
            # the main step's GITHUB_STATE (STATE_<name>: the IntraActionState it is handed); its
            # env, inputs, runs.env and runs.args are evaluated again when it runs (run_post).
            state["post"].append({**shared, "entrypoint": runs["post-entrypoint"],
                                  "post_if": runs.get("post-if", "always()")})
        action = self.evaluate_action(shared, state, scope)
        return self._run_container(action, runs.get("entrypoint"), state, timeout)

    def evaluate_action(self, shared: dict, state: dict, scope: Scope) -> dict:
        """What a container action's step evaluates each time it runs (its main and its post step):
        ActionRunner.cs the inputs (`with:`, then each declared input's default: EvaluateDefaultInput,
        with the step's contexts) and the env context; ContainerActionHandler.cs runs.env and
        runs.args, with the step's contexts plus `inputs`."""
        meta, step, n = shared["meta"], shared["step"], shared["n"]
        runs = meta.get("runs") or {}
        declared = meta.get("inputs") or {}
        with_raw = step.get("with") or {}
        declared_lower = {d.lower() for d in declared}
        for key, runs_key in (("args", "args"), ("entrypoint", "entrypoint")):
            # ContainerActionHandler.cs: `with: entryPoint` / `args` become the container's entrypoint and
            # arguments when action.yml has no runs.entrypoint / runs.args (a `docker://` step): not modelled.
            if any(k.lower() == key for k in with_raw) and key not in declared_lower and not runs.get(runs_key):
                raise RehearsalError(f"step {n}: `with: {key}` of a container action (its {key} when action.yml "
                                     f"has no runs.{runs_key}) is not modelled by the rehearsal")
        unknown = {k for k in with_raw if k.lower() not in declared_lower} - {"entrypoint", "args"} if declared else set()
        if unknown:
            # The runner only warns ("Unexpected input(s)"); the rehearsal refuses: a typo never passes.
            raise StepFailed(f"Unexpected input(s) {', '.join(sorted(unknown))}, valid inputs are {', '.join(declared)}")
        given = scope.strs(with_raw, "with")
        defaults = scope.strs({k: (spec or {}).get("default", "") for k, spec in declared.items() if k not in given}, "input defaults")
        inputs = {**defaults, **given}
        for name, spec in declared.items():
            if (spec or {}).get("required") and not inputs.get(name):
                raise StepFailed(f"Input required and not supplied: {name}")
        ascope = Scope(dict(scope.contexts, inputs=inputs), scope.status, scope.workspace)
        runs_env = ascope.strs(runs.get("env"), "runs.env")
        args = ascope.many([(runs.get("args") or [], "string")])[0]
        return {**shared, "inputs": inputs, "runs_env": runs_env, "args": args,
                "env_context": dict(self._env_context(state))}

    def container_env(self, action: dict, state: dict, files: dict[str, Path]) -> dict[str, str]:
        env = dict(action["env_context"])
        env.update({f"STATE_{k}": v for k, v in action["state"].items()})
        env.update({f"INPUT_{k.replace(' ', '_').upper()}": v for k, v in action["inputs"].items()})
        for k, v in action["runs_env"].items():
            env.setdefault(k, v)
        workflow_dir = state["temp"] / "_github_workflow"
        workflow_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.event_path, workflow_dir / "event.json")
        home = state["temp"] / "_github_home"
        home.mkdir(parents=True, exist_ok=True)
        runner = self.runner_vars(state, files, action["tag"])
        runner.pop("LANG", None)
        runner["GITHUB_EVENT_PATH"] = str(workflow_dir / "event.json")
        runner["HOME"] = str(home)
        env.update(runner)
        env.update(self.actions_runtime_vars(state))
        env.setdefault("CI", "true")
        env["GITHUB_ACTIONS"] = "true"
        return env

    def actions_runtime_vars(self, state: dict) -> dict[str, str]:
        """ContainerActionHandler.cs: the Actions runtime's URL and token (artifacts, cache, results)
        reach every container action; the rehearsal has no such service: an address that refuses."""
        if "runtime_token" not in state:
            # Both are the job's system connection's access token (ContainerActionHandler.cs): with
            # id-token: write, ACTIONS_RUNTIME_TOKEN is the ID token request's bearer too.
            id_token = (state.get("id_token") or {}).get("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
            state["runtime_token"] = id_token or f"rehearsal-runtime-{uuid.uuid4().hex}"
            self.log.masks.append(state["runtime_token"])
        return {"ACTIONS_RUNTIME_URL": "http://127.0.0.1:9/", "ACTIONS_RUNTIME_TOKEN": state["runtime_token"],
                "ACTIONS_RESULTS_URL": "http://127.0.0.1:9/"}

    def pull_step_images(self, steps: list[dict], state: dict) -> None:
        """ActionManager.cs PrepareActionsAsync: the image of every `uses: docker://…` step is known
        before the job starts and pulled then, in "Set up job" (a `Pull <image>` job-extension step per
        image, condition success(), before the first step; PullActionContainerAsync: "Docker pull failed
        with exit code N"). An image that cannot be pulled fails the job there: no step with the default
        success() runs (an `if: always()` step still does). A local action's image (`uses: ./`) is only
        known once the checkout ran: it is pulled at its step (action_image). Not modelled: the runner's
        three attempts with a random back-off."""
        if self.args.action_image or not (self.args.action_runtime == "image" or self.mirrors):
            return
        refs = [str(s["uses"]) for s in steps if isinstance(s.get("uses"), str) and s["uses"].startswith("docker://")]
        for ref in dict.fromkeys(refs):
            if state["status"] != "success":
                return
            self.log.write(f"[rehearsal] Pull {ref.removeprefix('docker://')}")
            try:
                self.action_image({"image": ref, "n": 0})
            except StepFailed as e:
                self.log.write(f"[rehearsal]   {e}")
                state["annotations"].append({"level": "error", "properties": "", "message": str(e)})
                state["status"] = "failure"

    def action_image(self, action: dict) -> str | None:
        """The image to run for the action: `--action-image` (a local build standing in for what
        action.yml names), else the reference action.yml names, pulled as the runner pulls it: by that
        reference, anonymously (ActionManager.cs PullActionContainerAsync / `docker run` of a local
        action's image: no registry login), from the registry `--registry-mirror HOST=ADDRESS` stands in
        for. An unpublished or private reference fails the step as the runner's pull does."""
        if not action["image"].startswith("docker://"):
            # `image: Dockerfile…`: the runner builds it from the action's directory at the step
            # (ContainerActionHandler.cs DockerBuild): here the image dev/action-image/build made of
            # this checkout stands for that build (--action-image).
            if not self.args.action_image:
                raise RehearsalError(f"step {action['n']}: image {action['image']!r} is built by the runner from the action's "
                                     "sources: --action-image names the image built here from this checkout")
            self.log.write(f"[rehearsal]   the runner builds {action['image']}: {self.args.action_image} (this checkout's build) stands for it")
            return self.args.action_image
        if self.args.action_image:
            return self.args.action_image
        ref = action["image"].removeprefix("docker://")
        if ref in self.pulled:
            return self.pulled[ref]
        host, _, rest = ref.partition("/")
        mirror = self.mirrors.get(host)
        if not mirror or not rest:
            raise StepFailed(f"Unable to find image '{ref}' locally: the rehearsal reaches no registry for {host} "
                             f"(--registry-mirror {host}=ADDRESS)")
        source = f"{mirror}/{rest}"
        auth = self.work / "anonymous-auth.json"
        auth.write_text("{}")
        self.log.write(f"[rehearsal]   pulling {ref} (anonymously, from {mirror} standing in for {host})")
        r = subprocess.run(["buildah", "pull", "--quiet", "--authfile", str(auth), "--tls-verify=false", f"docker://{source}"],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise StepFailed(f"Docker pull failed for {ref}: {r.stderr.strip().splitlines()[-1] if r.stderr.strip() else r.returncode} "
                             "(the runner pulls action images without credentials: unpublished or private)")
        self.pulled[ref] = r.stdout.strip().splitlines()[-1]
        return self.pulled[ref]

    def _run_container(self, action: dict, entrypoint: str | None, state: dict, timeout: float | None) -> dict[str, str]:
        files = self.file_commands(state, f"{action['n']}{'_post' if action.get('entrypoint') else ''}")
        env = self.container_env(action, state, files)
        # ActionRunner.cs: the file commands (GITHUB_STATE, GITHUB_OUTPUT, …) are processed in a
        # `finally` after the handler ran: a failed or cancelled step's state still reaches its post step.
        try:
            if self.args.action_runtime == "image":
                rc = self.run_image(action, entrypoint, env, files, state, timeout)
            else:
                rc = self.run_host(action, entrypoint, env, state, timeout)
        finally:
            outputs = self.collect_file_commands(state, files, action["state"])
        if rc != 0:
            raise StepFailed(f"Docker run failed with exit code {rc}")
        return outputs

    def run_host(self, action: dict, entrypoint: str | None, env: dict[str, str], state: dict, timeout: float | None) -> int:
        """The image's entrypoint, the deckhand binary of this checkout (--deckhand), run on the host with
        exactly the container's environment (host paths: nothing is mounted) and the image's PATH. The
        runner's docker daemon is the builder here: buildah, configured by --daemon-env (a wrapper on
        PATH), so the daemon's settings never enter the action's environment."""
        if entrypoint:
            program = self.entrypoints.get(entrypoint)
            if not program:
                raise RehearsalError(f"step {action['n']}: entrypoint {entrypoint} of the image: --action-entrypoint {entrypoint}=HOST-PROGRAM runs it on the host")
        else:
            program = self.args.deckhand
            if not program:
                raise RehearsalError(f"step {action['n']}: --action-runtime host needs --deckhand BIN (the binary the image's ENTRYPOINT runs)")
        if self.mirrors and not self.args.action_image and action["image"].startswith("docker://"):
            self.action_image(action)  # the job still needs the published image: pulled, then stood in for
        path = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]
        if self.daemon_env:
            daemon = state["temp"] / "_daemon"
            daemon.mkdir(exist_ok=True)
            real = shutil.which("buildah") or "/usr/bin/buildah"
            exports = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in self.daemon_env.items())
            (daemon / "buildah").write_text(f"#!/bin/sh\n{exports}exec {shlex.quote(real)} \"$@\"\n")
            (daemon / "buildah").chmod(0o755)
            path.insert(0, str(daemon))
        # The process stands for the action's container (runner_model.DockerEngine): Docker's default
        # hostname and HOSTNAME are the container's short id. A post step reaches the daemon through the
        # socket the runner mounts (/var/run/docker.sock), here DOCKER_HOST; the main step's builds go
        # to buildah, which stands for the daemon's build side (above).
        engine = self.docker_engine(state)
        cid = uuid.uuid4().hex + uuid.uuid4().hex
        proc_env = {**env, "PATH": ":".join(path), "HOSTNAME": cid[:12]}
        if action.get("entrypoint"):
            proc_env["DOCKER_HOST"] = f"unix://{engine.socket}"
        self.log.write(f"[rehearsal]   container action {action['image'] or '(image)'} as the host binary: "
                       f"{Path(program).name} {' '.join(shlex.quote(a) for a in action['args'])} (container {cid[:12]})")
        return self.run_process([program, *action["args"]], proc_env, state["workspace"], state, timeout,
                                on_start=lambda proc: engine.add(cid, proc))

    def docker_engine(self, state: dict) -> rm.DockerEngine:
        """The job's docker daemon stand-in for its container actions (a short path: a unix socket's
        is at most 107 bytes)."""
        if "docker" not in state:
            state["docker"] = rm.DockerEngine(Path(tempfile.mkdtemp(prefix="rehearsal-docker-")))
        return state["docker"]

    def run_image(self, action: dict, entrypoint: str | None, env: dict[str, str], files: dict[str, Path],
                  state: dict, timeout: float | None) -> int:
        """The action image run by dev/action-image/run as the runner runs it: the job's temp at
        /github/runner_temp, its _github_home, _github_workflow and _runner_file_commands and the
        workspace mounted, every host path in the environment translated to the container's."""
        run_script = ROOT / "dev" / "action-image" / "run"
        image = self.action_image(action)
        # The runner's checkout belongs to its user (uid 1001), not to the container's root.
        subprocess.run(["chown", "-R", "1001:1001", str(state["workspace"])], check=True)
        own = {"PATH"}
        passed = {k: v for k, v in env.items() if k not in own}
        env_file = state["temp"] / f"_action_env_{action['n']}"
        env_file.write_text("".join(f"{k}={v}\n" for k, v in passed.items() if "\n" not in v))
        env_file.chmod(0o600)
        argv = [str(run_script), "--image", image, "--workspace", str(state["workspace"]),
                "--runner-temp", str(state["temp"]), "--file-commands", str(files["GITHUB_OUTPUT"].parent),
                "--event-name", self.event.name, "--event", str(self.event_path), "--env-file", str(env_file),
                "--no-inputs"]
        if action["action_dir"]:
            argv += ["--action", str(action["action_dir"] / "action.yml")]
        if entrypoint:
            argv += ["--entrypoint", entrypoint]
        for k, v in passed.items():
            if "\n" in v:
                argv += ["--env", f"{k}={v}"]
        argv += ["--", *action["args"]]
        proc_env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "")}
        for k in ("STORAGE_DRIVER", "BUILDAH_ISOLATION", "CONTAINERS_STORAGE_CONF"):
            if os.environ.get(k):
                proc_env[k] = os.environ[k]
        self.log.write(f"[rehearsal]   container action {action['image']} as the image {image} (dev/action-image/run)")
        return self.run_process(argv, proc_env, state["workspace"], state, timeout)

    def run_post(self, post: dict, state: dict) -> None:
        """A post step (`Post <name>`), after every main step, through the same loop as any step
        (StepsRunner.cs): its `env:` evaluated now (the job's status and GITHUB_ENV as they are now),
        then its condition, the action's post-if (default always(), also once the job is cancelled),
        then its inputs, runs.env and runs.args (evaluate_action); STATE_* from the main step."""
        name = f"Post {post['name']}"
        sid = f"__post_{post['tag']}"
        cond = {"$expr": post["post_if"], "$ctx": _post_if_ctx()} if isinstance(post["post_if"], str) else post["post_if"]
        state["step_env"] = None
        try:
            state["step_env"] = self.step_env(post["step"], state, self._scope(state))
            run_it = self._scope(state).bool(cond)
        except gl.EvalError as e:
            self.log.write(f"[rehearsal] {name}: {e}")
            state["status"] = "failure"
            state["steps"][sid] = {"outcome": "failure", "conclusion": "failure", "outputs": {}, "name": name}
            state["step_env"] = None
            return
        if not run_it:
            self.log.write(f"[rehearsal] {name}: skipped (post-if)")
            state["step_env"] = None
            return
        self.log.write(f"[rehearsal] {name}")
        state["current_if"] = cond
        try:
            action = {**self.evaluate_action(post, state, self._scope(state)), "entrypoint": post["entrypoint"]}
            self._run_container(action, post["entrypoint"], state, None)
            outcome = "success"
        except (StepFailed, StepCancelled, gl.EvalError) as e:
            self.log.write(f"[rehearsal]   step failed: {e}")
            outcome = "failure"
            state["status"] = "failure"
        finally:
            state["step_env"] = None
        state["steps"][sid] = {"outcome": outcome, "conclusion": outcome, "outputs": {}, "name": name}
        self.log.write(f"[rehearsal]   {outcome}")


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
                           "runs_for_event": workflow_runs_for(r.doc, r.event.name, r.event.ref, r.event.base, r.event.action),
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
        scope = Scope(contexts, workspace=args.list_workspace or r.event.repo_dir)
        for step in job.get("steps") or []:
            entry: dict[str, Any] = {"name": step.get("name"), "id": step.get("id")}
            try:
                if "run" in step:
                    entry["run"] = scope.str(step["run"])
                    entry["working-directory"] = step.get("working-directory")
                else:
                    entry["uses"] = step["uses"]
                    entry["with"] = scope.strs(step.get("with"), "with")
            except gl.EvalError as e:
                raise RehearsalError(f"job {job_id}: {e}") from None
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
                   help="the runner machine's environment: `run:` steps and JavaScript actions inherit it, container actions never see it")
    p.add_argument("--daemon-env", action="append", default=[], metavar="NAME=VALUE",
                   help="the configuration of the runner's container builder (buildah here: STORAGE_DRIVER, …), --action-runtime host")
    p.add_argument("--action-entrypoint", action="append", default=[], metavar="IMAGE-PATH=HOST-PROGRAM",
                   help="--action-runtime host: the host program that stands for an entrypoint of the image (runs.entrypoint, post-entrypoint)")
    p.add_argument("--environments", help="JSON: the repository's environments (deployment branches and tags, variables, secrets)")
    p.add_argument("--token", help="the GITHUB_TOKEN a job with write permissions gets (the API stand-in's write token)")
    p.add_argument("--read-only-token", help="the GITHUB_TOKEN of a fork PR or a read-only job")
    p.add_argument("--github-api-url", default="https://api.github.com")
    p.add_argument("--github-service", metavar="URL",
                   help="the API stand-in (dev/github-api/server.py) as GitHub's service: each job naming an environment "
                        "gets its deployment, and waits while the environment's protection rules hold it (required "
                        "reviewers, wait timer); without it no deployment is made and no job is held")
    p.add_argument("--run-id")
    p.add_argument("--run-number", type=int, default=1)
    p.add_argument("--job")
    p.add_argument("--work", default=None, help="output directory (default: a new temporary one)")
    p.add_argument("--artifacts", help="artifact store shared by rehearsed runs (default WORK/artifacts)")
    p.add_argument("--event-extra", help="JSON merged into the event payload")
    p.add_argument("--action-runtime", choices=["host", "image"], default="host")
    p.add_argument("--action-image", help="--action-runtime image: run this local image instead of pulling the one action.yml names")
    p.add_argument("--registry-mirror", action="append", default=[], metavar="HOST=ADDRESS",
                   help="the registry that stands for HOST (e.g. ghcr.io=127.0.0.1:5001) when an action image is pulled by its reference")
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
    except (RehearsalError, gl.LibraryError) as e:
        print(f"rehearsal: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
