"""WSGI front of moto: /_sim control endpoints, the request log, ECS throttling, held writes (faults)."""

from __future__ import annotations

import io
import json
import os
import re
import time
from typing import Any, Callable, Iterable
from urllib.parse import parse_qs

from moto.moto_server.werkzeug_app import DomainDispatcherApplication

from . import cloudwatch_cbor, ecr_bridge, ecs_runtask, ecs_sim, faults, iam_enforce, ops, requestlog

_RPCV2 = re.compile(r"^/service/[^/]+/operation/([^/]+)$")  # Smithy RPC v2 CBOR
_TARGET_PREFIX_TO_SERVICE = {
    "AmazonEC2ContainerServiceV20141113": "ecs",
    "AmazonEC2ContainerRegistry_V20150921": "ecr",
    "AmazonSSM": "ssm",
    "Logs_20140328": "logs",
    "secretsmanager": "secretsmanager",
    "AWSEvents": "events",
    "DynamoDB_20120810": "dynamodb",
    "AmazonSQS": "sqs",
}


def _json_response(start_response: Callable[..., Any], status: int, body: Any) -> Iterable[bytes]:
    data = json.dumps(body, indent=None, default=str).encode()
    reason = {200: "OK", 204: "No Content", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}.get(status, "")
    start_response(
        f"{status} {reason}",
        [("Content-Type", "application/json"), ("Content-Length", str(len(data)))],
    )
    return [data]


def _read_body(environ: dict[str, Any]) -> bytes:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    body = environ["wsgi.input"].read(length) if length > 0 else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def _signing_service(environ: dict[str, Any]) -> str | None:
    auth = environ.get("HTTP_AUTHORIZATION", "")
    if "Credential=" in auth:
        try:
            scope = auth.split("Credential=", 1)[1].split(",")[0]
            return scope.split("/")[3].lower()
        except IndexError:
            return None
    cred = parse_qs(environ.get("QUERY_STRING", "")).get("X-Amz-Credential")
    if cred:
        try:
            return cred[0].split("/")[3].lower()
        except IndexError:
            return None
    return None


def _access_key_id(environ: dict[str, Any]) -> str | None:
    """The (public) access key id of a SigV4 request: lets parallel tests filter the log."""
    auth = environ.get("HTTP_AUTHORIZATION", "")
    if "Credential=" in auth:
        return auth.split("Credential=", 1)[1].split("/", 1)[0]
    cred = parse_qs(environ.get("QUERY_STRING", "")).get("X-Amz-Credential")
    return cred[0].split("/", 1)[0] if cred else None


def classify(environ: dict[str, Any]) -> tuple[str, str]:
    """(service, operation) of an AWS request, without consuming its body."""
    method = environ.get("REQUEST_METHOD", "GET")
    path = environ.get("PATH_INFO", "")
    query = environ.get("QUERY_STRING", "")
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    service = _signing_service(environ)
    if not service and target:
        service = _TARGET_PREFIX_TO_SERVICE.get(target.split(".", 1)[0])
    if not service:
        service = "s3"
    if target:
        return service, target.split(".")[-1]
    rpc = _RPCV2.match(path)
    if rpc:
        return service, rpc.group(1)
    action = parse_qs(query).get("Action")
    if not action and environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        action = parse_qs(_read_body(environ).decode("utf-8", "replace")).get("Action")
    if action:
        return service, action[0]
    if service == "s3":
        headers = {
            k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")
        }
        return service, ops.s3_operation(method, path, query, headers)
    return service, ops.rest_operation(service, method, path, query) or f"{method} {path}"


# ECS operations addressed to a cluster (the `cluster` parameter defaults to "default")
_CLUSTER_SCOPED = {
    "CreateService", "UpdateService", "DeleteService", "DescribeServices", "ListServices",
    "ListTasks", "DescribeTasks", "StopTask", "RunTask", "StartTask", "DescribeClusters",
    "ListContainerInstances", "DescribeContainerInstances", "PutClusterCapacityProviders",
}


