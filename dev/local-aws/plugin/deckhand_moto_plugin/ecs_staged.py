"""ECS's own BLUE_GREEN, LINEAR and CANARY deployments, stage by stage, and the failure detectors
every strategy shares (CloudWatch alarms, lifecycle hooks, StopServiceDeployment).

A staged deployment goes through the lifecycle stages of
https://docs.aws.amazon.com/AmazonECS/latest/developerguide/blue-green-deployment-how-it-works.html :
(RECONCILE_SERVICE when more than one revision is ACTIVE) PRE_SCALE_UP, SCALE_UP (the green
revision starts all its tasks beside the blue one: double capacity), POST_SCALE_UP,
TEST_TRAFFIC_SHIFT, POST_TEST_TRAFFIC_SHIFT, PRODUCTION_TRAFFIC_SHIFT (BLUE_GREEN: 100 % at once;
LINEAR: stepPercent steps, stepBakeTimeInMinutes between them, none after 100 %; CANARY:
canaryPercent, canaryBakeTimeInMinutes, then the rest), POST_PRODUCTION_TRAFFIC_SHIFT, BAKE_TIME
(bakeTimeInMinutes, both revisions running: a rollback only moves traffic back) and CLEAN_UP (the
blue tasks drain and stop). Timings are scheduler steps: a timed stage lasts ``stage-steps``
(default 1); a minute of bake time is ``steps-per-minute`` steps (default: 60 s of real time at
the service's step length).

Failures: the circuit breaker (failed green tasks reach the threshold during SCALE_UP), a
CloudWatch alarm of ``deploymentConfiguration.alarms`` in ALARM (read from moto's CloudWatch; the
``alarm-at`` knob puts the first one in ALARM when a stage starts), a lifecycle hook that fails
(``hook-fails-at`` names its stage). With rollback, production and test traffic go back to the blue
revision, the green tasks drain, the service deployment ends ROLLBACK_SUCCESSFUL; without, it
ends STOPPED where it was. Traffic weights are also written to the production (and test) listener
rule in moto's ELBv2 when that rule exists there, as ECS does through its infrastructure role.
"""

from __future__ import annotations

import math
import uuid
from typing import TYPE_CHECKING, Any, Optional

from .ecs_deployments import HOOK_STAGES, STAGES, ServiceDeployment

if TYPE_CHECKING:  # pragma: no cover
    from .ecs_sim import Deployment, ServiceSim

# stages whose alarms ECS watches: from the green tasks starting to the end of the bake time
MONITORED = ("SCALE_UP", "POST_SCALE_UP", "TEST_TRAFFIC_SHIFT", "POST_TEST_TRAFFIC_SHIFT",
             "PRODUCTION_TRAFFIC_SHIFT", "POST_PRODUCTION_TRAFFIC_SHIFT", "BAKE_TIME")
DEFAULT_ALARM_REASON = (
    "Threshold Crossed: 1 out of the last 1 datapoints [12.0 (01/01/26 00:00:00)] was greater than "
    "or equal to the threshold (5.0) (minimum 1 datapoint for OK -> ALARM transition)."
)


# --- timings ----------------------------------------------------------------------------------


def stage_steps(sim: "ServiceSim") -> int:
    return max(1, int(sim.cfg().get("stage-steps", 1)))


def minute_steps(sim: "ServiceSim", minutes: float) -> int:
    """Steps that `minutes` of bake time take (at least one: every stage is observable)."""
    per_minute = sim.cfg().get("steps-per-minute")
    if per_minute is None:
        per_minute = math.ceil(60.0 / sim.step_seconds())
    return max(1, math.ceil(float(minutes) * float(per_minute)))


def shift_schedule(sim: "ServiceSim", sd: ServiceDeployment) -> list[tuple[float, int]]:
    """(green's production weight, steps held) for each production traffic shift."""
    cfg = sd.config
    if sd.strategy == "LINEAR":
        lin = cfg.get("linearConfiguration") or {}
        step = float(lin.get("stepPercent", 10.0))
        hold = minute_steps(sim, float(lin.get("stepBakeTimeInMinutes", 6)))
        weights, w = [], 0.0
        while w < 100.0 - 1e-9:
            w = min(100.0, round(w + step, 1))
            weights.append(w)
        return [(w, hold if w < 100.0 else stage_steps(sim)) for w in weights]
    if sd.strategy == "CANARY":
        can = cfg.get("canaryConfiguration") or {}
        pct = float(can.get("canaryPercent", 5.0))
        if pct >= 100.0:
            return [(100.0, stage_steps(sim))]
        return [(pct, minute_steps(sim, float(can.get("canaryBakeTimeInMinutes", 10)))), (100.0, stage_steps(sim))]
    return [(100.0, stage_steps(sim))]


