"""ECS rollout simulator, seen through the AWS CLI (describe-services, list-tasks, describe-tasks).

Most tests freeze the simulator clock (step-seconds 3600) and advance it one scheduler step at
a time through POST /_sim/services/<cluster>/<service>/step, so every intermediate state is
observed deterministically; one test checks the time-based progression itself.
"""

from __future__ import annotations

import re
import time
from typing import Any, Callable

import pytest

from conftest import AwsCliError, Sim, deployments_view, describe


def events_since(svc: dict[str, Any], marker: str) -> list[str]:
    """Messages newer than the oldest event containing `marker`, oldest first."""
    msgs = [e["message"] for e in svc["events"]]
    idx = max(i for i, m in enumerate(msgs) if marker in m)
    return list(reversed(msgs[:idx]))


def task_refs(message: str) -> list[str]:
    return re.findall(r"\(task ([0-9a-f]{32})\)", message)


def list_tasks(aws: Callable[..., Any], cluster: str, *extra: str) -> list[str]:
    return aws("ecs", "list-tasks", "--cluster", cluster, *extra)["taskArns"]


def describe_tasks(aws: Callable[..., Any], cluster: str, arns: list[str]) -> list[dict[str, Any]]:
    return aws("ecs", "describe-tasks", "--cluster", cluster, "--tasks", *arns)["tasks"]


def test_create_service_starts_completed_with_running_tasks(aws, ecs_service) -> None:
    s = ecs_service(desired=3)
    svc = describe(aws, s["cluster"], s["service"])
    (dep,) = svc["deployments"]
    assert re.fullmatch(r"ecs-svc/\d{19}", dep["id"])
    assert (dep["status"], dep["rolloutState"], dep["runningCount"], dep["pendingCount"]) == ("PRIMARY", "COMPLETED", 3, 0)
    assert dep["rolloutStateReason"] == f"ECS deployment {dep['id']} completed."
    assert (svc["runningCount"], svc["pendingCount"], svc["desiredCount"]) == (3, 0, 3)
    assert svc["taskDefinition"] == s["td1"]
    assert svc["loadBalancers"][0]["targetGroupArn"] == s["tg"]
    msgs = [e["message"] for e in svc["events"]]
    name = s["service"]
    assert msgs[0] == f"(service {name}) has reached a steady state."
    assert msgs[1] == f"(service {name}) (deployment {dep['id']}) deployment completed."
    assert msgs[2] == f"(service {name}) registered 3 targets in (target-group {s['tg']})"
    assert msgs[3].startswith(f"(service {name}) has started 3 tasks: (task ")
    running = list_tasks(aws, s["cluster"], "--service-name", name)
    assert len(running) == 3
    assert {task_refs(msgs[3])[i] for i in range(3)} == {a.rsplit("/", 1)[-1] for a in running}
    for t in describe_tasks(aws, s["cluster"], running):
        assert (t["lastStatus"], t["desiredStatus"], t["startedBy"], t["group"]) == ("RUNNING", "RUNNING", dep["id"], f"service:{name}")
        assert t["taskDefinitionArn"] == s["td1"]
        assert [c["name"] for c in t["containers"]] == ["api", "sidecar"]


