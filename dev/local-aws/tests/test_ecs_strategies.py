"""ECS's own deployment strategies (BLUE_GREEN, LINEAR, CANARY) and service deployments
(DescribeServiceDeployments, ListServiceDeployments, StopServiceDeployment) through the AWS CLI.

The clock is frozen (step-seconds 3600) and each /_sim step is one scheduler pass; a timed
lifecycle stage lasts one step (stage-steps 1) and a minute of bake time ``steps-per-minute``
steps, so every stage is seen once and a test takes well under a second.
"""

from __future__ import annotations

import json
from typing import Any, Callable

import pytest

from conftest import AwsCliError, Sim, describe, unique

BAKE = {"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 1}


def sd_of(aws: Callable[..., Any], arn: str) -> dict[str, Any]:
    (sd,) = aws("ecs", "describe-service-deployments", "--service-deployment-arns", arn)["serviceDeployments"]
    return sd


def roll(aws: Callable[..., Any], s: dict[str, Any]) -> str:
    """UpdateService to td2; the ARN of the service deployment it started."""
    svc = aws("ecs", "update-service", "--cluster", s["cluster"], "--service", s["service"],
              "--task-definition", s["td2"])["service"]
    return svc["currentServiceDeployment"]


def view(sd: dict[str, Any]) -> tuple[Any, ...]:
    target = sd["targetServiceRevision"]
    return (sd["status"], sd.get("lifecycleStage"), target.get("requestedProductionTrafficWeight"),
            target["runningTaskCount"], sum(s["runningTaskCount"] for s in sd["sourceServiceRevisions"]))


def walk(aws: Callable[..., Any], sim: Sim, s: dict[str, Any], arn: str, limit: int = 40) -> list[tuple[Any, ...]]:
    """The service deployment after each step, until it is final."""
    seen = [view(sd_of(aws, arn))]
    for _ in range(limit):
        if seen[-1][0] in ("SUCCESSFUL", "STOPPED", "ROLLBACK_SUCCESSFUL", "ROLLBACK_FAILED"):
            return seen
        sim.step(s["cluster"], s["service"])
        seen.append(view(sd_of(aws, arn)))
    raise AssertionError(f"not final after {limit} steps: {seen[-3:]}")


def messages(svc: dict[str, Any]) -> list[str]:
    return [e["message"] for e in svc["events"]]


def test_blue_green_goes_through_every_stage_with_both_revisions_up_until_clean_up(aws, sim: Sim, ecs_service) -> None:
    s = ecs_service(desired=2, deployment=BAKE, steps_per_minute=2)
    c, name = s["cluster"], s["service"]
    created = s["created"]
    assert created["deploymentConfiguration"]["strategy"] == "BLUE_GREEN"
    first = sd_of(aws, created["currentServiceDeployment"])
    assert first["status"] == "SUCCESSFUL" and first["targetServiceRevision"]["requestedProductionTrafficWeight"] == 100.0
    arn = roll(aws, s)
    assert arn.startswith(f"arn:aws:ecs:us-east-1:123456789012:service-deployment/{c}/{name}/") and arn != first["serviceDeploymentArn"]
    seen = walk(aws, sim, s, arn)
    assert seen == [
        ("PENDING", None, 0.0, 0, 2),
        ("IN_PROGRESS", "PRE_SCALE_UP", 0.0, 0, 2),
        ("IN_PROGRESS", "SCALE_UP", 0.0, 0, 2),  # green tasks started (PENDING)
        ("IN_PROGRESS", "POST_SCALE_UP", 0.0, 2, 2),  # double capacity
        ("IN_PROGRESS", "TEST_TRAFFIC_SHIFT", 0.0, 2, 2),
        ("IN_PROGRESS", "POST_TEST_TRAFFIC_SHIFT", 0.0, 2, 2),
        ("IN_PROGRESS", "PRODUCTION_TRAFFIC_SHIFT", 100.0, 2, 2),
        ("IN_PROGRESS", "POST_PRODUCTION_TRAFFIC_SHIFT", 100.0, 2, 2),
        ("IN_PROGRESS", "BAKE_TIME", 100.0, 2, 2),  # one minute = two steps
        ("IN_PROGRESS", "BAKE_TIME", 100.0, 2, 2),
        ("IN_PROGRESS", "CLEAN_UP", 100.0, 2, 2),  # blue draining
        ("SUCCESSFUL", "CLEAN_UP", 100.0, 2, 0),
    ]
    sd = sd_of(aws, arn)
    assert sd["targetServiceRevision"]["requestedTestTrafficWeight"] == 100.0
    assert sd["sourceServiceRevisions"][0]["requestedProductionTrafficWeight"] == 0.0
    assert sd["startedAt"] <= sd["finishedAt"] and "stoppedAt" not in sd
    assert sd["deploymentConfiguration"]["bakeTimeInMinutes"] == 1
    svc = describe(aws, c, name)
    assert svc["taskDefinition"] == s["td2"] and svc["currentServiceDeployment"] == arn
    assert [(d["status"], d["rolloutState"]) for d in svc["deployments"]] == [("PRIMARY", "COMPLETED")]
    msgs = messages(svc)
    assert msgs[0] == f"(service {name}) has reached a steady state."
    # green registers in the alternate target group; blue leaves the production one at clean-up
    assert f"(service {name}) registered 2 targets in (target-group {s['alt']})" in msgs
    assert f"(service {name}) deregistered 2 targets in (target-group {s['tg']})" in msgs
    # the next deployment's green is the former blue target group
    arn2 = aws("ecs", "update-service", "--cluster", c, "--service", name, "--task-definition", s["td1"])["service"]["currentServiceDeployment"]
    walk(aws, sim, s, arn2)
    assert f"(service {name}) registered 2 targets in (target-group {s['tg']})" in messages(describe(aws, c, name))
    assert describe(aws, c, name)["taskDefinition"] == s["td1"]


@pytest.mark.parametrize(
    "deployment, weights",
    [
        ({"strategy": "LINEAR", "bakeTimeInMinutes": 0,
          "linearConfiguration": {"stepPercent": 25.0, "stepBakeTimeInMinutes": 1}}, [25.0, 25.0, 50.0, 50.0, 75.0, 75.0, 100.0]),
        ({"strategy": "CANARY", "bakeTimeInMinutes": 0,
          "canaryConfiguration": {"canaryPercent": 10.0, "canaryBakeTimeInMinutes": 2}}, [10.0, 10.0, 10.0, 10.0, 100.0]),
    ],
    ids=["linear", "canary"],
)
def test_gradual_strategies_shift_production_traffic_step_by_step(aws, sim: Sim, ecs_service, deployment, weights) -> None:
    s = ecs_service(desired=2, deployment=deployment, steps_per_minute=2)
    seen = walk(aws, sim, s, roll(aws, s))
    shift = [w for (_, stage, w, _, _) in seen if stage == "PRODUCTION_TRAFFIC_SHIFT"]
    assert shift == weights
    assert seen[-1][0] == "SUCCESSFUL"
    assert [stage for (_, stage, *_) in seen].count("BAKE_TIME") == 1  # 0 minutes: the stage passes in one step


def test_an_alarm_during_bake_time_rolls_back_and_names_the_alarm(aws, sim: Sim, ecs_service) -> None:
    alarm = unique("api-5xx")
    aws("cloudwatch", "put-metric-alarm", "--alarm-name", alarm, "--metric-name", "HTTPCode_Target_5XX_Count",
        "--namespace", "AWS/ApplicationELB", "--statistic", "Sum", "--period", "60", "--evaluation-periods", "1",
        "--threshold", "5", "--comparison-operator", "GreaterThanOrEqualToThreshold")
    config = {**BAKE, "bakeTimeInMinutes": 2, "alarms": {"alarmNames": [alarm], "enable": True, "rollback": True}}
    s = ecs_service(desired=2, deployment=config, steps_per_minute=2, alarm_at="BAKE_TIME",
                    alarm_reason="Threshold Crossed: 1 datapoint [9.0] was greater than or equal to the threshold (5.0).")
    c, name = s["cluster"], s["service"]
    arn = roll(aws, s)
    seen = walk(aws, sim, s, arn)
    stages = [(st, stage) for (st, stage, *_) in seen]
    assert ("IN_PROGRESS", "BAKE_TIME") in stages
    assert stages[-2:] == [("ROLLBACK_IN_PROGRESS", "BAKE_TIME"), ("ROLLBACK_SUCCESSFUL", "BAKE_TIME")]
    sd = sd_of(aws, arn)
    assert sd["alarms"] == {"status": "TRIGGERED", "alarmNames": [alarm], "triggeredAlarmNames": [alarm]}
    assert sd["rollback"]["serviceRevisionArn"] == sd["sourceServiceRevisions"][0]["arn"]
    assert alarm in sd["rollback"]["reason"] and alarm in sd["statusReason"]
    assert sd["targetServiceRevision"]["requestedProductionTrafficWeight"] == 0.0
    assert sd["targetServiceRevision"]["runningTaskCount"] == 0
    (state,) = aws("cloudwatch", "describe-alarms", "--alarm-names", alarm)["MetricAlarms"]
    assert (state["StateValue"], state["StateReason"]) == (
        "ALARM", "Threshold Crossed: 1 datapoint [9.0] was greater than or equal to the threshold (5.0).")
    svc = describe(aws, c, name)
    assert svc["taskDefinition"] == s["td1"]
    old = s["created"]["deployments"][0]["id"]
    new = [m for m in messages(svc) if "deployment failed" in m]
    assert new and new[0].endswith("deployment failed: alarm detected.")
    assert f"(service {name}) rolling back to deployment {old}." in messages(svc)
    assert [(d["id"], d["rolloutState"]) for d in svc["deployments"]] == [(old, "COMPLETED")]


def test_a_rollback_that_fails_moves_traffic_back_and_leaves_the_service_on_the_new_revision(aws, sim: Sim, ecs_service) -> None:
    alarm = unique("api-5xx")
    aws("cloudwatch", "put-metric-alarm", "--alarm-name", alarm, "--metric-name", "HTTPCode_Target_5XX_Count",
        "--namespace", "AWS/ApplicationELB", "--statistic", "Sum", "--period", "60", "--evaluation-periods", "1",
        "--threshold", "5", "--comparison-operator", "GreaterThanOrEqualToThreshold")
    config = {**BAKE, "alarms": {"alarmNames": [alarm], "enable": True, "rollback": True}}
    s = ecs_service(desired=1, deployment=config, steps_per_minute=2, alarm_at="BAKE_TIME", rollback_fails=True)
    arn = roll(aws, s)
    seen = walk(aws, sim, s, arn)
    assert seen[-1][:3] == ("ROLLBACK_FAILED", "BAKE_TIME", 0.0)
    sd = sd_of(aws, arn)
    assert sd["rollback"]["serviceRevisionArn"] == sd["sourceServiceRevisions"][0]["arn"]
    assert sd["statusReason"].startswith("Service deployment rollback failed: ")
    assert describe(aws, s["cluster"], s["service"])["taskDefinition"] == s["td2"]


def test_a_failing_lifecycle_hook_rolls_back_before_production_traffic(aws, sim: Sim, ecs_service) -> None:
    hook = {"hookTargetArn": "arn:aws:lambda:us-east-1:123456789012:function:smoke-test",
            "roleArn": "arn:aws:iam::123456789012:role/ecs-hooks", "lifecycleStages": ["POST_TEST_TRAFFIC_SHIFT"]}
    s = ecs_service(desired=1, deployment={**BAKE, "lifecycleHooks": [hook]}, hook_fails_at="POST_TEST_TRAFFIC_SHIFT")
    arn = roll(aws, s)
    seen = walk(aws, sim, s, arn)
    assert all(w == 0.0 for (_, _, w, _, _) in seen)  # production traffic never moved
    assert seen[-1][:2] == ("ROLLBACK_SUCCESSFUL", "POST_TEST_TRAFFIC_SHIFT")
    sd = sd_of(aws, arn)
    (detail,) = sd["lifecycleHookDetails"]
    assert (detail["status"], detail["targetType"], detail["targetArn"]) == ("FAILED", "AWS_LAMBDA", hook["hookTargetArn"])
    assert detail["timeoutAction"] == "ROLLBACK" and detail["hookId"]
    msgs = messages(describe(aws, s["cluster"], s["service"]))
    assert any(m.endswith("deployment failed: hook execution failure(s) detected.") for m in msgs)


def test_the_circuit_breaker_stops_a_green_revision_whose_tasks_fail(aws, sim: Sim, ecs_service) -> None:
    s = ecs_service(desired=2, breaker=True, rollback=True, deployment=BAKE, scenario="tasks-fail")
    arn = roll(aws, s)
    seen = walk(aws, sim, s, arn)
    assert seen[-1][:2] == ("ROLLBACK_SUCCESSFUL", "SCALE_UP")
    sd = sd_of(aws, arn)
    assert sd["deploymentCircuitBreaker"]["status"] == "TRIGGERED"
    assert sd["deploymentCircuitBreaker"]["failureCount"] >= sd["deploymentCircuitBreaker"]["threshold"] == 3
    stopped = aws("ecs", "list-tasks", "--cluster", s["cluster"], "--service-name", s["service"], "--desired-status", "STOPPED")["taskArns"]
    assert len(stopped) >= 3
    assert describe(aws, s["cluster"], s["service"])["taskDefinition"] == s["td1"]


def test_stop_service_deployment_rolls_back_a_deployment_in_flight(aws, sim: Sim, ecs_service) -> None:
    s = ecs_service(desired=2, deployment=BAKE, steps_per_minute=30)
    arn = roll(aws, s)
    for _ in range(9):  # into the long bake time: production traffic on green
        sim.step(s["cluster"], s["service"])
    assert view(sd_of(aws, arn))[:3] == ("IN_PROGRESS", "BAKE_TIME", 100.0)
    with pytest.raises(AwsCliError, match="InvalidParameterException"):
        aws("ecs", "stop-service-deployment", "--service-deployment-arn", arn, "--stop-type", "ABORT")
    out = aws("ecs", "stop-service-deployment", "--service-deployment-arn", arn, "--stop-type", "ROLLBACK")
    assert out == {"serviceDeploymentArn": arn}
    assert sd_of(aws, arn)["status"] == "ROLLBACK_REQUESTED"
    seen = walk(aws, sim, s, arn)
    assert seen[-1][0] == "ROLLBACK_SUCCESSFUL"
    assert describe(aws, s["cluster"], s["service"])["taskDefinition"] == s["td1"]
    with pytest.raises(AwsCliError, match="ConflictException"):
        aws("ecs", "stop-service-deployment", "--service-deployment-arn", arn, "--stop-type", "ROLLBACK")
    with pytest.raises(AwsCliError, match="ServiceDeploymentNotFoundException"):
        aws("ecs", "stop-service-deployment", "--service-deployment-arn", arn + "x", "--stop-type", "ROLLBACK")


def test_a_rolling_deployment_has_a_service_deployment_without_stages_or_weights(aws, sim: Sim, ecs_service) -> None:
    s = ecs_service(desired=2)
    arn = roll(aws, s)
    seen = walk(aws, sim, s, arn)
    assert [(st, stage, w) for (st, stage, w, _, _) in seen] == [
        ("PENDING", None, None), ("IN_PROGRESS", None, None), ("IN_PROGRESS", None, None), ("SUCCESSFUL", None, None)]
    sd = sd_of(aws, arn)
    assert "requestedProductionTrafficWeight" not in sd["targetServiceRevision"]
    assert sd["deploymentCircuitBreaker"]["status"] == "DISABLED" and sd["alarms"]["status"] == "DISABLED"
    # StopServiceDeployment rolls a rolling deployment back too (even without rollback configured)
    arn2 = aws("ecs", "update-service", "--cluster", s["cluster"], "--service", s["service"], "--task-definition", s["td1"])["service"]["currentServiceDeployment"]
    aws("ecs", "stop-service-deployment", "--service-deployment-arn", arn2, "--stop-type", "ROLLBACK")
    seen = walk(aws, sim, s, arn2)
    assert seen[-1][0] == "ROLLBACK_SUCCESSFUL"
    assert sd_of(aws, arn2)["rollback"]["serviceRevisionArn"] == sd["targetServiceRevision"]["arn"]
    assert describe(aws, s["cluster"], s["service"])["taskDefinition"] == s["td2"]


def test_a_rolling_circuit_breaker_rollback_and_a_superseded_deployment(aws, sim: Sim, ecs_service) -> None:
    s = ecs_service(desired=1, breaker=True, rollback=True, scenario="tasks-fail")
    arn = roll(aws, s)
    seen = walk(aws, sim, s, arn)
    assert [st for (st, *_) in seen][-2:] == ["ROLLBACK_IN_PROGRESS", "ROLLBACK_SUCCESSFUL"]
    sd = sd_of(aws, arn)
    assert sd["deploymentCircuitBreaker"]["status"] == "TRIGGERED" and "circuit breaker" in sd["rollback"]["reason"]
    sim.configure(s["cluster"], s["service"], scenario="stuck")
    first = roll(aws, s)
    second = aws("ecs", "update-service", "--cluster", s["cluster"], "--service", s["service"],
                 "--force-new-deployment")["service"]["currentServiceDeployment"]
    assert sd_of(aws, first)["status"] == "STOPPED" and "stoppedAt" in sd_of(aws, first)
    assert sd_of(aws, second)["status"] == "PENDING"


def test_list_and_describe_service_deployments_answer_as_the_api_reference_says(aws, sim: Sim, ecs_service) -> None:
    s = ecs_service(desired=1)
    c, name = s["cluster"], s["service"]
    arns = [s["created"]["currentServiceDeployment"]]
    for td in ("td2", "td1", "td2"):
        arns.append(aws("ecs", "update-service", "--cluster", c, "--service", name, "--task-definition", s[td])["service"]["currentServiceDeployment"])
        walk(aws, sim, s, arns[-1])
    listed = aws("ecs", "list-service-deployments", "--cluster", c, "--service", name)["serviceDeployments"]
    assert [x["serviceDeploymentArn"] for x in listed] == list(reversed(arns))
    assert {x["status"] for x in listed} == {"SUCCESSFUL"} and all(x["targetServiceRevisionArn"] for x in listed)
    page = aws("ecs", "list-service-deployments", "--cluster", c, "--service", name, "--max-results", "3", "--no-paginate")
    assert len(page["serviceDeployments"]) == 3 and page["nextToken"]
    assert aws("ecs", "list-service-deployments", "--cluster", c, "--service", name, "--status", "IN_PROGRESS")["serviceDeployments"] == []
    out = aws("ecs", "describe-service-deployments", "--service-deployment-arns", arns[1], arns[1] + "nope")
    assert [x["serviceDeploymentArn"] for x in out["serviceDeployments"]] == [arns[1]]
    assert out["failures"] == [{"arn": arns[1] + "nope", "reason": "MISSING"}]
    with pytest.raises(AwsCliError, match="InvalidParameterException"):
        aws("ecs", "describe-service-deployments", "--service-deployment-arns", *[arns[0]] * 21)
    with pytest.raises(AwsCliError, match="ServiceNotFoundException"):
        aws("ecs", "list-service-deployments", "--cluster", c, "--service", "nope")


@pytest.mark.parametrize(
    "config, lb, message",
    [
        ({"strategy": "BLUE_GREEN"}, True, "bakeTimeInMinutes is required"),
        (BAKE, "no-advanced", "advancedConfiguration.alternateTargetGroupArn is required"),
        ({"strategy": "LINEAR", "linearConfiguration": {"stepPercent": 2.0}}, True, "stepPercent must be a multiple of 0.1 from 3.0"),
        ({"strategy": "CANARY", "linearConfiguration": {"stepPercent": 10.0}}, True, "only valid with the LINEAR"),
        ({"strategy": "SLOW"}, True, "Invalid deployment strategy"),
        ({**BAKE, "lifecycleHooks": [{"lifecycleStages": ["BAKE_TIME"], "hookTargetArn": "x", "roleArn": "y"}]}, True, "Invalid lifecycle stage BAKE_TIME"),
    ],
    ids=["bake-time", "alternate-target-group", "step-percent", "wrong-configuration", "strategy", "hook-stage"],
)
def test_a_strategy_without_what_it_needs_is_refused(aws, sim: Sim, ecs_service, config, lb, message) -> None:
    s = ecs_service(desired=1)
    lbs = [{"targetGroupArn": s["tg"], "containerName": "api", "containerPort": 3000}]
    if lb is True:
        lbs[0]["advancedConfiguration"] = {"alternateTargetGroupArn": s["alt"], "productionListenerRule": s["rule"],
                                           "roleArn": "arn:aws:iam::123456789012:role/ecs-infrastructure"}
    with pytest.raises(AwsCliError, match="InvalidParameterException") as err:
        aws("ecs", "update-service", "--cluster", s["cluster"], "--service", s["service"],
            "--deployment-configuration", json.dumps(config), "--load-balancers", json.dumps(lbs))
    assert message in err.value.stderr


def test_traffic_weights_reach_the_production_listener_rule(aws, sim: Sim, ecs_service) -> None:
    vpc = aws("ec2", "create-vpc", "--cidr-block", "10.9.0.0/16")["Vpc"]["VpcId"]
    subnets = [aws("ec2", "create-subnet", "--vpc-id", vpc, "--cidr-block", f"10.9.{i}.0/24", "--availability-zone", f"us-east-1{z}")["Subnet"]["SubnetId"]
               for i, z in ((1, "a"), (2, "b"))]
    alb = aws("elbv2", "create-load-balancer", "--name", unique("alb")[:32], "--subnets", *subnets)["LoadBalancers"][0]["LoadBalancerArn"]
    blue, green = (aws("elbv2", "create-target-group", "--name", unique(n)[:32], "--protocol", "HTTP", "--port", "80",
                       "--vpc-id", vpc, "--target-type", "instance")["TargetGroups"][0]["TargetGroupArn"] for n in ("blue", "green"))
    listener = aws("elbv2", "create-listener", "--load-balancer-arn", alb, "--protocol", "HTTP", "--port", "80",
                   "--default-actions", json.dumps([{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "403"}}]))["Listeners"][0]["ListenerArn"]
    rule = aws("elbv2", "create-rule", "--listener-arn", listener, "--priority", "10",
               "--conditions", json.dumps([{"Field": "path-pattern", "Values": ["/api/*"]}]),
               "--actions", json.dumps([{"Type": "forward", "TargetGroupArn": blue}]))["Rules"][0]["RuleArn"]
    s = ecs_service(desired=1, load_balancer=False, deployment={"strategy": "CANARY", "bakeTimeInMinutes": 0,
                    "canaryConfiguration": {"canaryPercent": 20.0, "canaryBakeTimeInMinutes": 1}})
    aws("ecs", "update-service", "--cluster", s["cluster"], "--service", s["service"], "--load-balancers", json.dumps([
        {"targetGroupArn": blue, "containerName": "api", "containerPort": 3000, "advancedConfiguration": {
            "alternateTargetGroupArn": green, "productionListenerRule": rule, "roleArn": "arn:aws:iam::123456789012:role/ecs-infrastructure"}}]))

    def weights() -> dict[str, int]:
        (r,) = aws("elbv2", "describe-rules", "--rule-arns", rule)["Rules"]
        return {g["TargetGroupArn"]: g["Weight"] for g in r["Actions"][0]["ForwardConfig"]["TargetGroups"]}

    arn = roll(aws, s)
    seen = []
    for _ in range(12):
        sim.step(s["cluster"], s["service"])
        if sd_of(aws, arn).get("lifecycleStage") == "PRODUCTION_TRAFFIC_SHIFT":
            seen.append(weights())
    assert seen[0] == {blue: 80, green: 20} and seen[-1] == {blue: 0, green: 100}
    assert sd_of(aws, arn)["status"] == "SUCCESSFUL" and weights() == {blue: 0, green: 100}
    # /_sim state: the rule as ELBv2 has it, and what each target group has registered (the green
    # revision's tasks stay in the green group, production now)
    state = sim.state(s["cluster"], s["service"])["services"][0]
    assert state["listener-rules"] == {rule: weights()}
    registered = state["target-groups"][green]
    assert len(registered) == 1 and registered[0]["lastStatus"] == "RUNNING" and registered[0]["healthy"]
    assert registered[0]["taskDefinitionArn"].endswith(s["td2"].rsplit("/", 1)[-1])


