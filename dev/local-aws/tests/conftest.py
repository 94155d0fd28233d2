"""Fixtures: the shared local stack (dev/local-aws/up), the AWS CLI in-process, /_sim calls,
and a private moto+plugin instance for tests that must own the whole server (request log
exactness, reset)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import pytest

HERE = Path(__file__).resolve().parent
LOCAL_AWS = HERE.parent
sys.path.insert(0, str(LOCAL_AWS / "plugin"))
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _apply_exports(text: str) -> dict[str, str]:
    env = {}
    for line in text.splitlines():
        if line.startswith("export "):
            key, _, value = line[len("export ") :].partition("=")
            env[key] = value
            os.environ[key] = value
        elif line.startswith("unset "):
            for key in line.split()[1:]:
                os.environ.pop(key, None)
    return env


@pytest.fixture(scope="session")
def stack_env() -> dict[str, str]:
    """Bring the shared stack up (idempotent) and export its environment."""
    out = subprocess.run([str(LOCAL_AWS / "up")], check=True, capture_output=True, text=True, timeout=900)
    env = _apply_exports(out.stdout)
    # no proxy, no CA bundle for the plain-HTTP endpoints
    for k in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        os.environ.pop(k, None)
    os.environ["NO_PROXY"] = "127.0.0.1,localhost"
    return env


class AwsCliError(Exception):
    def __init__(self, rc: int, stderr: str):
        super().__init__(f"aws exited {rc}: {stderr.strip()}")
        self.rc = rc
        self.stderr = stderr


_drivers: dict[tuple[Optional[str], ...], Any] = {}
_ENV_KEYS = ("AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE", "AWS_ENDPOINT_URL", "AWS_REGION", "AWS_ACCESS_KEY_ID")


def _driver() -> Any:
    """One CLI driver per relevant environment (creating one costs ~0.4 s, a call ~0.05 s)."""
    from awscli.clidriver import create_clidriver

    key = tuple(os.environ.get(k) for k in _ENV_KEYS)
    if key not in _drivers:
        _drivers[key] = create_clidriver()
    return _drivers[key]


def run_aws(args: list[str], endpoint: Optional[str] = None) -> Any:
    """Run the AWS CLI (awscli from PyPI) in-process; JSON output parsed, errors raised."""
    argv = list(args) + ["--output", "json"]
    if endpoint:
        argv += ["--endpoint-url", endpoint]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = _driver().main(argv)
    if rc != 0:
        raise AwsCliError(rc, err.getvalue())
    text = out.getvalue().strip()
    return json.loads(text) if text else None


@pytest.fixture(scope="session")
def aws(stack_env: dict[str, str]) -> Callable[..., Any]:
    def call(*args: str) -> Any:
        return run_aws(list(args))

    return call


def http(method: str, url: str, body: Any = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with _opener.open(req, timeout=10) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw)
        except json.JSONDecodeError:
            return e.code, raw.decode()


class Sim:
    def __init__(self, base: str):
        self.base = base

    def configure(self, cluster: str, service: str, **cfg: Any) -> Any:
        status, body = http("PUT", f"{self.base}/services/{cluster}/{service}", cfg)
        assert status == 200, body
        return body

    def state(self, cluster: str, service: str) -> Any:
        status, body = http("GET", f"{self.base}/services/{cluster}/{service}")
        assert status == 200, body
        return body

    def step(self, cluster: str, service: str, count: int = 1) -> Any:
        status, body = http("POST", f"{self.base}/services/{cluster}/{service}/step", {"count": count})
        assert status == 200, body
        return body

    def requests(self, **query: Any) -> list[dict[str, Any]]:
        qs = "&".join(f"{k}={v}" for k, v in query.items())
        status, body = http("GET", f"{self.base}/requests" + (f"?{qs}" if qs else ""))
        assert status == 200, body
        return body


@pytest.fixture(scope="session")
def sim(stack_env: dict[str, str]) -> Sim:
    return Sim(stack_env["DECKHAND_SIM_URL"])


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


FROZEN = 3600.0  # step-seconds that stops time-based progress: tests step by hand


@pytest.fixture
def ecs_service(aws: Callable[..., Any], sim: Sim) -> Callable[..., dict[str, Any]]:
    """Create a fresh cluster + two task definition revisions + a service (frozen clock)."""

    def make(
        desired: int = 2,
        breaker: bool = False,
        rollback: bool = False,
        min_pct: int = 100,
        max_pct: int = 200,
        load_balancer: bool = True,
        step_seconds: float = FROZEN,
        grace: Optional[int] = None,
        deployment: Optional[dict[str, Any]] = None,
        **scenario: Any,
    ) -> dict[str, Any]:
        cluster, service, family = unique("c"), unique("svc"), unique("td")
        sim.configure(cluster, service, **{"step-seconds": step_seconds})
        aws("ecs", "create-cluster", "--cluster-name", cluster)
        containers = [{"name": "api", "image": "repo:v1", "memory": 128, "essential": True},
                      {"name": "sidecar", "image": "sidecar:1", "memory": 64, "essential": False}]
        td1 = aws("ecs", "register-task-definition", "--family", family,
                  "--container-definitions", json.dumps(containers))["taskDefinition"]["taskDefinitionArn"]
        containers[0]["image"] = "repo:v2"
        td2 = aws("ecs", "register-task-definition", "--family", family,
                  "--container-definitions", json.dumps(containers))["taskDefinition"]["taskDefinitionArn"]
        tg = f"arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/{service[:20]}/0123456789abcdef"
        alt = f"arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/{service[:18]}-g/fedcba9876543210"
        rule = f"arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/alb/50dc6c495c0c9188/f2f7dc8efc522ab2/{service[-10:]}"
        config = {"deploymentCircuitBreaker": {"enable": breaker, "rollback": rollback},
                  "maximumPercent": max_pct, "minimumHealthyPercent": min_pct, **(deployment or {})}
        args = ["ecs", "create-service", "--cluster", cluster, "--service-name", service,
                "--task-definition", f"{family}:1", "--desired-count", str(desired),
                "--deployment-configuration", json.dumps(config)]
        if grace is not None:
            args += ["--health-check-grace-period-seconds", str(grace)]
        if load_balancer:
            lb: dict[str, Any] = {"targetGroupArn": tg, "containerName": "api", "containerPort": 3000}
            if config.get("strategy", "ROLLING") != "ROLLING":  # ECS shifts traffic between two target groups
                lb["advancedConfiguration"] = {"alternateTargetGroupArn": alt, "productionListenerRule": rule,
                                               "roleArn": "arn:aws:iam::123456789012:role/ecs-infrastructure"}
            args += ["--load-balancers", json.dumps([lb])]
        created = aws(*args)["service"]
        if scenario:
            sim.configure(cluster, service, **{k.replace("_", "-"): v for k, v in scenario.items()})
        return {"cluster": cluster, "service": service, "family": family, "td1": td1, "td2": td2,
                "tg": tg, "alt": alt, "rule": rule, "created": created}

    return make


def describe(aws: Callable[..., Any], cluster: str, service: str) -> dict[str, Any]:
    return aws("ecs", "describe-services", "--cluster", cluster, "--services", service)["services"][0]


def deployments_view(svc: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [
        (d["status"], d["taskDefinition"].rsplit(":", 1)[-1], d["rolloutState"], d["runningCount"], d["pendingCount"], d["failedTasks"])
        for d in svc["deployments"]
    ]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def private_moto(stack_env: dict[str, str]) -> Iterator[str]:
    """A private moto + plugin (same launcher as `up`) that no other test or helper talks to."""
    port = free_port()
    env = dict(os.environ)
    env["PYTHONPATH"] = str(LOCAL_AWS / "plugin")
    env.pop("AWS_CA_BUNDLE", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "deckhand_moto_plugin", "--host", "127.0.0.1", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if http("GET", f"{url}/_sim/health")[0] == 200:
                break
        except OSError:
            time.sleep(0.1)
    else:
        proc.kill()
        raise RuntimeError(f"private moto did not start: {proc.stderr.read().decode() if proc.stderr else ''}")
    yield url
    proc.terminate()
    proc.wait(timeout=10)