def test_healthy_rolling_update_sequence(aws, sim: Sim, ecs_service) -> None:
    s = ecs_service(desired=2)
    c, name = s["cluster"], s["service"]
    old_id = s["created"]["deployments"][0]["id"]
    old_tasks = list_tasks(aws, c, "--service-name", name)

    updated = aws("ecs", "update-service", "--cluster", c, "--service", name, "--task-definition", s["td2"])["service"]
    new_id = updated["deployments"][0]["id"]
    assert re.fullmatch(r"ecs-svc/\d{19}", new_id) and new_id != old_id
    seen = [deployments_view(describe(aws, c, name))]
    for _ in range(3):
        sim.step(c, name)
        seen.append(deployments_view(describe(aws, c, name)))
    assert seen == [
        [("PRIMARY", "2", "IN_PROGRESS", 0, 0, 0), ("ACTIVE", "1", "COMPLETED", 2, 0, 0)],
        [("PRIMARY", "2", "IN_PROGRESS", 0, 2, 0), ("ACTIVE", "1", "COMPLETED", 2, 0, 0)],
        [("PRIMARY", "2", "IN_PROGRESS", 2, 0, 0), ("ACTIVE", "1", "COMPLETED", 2, 0, 0)],
        [("PRIMARY", "2", "COMPLETED", 2, 0, 0)],
    ]
    svc = describe(aws, c, name)
    assert svc["taskDefinition"] == s["td2"]
    assert (svc["runningCount"], svc["pendingCount"]) == (2, 0)
    assert svc["deployments"][0]["rolloutStateReason"] == f"ECS deployment {new_id} completed."
    msgs = events_since(svc, "has reached a steady state.")
    tg = s["tg"]
    assert len(msgs) == 7, msgs
    assert msgs[0].startswith(f"(service {name}) has started 2 tasks: (task ")
    assert msgs[1:6] == [
        f"(service {name}) registered 2 targets in (target-group {tg})",
        f"(service {name}) has begun draining connections on 2 tasks.",
        f"(service {name}) deregistered 2 targets in (target-group {tg})",
        msgs[4],
        f"(service {name}) (deployment {new_id}) deployment completed.",
    ]
    assert msgs[4] == f"(service {name}) has stopped 2 running tasks: " + " ".join(
        f"(task {t})" for t in task_refs(msgs[4])
    ) + "."
    assert set(task_refs(msgs[4])) == {a.rsplit("/", 1)[-1] for a in old_tasks}
    assert msgs[6] == f"(service {name}) has reached a steady state."
    # events newest first
    stamps = [e["createdAt"] for e in svc["events"]]
    assert stamps == sorted(stamps, reverse=True)

    # replaced tasks: stopped, started by the old deployment, stopped by the new one
    stopped = describe_tasks(aws, c, list_tasks(aws, c, "--service-name", name, "--desired-status", "STOPPED"))
    assert {t["taskArn"] for t in stopped} == set(old_tasks)
    for t in stopped:
        assert (t["lastStatus"], t["desiredStatus"], t["startedBy"]) == ("STOPPED", "STOPPED", old_id)
        assert t["stopCode"] == "ServiceSchedulerInitiated"
        assert t["stoppedReason"] == f"Scaling activity initiated by (deployment {new_id})"
    running = list_tasks(aws, c, "--service-name", name)
    assert {t["startedBy"] for t in describe_tasks(aws, c, running)} == {new_id}
    assert list_tasks(aws, c, "--started-by", new_id) == running


def test_time_based_progress_without_manual_steps(aws, ecs_service) -> None:
    s = ecs_service(desired=2, step_seconds=0.3)
    c, name = s["cluster"], s["service"]
    started = time.time()
    aws("ecs", "update-service", "--cluster", c, "--service", name, "--task-definition", s["td2"])
    states = []
    while time.time() - started < 20:
        view = deployments_view(describe(aws, c, name))
        if not states or states[-1] != view:
            states.append(view)
        if view == [("PRIMARY", "2", "COMPLETED", 2, 0, 0)]:
            break
        time.sleep(0.05)
    elapsed = time.time() - started
    assert states[-1] == [("PRIMARY", "2", "COMPLETED", 2, 0, 0)], states
    assert states[0][0][2] == "IN_PROGRESS"
    assert elapsed >= 0.9  # three scheduler steps of 0.3 s


