"""The `up` contract, moto 5.2.5 corrections, and operation naming for the request log."""

from __future__ import annotations

import json
import os
import subprocess
import time
from typing import Any

from conftest import LOCAL_AWS, http, unique


def test_up_prints_the_contract_and_is_fast_when_up(stack_env: dict[str, str]) -> None:
    port = os.environ.get("DECKHAND_MOTO_PORT", "4566")
    registry = os.environ.get("DECKHAND_REGISTRY_PORT", "5001")
    started = time.time()
    out = subprocess.run([str(LOCAL_AWS / "up")], check=True, capture_output=True, text=True, timeout=60)
    elapsed = time.time() - started
    assert elapsed < 1.0, f"up took {elapsed:.2f}s when already up"
    lines = out.stdout.strip().splitlines()
    assert lines == [
        f"export DECKHAND_MOTO_PORT={port}",
        f"export AWS_ENDPOINT_URL=http://127.0.0.1:{port}",
        "export AWS_ACCESS_KEY_ID=test",
        "export AWS_SECRET_ACCESS_KEY=test",
        "export AWS_REGION=us-east-1",
        "export AWS_DEFAULT_REGION=us-east-1",
        f"export DECKHAND_REGISTRY=127.0.0.1:{registry}",
        f"export DECKHAND_SIM_URL=http://127.0.0.1:{port}/_sim",
        "unset AWS_CA_BUNDLE AWS_PROFILE",
    ]
    status, health = http("GET", f"http://127.0.0.1:{port}/_sim/health")
    assert status == 200 and len(health["plugin_hash"]) == 16
    status, _ = http("GET", f"http://127.0.0.1:{registry}/v2/")
    assert status == 200


def test_a_second_stack_can_have_a_registry_of_its_own(tmp_path) -> None:
    """DECKHAND_MOTO_PORT + DECKHAND_REGISTRY_PORT: a second moto and a second registry (what
    dev/test-all's second lane runs on), neither shared with the first; `down` stops both."""
    import socket

    def free_port() -> int:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    moto, registry = free_port(), free_port()
    env = {**os.environ, "DECKHAND_MOTO_PORT": str(moto), "DECKHAND_REGISTRY_PORT": str(registry),
           "DECKHAND_LOCAL_AWS_STATE": str(tmp_path / "state"), "DECKHAND_REGISTRY_ROOT": str(tmp_path / "registry")}
    try:
        out = subprocess.run([str(LOCAL_AWS / "up")], check=True, capture_output=True, text=True, timeout=120, env=env)
        assert f"export DECKHAND_REGISTRY=127.0.0.1:{registry}" in out.stdout.splitlines()
        assert f"export AWS_ENDPOINT_URL=http://127.0.0.1:{moto}" in out.stdout.splitlines()
        status, health = http("GET", f"http://127.0.0.1:{moto}/_sim/health")
        assert status == 200 and health["registry"] == f"127.0.0.1:{registry}"
        status, _ = http("GET", f"http://127.0.0.1:{registry}/v2/")
        assert status == 200
        assert (tmp_path / "registry").is_dir()
        # The first stack's registry is another process: stopping this stack leaves it up.
        first = f"http://127.0.0.1:{os.environ.get('DECKHAND_REGISTRY_PORT', '5001')}/v2/"
        status, _ = http("GET", first)
        assert status == 200
    finally:
        subprocess.run([str(LOCAL_AWS / "down")], check=True, capture_output=True, timeout=60, env=env)
    for port in (moto, registry):
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still answers after down"
    status, _ = http("GET", first)
    assert status == 200


def test_invalidation_status_is_completed_like_aws(aws) -> None:
    dist = create_distribution(aws)
    inv = aws("cloudfront", "create-invalidation", "--distribution-id", dist["Id"], "--paths", "/index.html")
    assert inv["Invalidation"]["Status"] == "Completed"
    got = aws("cloudfront", "get-invalidation", "--distribution-id", dist["Id"], "--id", inv["Invalidation"]["Id"])
    assert got["Invalidation"]["Status"] == "Completed"


