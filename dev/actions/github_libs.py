"""The rehearsal's way to GitHub's own workflow parser and expression evaluator (dev/actions/node/
helper.mjs: @actions/workflow-parser and @actions/expressions). One Node process per Python process,
started on first use, answering JSON lines: a workflow or action.yml parsed and validated once, then
every expression of a step evaluated in one request (Node starts once, not per expression).

A parsed file is a tree of plain values where each expression is {"$expr": SOURCE, "$ctx": N}: the
rehearsal reads the structure itself and hands the parts it needs evaluated back here."""

from __future__ import annotations

import atexit
import json
import os
import subprocess
import threading
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
NODE_DIR = HERE / "node"


class LibraryError(Exception):
    """The helper could not run (not installed, crashed)."""


class WorkflowInvalid(Exception):
    """GitHub's parser refused the file: the errors are GitHub's own messages with file, line and column."""

    def __init__(self, path: str, errors: list[str]):
        self.path = path
        self.errors = errors
        super().__init__(f"{path}: GitHub's workflow parser refuses it:\n  " + "\n  ".join(errors))


class EvalError(Exception):
    """An expression failed at run time (e.g. fromJSON of a value that is not JSON): as on GitHub, the
    step (or job) that needs it fails."""


def is_expr(v: Any) -> bool:
    return isinstance(v, dict) and "$expr" in v


def has_expr(v: Any) -> bool:
    if is_expr(v):
        return True
    if isinstance(v, dict):
        return any(has_expr(x) for x in v.values())
    if isinstance(v, list):
        return any(has_expr(x) for x in v)
    return False


def source(v: Any) -> str:
    """A value as a person reads it in the workflow (for logs and messages)."""
    if is_expr(v):
        return "${{ " + v["$expr"] + " }}"
    return "" if v is None else str(v)


class _Helper:
    def __init__(self) -> None:
        self.proc: subprocess.Popen[str] | None = None
        self.lock = threading.Lock()

    def _start(self) -> subprocess.Popen[str]:
        if not (NODE_DIR / "node_modules" / "@actions" / "workflow-parser").is_dir():
            ci = ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"]
            r = subprocess.run(ci, cwd=NODE_DIR, capture_output=True, text=True)
            if r.returncode != 0:
                raise LibraryError(f"npm ci in {NODE_DIR} failed: {r.stderr.strip()[-2000:]}")
        proc = subprocess.Popen(["node", str(NODE_DIR / "helper.mjs"), "serve"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True, cwd=NODE_DIR, bufsize=1)
        atexit.register(self.close)
        return proc

    def call(self, req: dict) -> dict:
        with self.lock:
            if self.proc is None or self.proc.poll() is not None:
                self.proc = self._start()
            assert self.proc.stdin and self.proc.stdout
            self.proc.stdin.write(json.dumps(req) + "\n")
            self.proc.stdin.flush()
            line = self.proc.stdout.readline()
        if not line:
            raise LibraryError(f"dev/actions/node/helper.mjs exited ({self.proc.poll()})")
        reply = json.loads(line)
        if "fatal" in reply:
            raise LibraryError(f"dev/actions/node/helper.mjs: {reply['fatal']}")
        return reply

    def close(self) -> None:
        if self.proc and self.proc.poll() is None:
            assert self.proc.stdin
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()


_helper = _Helper()


def parse_workflow(path: Path | str) -> dict:
    """{"tree", "jobs" (id, needs, if, steps: [{id, if}] as GitHub converts them), "events"}; raises
    WorkflowInvalid with GitHub's errors."""
    reply = _helper.call({"op": "workflow", "path": os.fspath(Path(path).resolve())})
    if reply["errors"]:
        raise WorkflowInvalid(str(path), reply["errors"])
    return reply


def parse_action(path: Path | str) -> dict:
    reply = _helper.call({"op": "action", "path": os.fspath(Path(path).resolve())})
    if reply["errors"]:
        raise WorkflowInvalid(str(path), reply["errors"])
    return reply["tree"]


def evaluate(items: list[tuple[Any, str]], contexts: dict, *, status: str = "success",
             workspace: str | None = None) -> list[Any]:
    """Each (value, want) evaluated against the contexts: want "string" (every leaf converted as the
    runner converts it), "bool" (truthiness, for `if:`) or "any" (plain JSON). Values without an
    expression are converted here without a round trip only when they are strings already."""
    out: list[Any] = [None] * len(items)
    todo = []
    for i, (value, want) in enumerate(items):
        if want in ("string", "any") and _plain_strings(value):
            out[i] = value
        else:
            todo.append(i)
    if todo:
        reply = _helper.call({"op": "eval", "contexts": contexts, "status": status, "workspace": workspace,
                              "items": [{"value": items[i][0], "want": items[i][1]} for i in todo]})
        for i, res in zip(todo, reply["results"]):
            if "error" in res:
                raise EvalError(f"{source(items[i][0]) if not isinstance(items[i][0], (dict, list)) else 'an expression'}: {res['error']}")
            out[i] = res["value"]
    return out


def evaluate_one(value: Any, contexts: dict, want: str = "string", **kw: Any) -> Any:
    return evaluate([(value, want)], contexts, **kw)[0]


def _plain_strings(v: Any) -> bool:
    if isinstance(v, str):
        return True
    if isinstance(v, list):
        return all(_plain_strings(x) for x in v)
    if isinstance(v, dict):
        return not is_expr(v) and all(_plain_strings(x) for x in v.values())
    return False