def test_tasks_fail_with_circuit_breaker_rolls_back(aws, sim: Sim, ecs_service) -> None:
    s = ecs_service(desired=2, breaker=True, rollback=True, scenario="tasks-fail")
    c, name = s["cluster"], s["service"]
    old_id = s["created"]["deployments"][0]["id"]
    new_id = aws("ecs", "update-service", "--cluster", c, "--service", name,
                 "--task-definition", s["td2"])["service"]["deployments"][0]["id"]
    seen = [deployments_view(describe(aws, c, name))]
    reasons = []
    for _ in range(4):
        sim.step(c, name)
        svc = describe(aws, c, name)
        seen.append(deployments_view(svc))
        reasons.append([(d["id"], d["rolloutStateReason"]) for d in svc["deployments"]])
    assert seen == [
        [("PRIMARY", "2", "IN_PROGRESS", 0, 0, 0), ("ACTIVE", "1", "COMPLETED", 2, 0, 0)],
        [("PRIMARY", "2", "IN_PROGRESS", 0, 2, 0), ("ACTIVE", "1", "COMPLETED", 2, 0, 0)],
        [("PRIMARY", "2", "IN_PROGRESS", 0, 2, 2), ("ACTIVE", "1", "COMPLETED", 2, 0, 0)],
        # threshold min(200, max(3, ceil(2/2))) = 3 reached: FAILED, rollback re-promotes the old one
        [("PRIMARY", "1", "IN_PROGRESS", 2, 0, 0), ("ACTIVE", "2", "FAILED", 0, 0, 4)],
        [("PRIMARY", "1", "COMPLETED", 2, 0, 0)],
    ]
    assert reasons[2] == [
        (old_id, f"ECS deployment circuit breaker: rolling back to deploymentId {old_id}."),
        (new_id, "ECS deployment circuit breaker: tasks failed to start."),
    ]
    assert reasons[3] == [(old_id, f"ECS deployment {old_id} completed.")]
    svc = describe(aws, c, name)
    assert svc["taskDefinition"] == s["td1"]
    msgs = events_since(svc, "has reached a steady state.")
    assert msgs[0].startswith(f"(service {name}) has started 2 tasks:")
    assert msgs[1].startswith(f"(service {name}) has started 2 tasks:")
    assert msgs[2:] == [
        f"(service {name}) (deployment {new_id}) deployment failed: tasks failed to start.",
        f"(service {name}) rolling back to deployment {old_id}.",
        f"(service {name}) (deployment {old_id}) deployment completed.",
        f"(service {name}) has reached a steady state.",
    ]
    stopped = describe_tasks(aws, c, list_tasks(aws, c, "--started-by", new_id, "--desired-status", "STOPPED"))
    assert len(stopped) == 4
    for t in stopped:
        assert (t["lastStatus"], t["stopCode"], t["stoppedReason"]) == ("STOPPED", "EssentialContainerExited", "Essential container in task exited")
        assert t["group"] == f"service:{name}" and t["taskDefinitionArn"] == s["td2"]
        api = next(x for x in t["containers"] if x["name"] == "api")
        assert (api["lastStatus"], api["exitCode"]) == ("STOPPED", 1)
        sidecar = next(x for x in t["containers"] if x["name"] == "sidecar")  # not essential: stopped with it
        assert (sidecar["lastStatus"], sidecar["exitCode"]) == ("STOPPED", 0)
    # the failed deployment launched nothing after tripping
    assert len(list_tasks(aws, c, "--started-by", new_id, "--desired-status", "RUNNING")) == 0


