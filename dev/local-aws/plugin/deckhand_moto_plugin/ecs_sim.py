"""ECS rolling-deployment simulator (see shared facts: ecs-rollouts.md).

State is advanced lazily: every read (DescribeServices, ListTasks, DescribeTasks, the
/_sim endpoints) replays the scheduler steps that elapsed since the last read, one step
per ``step-seconds``. A step is one pass of the service scheduler: in-flight tasks change
state, the circuit breaker is checked, old tasks are stopped and new ones started within
minimumHealthyPercent/maximumPercent, drained deployments leave, completion is noted.
"""

from __future__ import annotations

import math
import os
import random
import threading
import time
import uuid
from datetime import datetime, timezone
from typing import Any, Optional

from . import ecs_deployments, ecs_runtask, ecs_staged
from .ecs_deployments import ServiceDeployment

LOCK = threading.RLock()

SCENARIOS = (
    "healthy",
    "tasks-fail",
    "tasks-fail-later",
    "elb-unhealthy",
    "container-unhealthy",
    "placement",
    "stuck",
    "throttle",
)
# tasks reach RUNNING, then fail (stage 2 of the circuit breaker: runningCount > 0 meanwhile)
STAGE2_SCENARIOS = ("tasks-fail-later", "elb-unhealthy", "container-unhealthy")
HEALTH_SCENARIOS = ("elb-unhealthy", "container-unhealthy")
SERVICE_KEYS = {
    "scenario": str,
    "step-seconds": (int, float),
    "throttle-count": int,
    "stopped-reason": str,
    "exit-code": (int, type(None)),
    "stop-code": str,
    "container-reason": (str, type(None)),
    "run-steps": int,
    "placement-reason": str,
    # staged strategies (ecs_staged.py) and alarms/hooks of every strategy
    "stage-steps": int,
    "steps-per-minute": (int, float),
    "alarm-at": (str, type(None)),
    "alarm-reason": str,
    "hook-fails-at": (str, type(None)),
    # a staged rollback moves production traffic back, then fails: ROLLBACK_FAILED, the service
    # still names the new revision (ECS could not finish moving back)
    "rollback-fails": bool,
    # `bucket/key` whose ETag each service deployment records at each of its changes ("watched")
    "watch-object": (str, type(None)),
}
DEFAULT_RUN_STEPS = 1
CONTAINER_INSTANCE_ID = "0b7a6f1c5e3d4a2b9c8d7e6f5a4b3c2d"
DEFAULT_PLACEMENT_REASON = (
    f"The closest matching (container-instance {CONTAINER_INSTANCE_ID}) has insufficient memory available. "
    "For more information, see the Troubleshooting section."
)
DEFAULT_STEP_SECONDS = float(os.environ.get("DECKHAND_SIM_STEP_SECONDS", "0.5"))
DEFAULT_THROTTLE_COUNT = 3
MAX_EVENTS = 100
MAX_STEPS_PER_READ = 500
STOPPED_TASK_TTL = 3600.0
MAX_STOPPED_TASKS_PER_SERVICE = 500

_global: dict[str, Any] = {"step-seconds": DEFAULT_STEP_SECONDS}
_configs: dict[tuple[str, str], dict[str, Any]] = {}
_throttle: dict[str, int] = {}  # cluster name -> ThrottlingExceptions still to answer
_sims: dict[str, "ServiceSim"] = {}  # service ARN -> sim
_tasks: dict[str, "SimTask"] = {}  # task ARN -> task


def _dt(t: float) -> datetime:
    return datetime.fromtimestamp(t, tz=timezone.utc)


def new_deployment_id() -> str:
    return "ecs-svc/" + str(random.randint(10**18, 10**19 - 1))


def _healthy(task: "SimTask") -> bool:
    """RUNNING and past its health checks (a task of a failing stage-2 scenario never is)."""
    return task["lastStatus"] == "RUNNING" and task.get("_healthy", True)


def breaker_threshold(desired: int) -> int:
    return min(200, max(3, math.ceil(0.5 * desired)))


# --- configuration (/_sim) --------------------------------------------------------------


def _validate(payload: dict[str, Any], allowed: dict[str, Any]) -> None:
    if not isinstance(payload, dict):
        raise ValueError("body must be a JSON object")
    for key, value in payload.items():
        if key not in allowed:
            raise ValueError(f"unknown key {key!r}; allowed: {', '.join(sorted(allowed))}")
        types = allowed[key]
        if not isinstance(value, types) or (isinstance(value, bool) and types not in (str, bool)):
            raise ValueError(f"key {key!r} has the wrong type: {value!r}")
    if "scenario" in payload and payload["scenario"] not in SCENARIOS:
        raise ValueError(f"unknown scenario {payload['scenario']!r}; one of: {', '.join(SCENARIOS)}")
    if "step-seconds" in payload and not payload["step-seconds"] > 0:
        raise ValueError("step-seconds must be > 0")
    if "throttle-count" in payload and payload["throttle-count"] < 0:
        raise ValueError("throttle-count must be >= 0")
    if payload.get("run-steps") is not None and payload["run-steps"] < 0:
        raise ValueError("run-steps must be >= 0")
    if "stage-steps" in payload and payload["stage-steps"] < 1:
        raise ValueError("stage-steps must be >= 1")
    if "steps-per-minute" in payload and not payload["steps-per-minute"] > 0:
        raise ValueError("steps-per-minute must be > 0")
    stages = ecs_deployments.STAGES + ("ROLLING",)
    if payload.get("alarm-at") is not None and payload["alarm-at"] not in stages:
        raise ValueError(f"alarm-at must be one of: {', '.join(stages)} (or null)")
    hooks = ecs_deployments.HOOK_STAGES
    if payload.get("hook-fails-at") is not None and payload["hook-fails-at"] not in hooks:
        raise ValueError(f"hook-fails-at must be one of: {', '.join(hooks)} (or null)")


def set_global_config(payload: dict[str, Any]) -> None:
    _validate(payload, {"step-seconds": (int, float)})
    with LOCK:
        _global.update(payload)


def get_global_config() -> dict[str, Any]:
    with LOCK:
        return dict(_global)