# --- alarms (moto's CloudWatch) ---------------------------------------------------------------


def _cloudwatch(sim: "ServiceSim") -> Any:
    from moto.cloudwatch.models import cloudwatch_backends

    return cloudwatch_backends[sim.account][sim.region]


def fire_alarm(sim: "ServiceSim", sd: ServiceDeployment) -> None:
    """The `alarm-at` knob: the deployment's first alarm goes into ALARM (in moto's CloudWatch when
    it exists there, as a metric crossing its threshold would make it)."""
    if not sd.alarm_names:
        return
    name = sd.alarm_names[0]
    reason = str(sim.cfg().get("alarm-reason") or DEFAULT_ALARM_REASON)
    alarm = _cloudwatch(sim).alarms.get(name)
    if alarm is not None:
        alarm.update_state(reason, "{}", "ALARM")
    else:
        sd._missing_alarm_fired = name  # type: ignore[attr-defined]


def alarms_in_alarm(sim: "ServiceSim", sd: ServiceDeployment) -> list[str]:
    if sd.alarm_status != "MONITORING":
        return []
    out = []
    alarms = _cloudwatch(sim).alarms
    for name in sd.alarm_names:
        alarm = alarms.get(name)
        if (alarm is not None and alarm.state_value == "ALARM") or getattr(sd, "_missing_alarm_fired", None) == name:
            out.append(name)
    return out


# --- traffic (moto's ELBv2 listener rules) ----------------------------------------------------


def apply_traffic(sim: "ServiceSim", sd: ServiceDeployment) -> None:
    if sd.weight is None:
        return
    try:
        from moto.elbv2.models import FakeAction, elbv2_backends

        backend = elbv2_backends[sim.account][sim.region]
    except Exception:  # pragma: no cover - moto without ELBv2
        return
    for lb in sim.load_balancers:
        adv = lb.get("advancedConfiguration") or {}
        prod, alt = lb.get("targetGroupArn"), adv.get("alternateTargetGroupArn")
        if not prod or not alt:
            continue
        blue = sim.live_target_group.get(prod, prod)
        green = alt if blue == prod else prod
        for key, weight in (("productionListenerRule", sd.weight), ("testListenerRule", sd.test_weight)):
            rule_arn = adv.get(key)
            if not rule_arn or weight is None:
                continue
            try:
                (rule,) = backend.describe_rules(listener_arn=None, rule_arns=[rule_arn])
            except Exception:
                continue
            rule.actions = [FakeAction({"Type": "forward", "ForwardConfig": {"TargetGroups": [
                {"TargetGroupArn": blue, "Weight": int(round(100 - weight))},
                {"TargetGroupArn": green, "Weight": int(round(weight))},
            ]}})]


def listener_rules(sim: "ServiceSim") -> dict[str, dict[str, int]]:
    """The production and test listener rules of the service's load balancers, read back from
    moto's ELBv2 (rules that exist there): {rule ARN: {target group ARN: weight}}. A rule that
    forwards to a single target group gives it weight 1, as ELBv2 reports such an action.

    What a request to the load balancer reaches: ECS shifts traffic by changing these rules' target
    group weights through its infrastructure role ("Application Load Balancer resources for
    blue/green, linear, and canary deployments",
    https://docs.aws.amazon.com/AmazonECS/latest/developerguide/alb-resources-for-blue-green.html),
    all at once at PRODUCTION_TRAFFIC_SHIFT for BLUE_GREEN and back to blue on a rollback
    (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/blue-green-deployment-how-it-works.html)."""
    try:
        from moto.elbv2.models import elbv2_backends

        backend = elbv2_backends[sim.account][sim.region]
    except Exception:  # pragma: no cover - moto without ELBv2
        return {}
    out: dict[str, dict[str, int]] = {}
    for lb in sim.load_balancers:
        adv = lb.get("advancedConfiguration") or {}
        for key in ("productionListenerRule", "testListenerRule"):
            arn = adv.get(key)
            if not arn:
                continue
            try:
                (rule,) = backend.describe_rules(listener_arn=None, rule_arns=[arn])
            except Exception:
                continue
            weights: dict[str, int] = {}
            for action in rule.actions:
                data = getattr(action, "data", {}) or {}
                forward = data.get("ForwardConfig") or {}
                for g in forward.get("TargetGroups") or []:
                    weights[g["TargetGroupArn"]] = int(g.get("Weight", 1))
                if not forward and data.get("TargetGroupArn"):
                    weights[data["TargetGroupArn"]] = 1
            out[arn] = weights
    return out


