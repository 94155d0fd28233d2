"""GitHub Actions concurrency groups, as GitHub documents them, for rehearsing what happens to runs
that meet in one group (which run, which wait, which are cancelled).

Sources:
- GitHub docs, "Control the concurrency of workflows and jobs" (docs.github.com/en/actions/how-tos/
  write-workflows/choose-when-workflows-run/control-workflow-concurrency) and its reusable
  data/reusables/actions/actions-group-concurrency.md: "there can be at most one running and one
  pending job in a concurrency group at any time ... Any existing pending job or workflow in the same
  concurrency group, if it exists, will be canceled and the new queued job or workflow will take its
  place"; `cancel-in-progress: true` also cancels the running one; group names are case-insensitive.
- GitHub changelog 2026-05-07, "GitHub Actions concurrency groups now allow larger queues": with
  `queue: max` in the concurrency block (only "when cancel-in-progress is false or not set") a group
  holds up to 100 pending runs and processes them sequentially instead of replacing the pending one;
  the default is `queue: single`.

A run's own concurrency settings decide what its arrival does to the group (the settings are read
from the workflow file of the run that is queued).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import github_libs as gl

MAX_QUEUE = 100  # "support for up to 100 queued jobs or workflow runs per concurrency group"


class ConcurrencyError(Exception):
    """A concurrency block GitHub refuses or this model does not cover."""


@dataclass(frozen=True)
class Settings:
    group: str
    cancel_in_progress: bool
    queue: str  # "single" (GitHub's default) or "max"


def settings(block: Any, contexts: dict) -> Settings | None:
    """A workflow's (or job's) `concurrency:` as GitHub's parser gives it (rehearse.parse: expressions
    as {"$expr": …}), evaluated with the run's contexts by GitHub's evaluator; None without one."""
    if block is None:
        return None
    if gl.is_expr(block):
        block = gl.evaluate_one(block, contexts, "any")
    if isinstance(block, str) or gl.is_expr(block):
        return Settings(gl.evaluate_one(block, contexts, "string"), False, "single")
    if not isinstance(block, dict):
        raise ConcurrencyError(f"concurrency: a string or a mapping, got {block!r}")
    unknown = set(block) - {"group", "cancel-in-progress", "queue"}
    if unknown:
        raise ConcurrencyError(f"concurrency: unknown key(s) {', '.join(sorted(unknown))}")
    if not block.get("group"):
        raise ConcurrencyError("concurrency: `group` is required")
    group = gl.evaluate_one(block["group"], contexts, "string")
    cip = gl.evaluate_one(block.get("cancel-in-progress", False), contexts, "string")
    if cip not in ("true", "false"):
        raise ConcurrencyError(f"concurrency.cancel-in-progress: true or false, got {cip!r}")
    queue = str(block.get("queue", "single"))
    if queue not in ("single", "max"):
        raise ConcurrencyError(f"concurrency.queue: single or max, got {queue!r}")
    if queue == "max" and cip == "true":
        raise ConcurrencyError("concurrency: `queue: max` only when cancel-in-progress is false or not set")
    return Settings(group, cip == "true", queue)


@dataclass
class Run:
    name: str
    settings: Settings
    state: str = "queued"  # queued -> in_progress | pending -> completed | cancelled


@dataclass
class Groups:
    """Every group's running run and its pending runs, oldest first."""
    running: dict[str, Run] = field(default_factory=dict)
    pending: dict[str, list[Run]] = field(default_factory=dict)

    def arrive(self, run: Run) -> list[Run]:
        """A run is queued: it starts, waits or replaces; returns the runs this cancelled."""
        key = run.settings.group.lower()  # "The concurrency group name is case insensitive."
        waiting = self.pending.setdefault(key, [])
        cancelled: list[Run] = []
        if run.settings.cancel_in_progress and key in self.running:
            cancelled.append(self.running.pop(key))
        if run.settings.queue == "single" or run.settings.cancel_in_progress:
            cancelled += waiting
            waiting.clear()
        elif len(waiting) >= MAX_QUEUE:
            raise ConcurrencyError(f"group {run.settings.group}: more than {MAX_QUEUE} pending runs (not modelled)")
        for r in cancelled:
            r.state = "cancelled"
        if key not in self.running and not waiting:
            run.state = "in_progress"
            self.running[key] = run
        else:
            run.state = "pending"
            waiting.append(run)
        return cancelled

    def finish(self, run: Run) -> Run | None:
        """The running run completes: the oldest pending one starts (returned)."""
        key = run.settings.group.lower()
        if self.running.get(key) is not run:
            raise ConcurrencyError(f"{run.name} is not the running run of {run.settings.group}")
        run.state = "completed"
        del self.running[key]
        waiting = self.pending.get(key) or []
        if waiting:
            nxt = waiting.pop(0)
            nxt.state = "in_progress"
            self.running[key] = nxt
            return nxt
        return None
