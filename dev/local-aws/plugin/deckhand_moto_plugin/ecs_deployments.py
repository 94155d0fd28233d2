"""ECS service deployments (DescribeServiceDeployments, ListServiceDeployments,
StopServiceDeployment) and the deployment strategies' configuration checks.

Every deployment the simulator starts (CreateService, an UpdateService that rolls) gets a
service deployment: ``arn:aws:ecs:R:A:service-deployment/CLUSTER/SERVICE/<id>`` over a target
service revision (``service-revision/CLUSTER/SERVICE/<19 digits>``) and the revisions it
replaces. Shapes follow the API reference: ServiceDeployment,
https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ServiceDeployment.html ;
ServiceRevisionSummary (traffic weights only for BLUE_GREEN/LINEAR/CANARY: a rolling deployment
shifts no traffic and reports no lifecycleStage, as kayac/ecspresso's waiter notes);
StopServiceDeployment (stopType ROLLBACK only, even without rollback configured),
https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_StopServiceDeployment.html .

The wording of ``statusReason`` and ``rollback.reason`` is not documented by AWS: the texts here
are the simulator's. deckhand must read the structured fields (status, lifecycleStage, alarms,
deploymentCircuitBreaker, lifecycleHookDetails, rollback) and only quote the reasons.
"""

from __future__ import annotations

import copy
import random
import string
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Optional

if TYPE_CHECKING:  # pragma: no cover
    from .ecs_sim import Deployment, ServiceSim, SimTask

STRATEGIES = ("ROLLING", "BLUE_GREEN", "LINEAR", "CANARY")
STAGED = ("BLUE_GREEN", "LINEAR", "CANARY")
# lifecycle stages in the order they occur (Deployment lifecycle stages,
# https://docs.aws.amazon.com/AmazonECS/latest/developerguide/blue-green-deployment-how-it-works.html)
STAGES = (
    "RECONCILE_SERVICE",
    "PRE_SCALE_UP",
    "SCALE_UP",
    "POST_SCALE_UP",
    "TEST_TRAFFIC_SHIFT",
    "POST_TEST_TRAFFIC_SHIFT",
    "PRODUCTION_TRAFFIC_SHIFT",
    "POST_PRODUCTION_TRAFFIC_SHIFT",
    "BAKE_TIME",
    "CLEAN_UP",
)
# stages a lifecycle hook may name (DeploymentLifecycleHookStage)
HOOK_STAGES = (
    "RECONCILE_SERVICE",
    "PRE_SCALE_UP",
    "POST_SCALE_UP",
    "TEST_TRAFFIC_SHIFT",
    "POST_TEST_TRAFFIC_SHIFT",
    "PRE_PRODUCTION_TRAFFIC_SHIFT",
    "PRODUCTION_TRAFFIC_SHIFT",
    "POST_PRODUCTION_TRAFFIC_SHIFT",
)
FINAL = ("SUCCESSFUL", "STOPPED", "ROLLBACK_SUCCESSFUL", "ROLLBACK_FAILED")
MAX_KEPT = 100  # service deployments kept per service (ECS keeps 90 days)

_by_arn: dict[str, "ServiceDeployment"] = {}