def green_target_groups(sim: "ServiceSim") -> list[str]:
    out = []
    for lb in sim.load_balancers:
        adv = lb.get("advancedConfiguration") or {}
        prod, alt = lb.get("targetGroupArn"), adv.get("alternateTargetGroupArn")
        if prod and alt:
            out.append(alt if sim.live_target_group.get(prod, prod) == prod else prod)
    return out


# --- the engine -------------------------------------------------------------------------------


def stages_of(sd: ServiceDeployment) -> list[str]:
    active = [d for d in sd.sources if d.status != "INACTIVE"]
    return [s for s in STAGES if s != "RECONCILE_SERVICE" or len(active) > 1]


def _start_hooks(sim: "ServiceSim", sd: ServiceDeployment, stage: str, t: float) -> None:
    for hook in sd.config.get("lifecycleHooks") or []:
        if stage not in (hook.get("lifecycleStages") or []):
            continue
        timeout = hook.get("timeoutConfiguration") or {}
        detail = {
            "hookId": uuid.uuid4().hex[:20],
            "targetType": hook.get("targetType") or "AWS_LAMBDA",
            "status": "IN_PROGRESS",
            "expiresAt": sim.dt(t + 60.0 * float(timeout.get("timeoutInMinutes", 1440))),
            "timeoutAction": timeout.get("action", "ROLLBACK"),
            "_stage": stage,
            "_left": stage_steps(sim),
        }
        if hook.get("hookTargetArn"):
            detail["targetArn"] = hook["hookTargetArn"]
        sd.hooks.append(detail)


def _hooks_running(sd: ServiceDeployment, stage: Optional[str] = None) -> bool:
    return any(h["status"] == "IN_PROGRESS" and (stage is None or h["_stage"] == stage) for h in sd.hooks)


def _enter(sim: "ServiceSim", sd: ServiceDeployment, stage: str, t: float, log: list[str]) -> None:
    sd.stage = stage
    sd.touch(t)
    sd.stage_left = stage_steps(sim)
    if stage in HOOK_STAGES:
        _start_hooks(sim, sd, stage, t)
    if stage == "SCALE_UP":
        _launch_green(sim, sd, t, log)
    elif stage == "TEST_TRAFFIC_SHIFT":
        sd.test_weight = 100.0
        apply_traffic(sim, sd)
    elif stage == "PRODUCTION_TRAFFIC_SHIFT":
        sd.shift_index = -1
        _start_hooks(sim, sd, "PRE_PRODUCTION_TRAFFIC_SHIFT", t)
        if not _hooks_running(sd, "PRE_PRODUCTION_TRAFFIC_SHIFT"):
            _shift(sim, sd, 0, t)
    elif stage == "BAKE_TIME":
        sd.stage_left = minute_steps(sim, float(sd.config.get("bakeTimeInMinutes") or 0))
    elif stage == "CLEAN_UP":
        blue = [x for x in sim.live_tasks() if x.deployment_id != sd.target.id and x["lastStatus"] != "DEACTIVATING"]
        sim.retire(blue, t, f"Scaling activity initiated by (deployment {sd.target.id})", log)