def _ecs_cluster(environ: dict[str, Any], operation: str) -> str | None:
    """The cluster an ECS request addresses (throttling is armed per cluster)."""
    try:
        body = json.loads(_read_body(environ) or b"{}")
    except json.JSONDecodeError:
        return None
    if operation == "DescribeClusters":
        clusters = body.get("clusters") or ["default"]
        return str(clusters[0])
    if isinstance(body.get("cluster"), str):
        return body["cluster"]
    return "default" if operation in _CLUSTER_SCOPED else None


def _control(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    method = environ.get("REQUEST_METHOD", "GET")
    parts = [p for p in environ.get("PATH_INFO", "").split("/") if p][1:]  # drop "_sim"
    body = _read_body(environ) if method in ("PUT", "POST") else b""
    try:
        payload = json.loads(body) if body.strip() else {}
    except json.JSONDecodeError as e:
        return _json_response(start_response, 400, {"error": f"request body is not JSON: {e}"})
    try:
        if parts == ["health"] and method == "GET":
            return _json_response(
                start_response,
                200,
                {"ok": True, "plugin_hash": os.environ.get("DECKHAND_PLUGIN_HASH", ""),
                 "registry": os.environ.get("DECKHAND_REGISTRY", "")},
            )
        if len(parts) >= 3 and parts[:2] == ["ecr", "tag-immutable"] and method == "GET":
            q = parse_qs(environ.get("QUERY_STRING", ""))
            try:
                answer = ecr_bridge.tag_immutability(
                    "/".join(parts[2:]), q.get("tag", [""])[0], q.get("registry", [""])[0]
                )
            except PermissionError as e:
                return _json_response(start_response, 409, {"error": str(e)})
            return _json_response(start_response, 200, answer)
        if parts == ["requests"]:
            if method == "GET":
                q = parse_qs(environ.get("QUERY_STRING", ""))
                try:
                    since = int(q["since"][0]) if "since" in q else None
                    tail = int(q["tail"][0]) if "tail" in q else None
                except ValueError:
                    raise ValueError("since and tail must be integers")
                entries = requestlog.snapshot(since)
                if "access-key-id" in q:
                    entries = [e for e in entries if e["access-key-id"] == q["access-key-id"][0]]
                if tail is not None:
                    entries = entries[-tail:] if tail > 0 else []
                return _json_response(start_response, 200, entries)
            if method == "DELETE":
                requestlog.clear()
                return _json_response(start_response, 200, {"cleared": True})
        if len(parts) == 2 and parts[0] == "faults":
            akid = parts[1]
            if method == "PUT":
                faults.arm(akid, payload)
                return _json_response(start_response, 200, faults.state(akid))
            if method == "GET":
                q = parse_qs(environ.get("QUERY_STRING", ""))
                try:
                    wait = float(q["wait"][0]) if "wait" in q else 0.0
                except ValueError:
                    raise ValueError("wait must be a number of seconds")
                return _json_response(start_response, 200, faults.state(akid, wait))
            if method == "DELETE":
                return _json_response(start_response, 200, faults.end(akid, "drop"))
        if len(parts) == 3 and parts[0] == "faults" and parts[2] == "release" and method == "POST":
            return _json_response(start_response, 200, faults.end(parts[1], "serve"))
        if parts == ["config"]:
            if method == "PUT":
                ecs_sim.set_global_config(payload)
            if method in ("GET", "PUT"):
                return _json_response(start_response, 200, ecs_sim.get_global_config())
        if parts == ["services"] and method == "GET":
            return _json_response(start_response, 200, ecs_sim.list_service_configs())
        if len(parts) == 3 and parts[0] == "services":
            cluster, service = parts[1], parts[2]
            if method == "PUT":
                ecs_sim.set_service_config(cluster, service, payload)
            if method in ("GET", "PUT"):
                return _json_response(start_response, 200, ecs_sim.get_service_state(cluster, service))
            if method == "DELETE":
                ecs_sim.delete_service_config(cluster, service)
                return _json_response(start_response, 200, {"deleted": True})
        if len(parts) == 3 and parts[0] == "run-task":
            cluster, family = parts[1], parts[2]
            if method == "PUT":
                return _json_response(start_response, 200, ecs_runtask.set_config(cluster, family, payload))
            if method == "GET":
                return _json_response(start_response, 200, ecs_runtask.config(cluster, family))
            if method == "DELETE":
                ecs_runtask.delete_config(cluster, family)
                return _json_response(start_response, 200, {"deleted": True})
        if len(parts) == 4 and parts[0] == "services" and parts[3] == "step" and method == "POST":
            return _json_response(
                start_response, 200, ecs_sim.step_service(parts[1], parts[2], payload.get("count", 1))
            )
    except ValueError as e:
        return _json_response(start_response, 400, {"error": str(e)})
    except LookupError as e:
        return _json_response(start_response, 404, {"error": str(e.args[0])})
    return _json_response(
        start_response, 404, {"error": f"no simulator endpoint {method} {environ.get('PATH_INFO')}"}
    )


_original_call = DomainDispatcherApplication.__call__


def _patched_call(self: DomainDispatcherApplication, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
    path = environ.get("PATH_INFO", "")
    if isinstance(path, bytes):
        path = path.decode("utf-8")
    if path == "/_sim" or path.startswith("/_sim/"):
        return _control(environ, start_response)
    if path.startswith("/moto-api") or path == "/favicon.ico":
        result = _original_call(self, environ, start_response)
        if path.rstrip("/") == "/moto-api/reset" and environ.get("REQUEST_METHOD") == "POST":
            ecs_sim.reset()
            faults.reset()
            requestlog.clear()
        return result
    method = environ.get("REQUEST_METHOD", "GET")
    service, operation = classify(environ)
    akid = _access_key_id(environ)
    write = ops.is_write(operation)
    entry = requestlog.record(method, path, environ.get("QUERY_STRING", ""), service, operation, write, akid)

    def _start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
        try:
            entry["status"] = int(status.split()[0])
        except (ValueError, IndexError):
            pass
        return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

    # A write held by an armed fault (faults.py) is served only if the test releases it.
    outcome, fault = faults.gate(akid, write, entry)
    if outcome == "drop":
        try:  # a live client's unread body would be taken for its next request on the connection
            _read_body(environ)
        except OSError:
            pass
        data = b'{"message": "dropped by an injected fault (/_sim/faults)"}'
        _start_response(
            "503 Service Unavailable",
            [("Content-Type", "application/json"), ("Content-Length", str(len(data)))],
        )
        return [data]
    started = time.perf_counter()
    try:
        return _serve(self, environ, _start_response, service, operation, entry)
    finally:
        entry["ms"] = round((time.perf_counter() - started) * 1000, 3)
        if fault is not None:
            faults.done(fault)


def _serve(
    self: DomainDispatcherApplication,
    environ: dict[str, Any],
    _start_response: Callable[..., Any],
    service: str,
    operation: str,
    entry: dict[str, Any],
) -> Any:
    denied = iam_enforce.authorize(environ, service, operation, _read_body(environ), entry)
    if denied is not None:
        return denied(_start_response)
    if service == "ecs" and ecs_sim.take_throttle(_ecs_cluster(environ, operation)):
        data = json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"}).encode()
        _start_response(
            "400 Bad Request",
            [
                ("Content-Type", "application/x-amz-json-1.1"),
                ("x-amzn-ErrorType", "ThrottlingException"),
                ("Content-Length", str(len(data))),
            ],
        )
        return [data]
    if service == "monitoring":
        region = iam_enforce._credentials(environ)[1] or "us-east-1"
        served = cloudwatch_cbor.serve(
            environ.get("PATH_INFO", ""), _read_body(environ), iam_enforce.ACCOUNT, region, _start_response
        )
        if served is not None:
            return served
    return _original_call(self, environ, _start_response)


def install() -> None:
    DomainDispatcherApplication.__call__ = _patched_call  # type: ignore[method-assign]
