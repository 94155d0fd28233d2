"""The request log (GET/DELETE /_sim/requests) and reset, on a private moto + plugin instance
so no other client's traffic can interleave."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from conftest import http, run_aws


def log(url: str, **query: Any) -> list[dict[str, Any]]:
    qs = "&".join(f"{k}={v}" for k, v in query.items())
    status, body = http("GET", f"{url}/_sim/requests" + (f"?{qs}" if qs else ""))
    assert status == 200
    return body


def view(entries: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(e["method"], e["path"], e["service"], e["operation"], e["write"]) for e in entries]


def test_every_request_is_logged_in_order_with_operation_and_write_flag(private_moto: str, tmp_path: Path) -> None:
    url = private_moto
    def aws(*args: str) -> Any:
        return run_aws(list(args), endpoint=url)

    assert http("DELETE", f"{url}/_sim/requests")[0] == 200
    body = tmp_path / "index.html"
    body.write_text("<html></html>")
    aws("s3api", "create-bucket", "--bucket", "site-bucket")
    aws("s3api", "put-object", "--bucket", "site-bucket", "--key", "assets/app-1a2b.js", "--body", str(body))
    aws("s3api", "put-object", "--bucket", "site-bucket", "--key", "index.html", "--body", str(body),
        "--cache-control", "no-cache")
    aws("s3api", "head-object", "--bucket", "site-bucket", "--key", "index.html")
    aws("s3api", "get-object", "--bucket", "site-bucket", "--key", "index.html", str(tmp_path / "out"))
    aws("s3api", "list-objects-v2", "--bucket", "site-bucket")
    aws("s3api", "copy-object", "--bucket", "site-bucket", "--key", "_deckhand/objects/abc",
        "--copy-source", "site-bucket/index.html")
    aws("s3api", "delete-object", "--bucket", "site-bucket", "--key", "assets/app-1a2b.js")
    aws("s3api", "delete-objects", "--bucket", "site-bucket", "--delete", '{"Objects":[{"Key":"index.html"}]}')
    aws("ecs", "list-clusters")
    aws("ecs", "create-cluster", "--cluster-name", "log-test")
    aws("ecs", "describe-services", "--cluster", "log-test", "--services", "api")
    aws("ecr", "get-authorization-token")
    aws("ssm", "put-parameter", "--name", "/p/x", "--value", "v", "--type", "String")
    aws("ssm", "get-parameter", "--name", "/p/x")
    aws("cloudformation", "list-stacks")
    aws("cloudfront", "list-distributions")
    aws("sts", "get-caller-identity")
    entries = log(url)
    assert view(entries) == [
        ("PUT", "/site-bucket", "s3", "CreateBucket", True),
        ("PUT", "/site-bucket/assets/app-1a2b.js", "s3", "PutObject", True),
        ("PUT", "/site-bucket/index.html", "s3", "PutObject", True),
        ("HEAD", "/site-bucket/index.html", "s3", "HeadObject", False),
        ("GET", "/site-bucket/index.html", "s3", "GetObject", False),
        ("GET", "/site-bucket", "s3", "ListObjectsV2", False),
        ("PUT", "/site-bucket/_deckhand/objects/abc", "s3", "CopyObject", True),
        ("DELETE", "/site-bucket/assets/app-1a2b.js", "s3", "DeleteObject", True),
        ("POST", "/site-bucket", "s3", "DeleteObjects", True),
        ("POST", "/", "ecs", "ListClusters", False),
        ("POST", "/", "ecs", "CreateCluster", True),
        ("POST", "/", "ecs", "DescribeServices", False),
        ("POST", "/", "ecr", "GetAuthorizationToken", False),
        ("POST", "/", "ssm", "PutParameter", True),
        ("POST", "/", "ssm", "GetParameter", False),
        ("POST", "/", "cloudformation", "ListStacks", False),
        ("GET", "/2020-05-31/distribution", "cloudfront", "ListDistributions", False),
        ("POST", "/", "sts", "GetCallerIdentity", False),
    ]
    seqs = [e["seq"] for e in entries]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert all(e["status"] in (200, 204) for e in entries), [(e["operation"], e["status"]) for e in entries]
    # each entry says when the stack began serving it and for how long (benchmarks subtract it)
    starts = [e["start"] for e in entries]
    assert starts == sorted(starts) and all(isinstance(e["ms"], float) and e["ms"] > 0 for e in entries), entries[:2]
    assert all(a["start"] + a["ms"] / 1000 <= b["start"] + 0.001 for a, b in zip(entries, entries[1:]))
    # a read-only pass makes zero write calls
    last = seqs[-1]
    aws("s3api", "list-objects-v2", "--bucket", "site-bucket")
    aws("ecs", "describe-services", "--cluster", "log-test", "--services", "api")
    newer = log(url, since=last)
    assert [e["operation"] for e in newer] == ["ListObjectsV2", "DescribeServices"]
    assert not [e for e in newer if e["write"]]
    assert [e["operation"] for e in log(url, since=last + 1)] == ["DescribeServices"]
    assert [e["seq"] for e in log(url, tail=1)] == [last + 2]
    assert log(url, since=last + 2) == [] and log(url, since=0) == log(url)
    assert http("GET", f"{url}/_sim/requests?since=x")[0] == 400


def test_control_calls_are_not_logged_and_delete_clears(private_moto: str) -> None:
    url = private_moto
    run_aws(["ecs", "list-clusters"], endpoint=url)
    http("GET", f"{url}/_sim/services/c/s")
    http("PUT", f"{url}/_sim/config", {"step-seconds": 0.5})
    entries = log(url)
    assert entries and entries[-1]["operation"] == "ListClusters"
    assert not [e for e in entries if e["path"].startswith(("/_sim", "/moto-api"))]
    assert http("DELETE", f"{url}/_sim/requests")[0] == 200
    assert log(url) == []
    run_aws(["ecs", "list-clusters"], endpoint=url)
    (entry,) = log(url)
    assert entry["seq"] > entries[-1]["seq"]  # seq keeps counting after a clear


def test_filter_by_access_key_id(private_moto: str, monkeypatch: pytest.MonkeyPatch) -> None:
    url = private_moto
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDTESTFILTER01")
    run_aws(["ecs", "list-clusters"], endpoint=url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    run_aws(["ecs", "describe-clusters"], endpoint=url)
    mine = log(url, **{"access-key-id": "AKIDTESTFILTER01"})
    assert [e["operation"] for e in mine] == ["ListClusters"]


def test_moto_reset_also_resets_simulator(private_moto: str) -> None:
    url = private_moto
    def aws(*args: str) -> Any:
        return run_aws(list(args), endpoint=url)

    aws("ecs", "create-cluster", "--cluster-name", "rc")
    aws("ecs", "register-task-definition", "--family", "rtd",
        "--container-definitions", '[{"name":"api","image":"x","memory":64}]')
    aws("ecs", "create-service", "--cluster", "rc", "--service-name", "rs", "--task-definition", "rtd",
        "--desired-count", "1")
    assert http("PUT", f"{url}/_sim/services/rc/rs", {"scenario": "throttle", "throttle-count": 5})[0] == 200
    state = http("GET", f"{url}/_sim/services/rc/rs")[1]
    assert state["config"]["scenario"] == "throttle" and state["throttle-remaining"] == 5
    assert len(state["services"]) == 1
    assert http("PUT", f"{url}/_sim/config", {"step-seconds": 9})[0] == 200

    assert http("POST", f"{url}/moto-api/reset")[0] == 200

    state = http("GET", f"{url}/_sim/services/rc/rs")[1]
    assert state["config"]["scenario"] == "healthy"
    assert state["throttle-remaining"] == 0 and state["services"] == []
    assert http("GET", f"{url}/_sim/config")[1]["step-seconds"] != 9
    assert log(url) == []
    assert aws("ecs", "list-clusters")["clusterArns"] == []  # and not throttled