def create_distribution(aws: Any) -> dict[str, Any]:
    bucket = unique("site")
    config = {
        "CallerReference": unique("ref"), "Comment": "", "Enabled": True,
        "Origins": {"Quantity": 1, "Items": [{
            "Id": "s3", "DomainName": f"{bucket}.s3.us-east-1.amazonaws.com",
            "S3OriginConfig": {"OriginAccessIdentity": ""}, "OriginAccessControlId": "E2QWRUHAPOMQZL"}]},
        "DefaultCacheBehavior": {
            "TargetOriginId": "s3", "ViewerProtocolPolicy": "redirect-to-https",
            "CachePolicyId": "658327ea-f89d-4fab-a63d-7e88639e58f6",
            "FunctionAssociations": {"Quantity": 1, "Items": [{
                "FunctionARN": "arn:aws:cloudfront::123456789012:function/spa", "EventType": "viewer-request"}]}},
        "CustomErrorResponses": {"Quantity": 1, "Items": [
            {"ErrorCode": 403, "ResponsePagePath": "/index.html", "ResponseCode": "200", "ErrorCachingMinTTL": 10}]},
    }
    return aws("cloudfront", "create-distribution", "--distribution-config", json.dumps(config))["Distribution"]


def test_api_created_distribution_keeps_function_associations_and_oac(aws) -> None:
    dist = create_distribution(aws)
    cfg = aws("cloudfront", "get-distribution", "--id", dist["Id"])["Distribution"]["DistributionConfig"]
    assert cfg["DefaultCacheBehavior"]["FunctionAssociations"] == {"Quantity": 1, "Items": [{
        "FunctionARN": "arn:aws:cloudfront::123456789012:function/spa", "EventType": "viewer-request"}]}
    assert cfg["CustomErrorResponses"]["Items"][0]["ErrorCode"] == 403
    origin = cfg["Origins"]["Items"][0]
    assert origin["OriginAccessControlId"] == "E2QWRUHAPOMQZL"
    assert origin["S3OriginConfig"] == {"OriginAccessIdentity": ""}


def test_describe_capacity_providers_without_names(aws) -> None:
    name = unique("cp")
    aws("ecs", "create-capacity-provider", "--name", name, "--auto-scaling-group-provider",
        "autoScalingGroupArn=arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:x:autoScalingGroupName/asg")
    names = [p["name"] for p in aws("ecs", "describe-capacity-providers")["capacityProviders"]]
    assert name in names