def test_tasks_fail_custom_reason_and_breaker_without_rollback(aws, sim: Sim, ecs_service) -> None:
    reason = ("CannotPullContainerError: pull image manifest has been retried 5 time(s): "
              "failed to resolve ref repo:v2: not found")
    s = ecs_service(desired=1, breaker=True, rollback=False, scenario="tasks-fail",
                    stopped_reason=reason, stop_code="TaskFailedToStart", exit_code=None,
                    container_reason="CannotPullContainerError: not found")
    c, name = s["cluster"], s["service"]
    new_id = aws("ecs", "update-service", "--cluster", c, "--service", name,
                 "--task-definition", s["td2"])["service"]["deployments"][0]["id"]
    sim.step(c, name, 4)
    svc = describe(aws, c, name)
    assert deployments_view(svc) == [("PRIMARY", "2", "FAILED", 0, 0, 3), ("ACTIVE", "1", "COMPLETED", 1, 0, 0)]
    sim.step(c, name, 5)  # FAILED launches nothing, no rollback: it stays
    svc2 = describe(aws, c, name)
    assert deployments_view(svc2) == deployments_view(svc)
    assert svc2["events"][0]["message"] == f"(service {name}) (deployment {new_id}) deployment failed: tasks failed to start."
    stopped = describe_tasks(aws, c, list_tasks(aws, c, "--started-by", new_id, "--desired-status", "STOPPED"))
    assert len(stopped) == 3
    for t in stopped:
        assert (t["stopCode"], t["stoppedReason"]) == ("TaskFailedToStart", reason)
        assert "startedAt" not in t
        api = next(x for x in t["containers"] if x["name"] == "api")
        assert "exitCode" not in api and api["reason"] == "CannotPullContainerError: not found"


def test_tasks_fail_without_breaker_keeps_failing(aws, sim: Sim, ecs_service) -> None:
    s = ecs_service(desired=1, breaker=False, scenario="tasks-fail", exit_code=137,
                    stopped_reason="OutOfMemoryError: Container killed due to memory usage")
    c, name = s["cluster"], s["service"]
    aws("ecs", "update-service", "--cluster", c, "--service", name, "--task-definition", s["td2"])
    sim.step(c, name, 4)
    svc = describe(aws, c, name)
    (p, a) = svc["deployments"]
    assert (p["status"], p["rolloutState"], p["failedTasks"]) == ("PRIMARY", "IN_PROGRESS", 3)
    assert (a["status"], a["runningCount"]) == ("ACTIVE", 1)
    unable = f"(service {name}) is unable to consistently start tasks successfully."
    # the scheduler reports it, then tries again
    assert [e["message"] for e in svc["events"][:2]] == [
        svc["events"][0]["message"], unable]
    assert svc["events"][0]["message"].startswith(f"(service {name}) has started 1 tasks: (task ")
    sim.step(c, name, 40)
    svc = describe(aws, c, name)
    (p, a) = svc["deployments"]
    assert p["rolloutState"] == "IN_PROGRESS" and p["failedTasks"] > 3 and a["runningCount"] == 1
    assert [e["message"] for e in svc["events"]].count(unable) == 1
    # launch back-off: far fewer launches than steps
    assert p["failedTasks"] < 20
    t = describe_tasks(aws, c, list_tasks(aws, c, "--started-by", p["id"], "--desired-status", "STOPPED")[:1])[0]
    assert t["stoppedReason"] == "OutOfMemoryError: Container killed due to memory usage"
    assert next(x for x in t["containers"] if x["name"] == "api")["exitCode"] == 137


def test_stuck_never_stabilises_until_healthy(aws, sim: Sim, ecs_service) -> None:
    s = ecs_service(desired=2, scenario="stuck")
    c, name = s["cluster"], s["service"]
    aws("ecs", "update-service", "--cluster", c, "--service", name, "--force-new-deployment")
    sim.step(c, name, 12)
    svc = describe(aws, c, name)
    assert deployments_view(svc) == [("PRIMARY", "1", "IN_PROGRESS", 0, 2, 0), ("ACTIVE", "1", "COMPLETED", 2, 0, 0)]
    assert (svc["runningCount"], svc["pendingCount"]) == (2, 2)
    pending = describe_tasks(aws, c, list_tasks(aws, c, "--started-by", svc["deployments"][0]["id"]))
    assert [t["lastStatus"] for t in pending] == ["PENDING", "PENDING"]
    sim.configure(c, name, scenario="healthy")
    sim.step(c, name, 3)
    assert deployments_view(describe(aws, c, name)) == [("PRIMARY", "1", "COMPLETED", 2, 0, 0)]