def _key(cluster: str, service: str) -> tuple[str, str]:
    return (cluster.split("/")[-1], service.split("/")[-1])


def set_service_config(cluster: str, service: str, payload: dict[str, Any]) -> None:
    _validate(payload, SERVICE_KEYS)
    with LOCK:
        # settle the current state under the old configuration first
        for sim in _sims_for(cluster, service):
            sim.advance(time.time())
        cfg = _configs.setdefault(_key(cluster, service), {})
        cfg.update(payload)
        if payload.get("scenario") == "throttle":
            _throttle[_key(cluster, service)[0]] = int(cfg.get("throttle-count", DEFAULT_THROTTLE_COUNT))


def delete_service_config(cluster: str, service: str) -> None:
    with LOCK:
        _configs.pop(_key(cluster, service), None)


def service_config(cluster: str, service: str) -> dict[str, Any]:
    with LOCK:
        cfg = {"scenario": "healthy", "step-seconds": _global["step-seconds"]}
        cfg.update(_configs.get(_key(cluster, service), {}))
        return cfg


def list_service_configs() -> list[dict[str, Any]]:
    with LOCK:
        return [
            {"cluster": c, "service": s, **service_config(c, s)} for (c, s) in sorted(_configs)
        ]


def _sims_for(cluster: str, service: str) -> list["ServiceSim"]:
    c, s = _key(cluster, service)
    return [sim for sim in _sims.values() if sim.cluster_name == c and sim.service_name == s]


def get_service_state(cluster: str, service: str) -> dict[str, Any]:
    with LOCK:
        sims = _sims_for(cluster, service)
        for sim in sims:
            sim.advance(time.time())
        return {
            "cluster": _key(cluster, service)[0],
            "service": _key(cluster, service)[1],
            "config": service_config(cluster, service),
            "throttle-remaining": _throttle.get(_key(cluster, service)[0], 0),
            "services": [sim.summary() for sim in sims],
        }


def step_service(cluster: str, service: str, count: int) -> dict[str, Any]:
    """Run `count` scheduler steps now (deterministic tests freeze time with a huge step-seconds)."""
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= 1000:
        raise ValueError("count must be an integer from 1 to 1000")
    with LOCK:
        sims = _sims_for(cluster, service)
        if not sims:
            raise LookupError(f"no simulated service {service!r} in cluster {cluster!r}")
        for sim in sims:
            sim.advance(time.time())
            for _ in range(count):
                t = max(time.time(), sim.clock + 0.001)
                sim.clock = t
                sim.step(t)
            sim.sync()
    return get_service_state(cluster, service)


def take_throttle(cluster: Optional[str]) -> bool:
    """Consume one injected ThrottlingException armed for `cluster`, if any."""
    if cluster is None:
        return False
    name = cluster.split("/")[-1]
    with LOCK:
        if _throttle.get(name, 0) > 0:
            _throttle[name] -= 1
            return True
        return False


def reset() -> None:
    with LOCK:
        _configs.clear()
        _sims.clear()
        _tasks.clear()
        _throttle.clear()
        ecs_deployments.reset()
        ecs_runtask.reset()
        _global.clear()
        _global["step-seconds"] = DEFAULT_STEP_SECONDS


# --- tasks ------------------------------------------------------------------------------


class SimTask(dict):  # type: ignore[type-arg]
    """A simulated task, shaped like the DescribeTasks ``Task`` structure."""

    @property
    def task_arn(self) -> str:
        return self["taskArn"]

    @property
    def deployment_id(self) -> str:
        return self["startedBy"]

    def live(self) -> bool:
        return self["lastStatus"] != "STOPPED"


def _task_arn(account: str, region: str, cluster: str) -> str:
    return f"arn:aws:ecs:{region}:{account}:task/{cluster}/{uuid.uuid4().hex}"


