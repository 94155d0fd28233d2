"""deploy.yml and rollback.yml share one concurrency group (a rollback never runs beside a deploy).
With GitHub's default `queue: single` a newer pending run cancels the pending one, so a push landing
while a deploy runs silently cancels a rollback someone dispatched meanwhile. Rehearsed with the
workflows' own concurrency blocks, evaluated as for their events, in dev/actions/concurrency.py's
model of GitHub's documented group semantics (sources there)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path.insert(0, str(HERE.parent))
import rehearse  # noqa: E402,F401  (puts dev/oidc and GitHub's libraries on the path)
from concurrency import ConcurrencyError, Groups, Run, Settings, settings  # noqa: E402

WF = ROOT / ".github" / "workflows"


def run_of(workflow: str, name: str, event: str, ref: str = "refs/heads/main", doc: dict | None = None) -> Run:
    doc = doc or rehearse.parse(WF / workflow)["tree"]
    github = {"event_name": event, "ref": ref, "workflow": doc.get("name"), "repository": "deckhand-local/spa-ecs",
              "run_id": name, "event": {}}
    s = settings(doc.get("concurrency"), {"github": github, "inputs": {}, "vars": {}})
    assert s is not None, f"{workflow} has no workflow-level concurrency"
    return Run(name, s)


def scenario(deploy_doc: dict | None = None, rollback_doc: dict | None = None) -> tuple[Run, Run, Run]:
    """A deploy runs; a person dispatches a rollback; then a push lands."""
    groups = Groups()
    d1 = run_of("deploy.yml", "deploy-1", "push", doc=deploy_doc)
    rb = run_of("rollback.yml", "rollback", "workflow_dispatch", doc=rollback_doc)
    d2 = run_of("deploy.yml", "deploy-2", "push", doc=deploy_doc)
    assert groups.arrive(d1) == [] and d1.state == "in_progress"
    assert groups.arrive(rb) == [] and rb.state == "pending"
    groups.arrive(d2)
    if rb.state != "cancelled":
        assert groups.finish(d1) is rb and rb.state == "in_progress"
        assert groups.finish(rb) is d2
    return d1, rb, d2


def test_deploy_and_rollback_share_one_group_and_never_cancel_in_progress():
    d = run_of("deploy.yml", "d", "push").settings
    r = run_of("rollback.yml", "r", "workflow_dispatch").settings
    assert d.group.lower() == r.group.lower()
    assert not d.cancel_in_progress and not r.cancel_in_progress


def test_a_push_does_not_cancel_a_pending_rollback():
    _, rb, d2 = scenario()
    assert rb.state != "cancelled", "the push cancelled the pending rollback (queue: single)"
    # the rollback ran after the deploy it waited for, and the push's deploy after the rollback
    assert rb.state == "completed" and d2.state == "in_progress"
    for name in ("deploy.yml", "rollback.yml"):
        assert run_of(name, "x", "push" if name == "deploy.yml" else "workflow_dispatch").settings.queue == "max", name


def test_with_github_s_default_queue_the_push_cancels_the_rollback():
    """The same two workflows without `queue: max`: what GitHub did before (the model is not lax)."""
    def without_queue(name: str) -> dict:
        doc = rehearse.parse(WF / name)["tree"]
        doc["concurrency"] = {k: v for k, v in doc["concurrency"].items() if k != "queue"}
        return doc
    _, rb, d2 = scenario(without_queue("deploy.yml"), without_queue("rollback.yml"))
    assert rb.state == "cancelled" and d2.state == "pending"


def test_the_model_refuses_what_github_refuses():
    env = {"github": {"ref": "refs/heads/main"}}
    with pytest.raises(ConcurrencyError, match="only when cancel-in-progress is false"):
        settings({"group": "g", "cancel-in-progress": True, "queue": "max"}, env)
    with pytest.raises(ConcurrencyError, match="single or max"):
        settings({"group": "g", "queue": "all"}, env)
    # (an expression as GitHub's parser hands it over: `ci-${{ github.ref }}` is format('ci-{0}', github.ref))
    group = {"$expr": "format('ci-{0}', github.ref)", "$ctx": "job-if"}
    assert settings({"group": group}, env) == Settings("ci-refs/heads/main", False, "single")
    # cancel-in-progress cancels the running run and the pending one
    g = Groups()
    a, b = Run("a", Settings("G", False, "single")), Run("b", Settings("g", False, "max"))
    g.arrive(a), g.arrive(b)
    c = Run("c", Settings("g", True, "single"))
    assert g.arrive(c) == [a, b] and c.state == "in_progress"