def test_deployment_configuration_percent_rounding(aws, sim: Sim, ecs_service) -> None:
    # desired 3, min 50% -> ceil(1.5) = 2 healthy kept, max 150% -> floor(4.5) = 4 tasks at most
    s = ecs_service(desired=3, min_pct=50, max_pct=150, load_balancer=False)
    c, name = s["cluster"], s["service"]
    aws("ecs", "update-service", "--cluster", c, "--service", name, "--task-definition", s["td2"])
    sim.step(c, name)
    svc = describe(aws, c, name)
    assert deployments_view(svc) == [("PRIMARY", "2", "IN_PROGRESS", 0, 2, 0), ("ACTIVE", "1", "COMPLETED", 2, 0, 0)]
    msgs = [e["message"] for e in svc["events"][:2]]
    assert msgs[1].startswith(f"(service {name}) has stopped 1 running tasks: (task ")
    assert msgs[0].startswith(f"(service {name}) has started 2 tasks: (task ")
    sim.step(c, name, 6)
    assert deployments_view(describe(aws, c, name)) == [("PRIMARY", "2", "COMPLETED", 3, 0, 0)]


def test_deployment_configuration_that_cannot_move(aws, sim: Sim, ecs_service) -> None:
    s = ecs_service(desired=2, min_pct=100, max_pct=100)
    c, name = s["cluster"], s["service"]
    aws("ecs", "update-service", "--cluster", c, "--service", name, "--task-definition", s["td2"])
    sim.step(c, name, 3)
    svc = describe(aws, c, name)
    assert deployments_view(svc) == [("PRIMARY", "2", "IN_PROGRESS", 0, 0, 0), ("ACTIVE", "1", "COMPLETED", 2, 0, 0)]
    assert svc["events"][0]["message"] == (
        f"(service {name}) was unable to stop or start tasks during a deployment because of the service "
        "deployment configuration. Update the minimumHealthyPercent or maximumPercent value and try again."
    )
    # fixing the configuration lets it move
    aws("ecs", "update-service", "--cluster", c, "--service", name,
        "--deployment-configuration", "maximumPercent=200,minimumHealthyPercent=100")
    sim.step(c, name, 3)
    assert deployments_view(describe(aws, c, name)) == [("PRIMARY", "2", "COMPLETED", 2, 0, 0)]


def test_scaling_desired_count_and_delete(aws, sim: Sim, ecs_service) -> None:
    s = ecs_service(desired=1, load_balancer=False)
    c, name = s["cluster"], s["service"]
    aws("ecs", "update-service", "--cluster", c, "--service", name, "--desired-count", "3")
    sim.step(c, name)
    svc = describe(aws, c, name)
    assert len(svc["deployments"]) == 1 and svc["desiredCount"] == 3
    assert (svc["runningCount"], svc["pendingCount"]) == (1, 2)
    cluster = aws("ecs", "describe-clusters", "--clusters", c)["clusters"][0]
    assert (cluster["runningTasksCount"], cluster["pendingTasksCount"], cluster["activeServicesCount"]) == (1, 2, 1)
    sim.step(c, name)
    svc = describe(aws, c, name)
    assert (svc["runningCount"], svc["pendingCount"]) == (3, 0)
    assert svc["events"][0]["message"] == f"(service {name}) has reached a steady state."
    aws("ecs", "update-service", "--cluster", c, "--service", name, "--desired-count", "0")
    sim.step(c, name)
    assert describe(aws, c, name)["runningCount"] == 0
    aws("ecs", "delete-service", "--cluster", c, "--service", name)
    assert list_tasks(aws, c, "--service-name", name) == []
    assert len(list_tasks(aws, c, "--service-name", name, "--desired-status", "STOPPED")) == 3