def task_id(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


# --- deployments ------------------------------------------------------------------------


class Deployment:
    def __init__(self, task_definition: str, desired: int, t: float, launch: dict[str, Any]):
        self.id = new_deployment_id()
        self.status = "PRIMARY"
        self.task_definition = task_definition
        self.desired = desired
        self.failed_tasks = 0
        self.rollout_state = "IN_PROGRESS"
        self.rollout_state_reason = f"ECS deployment {self.id} in progress."
        self.created_at = t
        self.updated_at = t
        self.launch = launch  # launchType or capacityProviderStrategy
        self.changed_at = t  # last promotion/demotion: nothing completes/leaves in that step
        self.stuck_config_reported = False
        self.unable_reported = False
        self.backoff_level = 0
        self.next_launch_at = 0.0
        self.ever_completed = False
        self.placement_reported = False
        self.revision_arn = ""  # service revision (set by the ServiceSim)
        self.sd: Optional[ServiceDeployment] = None

    def to_api(self, tasks: list[SimTask]) -> dict[str, Any]:
        mine = [x for x in tasks if x.deployment_id == self.id and x.live()]
        d = {
            "id": self.id,
            "status": self.status,
            "taskDefinition": self.task_definition,
            "desiredCount": self.desired,
            "pendingCount": sum(1 for x in mine if x["lastStatus"] == "PENDING"),
            "runningCount": sum(1 for x in mine if x["lastStatus"] in ("RUNNING", "DEACTIVATING")),
            "failedTasks": self.failed_tasks,
            "createdAt": _dt(self.created_at),
            "updatedAt": _dt(self.updated_at),
            "rolloutState": self.rollout_state,
            "rolloutStateReason": self.rollout_state_reason,
        }
        d.update(self.launch)
        return d


class ServiceSim:
    def __init__(
        self,
        service: Any,
        backend: Any,
        t: float,
        deployment_configuration: Optional[dict[str, Any]],
        capacity_provider_strategy: Optional[list[dict[str, Any]]],
    ):
        self.account = backend.account_id
        self.region = backend.region_name
        self.backend = backend
        self.service = service
        self.arn = service.arn
        self.cluster_name = service.cluster_name
        self.cluster_arn = service.cluster_arn
        self.service_name = service.name
        self.load_balancers = list(service.load_balancers or [])
        self.deployment_configuration = normalise_deployment_configuration(deployment_configuration)
        self.capacity_provider_strategy = capacity_provider_strategy or []
        self.events: list[dict[str, Any]] = []
        self.history: list[Deployment] = []
        self.steady = False
        self.clock = t
        self._tasks: list[SimTask] = []
        self.deleting = False  # DeleteService: DRAINING until no task is left, then INACTIVE
        self.unhealthy_replaced = 0  # tasks stopped for an unhealthy status, not yet replaced
        self.service_deployments: list[ServiceDeployment] = []
        # production target group -> the one serving production now (they swap after a staged deployment)
        self.live_target_group: dict[str, str] = {}
        d = Deployment(service.task_definition, service.desired_count, t, self.launch_fields())
        d.revision_arn = ecs_deployments.revision_arn(self)
        self.deployments = [d]
        first = self._new_service_deployment(d, [], t)
        first.status, first.started_at = "IN_PROGRESS", t
        if first.weight is not None:  # a new service serves from its first revision
            first.weight, first.test_weight = 100.0, 100.0
        # CreateService: the first deployment starts its tasks and completes at once.
        pending = [self._new_task(d, t) for _ in range(d.desired)]
        log: list[str] = []
        if pending:
            log.append(self._started_msg(pending))
            for task in pending:
                self._set_running(task, t)
            log.extend(self._lb_msgs("registered", len(pending)))
        d.rollout_state = "COMPLETED"
        d.ever_completed = True
        d.rollout_state_reason = f"ECS deployment {d.id} completed."
        log.append(f"(service {self.service_name}) (deployment {d.id}) deployment completed.")
        log.append(f"(service {self.service_name}) has reached a steady state.")
        self.steady = True
        first.finish(t, "SUCCESSFUL")
        self._emit(t, log)

    # -- helpers --
    def _new_service_deployment(self, d: Deployment, sources: list[Deployment], t: float) -> ServiceDeployment:
        sd = ServiceDeployment(self, d, sources, t)
        d.sd = sd
        self.service_deployments.append(sd)
        for old in self.service_deployments[: -ecs_deployments.MAX_KEPT]:
            ecs_deployments.forget(old)
        del self.service_deployments[: -ecs_deployments.MAX_KEPT]
        return sd

    def staged_in_flight(self) -> Optional[ServiceDeployment]:
        for sd in reversed(self.service_deployments):
            if sd.in_flight() and sd.strategy in ecs_deployments.STAGED:
                return sd
        return None

    @staticmethod
    def dt(t: float) -> datetime:
        return _dt(t)

    def retire(self, victims: list["SimTask"], t: float, reason: str, log: list[str]) -> None:
        self._retire(victims, t, reason, log)

    def new_task(self, d: Deployment, t: float) -> "SimTask":
        return self._new_task(d, t)

    def started_msg(self, tasks: list["SimTask"]) -> str:
        return self._started_msg(tasks)

    def placement_message(self, cfg: dict[str, Any]) -> str:
        return (
            f"(service {self.service_name}) was unable to place a task because no container instance met all "
            f"of its requirements. {cfg.get('placement-reason', DEFAULT_PLACEMENT_REASON)}"
        )

    def rollback_target(self, failed: Deployment) -> Optional[Deployment]:
        return self._rollback_target(failed)

    def promote(self, target: Deployment, failed: Deployment, t: float, reason: str) -> None:
        """`target` (the last completed deployment) is PRIMARY again, rolling back `failed`."""
        if target in self.history:
            self.history.remove(target)
        if target in self.deployments:
            self.deployments.remove(target)
        target.status = "PRIMARY"
        target.rollout_state = "IN_PROGRESS"
        target.rollout_state_reason = reason
        target.desired = failed.desired
        target.updated_at = t
        target.changed_at = t
        failed.status = "ACTIVE"
        failed.changed_at = t
        self.deployments.insert(0, target)
        self.steady = False

    def _leave_drained(self, t: float, keep: tuple[Deployment, ...] = ()) -> None:
        tasks = self.live_tasks()
        for d in list(self.deployments[1:]):
            if d in keep:
                continue
            if d.changed_at < t and not any(x.deployment_id == d.id for x in tasks):
                self.deployments.remove(d)
                d.status = "INACTIVE"
                self.history.append(d)
                del self.history[:-10]

    def _completed(self, d: Deployment, t: float, log: list[str]) -> None:
        d.rollout_state = "COMPLETED"
        d.ever_completed = True
        d.rollout_state_reason = f"ECS deployment {d.id} completed."
        d.updated_at = t
        log.append(f"(service {self.service_name}) (deployment {d.id}) deployment completed.")
        self.steady = True
        log.append(f"(service {self.service_name}) has reached a steady state.")

    def complete_staged(self, sd: ServiceDeployment, t: float, log: list[str]) -> None:
        """The staged deployment's last stage ended: green serves, blue is gone."""
        self._leave_drained(t + 1.0)
        for lb in self.load_balancers:  # the target groups swap roles
            adv = lb.get("advancedConfiguration") or {}
            prod, alt = lb.get("targetGroupArn"), adv.get("alternateTargetGroupArn")
            if prod and alt:
                self.live_target_group[prod] = alt if self.live_target_group.get(prod, prod) == prod else prod
        sd.finish(t, "SUCCESSFUL")
        self._completed(sd.target, t, log)

    def complete_rollback(self, sd: ServiceDeployment, t: float, log: list[str]) -> None:
        """The failed green revision drained: the blue one serves alone again."""
        blue = self.primary
        self._leave_drained(t + 1.0)
        sd.finish(t, "ROLLBACK_SUCCESSFUL")
        self._completed(blue, t, log)
    def launch_fields(self) -> dict[str, Any]:
        if self.capacity_provider_strategy:
            return {"capacityProviderStrategy": self.capacity_provider_strategy}
        return {"launchType": self.service.launch_type or "EC2"}

    @property
    def primary(self) -> Deployment:
        return self.deployments[0]

    def cfg(self) -> dict[str, Any]:
        return service_config(self.cluster_name, self.service_name)

    def tasks(self) -> list[SimTask]:
        return list(self._tasks)

    def live_tasks(self) -> list[SimTask]:
        return [x for x in self.tasks() if x.live()]

    def _emit(self, t: float, messages: list[str]) -> None:
        for i, msg in enumerate(messages):
            self.events.insert(
                0, {"id": str(uuid.uuid4()), "createdAt": _dt(t + i * 0.001), "message": msg}
            )
        del self.events[MAX_EVENTS:]

    def _started_msg(self, tasks: list[SimTask]) -> str:
        refs = " ".join(f"(task {task_id(x.task_arn)})" for x in tasks)
        return f"(service {self.service_name}) has started {len(tasks)} tasks: {refs}."

    def _stopped_msg(self, tasks: list[SimTask]) -> str:
        refs = " ".join(f"(task {task_id(x.task_arn)})" for x in tasks)
        return f"(service {self.service_name}) has stopped {len(tasks)} running tasks: {refs}."

    def _target_groups(self, d: Optional[Deployment]) -> list[str]:
        """Where `d`'s tasks register: a staged deployment's green tasks in the alternate target
        group (the one not serving production), every other task in the production one."""
        sd = d.sd if d is not None else None
        if sd is not None and sd.strategy in ecs_deployments.STAGED and sd.target is d and sd.in_flight():
            green = ecs_staged.green_target_groups(self)
            if green:
                return green
        return [
            self.live_target_group.get(lb["targetGroupArn"], lb["targetGroupArn"])
            for lb in self.load_balancers
            if lb.get("targetGroupArn")
        ]

    def _deployments_of(self, tasks: list["SimTask"]) -> list[Deployment]:
        ids = {x.deployment_id for x in tasks}
        return [d for d in self.deployments + self.history if d.id in ids]

    def _lb_msgs(self, verb: str, n: int, d: Optional[Deployment] = None) -> list[str]:
        return [
            f"(service {self.service_name}) {verb} {n} targets in (target-group {tg})"
            for tg in self._target_groups(d)
        ]

    def _containers(self, task_definition: str) -> list[dict[str, Any]]:
        try:
            td = self.backend.describe_task_definition(task_definition)
            return list(td.container_definitions or [])
        except Exception:
            return []

    def _new_task(self, d: Deployment, t: float) -> SimTask:
        arn = _task_arn(self.account, self.region, self.cluster_name)
        containers = [
            {
                "containerArn": f"arn:aws:ecs:{self.region}:{self.account}:container/{self.cluster_name}/{task_id(arn)}/{uuid.uuid4()}",
                "taskArn": arn,
                "name": c.get("name", ""),
                "image": c.get("image", ""),
                "lastStatus": "PENDING",
                "healthStatus": "UNKNOWN",
                "essential": c.get("essential", True),
            }
            for c in self._containers(d.task_definition)
        ]
        task = SimTask(
            taskArn=arn,
            clusterArn=self.cluster_arn,
            taskDefinitionArn=d.task_definition,
            lastStatus="PENDING",
            desiredStatus="RUNNING",
            startedBy=d.id,
            group=f"service:{self.service_name}",
            createdAt=_dt(t),
            containers=containers,
            healthStatus="UNKNOWN",
            version=1,
            tags=[],
            attachments=[],
        )
        if self.capacity_provider_strategy:
            task["capacityProviderName"] = self.capacity_provider_strategy[0].get("capacityProvider")
            task["launchType"] = "EC2"
        else:
            task["launchType"] = self.service.launch_type or "EC2"
        # the target groups it registers in (for its life: a green task stays in its target group
        # when the groups swap roles at the end of a staged deployment)
        task["_targetGroups"] = self._target_groups(d)
        _tasks[arn] = task
        self._tasks.append(task)
        return task

    def _set_running(self, task: SimTask, t: float, healthy: bool = True) -> None:
        # `_healthy`: passed its health checks (counts as healthy for minimumHealthyPercent and
        # completion); `_age`: scheduler steps spent RUNNING before that
        task["_healthy"] = healthy
        task["_age"] = 0
        task["lastStatus"] = "RUNNING"
        task["startedAt"] = _dt(t)
        task["pullStartedAt"] = _dt(t)
        task["pullStoppedAt"] = _dt(t)
        task["connectivity"] = "CONNECTED"
        task["connectivityAt"] = _dt(t)
        task["version"] += 1
        for c in task["containers"]:
            c["lastStatus"] = "RUNNING"

    def _stop(self, task: SimTask, t: float, code: str, reason: str) -> None:
        task["lastStatus"] = "STOPPED"
        task["desiredStatus"] = "STOPPED"
        task["stopCode"] = code
        task["stoppedReason"] = reason
        task.setdefault("stoppingAt", _dt(t))
        task["stoppedAt"] = _dt(t)
        task["executionStoppedAt"] = _dt(t)
        task["connectivity"] = "DISCONNECTED"
        task["version"] += 1
        for c in task["containers"]:
            c["lastStatus"] = "STOPPED"
            if "exitCode" not in c and "startedAt" in task and not c.get("_no_exit_code"):
                c["exitCode"] = 0

    def _fail(self, task: SimTask, t: float, cfg: dict[str, Any]) -> None:
        code = cfg.get("stop-code", "EssentialContainerExited")
        if code != "TaskFailedToStart" and task["lastStatus"] != "RUNNING":
            self._set_running(task, t)
        exit_code = cfg.get("exit-code", 1)
        for c in task["containers"]:
            if c.get("essential", True):
                if exit_code is not None and code != "TaskFailedToStart":
                    c["exitCode"] = exit_code
                else:
                    c["_no_exit_code"] = True
                if cfg.get("container-reason"):
                    c["reason"] = cfg["container-reason"]
        self._stop(task, t, code, cfg.get("stopped-reason", "Essential container in task exited"))

    # -- API hooks --
    def on_update(self, t: float, task_definition: str, force: bool, desired: Optional[int]) -> None:
        p = self.primary
        if desired is not None:
            for d in self.deployments:
                if d is p or d.status == "PRIMARY":
                    d.desired = desired
        if task_definition != p.task_definition or force:
            d = Deployment(task_definition, self.service.desired_count, t, self.launch_fields())
            d.revision_arn = ecs_deployments.revision_arn(self)
            log: list[str] = []
            for old_sd in self.service_deployments:
                if old_sd.in_flight():  # superseded by this one
                    self._supersede(old_sd, d, t, log)
            for old in self.deployments:
                old.status = "ACTIVE"
                old.changed_at = t
            sources = list(self.deployments)
            self.deployments.insert(0, d)
            self._new_service_deployment(d, sources, t)
            self.steady = False
            self.clock = t
            self._emit(t, log)
        elif desired is not None:
            p.updated_at = t
            self.steady = False

    def _supersede(self, sd: ServiceDeployment, new: Deployment, t: float, log: list[str]) -> None:
        """A newer UpdateService replaces an in-flight service deployment: it stops; a staged one's
        green tasks go and traffic returns to the revision serving before it."""
        sd.finish(t, "STOPPED", f"Service deployment stopped: replaced by a newer service deployment of revision {new.revision_arn}.")
        if sd.strategy in ecs_deployments.STAGED and sd.weight is not None:
            sd.weight, sd.test_weight = 0.0, 0.0
            ecs_staged.apply_traffic(self, sd)
            green = [x for x in self.live_tasks() if x.deployment_id == sd.target.id and x["lastStatus"] != "DEACTIVATING"]
            self._retire(green, t, f"Scaling activity initiated by (deployment {new.id})", log)

    def stop_service_deployment(self, sd: ServiceDeployment, t: float) -> None:
        """StopServiceDeployment(ROLLBACK): requested now, carried out at the next step."""
        sd.status = "ROLLBACK_REQUESTED"
        sd.touch(t)
        self.steady = False

    def on_delete(self, t: float) -> None:
        """DeleteService: the service is DRAINING, its tasks are stopped (drained first behind a
        load balancer); once none is left it turns INACTIVE (see step)."""
        self.deleting = True
        self.steady = False
        for d in self.deployments:
            d.desired = 0
        log: list[str] = []
        reason = f"Scaling activity initiated by (deployment {self.primary.id})"
        live = [x for x in self.live_tasks() if x["lastStatus"] != "DEACTIVATING"]
        self._retire(live, t, reason, log)
        self._emit(t, log)

    def stop_task(self, task: SimTask, t: float, reason: str) -> None:
        self._stop(task, t, "UserInitiated", reason or "Task stopped by user")
        self.steady = False

    def sync(self) -> None:
        """Copy the simulated state onto moto's Service object (what DescribeServices shows)."""
        s = self.service
        tasks = self.tasks()
        s.deployments = [d.to_api(tasks) for d in self.deployments]
        s.events = list(self.events)
        s.running_count = sum(d["runningCount"] for d in s.deployments)
        s.pending_count = sum(d["pendingCount"] for d in s.deployments)
        s.task_definition = self.primary.task_definition
        s.load_balancers = self.load_balancers
        s.deployment_configuration = self.deployment_configuration
        if self.capacity_provider_strategy:
            s.capacity_provider_strategy = self.capacity_provider_strategy
        if self.service_deployments:
            s.current_service_deployment = self.service_deployments[-1].arn
        s.current_service_revisions = [
            {
                "arn": d["_revision"],
                "requestedTaskCount": d["desiredCount"],
                "runningTaskCount": d["runningCount"],
                "pendingTaskCount": d["pendingCount"],
            }
            for d in (dict(x, _revision=y.revision_arn) for x, y in zip(s.deployments, self.deployments))
        ]

    def summary(self) -> dict[str, Any]:
        tasks = self.tasks()
        return {
            "arn": self.arn,
            "deployments": [
                {k: (v.timestamp() if isinstance(v, datetime) else v) for k, v in d.to_api(tasks).items()}
                for d in self.deployments
            ],
            "live-tasks": sum(1 for x in tasks if x.live()),
            "stopped-tasks": sum(1 for x in tasks if not x.live()),
            "service-deployments": [
                {"arn": sd.arn, "status": sd.status, "strategy": sd.strategy, "lifecycleStage": sd.stage,
                 "productionWeight": sd.weight, "testWeight": sd.test_weight, "watched": list(sd.watched)}
                for sd in self.service_deployments
            ],
            "production-target-groups": {k: v for k, v in self.live_target_group.items()},
            # what the load balancer would send a request to: each listener rule's target-group
            # weights as ECS left them in moto's ELBv2, and each target group's registered tasks
            "listener-rules": ecs_staged.listener_rules(self),
            "target-groups": self._registered(tasks),
        }

    def _registered(self, tasks: list[SimTask]) -> dict[str, list[dict[str, Any]]]:
        """Each target group's targets: the live tasks registered in it (DEACTIVATING: being
        deregistered, draining: an ALB sends it no new request)."""
        out: dict[str, list[dict[str, Any]]] = {}
        for x in tasks:
            if not x.live():
                continue
            for tg in x.get("_targetGroups") or []:
                out.setdefault(tg, []).append({"taskArn": x.task_arn, "taskDefinitionArn": x["taskDefinitionArn"],
                                               "lastStatus": x["lastStatus"], "healthy": _healthy(x)})
        return out

    # -- the scheduler --
    def step_seconds(self) -> float:
        return float(self.cfg()["step-seconds"])

    def idle(self) -> bool:
        if self.deleting:
            return not self.live_tasks() and self.service.status == "INACTIVE"
        p = self.primary
        if len(self.deployments) != 1 or p.rollout_state == "IN_PROGRESS" or not self.steady:
            return False
        if any(sd.in_flight() for sd in self.service_deployments):
            return False
        live = [x for x in self.live_tasks() if x.deployment_id == p.id]
        return len(live) == p.desired and all(_healthy(x) for x in live)

    def advance(self, now: float) -> None:
        with LOCK:
            self._prune(now)
            step = self.step_seconds()
            n = int((now - self.clock) / step)
            if n <= 0:
                return
            if n > MAX_STEPS_PER_READ:
                self.clock = now - MAX_STEPS_PER_READ * step
                n = MAX_STEPS_PER_READ
            for i in range(n):
                if self.idle():
                    self.clock += (n - i) * step
                    break
                self.clock += step
                self.step(self.clock)
            self.sync()

    def _prune(self, now: float) -> None:
        stopped = sorted(
            (x for x in self.tasks() if not x.live()), key=lambda x: x["stoppedAt"]
        )
        excess = len(stopped) - MAX_STOPPED_TASKS_PER_SERVICE
        for i, task in enumerate(stopped):
            if i < excess or task["stoppedAt"].timestamp() < now - STOPPED_TASK_TTL:
                _tasks.pop(task.task_arn, None)
                self._tasks.remove(task)

    def _grace_steps(self) -> int:
        """healthCheckGracePeriodSeconds in scheduler steps (one step = step-seconds of time)."""
        grace = getattr(self.service, "health_check_grace_period_seconds", None) or 0
        return math.ceil(float(grace) / self.step_seconds()) if grace > 0 else 0

    def _stage2_failures(self, t: float, cfg: dict[str, Any], log: list[str]) -> bool:
        """RUNNING tasks of a deployment under test that fail after a while (stage 2)."""
        scenario = cfg["scenario"]
        acted = False
        for d in self.deployments:
            unproven = [
                x for x in self.live_tasks()
                if x.deployment_id == d.id and x["lastStatus"] == "RUNNING" and not x.get("_healthy", True)
            ]
            if not unproven:
                continue
            if scenario not in STAGE2_SCENARIOS or d.ever_completed:
                for x in unproven:  # the cause went away: they pass their checks now
                    x["_healthy"] = True
                continue
            run_steps = int(cfg.get("run-steps", DEFAULT_RUN_STEPS))
            after = run_steps + (self._grace_steps() if scenario in HEALTH_SCENARIOS else 0)
            failing = []
            for x in unproven:
                x["_age"] += 1
                if x["_age"] >= max(after, 1):
                    failing.append(x)
            if not failing:
                continue
            acted = True
            d.failed_tasks += len(failing)
            d.updated_at = t
            tgs = [lb for lb in self.load_balancers if lb.get("targetGroupArn")]
            if scenario == "elb-unhealthy" and tgs:
                lb = tgs[0]
                for _ in failing:
                    log.append(
                        f"(service {self.service_name}) (port {lb.get('containerPort', 80)}) is unhealthy in "
                        f"(target-group {lb['targetGroupArn']}) due to (reason Health checks failed)."
                    )
                self.unhealthy_replaced += len(failing)
                self._retire(failing, t, f"Task failed ELB health checks in (target-group {lb['targetGroupArn']})", log)
            elif scenario in HEALTH_SCENARIOS:  # container health checks (also elb-unhealthy without a load balancer)
                for x in failing:
                    log.append(f"(service {self.service_name}) (task {task_id(x.task_arn)}) failed container health checks.")
                    x["healthStatus"] = "UNHEALTHY"
                    for c in x["containers"]:
                        if c.get("essential", True):
                            c["healthStatus"] = "UNHEALTHY"
                            ec = cfg.get("exit-code")
                            c["exitCode"] = ec if isinstance(ec, int) else 143  # stopped by ECS: SIGTERM
                self.unhealthy_replaced += len(failing)
                self._retire(failing, t, "Task failed container health checks", log)
            else:  # tasks-fail-later: the essential container exits on its own
                log.extend(self._lb_msgs("deregistered", len(failing), d))
                for x in failing:
                    self._fail(x, t, cfg)
        return acted

    def step(self, t: float) -> None:
        cfg = self.cfg()
        scenario = cfg["scenario"]
        log: list[str] = []
        name = self.service_name
        p = self.primary
        dc = self.deployment_configuration
        tasks = self.live_tasks()
        acted = False

        # 1. in-flight tasks change state
        draining = [x for x in tasks if x["lastStatus"] == "DEACTIVATING"]
        if draining:
            for d in self._deployments_of(draining):
                log.extend(self._lb_msgs("deregistered", sum(1 for x in draining if x.deployment_id == d.id), d))
            for x in draining:
                self._stop(x, t, "ServiceSchedulerInitiated", x["_reason"])
            log.append(self._stopped_msg(draining))
            acted = True
        if self.deleting:
            if not self.live_tasks():
                self.service.status = "INACTIVE"
            self._emit(t, log)
            return
        if self._stage2_failures(t, cfg, log):
            acted = True
        tasks = self.live_tasks()
        for d in self.deployments:
            pending = [x for x in tasks if x.deployment_id == d.id and x["lastStatus"] == "PENDING"]
            if not pending:
                continue
            untested = not d.ever_completed
            if scenario == "stuck" and untested:
                continue
            acted = True
            if scenario == "tasks-fail" and untested:
                for x in pending:
                    self._fail(x, t, cfg)
                d.failed_tasks += len(pending)
                d.updated_at = t
            elif scenario in STAGE2_SCENARIOS and untested:
                # RUNNING and registered, but not (yet) healthy: nothing old is stopped for them
                for x in pending:
                    self._set_running(x, t, healthy=False)
                log.extend(self._lb_msgs("registered", len(pending), d))
            else:
                for x in pending:
                    self._set_running(x, t)
                d.failed_tasks = 0
                log.extend(self._lb_msgs("registered", len(pending), d))

        # staged strategies (BLUE_GREEN, LINEAR, CANARY): their own lifecycle
        staged = self.staged_in_flight()
        if staged is not None:
            ecs_staged.step(self, staged, t, log)
            self._leave_drained(t, keep=(staged.target, *staged.sources) if staged.in_flight() else ())
            self._emit(t, log)
            return
        rolling = p.sd if p.sd is not None and p.sd.in_flight() else None
        if rolling is not None and self._rolling_detectors(rolling, t, log):
            p = self.primary

        # 2. circuit breaker
        breaker = dc.get("deploymentCircuitBreaker") or {}
        threshold = breaker_threshold(p.desired)
        if p.rollout_state == "IN_PROGRESS" and p.failed_tasks >= threshold:
            if breaker.get("enable"):
                p.rollout_state = "FAILED"
                p.rollout_state_reason = "ECS deployment circuit breaker: tasks failed to start."
                p.updated_at = t
                log.append(f"(service {name}) (deployment {p.id}) deployment failed: tasks failed to start.")
                acted = True
                if p.sd is not None:
                    p.sd.breaker_status = "TRIGGERED"
                target = self._rollback_target(p) if breaker.get("rollback") else None
                if target is not None:
                    log.append(f"(service {name}) rolling back to deployment {target.id}.")
                    self._rolled_back(p, target, t, "The deployment circuit breaker detected failed tasks: tasks failed to start.")
                    self.promote(target, p, t, f"ECS deployment circuit breaker: rolling back to deploymentId {target.id}.")
                    p = target
            elif not p.unable_reported and scenario == "tasks-fail":
                # only tasks that never start (PENDING -> STOPPED) make the scheduler say so
                p.unable_reported = True
                log.append(f"(service {name}) is unable to consistently start tasks successfully.")

        # 3. stop and start tasks for the primary deployment
        tasks = self.live_tasks()
        if p.rollout_state != "FAILED":
            desired = p.desired
            min_healthy = math.ceil(desired * dc["minimumHealthyPercent"] / 100)
            max_total = math.floor(desired * dc["maximumPercent"] / 100)
            reason = f"Scaling activity initiated by (deployment {p.id})"
            # tasks of replaced deployments that never became healthy go at once
            old_pending = [x for x in tasks if x.deployment_id != p.id and x["lastStatus"] == "PENDING"]
            for x in old_pending:
                self._stop(x, t, "ServiceSchedulerInitiated", reason)
                acted = True
            old_unproven = [
                x for x in tasks
                if x.deployment_id != p.id and x["lastStatus"] == "RUNNING" and not _healthy(x)
            ]
            if old_unproven:
                self._retire(old_unproven, t, reason, log)
                acted = True
            # scale-in of the primary itself
            tasks = self.live_tasks()
            mine = [x for x in tasks if x.deployment_id == p.id and x.live() and x["lastStatus"] != "DEACTIVATING"]
            if len(mine) > desired:
                extra = sorted(mine, key=lambda x: (x["lastStatus"] != "PENDING", _healthy(x)))[: len(mine) - desired]
                self._retire(extra, t, reason, log)
                acted = True
            tasks = self.live_tasks()
            healthy = [x for x in tasks if _healthy(x)]
            old_running = [x for x in healthy if x.deployment_id != p.id]
            can_stop = min(len(old_running), len(healthy) - min_healthy)
            if can_stop > 0:
                self._retire(old_running[:can_stop], t, reason, log)
                acted = True
            tasks = self.live_tasks()
            mine = [x for x in tasks if x.deployment_id == p.id and x["lastStatus"] != "DEACTIVATING"]
            need = desired - len(mine)
            room = max_total - len(tasks)
            n = min(need, room)
            if n > 0 and scenario == "placement" and not p.ever_completed:
                # no container instance fits: nothing starts; each attempt counts for the breaker
                p.failed_tasks += n
                p.updated_at = t
                acted = True
                if not p.placement_reported:  # a repeat is held back until its cause changes
                    p.placement_reported = True
                    log.append(
                        f"(service {name}) was unable to place a task because no container instance met all "
                        f"of its requirements. {cfg.get('placement-reason', DEFAULT_PLACEMENT_REASON)}"
                    )
            elif n > 0 and t + 1e-9 >= p.next_launch_at:
                started = [self._new_task(p, t) for _ in range(n)]
                msg = self._started_msg(started)
                if self.unhealthy_replaced:
                    msg += f" Amazon ECS replaced {self.unhealthy_replaced} tasks due to an unhealthy status."
                    self.unhealthy_replaced = 0
                log.append(msg)
                acted = True
                if p.unable_reported:  # launch back-off once tasks keep failing
                    p.backoff_level = min(p.backoff_level + 1, 6)
                    p.next_launch_at = t + self.step_seconds() * (2**p.backoff_level) - 1e-9
            elif need > 0 and room <= 0 and can_stop <= 0 and not acted and not p.stuck_config_reported:
                if not any(x["lastStatus"] in ("PENDING", "DEACTIVATING") or not _healthy(x) for x in tasks):
                    p.stuck_config_reported = True
                    log.append(
                        f"(service {name}) was unable to stop or start tasks during a deployment because of "
                        "the service deployment configuration. Update the minimumHealthyPercent or "
                        "maximumPercent value and try again."
                    )

        # 4. replaced deployments without tasks leave the list
        self._leave_drained(t)
        tasks = self.live_tasks()

        # 5. completion and steady state
        mine = [x for x in tasks if x.deployment_id == p.id]
        settled = (
            len(self.deployments) == 1
            and len(mine) == p.desired
            and all(_healthy(x) for x in mine)
        )
        if settled and p.rollout_state == "IN_PROGRESS" and p.changed_at < t:
            p.rollout_state = "COMPLETED"
            p.ever_completed = True
            p.rollout_state_reason = f"ECS deployment {p.id} completed."
            p.updated_at = t
            log.append(f"(service {name}) (deployment {p.id}) deployment completed.")
        if settled and p.rollout_state == "COMPLETED" and not self.steady:
            self.steady = True
            log.append(f"(service {name}) has reached a steady state.")
        self._track_rolling(t)
        self._emit(t, log)

    # -- rolling service deployments --
    def _rolled_back(self, failed: Deployment, target: Deployment, t: float, reason: str) -> None:
        sd = failed.sd
        if sd is not None and sd.in_flight():
            sd.status = "ROLLBACK_IN_PROGRESS"
            sd.status_reason = f"Service deployment rolled back: {reason}"
            sd.rollback = {"reason": reason, "startedAt": _dt(t), "serviceRevisionArn": target.revision_arn}
            sd._restoring = target  # type: ignore[attr-defined]
            sd.touch(t)

    def _rolling_detectors(self, sd: ServiceDeployment, t: float, log: list[str]) -> bool:
        """A rolling deployment's StopServiceDeployment and alarms; True when it was rolled back."""
        p = sd.target
        if sd.status == "PENDING":
            sd.status, sd.started_at = "IN_PROGRESS", t
            sd.touch(t)
        cause = None
        if sd.status == "ROLLBACK_REQUESTED":
            cause = ("A rollback was requested with StopServiceDeployment.", "StopServiceDeployment", "stopped.", True)
        elif sd.status == "IN_PROGRESS" and p.rollout_state == "IN_PROGRESS":
            if self.cfg().get("alarm-at") is not None and "ROLLING" not in sd.fired:
                sd.fired.add("ROLLING")  # a rolling deployment has no stages: any value fires at its first step
                ecs_staged.fire_alarm(self, sd)
            firing = ecs_staged.alarms_in_alarm(self, sd)
            if firing:
                sd.triggered, sd.alarm_status = firing, "TRIGGERED"
                names = ", ".join(firing)
                rollback = bool((sd.config.get("alarms") or {}).get("rollback"))
                cause = (f"CloudWatch alarm(s) {names} in ALARM state.", f"CloudWatch alarm(s) {names}", "alarm detected.", rollback)
                p.rollout_state_reason = f"ECS deployment {p.id} failed: alarm(s) {names} detected."
        if cause is None:
            return False
        reason, prefix, event, rollback = cause
        if sd.status == "ROLLBACK_REQUESTED":
            p.rollout_state_reason = f"ECS deployment {p.id} stopped: rollback requested (StopServiceDeployment)."
        p.rollout_state = "FAILED"
        p.updated_at = t
        log.append(f"(service {self.service_name}) (deployment {p.id}) deployment failed: {event}")
        target = self._rollback_target(p) if rollback else None
        if target is None:
            sd.finish(t, "STOPPED" if not rollback else "ROLLBACK_FAILED", f"Service deployment stopped: {reason}")
            return False
        log.append(f"(service {self.service_name}) rolling back to deployment {target.id}.")
        self._rolled_back(p, target, t, reason)
        self.promote(target, p, t, f"{prefix}: rolling back to deploymentId {target.id}.")
        return True

    def _track_rolling(self, t: float) -> None:
        """A rolling service deployment's status follows its deployments' rollout states."""
        for sd in self.service_deployments:
            if not sd.in_flight() or sd.strategy in ecs_deployments.STAGED:
                continue
            if sd.status == "PENDING":
                sd.status, sd.started_at = "IN_PROGRESS", t
                sd.touch(t)
            restoring = getattr(sd, "_restoring", None)
            if sd.status == "ROLLBACK_IN_PROGRESS" and restoring is not None:
                if restoring.rollout_state == "COMPLETED":
                    sd.finish(t, "ROLLBACK_SUCCESSFUL")
                elif restoring.rollout_state == "FAILED":
                    sd.finish(t, "ROLLBACK_FAILED", "Service deployment rollback failed: the revision rolled back to failed too.")
            elif sd.status == "IN_PROGRESS":
                if sd.target.rollout_state == "COMPLETED":
                    sd.finish(t, "SUCCESSFUL")
                elif sd.target.rollout_state == "FAILED":
                    sd.finish(t, "STOPPED", f"Service deployment stopped: {sd.target.rollout_state_reason}")

    def _retire(self, victims: list[SimTask], t: float, reason: str, log: list[str]) -> None:
        """Stop running tasks: drain them first when a load balancer fronts the service."""
        pending = [x for x in victims if x["lastStatus"] == "PENDING"]
        running = [x for x in victims if x["lastStatus"] != "PENDING"]
        for x in pending:
            self._stop(x, t, "ServiceSchedulerInitiated", reason)
        if not running:
            return
        if self._lb_msgs("x", 1):
            log.append(f"(service {self.service_name}) has begun draining connections on {len(running)} tasks.")
            for x in running:
                x["lastStatus"] = "DEACTIVATING"
                x["desiredStatus"] = "STOPPED"
                x["stoppingAt"] = _dt(t)
                x["_reason"] = reason
        else:
            for x in running:
                self._stop(x, t, "ServiceSchedulerInitiated", reason)
            log.append(self._stopped_msg(running))

    def _rollback_target(self, failed: Deployment) -> Optional[Deployment]:
        candidates = [
            d
            for d in self.deployments + self.history
            if d is not failed and d.ever_completed
        ]
        if not candidates:
            return None
        return max(candidates, key=lambda d: d.updated_at)


def normalise_deployment_configuration(dc: Optional[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "deploymentCircuitBreaker": {"enable": False, "rollback": False},
        "maximumPercent": 200,
        "minimumHealthyPercent": 100,
        "strategy": "ROLLING",
    }
    for k, v in (dc or {}).items():
        if v is None:
            continue
        if k == "deploymentCircuitBreaker":
            out[k] = {"enable": bool(v.get("enable")), "rollback": bool(v.get("rollback"))}
        else:
            out[k] = v
    return out


# --- registry of sims -------------------------------------------------------------------


def register(sim: ServiceSim) -> None:
    with LOCK:
        _sims[sim.arn] = sim


def sim_for(service: Any) -> Optional[ServiceSim]:
    with LOCK:
        sim = _sims.get(service.arn)
        if sim is not None and sim.service is not service:
            return None
        return sim


_last_global_prune = 0.0


def _prune_orphans(now: float) -> None:
    """Stopped tasks of services that no longer exist also expire after STOPPED_TASK_TTL."""
    global _last_global_prune
    if now - _last_global_prune < 60:
        return
    _last_global_prune = now
    for arn, task in list(_tasks.items()):
        if not task.live() and task["stoppedAt"].timestamp() < now - STOPPED_TASK_TTL:
            del _tasks[arn]


def advance_cluster(cluster_arn: str, now: float) -> None:
    with LOCK:
        _prune_orphans(now)
        for sim in list(_sims.values()):
            if sim.cluster_arn == cluster_arn:
                sim.advance(now)
        ecs_runtask.advance(cluster_arn, now)


def register_task(task: SimTask) -> None:
    """A task outside any service (RunTask): listed, described and stopped like the others."""
    with LOCK:
        _tasks[task.task_arn] = task


def all_tasks() -> list[SimTask]:
    with LOCK:
        return list(_tasks.values())


def find_task(cluster_arn: str, ref: str) -> Optional[SimTask]:
    with LOCK:
        for task in _tasks.values():
            if task["clusterArn"] == cluster_arn and (task.task_arn == ref or task_id(task.task_arn) == ref.rsplit("/", 1)[-1]):
                return task
        return None


def sim_of_task(task: SimTask) -> Optional[ServiceSim]:
    with LOCK:
        for sim in _sims.values():
            if sim.cluster_arn == task["clusterArn"] and task["group"] == f"service:{sim.service_name}":
                return sim
        return None

