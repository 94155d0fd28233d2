"""Failure scenarios of the ECS simulator that real rollouts meet after the tasks started (stage 2 of
the circuit breaker), placement failures, the health check grace period, and DeleteService's
DRAINING -> INACTIVE, all seen through the AWS CLI. The clock is frozen (step-seconds 3600): one
/_sim step is one scheduler pass and stands for 3600 s of simulated time (grace periods count in it).
"""

from __future__ import annotations

import re
from typing import Any, Callable

import pytest

from conftest import AwsCliError, Sim, deployments_view, describe


def list_tasks(aws: Callable[..., Any], cluster: str, *extra: str) -> list[str]:
    return aws("ecs", "list-tasks", "--cluster", cluster, *extra)["taskArns"]


def describe_tasks(aws: Callable[..., Any], cluster: str, arns: list[str]) -> list[dict[str, Any]]:
    if not arns:
        return []
    return aws("ecs", "describe-tasks", "--cluster", cluster, "--tasks", *arns)["tasks"]


def messages(svc: dict[str, Any]) -> list[str]:
    return [e["message"] for e in svc["events"]]


def new_messages(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Events of `after` not in `before`, oldest first."""
    seen = {e["id"] for e in before["events"]}
    return [e["message"] for e in reversed(after["events"]) if e["id"] not in seen]


def roll(aws: Callable[..., Any], s: dict[str, Any]) -> str:
    return aws("ecs", "update-service", "--cluster", s["cluster"], "--service", s["service"],
               "--task-definition", s["td2"])["service"]["deployments"][0]["id"]


def steps_until(aws: Callable[..., Any], sim: Sim, s: dict[str, Any], marker: str, limit: int = 30) -> int:
    """Step until an event containing `marker` shows; the number of steps it took."""
    for n in range(1, limit + 1):
        sim.step(s["cluster"], s["service"])
        if any(marker in m for m in messages(describe(aws, s["cluster"], s["service"]))):
            return n
    raise AssertionError(f"no event with {marker!r} after {limit} steps")


def test_elb_unhealthy_tasks_run_then_are_stopped_and_replaced(aws, sim: Sim, ecs_service) -> None:
    s = ecs_service(desired=2, breaker=True, rollback=True, scenario="elb-unhealthy")
    c, name, tg = s["cluster"], s["service"], s["tg"]
    old_id = s["created"]["deployments"][0]["id"]
    new_id = roll(aws, s)
    sim.step(c, name)  # started, PENDING
    before = describe(aws, c, name)
    sim.step(c, name)  # RUNNING and registered, not yet healthy: the old tasks keep serving
    svc = describe(aws, c, name)
    assert deployments_view(svc) == [("PRIMARY", "2", "IN_PROGRESS", 2, 0, 0), ("ACTIVE", "1", "COMPLETED", 2, 0, 0)]
    assert new_messages(before, svc) == [f"(service {name}) registered 2 targets in (target-group {tg})"]
    sim.step(c, name)  # the target group's verdict: unhealthy (no grace period)
    after = describe(aws, c, name)
    assert new_messages(svc, after) == [
        f"(service {name}) (port 3000) is unhealthy in (target-group {tg}) due to (reason Health checks failed).",
        f"(service {name}) (port 3000) is unhealthy in (target-group {tg}) due to (reason Health checks failed).",
        f"(service {name}) has begun draining connections on 2 tasks.",
    ]
    # stage-2 failures: they count for the breaker while runningCount > 0 (draining tasks still run)
    assert deployments_view(after)[0] == ("PRIMARY", "2", "IN_PROGRESS", 2, 0, 2)
    sim.step(c, name)  # drained and stopped, replacements started
    svc2 = describe(aws, c, name)
    new = new_messages(after, svc2)
    assert new[:1] == [f"(service {name}) deregistered 2 targets in (target-group {tg})"]
    assert re.fullmatch(rf"\(service {name}\) has stopped 2 running tasks: \(task \w+\) \(task \w+\)\.", new[1])
    assert re.fullmatch(
        rf"\(service {name}\) has started 2 tasks: \(task \w+\) \(task \w+\)\. "
        r"Amazon ECS replaced 2 tasks due to an unhealthy status\.", new[2])
    stopped = describe_tasks(aws, c, list_tasks(aws, c, "--started-by", new_id, "--desired-status", "STOPPED"))
    assert len(stopped) == 2
    for t in stopped:
        assert (t["stopCode"], t["stoppedReason"]) == ("ServiceSchedulerInitiated", f"Task failed ELB health checks in (target-group {tg})")
        assert "startedAt" in t and "stoppedAt" in t
    # the replacements fail the same way: threshold 3 reached -> FAILED, rolled back to the old revision
    views, failed_seen = [], []
    for _ in range(6):
        sim.step(c, name)
        svc3 = describe(aws, c, name)
        views.append(deployments_view(svc3))
        failed_seen += [d for d in svc3["deployments"] if d["id"] == new_id and d["rolloutState"] == "FAILED"]
    assert failed_seen and failed_seen[0]["status"] == "ACTIVE" and failed_seen[0]["failedTasks"] == 4, views
    assert f"(service {name}) (deployment {new_id}) deployment failed: tasks failed to start." in messages(svc3)
    assert f"(service {name}) rolling back to deployment {old_id}." in messages(svc3)
    assert views[-1] == [("PRIMARY", "1", "COMPLETED", 2, 0, 0)]
    assert svc3["deployments"][0]["id"] == old_id


def test_health_check_grace_period_delays_the_unhealthy_verdict(aws, sim: Sim, ecs_service) -> None:
    marker = "is unhealthy in (target-group"
    no_grace = ecs_service(desired=1, scenario="elb-unhealthy")
    roll(aws, no_grace)
    # step 1 starts, step 2 RUNNING, step 3 the verdict
    assert steps_until(aws, sim, no_grace, marker) == 3
    # 7200 s of grace = 2 more steps of 3600 s during which failed checks are ignored
    graced = ecs_service(desired=1, scenario="elb-unhealthy", grace=7200)
    roll(aws, graced)
    for _ in range(4):
        sim.step(graced["cluster"], graced["service"])
    svc = describe(aws, graced["cluster"], graced["service"])
    assert not any(marker in m for m in messages(svc))
    assert deployments_view(svc)[0] == ("PRIMARY", "2", "IN_PROGRESS", 1, 0, 0)  # running, within its grace period
    assert steps_until(aws, sim, graced, marker) == 1
    # the grace period is an input, not a constant: a service configured with it says so
    assert svc["healthCheckGracePeriodSeconds"] == 7200


def test_container_unhealthy_without_breaker_keeps_replacing(aws, sim: Sim, ecs_service) -> None:
    s = ecs_service(desired=1, breaker=False, load_balancer=False, scenario="container-unhealthy",
                    **{"run_steps": 2})
    c, name = s["cluster"], s["service"]
    new_id = roll(aws, s)
    sim.step(c, name, 2)  # started, RUNNING
    svc = describe(aws, c, name)
    assert deployments_view(svc) == [("PRIMARY", "2", "IN_PROGRESS", 1, 0, 0), ("ACTIVE", "1", "COMPLETED", 1, 0, 0)]
    (victim,) = list_tasks(aws, c, "--started-by", new_id)
    sim.step(c, name)  # one step RUNNING is not enough with run-steps 2
    assert deployments_view(describe(aws, c, name))[0] == ("PRIMARY", "2", "IN_PROGRESS", 1, 0, 0)
    sim.step(c, name)
    after = describe(aws, c, name)
    vid = victim.rsplit("/", 1)[-1]
    assert new_messages(svc, after)[:2] == [
        f"(service {name}) (task {vid}) failed container health checks.",
        f"(service {name}) has stopped 1 running tasks: (task {vid}).",
    ]
    (t,) = describe_tasks(aws, c, [victim])
    assert (t["lastStatus"], t["stopCode"], t["stoppedReason"], t["healthStatus"]) == (
        "STOPPED", "ServiceSchedulerInitiated", "Task failed container health checks", "UNHEALTHY")
    api = next(x for x in t["containers"] if x["name"] == "api")
    assert (api["healthStatus"], api["exitCode"]) == ("UNHEALTHY", 143)
    sim.step(c, name, 12)
    svc = describe(aws, c, name)
    (p, a) = svc["deployments"]
    # breaker off: the deployment stays IN_PROGRESS, the old one keeps serving, failures keep counting
    assert (p["rolloutState"], a["status"], a["runningCount"]) == ("IN_PROGRESS", "ACTIVE", 1)
    assert p["failedTasks"] >= 3
    # stage-2 failures are not "unable to consistently start tasks" (that is for tasks that never run)
    assert not any("unable to consistently start" in m for m in messages(svc))
    assert any(m.endswith("Amazon ECS replaced 1 tasks due to an unhealthy status.") for m in messages(svc))


def test_tasks_fail_later_run_then_exit_and_trip_the_breaker(aws, sim: Sim, ecs_service) -> None:
    s = ecs_service(desired=2, breaker=True, rollback=True, scenario="tasks-fail-later",
                    run_steps=2, exit_code=3, stopped_reason="Essential container in task exited")
    c, name = s["cluster"], s["service"]
    old_id = s["created"]["deployments"][0]["id"]
    new_id = roll(aws, s)
    seen = []
    for _ in range(5):
        sim.step(c, name)
        seen.append(deployments_view(describe(aws, c, name)))
    assert seen == [
        [("PRIMARY", "2", "IN_PROGRESS", 0, 2, 0), ("ACTIVE", "1", "COMPLETED", 2, 0, 0)],
        [("PRIMARY", "2", "IN_PROGRESS", 2, 0, 0), ("ACTIVE", "1", "COMPLETED", 2, 0, 0)],
        [("PRIMARY", "2", "IN_PROGRESS", 2, 0, 0), ("ACTIVE", "1", "COMPLETED", 2, 0, 0)],
        # both exit after two steps RUNNING; the replacements start at once (room under maximumPercent)
        [("PRIMARY", "2", "IN_PROGRESS", 0, 2, 2), ("ACTIVE", "1", "COMPLETED", 2, 0, 0)],
        [("PRIMARY", "2", "IN_PROGRESS", 2, 0, 2), ("ACTIVE", "1", "COMPLETED", 2, 0, 0)],
    ]
    stopped = describe_tasks(aws, c, list_tasks(aws, c, "--started-by", new_id, "--desired-status", "STOPPED"))
    assert len(stopped) == 2
    for t in stopped:
        assert (t["stopCode"], t["stoppedReason"]) == ("EssentialContainerExited", "Essential container in task exited")
        assert t["startedAt"] < t["stoppedAt"]  # it ran for a while
        assert next(x for x in t["containers"] if x["name"] == "api")["exitCode"] == 3
    sim.step(c, name, 2)  # the second pair exits: 4 >= 3 -> FAILED, rollback
    svc = describe(aws, c, name)
    assert svc["deployments"][0]["id"] == old_id
    assert f"(service {name}) rolling back to deployment {old_id}." in messages(svc)
    sim.step(c, name, 3)
    svc = describe(aws, c, name)
    assert deployments_view(svc) == [("PRIMARY", "1", "COMPLETED", 2, 0, 0)]
    assert svc["taskDefinition"] == s["td1"]


def test_placement_failure_is_a_service_event_and_trips_the_breaker(aws, sim: Sim, ecs_service) -> None:
    s = ecs_service(desired=2, breaker=True, rollback=True, scenario="placement")
    c, name = s["cluster"], s["service"]
    old_id = s["created"]["deployments"][0]["id"]
    new_id = roll(aws, s)
    sim.step(c, name)
    svc = describe(aws, c, name)
    assert deployments_view(svc) == [("PRIMARY", "2", "IN_PROGRESS", 0, 0, 2), ("ACTIVE", "1", "COMPLETED", 2, 0, 0)]
    assert messages(svc)[0] == (
        f"(service {name}) was unable to place a task because no container instance met all of its requirements. "
        "The closest matching (container-instance 0b7a6f1c5e3d4a2b9c8d7e6f5a4b3c2d) has insufficient memory "
        "available. For more information, see the Troubleshooting section."
    )
    assert list_tasks(aws, c, "--started-by", new_id) == []
    assert list_tasks(aws, c, "--started-by", new_id, "--desired-status", "STOPPED") == []
    sim.step(c, name)  # 4 failed placements >= 3
    sim.step(c, name)
    svc = describe(aws, c, name)
    assert svc["deployments"][0]["id"] == old_id
    assert f"(service {name}) (deployment {new_id}) deployment failed: tasks failed to start." in messages(svc)
    sim.step(c, name, 2)
    assert deployments_view(describe(aws, c, name)) == [("PRIMARY", "1", "COMPLETED", 2, 0, 0)]


def test_placement_reason_is_configurable_and_not_repeated(aws, sim: Sim, ecs_service) -> None:
    reason = "Reason: No Container Instances were found in your cluster."
    s = ecs_service(desired=1, breaker=False, scenario="placement", placement_reason=reason)
    c, name = s["cluster"], s["service"]
    roll(aws, s)
    sim.step(c, name, 6)
    svc = describe(aws, c, name)
    want = (f"(service {name}) was unable to place a task because no container instance met all of its "
            f"requirements. {reason}")
    assert messages(svc).count(want) == 1  # held back until its cause changes
    assert messages(svc)[0] == want
    assert deployments_view(svc)[0][:5] == ("PRIMARY", "2", "IN_PROGRESS", 0, 0)
    # capacity arrives: the rollout finishes
    sim.configure(c, name, scenario="healthy")
    sim.step(c, name, 3)
    assert deployments_view(describe(aws, c, name)) == [("PRIMARY", "2", "COMPLETED", 1, 0, 0)]


def test_delete_service_drains_then_turns_inactive(aws, sim: Sim, ecs_service) -> None:
    s = ecs_service(desired=2)
    c, name, tg = s["cluster"], s["service"], s["tg"]
    running = list_tasks(aws, c, "--service-name", name)
    with pytest.raises(AwsCliError) as err:  # scaled above 0 without --force
        aws("ecs", "delete-service", "--cluster", c, "--service", name)
    assert "The service cannot be stopped while it is scaled above 0." in err.value.stderr
    deleted = aws("ecs", "delete-service", "--cluster", c, "--service", name, "--force")["service"]
    assert (deleted["status"], deleted["desiredCount"]) == ("DRAINING", 0)
    svc = describe(aws, c, name)
    assert (svc["status"], svc["desiredCount"], svc["runningCount"]) == ("DRAINING", 0, 2)
    assert messages(svc)[0] == f"(service {name}) has begun draining connections on 2 tasks."
    assert list_tasks(aws, c, "--service-name", name) == []  # draining tasks' desiredStatus is STOPPED
    with pytest.raises(AwsCliError) as err:
        aws("ecs", "update-service", "--cluster", c, "--service", name, "--force-new-deployment")
    assert "ServiceNotActiveException" in err.value.stderr
    with pytest.raises(AwsCliError) as err:
        aws("ecs", "create-service", "--cluster", c, "--service-name", name, "--task-definition", s["td1"],
            "--desired-count", "1")
    assert "Unable to Start a service that is still Draining." in err.value.stderr
    sim.step(c, name)
    svc = describe(aws, c, name)
    assert (svc["status"], svc["runningCount"], svc["pendingCount"]) == ("INACTIVE", 0, 0)
    assert messages(svc)[:2] == [
        messages(svc)[0],
        f"(service {name}) deregistered 2 targets in (target-group {tg})",
    ]
    assert messages(svc)[0].startswith(f"(service {name}) has stopped 2 running tasks: ")
    stopped = list_tasks(aws, c, "--service-name", name, "--desired-status", "STOPPED")
    assert set(stopped) == set(running)
    with pytest.raises(AwsCliError) as err:
        aws("ecs", "delete-service", "--cluster", c, "--service", name, "--force")
    assert "ServiceNotActiveException" in err.value.stderr
    # an INACTIVE name can be used again
    again = aws("ecs", "create-service", "--cluster", c, "--service-name", name, "--task-definition", s["td1"],
                "--desired-count", "1")["service"]
    assert again["status"] == "ACTIVE"
    assert describe(aws, c, name)["runningCount"] == 1


def test_delete_service_without_load_balancer_turns_inactive_in_time(aws, ecs_service) -> None:
    import time

    s = ecs_service(desired=1, load_balancer=False, step_seconds=0.2)
    c, name = s["cluster"], s["service"]
    assert aws("ecs", "delete-service", "--cluster", c, "--service", name, "--force")["service"]["status"] == "DRAINING"
    deadline = time.time() + 20
    while describe(aws, c, name)["status"] != "INACTIVE" and time.time() < deadline:
        time.sleep(0.05)
    svc = describe(aws, c, name)
    assert (svc["status"], svc["runningCount"]) == ("INACTIVE", 0)


def test_new_scenario_keys_are_validated(sim: Sim) -> None:
    from conftest import http

    for body, err in (
        ({"run-steps": -1}, "run-steps must be >= 0"),
        ({"run-steps": "2"}, "key 'run-steps' has the wrong type"),
        ({"placement-reason": 3}, "key 'placement-reason' has the wrong type"),
    ):
        status, answer = http("PUT", f"{sim.base}/services/c/s", body)
        assert status == 400 and err in answer["error"], answer
    for scenario in ("elb-unhealthy", "container-unhealthy", "tasks-fail-later", "placement"):
        status, answer = http("PUT", f"{sim.base}/services/c/s-{scenario}", {"scenario": scenario})
        assert status == 200 and answer["config"]["scenario"] == scenario