def test_events_are_capped_at_100_newest_first(aws, sim: Sim, ecs_service) -> None:
    s = ecs_service(desired=1, load_balancer=False)
    c, name = s["cluster"], s["service"]
    for _ in range(25):
        aws("ecs", "update-service", "--cluster", c, "--service", name, "--force-new-deployment")
        sim.step(c, name, 2)
    svc = describe(aws, c, name)
    assert len(svc["events"]) == 100
    stamps = [e["createdAt"] for e in svc["events"]]
    assert stamps == sorted(stamps, reverse=True)
    assert svc["events"][0]["message"] == f"(service {name}) has reached a steady state."
    assert len({e["id"] for e in svc["events"]}) == 100


def test_throttle_answers_throttling_exception(aws, sim: Sim, ecs_service, monkeypatch) -> None:
    s = ecs_service(desired=1)
    other = ecs_service(desired=1)
    c, name = s["cluster"], s["service"]
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("AWS_RETRY_MODE", "standard")
    last = sim.requests()[-1]["seq"]
    state = sim.configure(c, name, scenario="throttle", **{"throttle-count": 2})
    assert state["throttle-remaining"] == 2
    for _ in range(2):
        with pytest.raises(AwsCliError) as err:
            describe(aws, c, name)
        assert "ThrottlingException" in err.value.stderr and "Rate exceeded" in err.value.stderr
        # other clusters are not throttled meanwhile
        describe(aws, other["cluster"], other["service"])
    assert sim.state(c, name)["throttle-remaining"] == 0
    assert describe(aws, c, name)["serviceName"] == name
    # the scenario's rollouts behave like healthy ones
    aws("ecs", "update-service", "--cluster", c, "--service", name, "--task-definition", s["td2"])
    sim.step(c, name, 3)
    assert deployments_view(describe(aws, c, name)) == [("PRIMARY", "2", "COMPLETED", 1, 0, 0)]
    throttled = [r for r in sim.requests(since=last) if r["status"] == 400]
    assert [(r["operation"], r["service"]) for r in throttled] == [("DescribeServices", "ecs")] * 2


def test_control_endpoint_validates_input(sim: Sim) -> None:
    from conftest import http

    status, body = http("PUT", f"{sim.base}/services/c/s", {"scenario": "sometimes"})
    assert status == 400 and "unknown scenario 'sometimes'" in body["error"]
    status, body = http("PUT", f"{sim.base}/services/c/s", {"step-secs": 1})
    assert status == 400 and "unknown key 'step-secs'" in body["error"]
    status, body = http("PUT", f"{sim.base}/services/c/s", {"step-seconds": 0})
    assert status == 400
    status, body = http("POST", f"{sim.base}/services/nope/nope/step", {"count": 1})
    assert status == 404 and "no simulated service" in body["error"]
    status, body = http("GET", f"{sim.base}/services/c/s")
    assert status == 200 and body["config"]["scenario"] == "healthy"


def test_breaker_threshold_clamp() -> None:
    from deckhand_moto_plugin.ecs_sim import breaker_threshold

    assert [breaker_threshold(n) for n in (1, 6, 7, 25, 399, 400, 1000)] == [3, 3, 4, 13, 200, 200, 200]


def test_stop_task_is_replaced_by_the_scheduler(aws, sim: Sim, ecs_service) -> None:
    s = ecs_service(desired=2, load_balancer=False)
    c, name = s["cluster"], s["service"]
    victim = list_tasks(aws, c, "--service-name", name)[0]
    stopped = aws("ecs", "stop-task", "--cluster", c, "--task", victim, "--reason", "manual check")["task"]
    assert (stopped["lastStatus"], stopped["stopCode"], stopped["stoppedReason"]) == ("STOPPED", "UserInitiated", "manual check")
    assert describe(aws, c, name)["runningCount"] == 1
    sim.step(c, name, 2)
    svc = describe(aws, c, name)
    assert (svc["runningCount"], svc["pendingCount"]) == (2, 0)
    assert victim not in list_tasks(aws, c, "--service-name", name)
    assert list_tasks(aws, c, "--family", s["family"], "--desired-status", "STOPPED") == [victim]
