"""Injected faults (/_sim/faults): a marked client's writes after its Nth are held until the test
kills it, then dropped — "killed after its Nth AWS write" with no hook in the client. On a private
moto + plugin instance (one test resets it)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any

import boto3
import pytest
from botocore.config import Config

from conftest import http

KEY = "AKIDFAULTTEST"


def s3(url: str, akid: str = KEY) -> Any:
    return boto3.client(
        "s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id=akid, aws_secret_access_key="x",
        config=Config(retries={"total_max_attempts": 1}, s3={"addressing_style": "path"}),
    )


def fault(url: str, method: str, akid: str = KEY, body: Any = None, query: str = "", suffix: str = "") -> Any:
    status, out = http(method, f"{url}/_sim/faults/{akid}{suffix}{query}", body)
    assert status == 200, out
    return out


def keys(url: str, bucket: str) -> list[str]:
    return [o["Key"] for o in s3(url, "test").list_objects_v2(Bucket=bucket).get("Contents", [])]


# A client in its own process: creates a bucket, then writes a, b, c (reading in between).
CLIENT = r"""
import sys, boto3
from botocore.config import Config
url, bucket = sys.argv[1], sys.argv[2]
c = boto3.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id="%s",
                 aws_secret_access_key="x", config=Config(retries={"total_max_attempts": 1}, s3={"addressing_style": "path"}))
c.create_bucket(Bucket=bucket)
for k in "abc":
    c.list_objects_v2(Bucket=bucket)
    c.put_object(Bucket=bucket, Key=k, Body=k.encode())