def _launch_green(sim: "ServiceSim", sd: ServiceDeployment, t: float, log: list[str]) -> None:
    d = sd.target
    cfg = sim.cfg()
    mine = [x for x in sim.live_tasks() if x.deployment_id == d.id and x["lastStatus"] != "DEACTIVATING"]
    need = d.desired - len(mine)
    if need <= 0:
        return
    if cfg["scenario"] == "placement":
        d.failed_tasks += need
        d.updated_at = t
        if not d.placement_reported:
            d.placement_reported = True
            log.append(sim.placement_message(cfg))
        return
    started = [sim.new_task(d, t) for _ in range(need)]
    log.append(sim.started_msg(started))


def _scaled_up(sim: "ServiceSim", sd: ServiceDeployment) -> bool:
    from .ecs_sim import _healthy

    mine = [x for x in sim.live_tasks() if x.deployment_id == sd.target.id]
    return len(mine) == sd.target.desired and all(_healthy(x) for x in mine)


def fail(sim: "ServiceSim", sd: ServiceDeployment, t: float, log: list[str], kind: str, detail: str) -> None:
    """The deployment failed (`kind`: breaker, alarm, hook): roll back if configured, else stop."""
    d = sd.target
    config = sd.config
    if kind == "breaker":
        sd.breaker_status = "TRIGGERED"
        rollback = bool((config.get("deploymentCircuitBreaker") or {}).get("rollback"))
        event = "tasks failed to start."
        d.rollout_state_reason = "ECS deployment circuit breaker: tasks failed to start."
        reason = "The deployment circuit breaker detected failed tasks: tasks failed to start."
        prefix = "ECS deployment circuit breaker"
    elif kind == "alarm":
        sd.alarm_status = "TRIGGERED"
        rollback = bool((config.get("alarms") or {}).get("rollback"))
        event = "alarm detected."
        d.rollout_state_reason = f"ECS deployment {d.id} failed: alarm(s) {detail} detected."
        reason = f"CloudWatch alarm(s) {detail} in ALARM state."
        prefix = f"CloudWatch alarm(s) {detail}"
    else:
        rollback = True  # a failed hook always rolls back (timeoutAction ROLLBACK is the default)
        event = "hook execution failure(s) detected."
        d.rollout_state_reason = f"ECS deployment {d.id} failed: lifecycle hook failure at {detail}."
        reason = f"The lifecycle hook at {detail} failed."
        prefix = f"Lifecycle hook at {detail}"
    d.rollout_state = "FAILED"
    d.updated_at = t
    log.append(f"(service {sim.service_name}) (deployment {d.id}) deployment failed: {event}")
    if rollback:
        begin_rollback(sim, sd, t, log, reason, prefix)
    else:
        sd.finish(t, "STOPPED", f"Service deployment stopped: {reason}")


def begin_rollback(sim: "ServiceSim", sd: ServiceDeployment, t: float, log: list[str], reason: str, prefix: str) -> None:
    d = sd.target
    blue = sim.rollback_target(d)
    if blue is None:
        sd.finish(t, "ROLLBACK_FAILED", f"Service deployment rollback failed: no completed revision to roll back to. {reason}")
        return
    if d.rollout_state != "FAILED":
        d.rollout_state = "FAILED"
        d.rollout_state_reason = f"ECS deployment {d.id} stopped: {reason}"
    sd.status = "ROLLBACK_IN_PROGRESS"
    sd.status_reason = f"Service deployment rolled back: {reason}"
    sd.rollback = {"reason": reason, "startedAt": sim.dt(t), "serviceRevisionArn": blue.revision_arn}
    sd.touch(t)
    if sd.weight is not None:
        sd.weight, sd.test_weight = 0.0, 0.0
        apply_traffic(sim, sd)
    for h in sd.hooks:
        if h["status"] == "IN_PROGRESS":
            h["status"] = "FAILED" if h["_stage"] == sd.stage else h["status"]
    log.append(f"(service {sim.service_name}) rolling back to deployment {blue.id}.")
    if sim.cfg().get("rollback-fails"):
        # The `rollback-fails` knob: traffic went back, the rest of the rollback did not happen.
        sd.finish(t, "ROLLBACK_FAILED", f"Service deployment rollback failed: {reason}")
        log.append(f"(service {sim.service_name}) (deployment {d.id}) rollback failed.")
        return
    sim.promote(blue, d, t, f"{prefix}: rolling back to deploymentId {blue.id}.")
    green = [x for x in sim.live_tasks() if x.deployment_id == d.id and x["lastStatus"] != "DEACTIVATING"]
    sim.retire(green, t, f"Scaling activity initiated by (deployment {blue.id})", log)


