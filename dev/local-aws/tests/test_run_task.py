"""RunTask of a one-off task (deckhand's pre-deploy migration) through the AWS CLI: it runs, its
essential container exits with the exit code the simulator was told to use, it can be stopped,
and RunTask refuses what ECS refuses. /_sim/run-task/<cluster>/<family> picks the outcome."""

from __future__ import annotations

import json
import time
from typing import Any, Callable

import pytest

from conftest import AwsCliError, Sim, http, unique

STEP = 0.2  # seconds per step of the one-off tasks here


def setup(aws: Callable[..., Any], sim: Sim, **outcome: Any) -> dict[str, Any]:
    cluster, family = unique("c"), unique("td")
    aws("ecs", "create-cluster", "--cluster-name", cluster)
    containers = [{"name": "api", "image": "repo@sha256:" + "a" * 64, "memory": 128, "essential": True,
                   "command": ["node", "dist/main.js"]},
                  {"name": "log-router", "image": "fluent-bit:3", "memory": 64, "essential": False}]
    td = aws("ecs", "register-task-definition", "--family", family, "--container-definitions", json.dumps(containers),
             "--execution-role-arn", "arn:aws:iam::123456789012:role/exec")["taskDefinition"]["taskDefinitionArn"]
    status, body = http("PUT", f"{sim.base}/run-task/{cluster}/{family}", {"step-seconds": STEP, **outcome})
    assert status == 200, body
    return {"cluster": cluster, "family": family, "td": td}


def run(aws: Callable[..., Any], s: dict[str, Any], *extra: str) -> dict[str, Any]:
    return aws("ecs", "run-task", "--cluster", s["cluster"], "--task-definition", s["td"], "--started-by", "deckhand/pre-deploy",
               "--overrides", json.dumps({"containerOverrides": [{"name": "api", "command": ["node", "dist/migrate.js"]}]}), *extra)


def wait_stopped(aws: Callable[..., Any], s: dict[str, Any], arn: str, limit: float = 10.0) -> dict[str, Any]:
    deadline = time.time() + limit
    while time.time() < deadline:
        (task,) = aws("ecs", "describe-tasks", "--cluster", s["cluster"], "--tasks", arn)["tasks"]
        if task["lastStatus"] == "STOPPED":
            return task
        time.sleep(STEP / 2)
    raise AssertionError(f"task {arn} still {task['lastStatus']} after {limit} s")


@pytest.mark.parametrize("exit_code", [0, 1, 3])
def test_a_one_off_task_runs_and_its_container_exits_with_the_chosen_code(aws, sim: Sim, exit_code: int) -> None:
    s = setup(aws, sim, **{"exit-code": exit_code, "run-steps": 2})
    out = run(aws, s)
    assert out["failures"] == []
    (task,) = out["tasks"]
    assert (task["lastStatus"], task["desiredStatus"], task["startedBy"], task["group"]) == (
        "PENDING", "RUNNING", "deckhand/pre-deploy", f"family:{s['family']}")
    assert task["taskDefinitionArn"] == s["td"]
    assert task["overrides"]["containerOverrides"] == [{"name": "api", "command": ["node", "dist/migrate.js"]}]
    arn = task["taskArn"]
    assert arn in aws("ecs", "list-tasks", "--cluster", s["cluster"], "--started-by", "deckhand/pre-deploy")["taskArns"]
    done = wait_stopped(aws, s, arn)
    assert (done["stopCode"], done["stoppedReason"]) == ("EssentialContainerExited", "Essential container in task exited")
    assert done["startedAt"] <= done["stoppedAt"]
    api, router = done["containers"]
    assert (api["name"], api["exitCode"], api["lastStatus"]) == ("api", exit_code, "STOPPED")
    assert router["exitCode"] == 0
    assert arn in aws("ecs", "list-tasks", "--cluster", s["cluster"], "--desired-status", "STOPPED")["taskArns"]


def test_a_task_that_does_not_exit_runs_until_stop_task(aws, sim: Sim) -> None:
    s = setup(aws, sim, **{"run-steps": None})
    arn = run(aws, s)["tasks"][0]["taskArn"]
    time.sleep(STEP * 3)
    (task,) = aws("ecs", "describe-tasks", "--cluster", s["cluster"], "--tasks", arn)["tasks"]
    assert task["lastStatus"] == "RUNNING"
    aws("ecs", "stop-task", "--cluster", s["cluster"], "--task", arn, "--reason", "pre-deploy timed out after 10m")
    (task,) = aws("ecs", "describe-tasks", "--cluster", s["cluster"], "--tasks", arn)["tasks"]
    assert (task["lastStatus"], task["stopCode"], task["stoppedReason"]) == ("STOPPED", "UserInitiated", "pre-deploy timed out after 10m")
    assert task["containers"][0]["exitCode"] == 143


def test_no_capacity_answers_a_failure_and_no_task(aws, sim: Sim) -> None:
    s = setup(aws, sim, **{"failure-reason": "RESOURCE:MEMORY"})
    out = run(aws, s)
    assert out["tasks"] == []
    assert out["failures"][0]["reason"] == "RESOURCE:MEMORY"
    assert out["failures"][0]["arn"].startswith(f"arn:aws:ecs:us-east-1:123456789012:container-instance/{s['cluster']}/")


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--launch-type", "EC2", "--capacity-provider-strategy", "capacityProvider=cp,weight=1"],
         "Specifying both a launch type and capacity provider strategy is not supported"),
        (["--capacity-provider-strategy", "capacityProvider=not-there,weight=1"], "not associated with the cluster"),
        (["--network-configuration", "awsvpcConfiguration={subnets=[subnet-1]}"], "Network Configuration is not valid"),
        (["--count", "11"], "count must be between 1 and 10"),
    ],
    ids=["launch-type-and-strategy", "unknown-capacity-provider", "awsvpc-on-bridge", "count"],
)
def test_run_task_refuses_what_ecs_refuses(aws, sim: Sim, extra: list[str], message: str) -> None:
    s = setup(aws, sim)
    with pytest.raises(AwsCliError, match="InvalidParameterException") as err:
        run(aws, s, *extra)
    assert message in err.value.stderr


def test_an_override_for_a_container_the_task_definition_lacks_is_refused(aws, sim: Sim) -> None:
    s = setup(aws, sim)
    with pytest.raises(AwsCliError, match="Override for container named web is not a container in the TaskDefinition"):
        aws("ecs", "run-task", "--cluster", s["cluster"], "--task-definition", s["td"],
            "--overrides", json.dumps({"containerOverrides": [{"name": "web", "command": ["true"]}]}))


def test_the_outcome_knobs_are_checked(sim: Sim) -> None:
    status, body = http("PUT", f"{sim.base}/run-task/c/f", {"exit-code": "1"})
    assert status == 400 and "exit-code" in body["error"]
    status, body = http("PUT", f"{sim.base}/run-task/c/f", {"exit-cod": 1})
    assert status == 400 and "unknown key" in body["error"]