class EcsApiError(Exception):
    """An ECS error the response layer turns into ``{"__type": code, "message": ...}``."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def _dt(t: Optional[float]) -> Optional[datetime]:
    return None if t is None else datetime.fromtimestamp(t, tz=timezone.utc)


def _short_id() -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(random.choices(string.ascii_uppercase + string.digits, k=8)) + "-" + "".join(
        random.choices(alphabet + "_", k=12)
    )


def revision_arn(sim: "ServiceSim") -> str:
    return (
        f"arn:aws:ecs:{sim.region}:{sim.account}:service-revision/{sim.cluster_name}/{sim.service_name}/"
        f"{random.randint(10**18, 10**19 - 1)}"
    )


def strategy_of(config: dict[str, Any]) -> str:
    return str(config.get("strategy") or "ROLLING")


class ServiceDeployment:
    """One service deployment: the move of a service to its target revision."""

    def __init__(self, sim: "ServiceSim", target: "Deployment", sources: list["Deployment"], t: float):
        self.sim = sim
        self.arn = (
            f"arn:aws:ecs:{sim.region}:{sim.account}:service-deployment/{sim.cluster_name}/"
            f"{sim.service_name}/{_short_id()}"
        )
        self.target = target
        self.sources = [d for d in sources if d is not target]
        self.config = copy.deepcopy(sim.deployment_configuration)
        self.strategy = strategy_of(self.config)
        self.created_at = t
        self.started_at: Optional[float] = None
        self.finished_at: Optional[float] = None
        self.stopped_at: Optional[float] = None
        self.updated_at = t
        self.status = "PENDING"
        self.status_reason: Optional[str] = None
        self.stage: Optional[str] = None
        self.rollback: Optional[dict[str, Any]] = None
        breaker = self.config.get("deploymentCircuitBreaker") or {}
        self.breaker_status = "MONITORING" if breaker.get("enable") else "DISABLED"
        alarms = self.config.get("alarms") or {}
        self.alarm_names: list[str] = list(alarms.get("alarmNames") or [])
        self.alarm_status = "MONITORING" if alarms.get("enable") and self.alarm_names else "DISABLED"
        self.triggered: list[str] = []
        self.hooks: list[dict[str, Any]] = []  # DeploymentLifecycleHookDetail, plus private keys
        # engine state (ecs_staged): steps left in the stage, production traffic step index
        self.stage_left = 0
        self.shift_index = 0
        self.shift_wait = 0
        self.weight: Optional[float] = 0.0 if self.strategy in STAGED else None  # green's production share
        self.test_weight: Optional[float] = 0.0 if self.strategy in STAGED else None
        self.fired: set[str] = set()  # stages whose `alarm-at` already fired
        self.stage_list: list[str] = []
        # the `watch-object` knob: the object's ETag at each change of stage, traffic or status
        self.watched: list[dict[str, Any]] = []
        _by_arn[self.arn] = self

    # -- state changes --
    def touch(self, t: float) -> None:
        self.updated_at = t
        self._watch()

    def _watch(self) -> None:
        """The `watch-object` knob (``bucket/key``): what the bucket serves under the key at this
        change of the deployment (stage, production traffic share, status), read in moto's S3 while
        the change is made (before the read that made it answers): a test asks, for instance,
        which index.html was live when production traffic moved."""
        spec = self.sim.cfg().get("watch-object")
        if not spec or "/" not in spec:
            return
        bucket, key = spec.split("/", 1)
        etag = None
        try:
            from moto.s3.models import s3_backends

            b = s3_backends[self.sim.account]["aws"].buckets.get(bucket)
            obj = b.keys.get(key) if b is not None else None
            etag = obj.etag if obj is not None else None
        except Exception:  # pragma: no cover - moto without the bucket
            etag = None
        entry = {"stage": self.stage, "status": self.status, "weight": self.weight, "etag": etag}
        if not self.watched or self.watched[-1] != entry:
            self.watched.append(entry)

    def in_flight(self) -> bool:
        return self.status not in FINAL

    def finish(self, t: float, status: str, reason: Optional[str] = None) -> None:
        self.status = status
        if reason is not None:
            self.status_reason = reason
        if status == "STOPPED":
            self.stopped_at = t
        else:
            self.finished_at = t
        for key in ("breaker_status", "alarm_status"):
            if getattr(self, key) == "MONITORING":
                setattr(self, key, "MONITORING_COMPLETE")
        self.updated_at = t
        self._watch()

    # -- API shape --
    def _summary(self, d: "Deployment", tasks: list["SimTask"], target: bool) -> dict[str, Any]:
        mine = [x for x in tasks if x.deployment_id == d.id and x.live()]
        out: dict[str, Any] = {
            "arn": d.revision_arn,
            "requestedTaskCount": d.desired if (target or d.status != "INACTIVE") else 0,
            "runningTaskCount": sum(1 for x in mine if x["lastStatus"] in ("RUNNING", "DEACTIVATING")),
            "pendingTaskCount": sum(1 for x in mine if x["lastStatus"] == "PENDING"),
        }
        if self.weight is not None:
            out["requestedProductionTrafficWeight"] = self.weight if target else round(100.0 - self.weight, 1)
            out["requestedTestTrafficWeight"] = self.test_weight if target else round(100.0 - (self.test_weight or 0), 1)
        return out

    def to_api(self) -> dict[str, Any]:
        tasks = self.sim.tasks()
        from .ecs_sim import breaker_threshold

        out: dict[str, Any] = {
            "serviceDeploymentArn": self.arn,
            "serviceArn": self.sim.arn,
            "clusterArn": self.sim.cluster_arn,
            "createdAt": _dt(self.created_at),
            "updatedAt": _dt(self.updated_at),
            "sourceServiceRevisions": [self._summary(d, tasks, False) for d in self.sources],
            "targetServiceRevision": self._summary(self.target, tasks, True),
            "status": self.status,
            "deploymentConfiguration": copy.deepcopy(self.config),
            "deploymentCircuitBreaker": {
                "status": self.breaker_status,
                "failureCount": self.target.failed_tasks,
                "threshold": breaker_threshold(self.target.desired),
            },
            "alarms": {
                "status": self.alarm_status,
                "alarmNames": list(self.alarm_names),
                "triggeredAlarmNames": list(self.triggered),
            },
        }
        for key, value in (("startedAt", self.started_at), ("finishedAt", self.finished_at), ("stoppedAt", self.stopped_at)):
            if value is not None:
                out[key] = _dt(value)
        if self.status_reason:
            out["statusReason"] = self.status_reason
        if self.stage is not None:
            out["lifecycleStage"] = self.stage
        if self.hooks:
            out["lifecycleHookDetails"] = [{k: v for k, v in h.items() if not k.startswith("_")} for h in self.hooks]
        if self.rollback is not None:
            out["rollback"] = dict(self.rollback)
        return out

    def brief(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "serviceDeploymentArn": self.arn,
            "serviceArn": self.sim.arn,
            "clusterArn": self.sim.cluster_arn,
            "createdAt": _dt(self.created_at),
            "targetServiceRevisionArn": self.target.revision_arn,
            "status": self.status,
        }
        if self.started_at is not None:
            out["startedAt"] = _dt(self.started_at)
        if self.finished_at is not None or self.stopped_at is not None:
            out["finishedAt"] = _dt(self.finished_at if self.finished_at is not None else self.stopped_at)
        if self.status_reason:
            out["statusReason"] = self.status_reason
        return out


def forget(sd: "ServiceDeployment") -> None:
    _by_arn.pop(sd.arn, None)


def reset() -> None:
    _by_arn.clear()


# --- API operations ------------------------------------------------------------------------------


def describe(arns: list[str], advance: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """DescribeServiceDeployments: at most 20 ARNs; unknown ones come back as failures MISSING."""
    if not arns:
        raise EcsApiError("InvalidParameterException", "serviceDeploymentArns can not be empty.")
    if len(arns) > 20:
        raise EcsApiError(
            "InvalidParameterException", "serviceDeploymentArns can have at most 20 items."
        )
    found, failures = [], []
    for arn in arns:
        sd = _by_arn.get(arn)
        if sd is None:
            failures.append({"arn": arn, "reason": "MISSING"})
            continue
        advance(sd.sim)
        found.append(sd.to_api())
    return found, failures


def list_for(
    sim: "ServiceSim",
    status: Optional[list[str]],
    created_at: Optional[dict[str, Any]],
    max_results: Optional[int],
    next_token: Optional[str],
) -> dict[str, Any]:
    """ListServiceDeployments of one service, newest first, paginated (maxResults <= 100)."""
    if max_results is not None and not 1 <= int(max_results) <= 100:
        raise EcsApiError("InvalidParameterException", "maxResults must be between 1 and 100.")
    items = sorted(sim.service_deployments, key=lambda sd: sd.created_at, reverse=True)
    if status:
        items = [sd for sd in items if sd.status in status]
    if created_at:
        after, before = created_at.get("after"), created_at.get("before")
        if after is not None:
            items = [sd for sd in items if sd.created_at >= _epoch(after)]
        if before is not None:
            items = [sd for sd in items if sd.created_at <= _epoch(before)]
    start = 0
    if next_token:
        try:
            start = int(next_token)
        except ValueError:
            raise EcsApiError("InvalidParameterException", "The specified nextToken is not valid.")
    size = int(max_results or 20)
    page = items[start : start + size]
    out: dict[str, Any] = {"serviceDeployments": [sd.brief() for sd in page]}
    if start + size < len(items):
        out["nextToken"] = str(start + size)
    return out


def _epoch(value: Any) -> float:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, (int, float)):
        return float(value)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


def find(arn: str) -> Optional["ServiceDeployment"]:
    return _by_arn.get(arn)


# --- configuration checks (CreateService / UpdateService) ---------------------------------------


def _bad(message: str) -> EcsApiError:
    return EcsApiError("InvalidParameterException", message)


def validate(config: dict[str, Any], load_balancers: list[dict[str, Any]], controller: str) -> None:
    """The strategy's requirements, from the API reference of DeploymentConfiguration,
    LinearConfiguration, CanaryConfiguration and AdvancedConfiguration."""
    strategy = strategy_of(config)
    if strategy not in STRATEGIES:
        raise _bad(f"Invalid deployment strategy: {strategy}. Valid values: {', '.join(STRATEGIES)}.")
    if strategy == "ROLLING":
        for key in ("linearConfiguration", "canaryConfiguration"):
            if config.get(key):
                raise _bad(f"{key} is only valid with the {'LINEAR' if key.startswith('linear') else 'CANARY'} deployment strategy.")
        return
    if controller != "ECS":
        raise _bad(f"The {strategy} deployment strategy requires the ECS deployment controller.")
    bake = config.get("bakeTimeInMinutes")
    if strategy == "BLUE_GREEN" and bake is None:
        raise _bad("bakeTimeInMinutes is required when the deployment strategy is BLUE_GREEN.")
    if bake is not None and not 0 <= int(bake) <= 1440:
        raise _bad("bakeTimeInMinutes must be between 0 and 1440.")
    linear = config.get("linearConfiguration") or {}
    canary = config.get("canaryConfiguration") or {}
    if strategy != "LINEAR" and linear:
        raise _bad("linearConfiguration is only valid with the LINEAR deployment strategy.")
    if strategy != "CANARY" and canary:
        raise _bad("canaryConfiguration is only valid with the CANARY deployment strategy.")
    if linear:
        step = float(linear.get("stepPercent", 10.0))
        if not 3.0 <= step <= 100.0 or abs(step * 10 - round(step * 10)) > 1e-9:
            raise _bad("linearConfiguration.stepPercent must be a multiple of 0.1 from 3.0 to 100.0.")
        if not 0 <= int(linear.get("stepBakeTimeInMinutes", 6)) <= 1440:
            raise _bad("linearConfiguration.stepBakeTimeInMinutes must be between 0 and 1440.")
    if canary:
        pct = float(canary.get("canaryPercent", 5.0))
        if not 0.1 <= pct <= 100.0 or abs(pct * 10 - round(pct * 10)) > 1e-9:
            raise _bad("canaryConfiguration.canaryPercent must be a multiple of 0.1 from 0.1 to 100.0.")
        if not 0 <= int(canary.get("canaryBakeTimeInMinutes", 10)) <= 1440:
            raise _bad("canaryConfiguration.canaryBakeTimeInMinutes must be between 0 and 1440.")
    for hook in config.get("lifecycleHooks") or []:
        stages = hook.get("lifecycleStages") or []
        if not stages:
            raise _bad("lifecycleHooks[].lifecycleStages must name at least one stage.")
        for stage in stages:
            if stage not in HOOK_STAGES:
                raise _bad(f"Invalid lifecycle stage {stage}. Valid values: {', '.join(HOOK_STAGES)}.")
        if (hook.get("targetType") or "AWS_LAMBDA") == "AWS_LAMBDA" and not (hook.get("hookTargetArn") and hook.get("roleArn")):
            raise _bad("An AWS_LAMBDA lifecycle hook requires hookTargetArn and roleArn.")
    # managed traffic shifting with an ALB: every load balancer needs its alternate target group,
    # the production listener rule and the role ECS uses to modify them (AdvancedConfiguration)
    for lb in load_balancers:
        if not lb.get("targetGroupArn"):
            continue
        adv = lb.get("advancedConfiguration") or {}
        missing = [k for k in ("alternateTargetGroupArn", "productionListenerRule", "roleArn") if not adv.get(k)]
        if missing:
            raise _bad(
                f"loadBalancers[].advancedConfiguration.{missing[0]} is required for the {strategy} deployment strategy."
            )
        if adv["alternateTargetGroupArn"] == lb["targetGroupArn"]:
            raise _bad("The alternate target group must differ from the target group of the load balancer.")
