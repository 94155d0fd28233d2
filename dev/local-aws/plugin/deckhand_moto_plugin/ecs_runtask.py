"""RunTask of a one-off task (a migration, a pre-deploy command), outside any service.

moto 5.2.5 places RunTask tasks on registered container instances and never runs or stops them;
the simulator gives a one-off task the life an ECS task on EC2 has (RunTask, Task, StopTask in
the API reference, https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_RunTask.html):
PENDING, one step later RUNNING (``startedAt``), and after ``run-steps`` steps RUNNING its
essential container exits with the configured exit code: STOPPED, ``stopCode``
EssentialContainerExited, ``stoppedReason`` "Essential container in task exited". With
``run-steps: null`` it runs until StopTask (``UserInitiated``, the containers' exit code 143 as
for the SIGTERM ECS sends). The outcome is chosen per cluster and task definition family:

    PUT /_sim/run-task/<cluster>/<family>
        {"exit-code": 1, "run-steps": 2, "stopped-reason": "...", "stop-code": "...",
         "container-reason": "...", "failure-reason": "RESOURCE:MEMORY", "step-seconds": 0.2}

``failure-reason`` makes RunTask answer no task and ``failures: [{arn, reason}]`` (no container
instance could take it). RunTask's checks: count 1-10, a launch type and a capacity provider
strategy not both, capacity providers associated with the cluster, overrides naming containers of
the task definition, no awsvpc networkConfiguration for a bridge task definition, ``startedBy`` of
at most 128 of ``[A-Za-z0-9_/-]``.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from datetime import datetime, timezone
from typing import Any, Optional

from .ecs_deployments import EcsApiError

RUN_TASK_KEYS = {
    "exit-code": (int, type(None)),
    "run-steps": (int, type(None)),
    "stopped-reason": str,
    "stop-code": str,
    "container-reason": (str, type(None)),
    "failure-reason": (str, type(None)),
    "step-seconds": (int, float),
}
_configs: dict[tuple[str, str], dict[str, Any]] = {}
_oneoffs: dict[str, dict[str, Any]] = {}  # task ARN -> its schedule
_LOCK = threading.RLock()


def _dt(t: float) -> datetime:
    return datetime.fromtimestamp(t, tz=timezone.utc)


def set_config(cluster: str, family: str, payload: dict[str, Any]) -> dict[str, Any]:
    from .ecs_sim import _validate

    _validate(payload, RUN_TASK_KEYS)
    if payload.get("run-steps") is not None and payload["run-steps"] < 0:
        raise ValueError("run-steps must be >= 0 (or null: runs until stopped)")
    if "step-seconds" in payload and not payload["step-seconds"] > 0:
        raise ValueError("step-seconds must be > 0")
    with _LOCK:
        _configs.setdefault((cluster, family), {}).update(payload)
        return config(cluster, family)


def config(cluster: str, family: str) -> dict[str, Any]:
    from .ecs_sim import get_global_config

    out: dict[str, Any] = {
        "exit-code": 0,
        "run-steps": 1,
        "stopped-reason": "Essential container in task exited",
        "stop-code": "EssentialContainerExited",
        "step-seconds": get_global_config()["step-seconds"],
    }
    out.update(_configs.get((cluster, family), {}))
    return out


def delete_config(cluster: str, family: str) -> None:
    with _LOCK:
        _configs.pop((cluster, family), None)


def reset() -> None:
    with _LOCK:
        _configs.clear()
        _oneoffs.clear()


def _bad(message: str) -> EcsApiError:
    return EcsApiError("InvalidParameterException", message)


def run_task(backend: Any, params: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    from . import ecs_sim

    cluster = backend._get_cluster(params.get("cluster") or "default")
    td = backend.describe_task_definition(params["taskDefinition"])
    count = int(params.get("count") or 1)
    if not 1 <= count <= 10:
        raise _bad("count must be between 1 and 10.")
    strategy = params.get("capacityProviderStrategy") or []
    if strategy and params.get("launchType"):
        raise _bad(
            "Specifying both a launch type and capacity provider strategy is not supported. Remove one and try again."
        )
    associated = set(getattr(cluster, "capacity_providers", None) or [])
    for item in strategy:
        if item.get("capacityProvider") not in associated:
            raise _bad(
                "The specified capacity provider strategy cannot contain a capacity provider that is not associated "
                "with the cluster. Associate the capacity provider with the cluster or specify a valid capacity "
                "provider and try again."
            )
    mode = getattr(td, "network_mode", None) or "bridge"
    if params.get("networkConfiguration") and mode != "awsvpc":
        raise _bad("Network Configuration is not valid for the given networkMode of this task definition.")
    started_by = params.get("startedBy")
    if started_by is not None and not re.fullmatch(r"[A-Za-z0-9_/-]{1,128}", started_by):
        raise _bad("startedBy may contain up to 128 letters, numbers, hyphens (-), forward slashes (/) and underscores (_).")
    names = [c.get("name") for c in td.container_definitions or []]
    overrides = params.get("overrides") or {}
    for o in overrides.get("containerOverrides") or []:
        if o.get("name") not in names:
            raise _bad(f"Override for container named {o.get('name')} is not a container in the TaskDefinition.")
    family = td.family
    cfg = config(cluster.name, family)
    now = time.time()
    if cfg.get("failure-reason"):
        arn = f"arn:aws:ecs:{backend.region_name}:{backend.account_id}:container-instance/{cluster.name}/{ecs_sim.CONTAINER_INSTANCE_ID}"
        return [], [{"arn": arn, "reason": cfg["failure-reason"]}]
    tasks = []
    for _ in range(count):
        arn = f"arn:aws:ecs:{backend.region_name}:{backend.account_id}:task/{cluster.name}/{uuid.uuid4().hex}"
        containers = [
            {
                "containerArn": f"arn:aws:ecs:{backend.region_name}:{backend.account_id}:container/{cluster.name}/{arn.rsplit('/', 1)[-1]}/{uuid.uuid4()}",
                "taskArn": arn,
                "name": c.get("name", ""),
                "image": c.get("image", ""),
                "lastStatus": "PENDING",
                "healthStatus": "UNKNOWN",
                "essential": c.get("essential", True),
            }
            for c in td.container_definitions or []
        ]
        task = ecs_sim.SimTask(
            taskArn=arn,
            clusterArn=cluster.arn,
            taskDefinitionArn=td.arn,
            lastStatus="PENDING",
            desiredStatus="RUNNING",
            group=params.get("group") or f"family:{family}",
            createdAt=_dt(now),
            containers=containers,
            overrides={"containerOverrides": list(overrides.get("containerOverrides") or []), "inferenceAcceleratorOverrides": []},
            healthStatus="UNKNOWN",
            version=1,
            tags=list(params.get("tags") or []),
            attachments=[],
        )
        if started_by:
            task["startedBy"] = started_by
        if strategy:
            task["capacityProviderName"] = strategy[0].get("capacityProvider")
        task["launchType"] = params.get("launchType") or "EC2"
        with _LOCK:
            _oneoffs[arn] = {"cluster": cluster.name, "family": family, "created": now, "cfg": dict(cfg)}
        ecs_sim.register_task(task)
        tasks.append(task)
    return tasks, []


def is_oneoff(task: Any) -> bool:
    return isinstance(task, dict) and task.get("taskArn") in _oneoffs


def advance(cluster_arn: str, now: float) -> None:
    """One-off tasks move on with time: RUNNING one step after RunTask, STOPPED after run-steps more."""
    from . import ecs_sim

    with _LOCK:
        for arn, info in list(_oneoffs.items()):
            task = ecs_sim.find_task(cluster_arn, arn)
            if task is None:
                if not any(x.task_arn == arn for x in ecs_sim.all_tasks()):
                    del _oneoffs[arn]
                continue
            if not task.live():
                continue
            cfg = info["cfg"]
            step = float(cfg["step-seconds"])
            steps = int((now - info["created"]) / step)
            if steps >= 1 and task["lastStatus"] == "PENDING":
                t = info["created"] + step
                task["lastStatus"] = "RUNNING"
                task["startedAt"] = task["pullStartedAt"] = task["pullStoppedAt"] = _dt(t)
                task["connectivity"], task["connectivityAt"] = "CONNECTED", _dt(t)
                task["version"] += 1
                for c in task["containers"]:
                    c["lastStatus"] = "RUNNING"
            run_steps = cfg.get("run-steps")
            if run_steps is not None and steps >= 1 + int(run_steps) and task["lastStatus"] == "RUNNING":
                _exit(task, info["created"] + step * (1 + int(run_steps)), cfg)


def _exit(task: dict[str, Any], t: float, cfg: dict[str, Any]) -> None:
    for c in task["containers"]:
        c["lastStatus"] = "STOPPED"
        if c.get("essential", True):
            if cfg.get("exit-code") is not None:
                c["exitCode"] = cfg["exit-code"]
            if cfg.get("container-reason"):
                c["reason"] = cfg["container-reason"]
        else:
            c.setdefault("exitCode", 0)
    _stopped(task, t, cfg.get("stop-code", "EssentialContainerExited"), cfg.get("stopped-reason", "Essential container in task exited"))


def _stopped(task: dict[str, Any], t: float, code: str, reason: str) -> None:
    task["lastStatus"] = "STOPPED"
    task["desiredStatus"] = "STOPPED"
    task["stopCode"] = code
    task["stoppedReason"] = reason
    task.setdefault("stoppingAt", _dt(t))
    task["stoppedAt"] = _dt(t)
    task["executionStoppedAt"] = _dt(t)
    task["connectivity"] = "DISCONNECTED"
    task["version"] += 1


def stop(task: dict[str, Any], reason: Optional[str]) -> None:
    """StopTask of a one-off task: SIGTERM, the containers exit 143."""
    if task["lastStatus"] == "STOPPED":
        return
    started = "startedAt" in task
    for c in task["containers"]:
        c["lastStatus"] = "STOPPED"
        if started:
            c.setdefault("exitCode", 143)
    _stopped(task, time.time(), "UserInitiated", reason or "Task stopped by user")