def test_s3_operation_names() -> None:
    from deckhand_moto_plugin.ops import is_write, rest_operation, s3_operation

    cases = [
        ("GET", "/", "", {}, "ListBuckets"),
        ("GET", "/b", "list-type=2&prefix=a", {}, "ListObjectsV2"),
        ("GET", "/b", "", {}, "ListObjects"),
        ("GET", "/b", "versions", {}, "ListObjectVersions"),
        ("PUT", "/b", "policy", {}, "PutBucketPolicy"),
        ("GET", "/b", "location", {}, "GetBucketLocation"),
        ("HEAD", "/b", "", {}, "HeadBucket"),
        ("POST", "/b/k", "uploads", {}, "CreateMultipartUpload"),
        ("PUT", "/b/k", "partNumber=1&uploadId=u", {}, "UploadPart"),
        ("POST", "/b/k", "uploadId=u", {}, "CompleteMultipartUpload"),
        ("DELETE", "/b/k", "uploadId=u", {}, "AbortMultipartUpload"),
        ("PUT", "/b/k", "tagging", {}, "PutObjectTagging"),
        ("PUT", "/b/a/b/c.js", "", {"x-amz-copy-source": "b/x"}, "CopyObject"),
        ("PUT", "/b/_deckhand/lock", "", {"if-none-match": "*"}, "PutObject"),
        ("GET", "/k", "", {"host": "b.s3.amazonaws.com"}, "GetObject"),
        ("GET", "/b/k", "x-id=GetObject", {}, "GetObject"),
        ("PUT", "/b/k", "x-id=PutObject", {}, "PutObject"),
        ("PUT", "/b/k", "x-id=CopyObject", {"x-amz-copy-source": "b/x"}, "CopyObject"),
    ]
    for method, path, query, headers, expected in cases:
        assert s3_operation(method, path, query, headers) == expected, (method, path, query)
    assert rest_operation("cloudfront", "POST", "/2020-05-31/distribution/E1/invalidation", "") == "CreateInvalidation"
    assert rest_operation("cloudfront", "GET", "/2020-05-31/distribution/E1/invalidation/I1", "") == "GetInvalidation"
    assert rest_operation("cloudfront", "GET", "/2020-05-31/distribution/E1/config", "") == "GetDistributionConfig"
    assert [is_write(op) for op in ("DescribeServices", "ListTasks", "GetObject", "HeadObject", "BatchGetImage",
                                    "GetAuthorizationToken", "PutObject", "UpdateService", "RegisterTaskDefinition",
                                    "CreateInvalidation", "DeleteObjects", "CopyObject")] == [
        False, False, False, False, False, False, True, True, True, True, True, True]


def test_describe_parameters_gives_arns_and_never_values(aws) -> None:
    name = f"/{unique('app')}/token"
    aws("ssm", "put-parameter", "--name", name, "--value", "s3cret", "--type", "SecureString")
    got = aws("ssm", "describe-parameters", "--parameter-filters", f"Key=Name,Option=Equals,Values={name}")
    [param] = got["Parameters"]
    assert param["Name"] == name
    assert param["ARN"] == f"arn:aws:ssm:us-east-1:123456789012:parameter{name}"
    assert "Value" not in param
    # GetParameters still answers as before.
    assert aws("ssm", "get-parameters", "--names", name)["Parameters"][0]["ARN"] == param["ARN"]


def test_describe_parameters_gives_versions_in_best_effort_pages(aws) -> None:
    """Version moves with every overwrite; a filtered request's page may hold fewer matches than
    MaxResults with a NextToken (AWS: "between zero and the value of MaxResults"), so only a
    client that follows NextToken sees every parameter; MaxResults over 50 is refused."""
    base = f"/{unique('app')}"
    names = [f"{base}/a", f"{base}/b", f"{base}/c"]
    for n in names:
        aws("ssm", "put-parameter", "--name", n, "--value", "one", "--type", "SecureString")
    aws("ssm", "put-parameter", "--name", names[1], "--value", "two", "--type", "SecureString", "--overwrite")
    flt = f"Key=Name,Option=Equals,Values={','.join(names)}"
    page = aws("ssm", "describe-parameters", "--parameter-filters", flt, "--max-results", "50", "--no-paginate")
    assert len(page["Parameters"]) == 1 and page["NextToken"], page
    every = aws("ssm", "describe-parameters", "--parameter-filters", flt)["Parameters"]
    assert {p["Name"]: p["Version"] for p in every} == {names[0]: 1, names[1]: 2, names[2]: 1}
    assert all("Value" not in p for p in every)
    # `name` and `/name` are one parameter (AWS: "not unique"); the filter finds it either way.
    assert [p["Name"] for p in aws("ssm", "describe-parameters", "--parameter-filters",
                                   f"Key=Name,Option=Equals,Values={names[0].lstrip('/')}")["Parameters"]] == [names[0]]
    try:
        aws("ssm", "describe-parameters", "--parameter-filters", flt, "--max-results", "51", "--no-paginate")
    except Exception as e:  # noqa: BLE001 - AwsCliError carries the CLI's stderr
        assert "ValidationException" in str(e) or "maxResults" in str(e), e
    else:
        raise AssertionError("MaxResults 51 was accepted")