def step(sim: "ServiceSim", sd: ServiceDeployment, t: float, log: list[str]) -> None:
    """One scheduler pass over a staged service deployment."""
    from .ecs_sim import breaker_threshold

    if sd.status == "PENDING":
        sd.status = "IN_PROGRESS"
        sd.started_at = t
        sd.stage_list = stages_of(sd)
        _enter(sim, sd, sd.stage_list[0], t, log)
        return
    if sd.status == "ROLLBACK_REQUESTED":
        sd.target.rollout_state = "FAILED"
        sd.target.rollout_state_reason = f"ECS deployment {sd.target.id} stopped: rollback requested (StopServiceDeployment)."
        begin_rollback(sim, sd, t, log, "A rollback was requested with StopServiceDeployment.", "StopServiceDeployment")
        return
    if sd.status == "ROLLBACK_IN_PROGRESS":
        if not any(x.deployment_id == sd.target.id for x in sim.live_tasks()):
            sim.complete_rollback(sd, t, log)
        return
    if sd.status != "IN_PROGRESS":
        return
    stage = sd.stage or ""
    # alarms: the knob first (a stage that has just started), then the states ECS reads
    knob = sim.cfg().get("alarm-at")
    if knob == stage and stage not in sd.fired and stage in MONITORED:
        sd.fired.add(stage)
        fire_alarm(sim, sd)
    if stage in MONITORED:
        firing = alarms_in_alarm(sim, sd)
        if firing:
            sd.triggered = firing
            fail(sim, sd, t, log, "alarm", ", ".join(firing))
            return
    breaker = sd.config.get("deploymentCircuitBreaker") or {}
    if breaker.get("enable") and sd.target.failed_tasks >= breaker_threshold(sd.target.desired):
        fail(sim, sd, t, log, "breaker", "")
        return
    # hooks of this stage
    failing_at = sim.cfg().get("hook-fails-at")
    for h in sd.hooks:
        if h["status"] != "IN_PROGRESS":
            continue
        h["_left"] -= 1
        if h["_left"] > 0:
            continue
        if failing_at == h["_stage"]:
            h["status"] = "FAILED"
            sd.touch(t)
            fail(sim, sd, t, log, "hook", h["_stage"])
            return
        h["status"] = "SUCCEEDED"
        sd.touch(t)
    _progress(sim, sd, stage, t, log)


def _shift(sim: "ServiceSim", sd: ServiceDeployment, index: int, t: float) -> None:
    """Production traffic step `index` of the schedule: green's share, held for its steps."""
    sd.shift_index = index
    sd.weight, sd.shift_wait = shift_schedule(sim, sd)[index]
    sd.touch(t)
    apply_traffic(sim, sd)


def _progress(sim: "ServiceSim", sd: ServiceDeployment, stage: str, t: float, log: list[str]) -> None:
    done = False
    if stage == "SCALE_UP":
        _launch_green(sim, sd, t, log)
        done = _scaled_up(sim, sd)
    elif stage == "PRODUCTION_TRAFFIC_SHIFT":
        if _hooks_running(sd, "PRE_PRODUCTION_TRAFFIC_SHIFT"):
            return
        if sd.shift_index < 0:  # the pre-production hooks ran: the first shift now
            _shift(sim, sd, 0, t)
            return
        sd.shift_wait -= 1
        if sd.shift_wait > 0:
            return
        if sd.shift_index + 1 < len(shift_schedule(sim, sd)):
            _shift(sim, sd, sd.shift_index + 1, t)
            return
        done = True
    elif stage == "CLEAN_UP":
        done = not any(x.deployment_id != sd.target.id for x in sim.live_tasks())
    else:
        sd.stage_left -= 1
        done = sd.stage_left <= 0
    if not done or _hooks_running(sd, stage):
        return
    order = sd.stage_list
    i = order.index(stage)
    if i + 1 < len(order):
        _enter(sim, sd, order[i + 1], t, log)
    else:
        sim.complete_staged(sd, t, log)