def test_watch_object_records_what_the_bucket_served_at_each_change(aws, sim: Sim, ecs_service, tmp_path) -> None:
    """The `watch-object` knob: the ETag of `bucket/key` at each change of the service deployment
    (stage, production traffic share, status), read while the change is made — what a deckhand
    test asks of the SPA's index.html when production traffic moves."""
    s = ecs_service(desired=1, deployment=BAKE, steps_per_minute=2)
    bucket = unique("site")
    aws("s3api", "create-bucket", "--bucket", bucket)
    (tmp_path / "a.html").write_text("<p>A</p>")
    (tmp_path / "b.html").write_text("<p>B</p>")
    etag_a = aws("s3api", "put-object", "--bucket", bucket, "--key", "index.html", "--body", str(tmp_path / "a.html"))["ETag"]
    sim.configure(s["cluster"], s["service"], **{"watch-object": f"{bucket}/index.html"})
    arn = roll(aws, s)
    for _ in range(6):  # to PRODUCTION_TRAFFIC_SHIFT
        sim.step(s["cluster"], s["service"])
    assert sd_of(aws, arn)["lifecycleStage"] == "PRODUCTION_TRAFFIC_SHIFT"
    etag_b = aws("s3api", "put-object", "--bucket", bucket, "--key", "index.html", "--body", str(tmp_path / "b.html"))["ETag"]
    assert etag_b != etag_a
    walk(aws, sim, s, arn)
    (sd,) = [x for x in sim.state(s["cluster"], s["service"])["services"][0]["service-deployments"] if x["arn"] == arn]
    seen = [(w["stage"], w["weight"], w["status"], w["etag"]) for w in sd["watched"]]
    assert seen[:7] == [
        ("PRE_SCALE_UP", 0.0, "IN_PROGRESS", etag_a),
        ("SCALE_UP", 0.0, "IN_PROGRESS", etag_a),
        ("POST_SCALE_UP", 0.0, "IN_PROGRESS", etag_a),
        ("TEST_TRAFFIC_SHIFT", 0.0, "IN_PROGRESS", etag_a),
        ("POST_TEST_TRAFFIC_SHIFT", 0.0, "IN_PROGRESS", etag_a),
        ("PRODUCTION_TRAFFIC_SHIFT", 0.0, "IN_PROGRESS", etag_a),
        ("PRODUCTION_TRAFFIC_SHIFT", 100.0, "IN_PROGRESS", etag_a),
    ], seen
    assert seen[7] == ("POST_PRODUCTION_TRAFFIC_SHIFT", 100.0, "IN_PROGRESS", etag_b), seen
    assert seen[-1] == ("CLEAN_UP", 100.0, "SUCCESSFUL", etag_b), seen
