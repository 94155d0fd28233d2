"""S3 conditional writes: condition and write are one step (exactly one of many racing takers
wins), a conditional write racing another write of the same key answers 409
ConditionalRequestConflict, and the 412/404 answers of S3 for a failed condition."""

from __future__ import annotations

import threading
from typing import Any

import boto3
import botocore.exceptions
import pytest

from conftest import unique


def client(env: dict[str, str]) -> Any:
    return boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], region_name=env["AWS_REGION"])


def code_of(call: Any) -> str:
    try:
        call()
    except botocore.exceptions.ClientError as e:
        return f'{e.response["ResponseMetadata"]["HTTPStatusCode"]} {e.response["Error"]["Code"]}'
    return "200"


@pytest.fixture
def bucket(stack_env: dict[str, str]) -> str:
    name = unique("cond")
    client(stack_env).create_bucket(Bucket=name)
    return name


def test_failed_conditions_answer_as_s3_does(stack_env: dict[str, str], bucket: str) -> None:
    s3 = client(stack_env)
    etag = s3.put_object(Bucket=bucket, Key="lock", Body=b"a", IfNoneMatch="*")["ETag"]
    assert code_of(lambda: s3.put_object(Bucket=bucket, Key="lock", Body=b"b", IfNoneMatch="*")) == "412 PreconditionFailed"
    assert code_of(lambda: s3.put_object(Bucket=bucket, Key="lock", Body=b"b", IfMatch='"0000"')) == "412 PreconditionFailed"
    assert code_of(lambda: s3.put_object(Bucket=bucket, Key="gone", Body=b"b", IfMatch=etag)) == "404 NoSuchKey"
    assert code_of(lambda: s3.delete_object(Bucket=bucket, Key="lock", IfMatch='"0000"')) == "412 PreconditionFailed"
    assert s3.get_object(Bucket=bucket, Key="lock")["Body"].read() == b"a"
    new = s3.put_object(Bucket=bucket, Key="lock", Body=b"c", IfMatch=etag)["ETag"]
    assert code_of(lambda: s3.delete_object(Bucket=bucket, Key="lock", IfMatch=etag)) == "412 PreconditionFailed"
    assert code_of(lambda: s3.delete_object(Bucket=bucket, Key="lock", IfMatch=new)) == "200"
    assert code_of(lambda: s3.head_object(Bucket=bucket, Key="lock")) == "404 404"


def race(env: dict[str, str], n: int, write: Any) -> list[str]:
    clients = [client(env) for _ in range(n)]
    barrier = threading.Barrier(n)
    results: list[str] = [""] * n

    def go(i: int) -> None:
        barrier.wait()
        results[i] = code_of(lambda: write(clients[i], i))

    threads = [threading.Thread(target=go, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


@pytest.mark.parametrize("round_", range(20))
def test_exactly_one_of_racing_takers_wins(stack_env: dict[str, str], bucket: str, round_: int) -> None:
    s3 = client(stack_env)
    key = f"lock-{round_}"
    stale = s3.put_object(Bucket=bucket, Key=key, Body=b"expired holder")["ETag"]
    results = race(stack_env, 6, lambda c, i: c.put_object(Bucket=bucket, Key=key, Body=f"taker {i}".encode(), IfMatch=stale))
    winners = [i for i, r in enumerate(results) if r == "200"]
    assert len(winners) == 1, results
    assert all(r in ("412 PreconditionFailed", "409 ConditionalRequestConflict") for r in results if r != "200"), results
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == f"taker {winners[0]}".encode()
    # creating a missing key: exactly one If-None-Match: * wins
    fresh = f"fresh-{round_}"
    results = race(stack_env, 6, lambda c, i: c.put_object(Bucket=bucket, Key=fresh, Body=f"{i}".encode(), IfNoneMatch="*"))
    assert results.count("200") == 1, results


def test_a_conditional_write_racing_another_write_conflicts() -> None:
    from deckhand_moto_plugin import s3_conditional

    calls: list[str] = []

    class Request:
        bucket_name = "b"

        def __init__(self, headers: dict[str, str]) -> None:
            self.headers = headers

        def parse_key_name(self) -> str:
            return "k"

    wrapped = s3_conditional._serialised(lambda self: calls.append("wrote") or (200, {}, ""))
    lock = s3_conditional._lock_of("b", "k")
    with lock:  # another write of b/k is in progress
        status, _, body = wrapped(Request({"If-Match": '"e"'}))
        assert status == 409 and "<Code>ConditionalRequestConflict</Code>" in body
        status, _, body = wrapped(Request({"If-None-Match": "*"}))
        assert status == 409
    assert calls == []
    assert wrapped(Request({"If-Match": '"e"'}))[0] == 200
    assert wrapped(Request({}))[0] == 200
    assert calls == ["wrote", "wrote"]


def test_delete_objects_honours_each_objects_etag(stack_env: dict[str, str], bucket: str) -> None:
    """S3's conditional deletes: DeleteObjects deletes an object whose ETag is the one given, keeps
    one whose ETag is another (PreconditionFailed in the answer's Errors, the rest deleted), and an
    object without an ETag element is deleted unconditionally."""
    s3 = client(stack_env)
    e_same = s3.put_object(Bucket=bucket, Key="same", Body=b"1")["ETag"]
    e_old = s3.put_object(Bucket=bucket, Key="changed", Body=b"deckhand's")["ETag"]
    s3.put_object(Bucket=bucket, Key="changed", Body=b"a person's")
    s3.put_object(Bucket=bucket, Key="plain", Body=b"3")
    out = s3.delete_objects(
        Bucket=bucket,
        Delete={
            "Objects": [
                {"Key": "same", "ETag": e_same},
                {"Key": "changed", "ETag": e_old},
                {"Key": "gone", "ETag": e_old},
                {"Key": "plain"},
            ],
            "Quiet": True,
        },
    )
    errors = {e["Key"]: e["Code"] for e in out.get("Errors", [])}
    assert errors == {"changed": "PreconditionFailed", "gone": "NoSuchKey"}, out
    left = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])}
    assert left == {"changed"}
    assert s3.get_object(Bucket=bucket, Key="changed")["Body"].read() == b"a person's"
    # Every condition failing: nothing deleted, each named.
    out = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "changed", "ETag": e_old}]})
    assert [e["Code"] for e in out["Errors"]] == ["PreconditionFailed"] and not out.get("Deleted"), out