print("finished", flush=True)
""" % KEY


def test_a_client_killed_after_its_nth_write_made_exactly_n(private_moto: str) -> None:
    url = private_moto
    armed = fault(url, "PUT", body={"hold-after-writes": 2})
    assert armed["armed"] and armed["served"] == 0 and not armed["holding"]
    since = http("GET", f"{url}/_sim/requests?tail=1")[1]
    mark = since[-1]["seq"] if since else 0
    proc = subprocess.Popen([sys.executable, "-c", CLIENT, url, "fault-kill"], stdout=subprocess.PIPE,
                            start_new_session=True)
    try:
        state = fault(url, "GET", query="?wait=30")
        assert state["holding"], state
        assert (state["served"], state["in-flight"], state["held"]) == (2, 0, 1)
        assert [(r["operation"], r["path"]) for r in state["held-requests"]] == [("PutObject", "/fault-kill/b")]
        # While its write is held, the client's reads and other clients' writes are served.
        assert keys(url, "fault-kill") == ["a"]
        assert s3(url, KEY).head_object(Bucket="fault-kill", Key="a")["ContentLength"] == 1
        s3(url, "AKIDSOMEONEELSE").put_object(Bucket="fault-kill", Key="other", Body=b"o")
        assert proc.poll() is None
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    ended = fault(url, "DELETE")
    assert not ended["armed"] and ended["held"] == 1
    # The held write was never served: b does not exist, c was never sent.
    assert sorted(keys(url, "fault-kill")) == ["a", "other"]
    mine = [e for e in http("GET", f"{url}/_sim/requests?since={mark}&access-key-id={KEY}")[1]]
    writes = [(e["operation"], e["path"], e["status"], e.get("fault")) for e in mine if e["write"]]
    assert writes == [
        ("CreateBucket", "/fault-kill", 200, None),
        ("PutObject", "/fault-kill/a", 200, None),
        ("PutObject", "/fault-kill/b", 503, "dropped"),
    ]
    assert proc.stdout is not None and proc.stdout.read() == b""
    # Disarmed: the key id writes freely again.
    s3(url).put_object(Bucket="fault-kill", Key="after", Body=b"x")
    assert not fault(url, "GET")["armed"]


def test_a_client_with_fewer_writes_finishes_and_is_never_held(private_moto: str) -> None:
    url = private_moto
    fault(url, "PUT", body={"hold-after-writes": 10})
    out = subprocess.run([sys.executable, "-c", CLIENT, url, "fault-few"], capture_output=True, timeout=60)
    assert out.returncode == 0 and out.stdout == b"finished\n", out.stderr
    state = fault(url, "GET", query="?wait=0.2")
    assert (state["served"], state["held"], state["holding"]) == (4, 0, False)
    assert fault(url, "DELETE")["served"] == 4
    assert keys(url, "fault-few") == ["a", "b", "c"]


def test_concurrent_writes_stop_at_exactly_n_and_holding_waits_for_the_served_ones(private_moto: str) -> None:
    url = private_moto
    s3(url, "test").create_bucket(Bucket="fault-many")
    fault(url, "PUT", body={"hold-after-writes": 3})
    results: dict[str, str] = {}

    def put(k: str) -> None:
        try:
            # a 2 MB body: the served writes take a while, so some are in flight when one is held
            s3(url).put_object(Bucket="fault-many", Key=k, Body=os.urandom(2 * 1024 * 1024))
            results[k] = "ok"
        except Exception as e:  # noqa: BLE001 - the dropped ones fail, that is the point
            results[k] = type(e).__name__

    threads = [threading.Thread(target=put, args=(f"k{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    state = fault(url, "GET", query="?wait=30")
    assert state["holding"] and state["in-flight"] == 0 and state["served"] == 3, state
    # Every write let through has been answered: exactly 3 objects exist while the others wait.
    assert len(keys(url, "fault-many")) == 3
    # Holding begins with the first held write; under load a thread may not have sent its write yet,
    # and one that arrives after the DELETE is served (nothing is armed then): wait for all five.
    deadline = time.monotonic() + 30
    while fault(url, "GET")["held"] < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert fault(url, "GET")["held"] == 5
    fault(url, "DELETE")
    for t in threads:
        t.join(timeout=30)
    assert sorted(results.values()).count("ok") == 3, results
    assert len(keys(url, "fault-many")) == 3


def test_release_serves_the_held_writes(private_moto: str) -> None:
    url = private_moto
    s3(url, "test").create_bucket(Bucket="fault-release")
    fault(url, "PUT", body={"hold-after-writes": 0})
    done = threading.Event()
    t = threading.Thread(target=lambda: (s3(url).put_object(Bucket="fault-release", Key="x", Body=b"1"), done.set()))
    t.start()
    state = fault(url, "GET", query="?wait=30")
    assert state["holding"] and state["served"] == 0
    assert not done.is_set() and keys(url, "fault-release") == []
    released = fault(url, "POST", suffix="/release")
    assert released["held"] == 1 and not released["armed"]
    t.join(timeout=30)
    assert done.is_set() and keys(url, "fault-release") == ["x"]
    entry = [e for e in http("GET", f"{url}/_sim/requests?access-key-id={KEY}&tail=1")[1]][-1]
    assert (entry["operation"], entry["status"], entry["fault"]) == ("PutObject", 200, "released")


def test_bad_fault_requests_are_refused_naming_the_key(private_moto: str) -> None:
    url = private_moto
    status, body = http("PUT", f"{url}/_sim/faults/{KEY}", {"hold-after-write": 1})
    assert status == 400 and "hold-after-write" in body["error"]
    for bad in (-1, "2", True, 1.5):
        status, body = http("PUT", f"{url}/_sim/faults/{KEY}", {"hold-after-writes": bad})
        assert status == 400 and "hold-after-writes" in body["error"], bad
    status, body = http("GET", f"{url}/_sim/faults/{KEY}?wait=soon")
    assert status == 400 and "wait" in body["error"]
    assert not fault(url, "GET")["armed"]


def test_reset_drops_held_writes(private_moto: str) -> None:
    url = private_moto
    s3(url, "test").create_bucket(Bucket="fault-reset")
    fault(url, "PUT", body={"hold-after-writes": 0})
    errors: list[int] = []

    def put() -> None:
        try:
            s3(url).put_object(Bucket="fault-reset", Key="x", Body=b"1")
        except Exception as e:  # noqa: BLE001
            errors.append(e.response["ResponseMetadata"]["HTTPStatusCode"])  # type: ignore[attr-defined]

    t = threading.Thread(target=put)
    t.start()
    assert fault(url, "GET", query="?wait=30")["holding"]
    assert http("POST", f"{url}/moto-api/reset")[0] == 200
    t.join(timeout=30)
    # dropped (503), not served after the reset (that would be 404 NoSuchBucket)
    assert errors == [503] and not t.is_alive()
    assert not fault(url, "GET")["armed"]


def test_fault_state_is_json_with_the_documented_keys(private_moto: str) -> None:
    url = private_moto
    state = fault(url, "PUT", body={"hold-after-writes": 1})
    assert set(state) == {"access-key-id", "armed", "hold-after-writes", "served", "in-flight", "held",
                          "holding", "held-requests"}
    json.dumps(state)
    started = time.monotonic()
    assert not fault(url, "GET", query="?wait=0.3")["holding"]
    assert time.monotonic() - started >= 0.25
    fault(url, "DELETE")


def test_uncounted_paths_pass_and_do_not_count(private_moto: str) -> None:
    url = private_moto
    s3(url, "test").create_bucket(Bucket="fault-uncounted")
    fault(url, "PUT", body={"hold-after-writes": 1, "uncounted-paths": ["/_deckhand/lock$"]})
    c = s3(url)
    c.put_object(Bucket="fault-uncounted", Key="_deckhand/lock", Body=b"1")  # not counted
    c.put_object(Bucket="fault-uncounted", Key="a", Body=b"a")  # the 1st counted write
    c.put_object(Bucket="fault-uncounted", Key="_deckhand/lock", Body=b"2")  # a heartbeat: passes
    t = threading.Thread(target=lambda: pytest.raises(Exception, c.put_object, Bucket="fault-uncounted", Key="b", Body=b"b"))
    t.start()
    state = fault(url, "GET", query="?wait=30")
    assert state["holding"] and state["served"] == 1, state
    c.delete_object(Bucket="fault-uncounted", Key="_deckhand/lock")  # still passes while b is held
    fault(url, "DELETE")
    t.join(timeout=30)
    assert sorted(keys(url, "fault-uncounted")) == ["a"]
    status, body = http("PUT", f"{url}/_sim/faults/{KEY}", {"hold-after-writes": 1, "uncounted-paths": ["("]})
    assert status == 400 and "uncounted-paths" in body["error"]
