"""CloudWatch over Smithy RPC v2 CBOR (the protocol aws-sdk-cloudwatch speaks), IAM for the calls the
deploy role makes during a staged rollout (DescribeAlarms on named alarms, the service deployment
calls, RunTask's PassRole), and the CBOR codec itself."""

from __future__ import annotations

import json
import urllib.request
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

import pytest

from conftest import _opener, unique
from deckhand_moto_plugin import cloudwatch_cbor as cbor
from test_iam import ACCOUNT, assume, client, make_role, provider, token  # noqa: F401 (fixture)

PATH = "/service/GraniteServiceVersion20100801/operation/"


def call(env: dict[str, str], op: str, params: Any, creds: Optional[dict[str, str]] = None, raw: Optional[bytes] = None) -> tuple[int, dict[str, str], Any]:
    """A signed RPC v2 CBOR request, as aws-sdk-cloudwatch sends it."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    body = raw if raw is not None else cbor.encode(params)
    req = AWSRequest(method="POST", url=env["AWS_ENDPOINT_URL"] + PATH + op, data=body, headers={
        "Content-Type": "application/cbor", "Accept": "application/cbor", "smithy-protocol": "rpc-v2-cbor"})
    c = creds or {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
    SigV4Auth(Credentials(c["AWS_ACCESS_KEY_ID"], c["AWS_SECRET_ACCESS_KEY"], c.get("AWS_SESSION_TOKEN")),
              "monitoring", "us-east-1").add_auth(req)
    r = urllib.request.Request(req.url, data=body, headers=dict(req.headers), method="POST")
    try:
        with _opener.open(r, timeout=10) as resp:
            return resp.status, dict(resp.headers), cbor.decode(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), cbor.decode(e.read())


def test_the_codec_round_trips_what_smithy_sends() -> None:
    value = {"a": [1, -1, 24, 255, 65536, 2**40, -(2**33)], "s": "é", "f": 1.5, "t": True, "n": None, "b": b"\x00\x01"}
    assert cbor.decode(cbor.encode(value)) == value
    when = datetime(2026, 1, 2, tzinfo=timezone.utc)
    assert cbor.decode(cbor.encode({"T": when})) == {"T": when.timestamp()}
    # indefinite-length map and string, half-precision float (RFC 8949 appendix A)
    assert cbor.decode(bytes.fromhex("bf6161f93e00ff")) == {"a": 1.5}
    assert cbor.decode(bytes.fromhex("f97bff")) == 65504.0
    assert cbor.decode(bytes.fromhex("7f657374726561646d696e67ff")) == "streaming"
    with pytest.raises(ValueError):
        cbor.decode(bytes.fromhex("0101"))


def test_describe_alarms_answers_in_cbor(stack_env: dict[str, str], aws) -> None:
    name = unique("api-5xx")
    aws("cloudwatch", "put-metric-alarm", "--alarm-name", name, "--metric-name", "HTTPCode_Target_5XX_Count",
        "--namespace", "AWS/ApplicationELB", "--statistic", "Sum", "--period", "60", "--evaluation-periods", "2",
        "--threshold", "5", "--comparison-operator", "GreaterThanOrEqualToThreshold",
        "--dimensions", "Name=TargetGroup,Value=targetgroup/api/1")
    aws("cloudwatch", "set-alarm-state", "--alarm-name", name, "--state-value", "ALARM", "--state-reason", "Threshold Crossed: 2 datapoints")
    status, headers, body = call(stack_env, "DescribeAlarms", {"AlarmNames": [name]})
    assert status == 200 and headers["smithy-protocol"] == "rpc-v2-cbor" and headers["Content-Type"] == "application/cbor"
    (alarm,) = body["MetricAlarms"]
    assert (alarm["AlarmName"], alarm["StateValue"], alarm["StateReason"]) == (name, "ALARM", "Threshold Crossed: 2 datapoints")
    assert alarm["AlarmArn"] == f"arn:aws:cloudwatch:us-east-1:{ACCOUNT}:alarm:{name}"
    assert (alarm["Threshold"], alarm["EvaluationPeriods"], alarm["Period"]) == (5.0, 2, 60)
    assert alarm["Dimensions"] == [{"Name": "TargetGroup", "Value": "targetgroup/api/1"}]
    assert isinstance(alarm["StateUpdatedTimestamp"], float)
    assert body["CompositeAlarms"] == []
    assert call(stack_env, "DescribeAlarms", {"AlarmNames": [name + "-none"]})[2]["MetricAlarms"] == []
    status, headers, body = call(stack_env, "DeleteAlarms", {"AlarmNames": [name]})
    assert status == 400 and body["__type"].endswith("#UnknownOperationException")
    status, _, body = call(stack_env, "DescribeAlarms", None, raw=b"\xff\x00")
    assert status == 400 and body["__type"].endswith("#SerializationException")


def test_the_deploy_roles_rollout_calls_are_authorised_per_resource(stack_env: dict[str, str], provider: str, tmp_path: Path, aws) -> None:  # noqa: F811
    mine, other = unique("mine"), unique("other")
    for n in (mine, other):
        aws("cloudwatch", "put-metric-alarm", "--alarm-name", n, "--metric-name", "m", "--namespace", "n", "--statistic", "Sum",
            "--period", "60", "--evaluation-periods", "1", "--threshold", "1", "--comparison-operator", "GreaterThanThreshold")
    cluster, family = unique("c"), unique("td")
    aws("ecs", "create-cluster", "--cluster-name", cluster)
    exec_role = f"arn:aws:iam::{ACCOUNT}:role/{unique('exec')}"
    aws("ecs", "register-task-definition", "--family", family, "--execution-role-arn", exec_role,
        "--container-definitions", json.dumps([{"name": "api", "image": "x", "memory": 64}]))
    policy = [
        {"Effect": "Allow", "Action": "cloudwatch:DescribeAlarms", "Resource": f"arn:aws:cloudwatch:us-east-1:{ACCOUNT}:alarm:{mine}"},
        {"Effect": "Allow", "Action": "ecs:RunTask", "Resource": f"arn:aws:ecs:us-east-1:{ACCOUNT}:task-definition/{family}:*",
         "Condition": {"ArnEquals": {"ecs:cluster": f"arn:aws:ecs:us-east-1:{ACCOUNT}:cluster/{cluster}"}}},
        {"Effect": "Allow", "Action": "ecs:DescribeServiceDeployments",
         "Resource": f"arn:aws:ecs:us-east-1:{ACCOUNT}:service-deployment/{cluster}/api/*"},
    ]
    creds = assume(stack_env, make_role(stack_env, policy), token(tmp_path))
    assert call(stack_env, "DescribeAlarms", {"AlarmNames": [mine]}, creds)[0] == 200
    status, headers, body = call(stack_env, "DescribeAlarms", {"AlarmNames": [other]}, creds)
    assert status == 403 and body["__type"] == "AccessDenied" and headers["x-amzn-query-error"] == "AccessDenied;Sender"
    assert f"cloudwatch:DescribeAlarms on resource: arn:aws:cloudwatch:us-east-1:{ACCOUNT}:alarm:{other}" in body["message"]
    ecs = client("ecs", stack_env, creds)
    with pytest.raises(Exception) as e:  # RunTask passes the task definition's roles to ECS
        ecs.run_task(cluster=cluster, taskDefinition=f"{family}:1")
    assert f"iam:PassRole on resource: {exec_role}" in e.value.response["Error"]["Message"]  # type: ignore[attr-defined]
    arn = f"arn:aws:ecs:us-east-1:{ACCOUNT}:service-deployment/{cluster}/api/ABCDEFGH-abcdefghijkl"
    assert ecs.describe_service_deployments(serviceDeploymentArns=[arn])["failures"][0]["reason"] == "MISSING"
    with pytest.raises(Exception) as e:
        ecs.describe_service_deployments(serviceDeploymentArns=[arn.replace("/api/", "/web/")])
    assert "ecs:DescribeServiceDeployments" in e.value.response["Error"]["Message"]  # type: ignore[attr-defined]
