"""CloudWatch over Smithy RPC v2 CBOR (what current AWS SDKs speak to CloudWatch, the Rust one
included: aws-sdk-cloudwatch 1.140 sends ``POST /service/GraniteServiceVersion20100801/operation/<Op>``
with ``smithy-protocol: rpc-v2-cbor``), for the operations deckhand calls: DescribeAlarms.

moto 5.2.5 only speaks query/JSON to CloudWatch, so the plugin decodes the CBOR request, reads
moto's CloudWatch backend and answers CBOR. Protocol: https://smithy.io/2.0/additional-specs/protocols/smithy-rpc-v2.html
(timestamps are tag 1 epoch seconds; errors carry ``__type`` and, CloudWatch being awsQuery
compatible, the ``x-amzn-query-error`` header). CBOR itself: RFC 8949.
"""

from __future__ import annotations

import re
import struct
from datetime import datetime
from typing import Any, Callable, Iterable, Optional

PATH = re.compile(r"^/service/GraniteServiceVersion20100801/operation/([A-Za-z]+)$")


# --- CBOR (RFC 8949): the subset Smithy RPC v2 uses --------------------------------------------


class _Tagged:
    def __init__(self, tag: int, value: Any):
        self.tag, self.value = tag, value


def _head(major: int, n: int) -> bytes:
    if n < 24:
        return bytes([major << 5 | n])
    for ai, fmt in ((24, ">B"), (25, ">H"), (26, ">I"), (27, ">Q")):
        if n < 1 << (8 * struct.calcsize(fmt)):
            return bytes([major << 5 | ai]) + struct.pack(fmt, n)
    raise ValueError("integer too large for CBOR")


def encode(v: Any) -> bytes:
    if v is None:
        return b"\xf6"
    if v is True:
        return b"\xf5"
    if v is False:
        return b"\xf4"
    if isinstance(v, int):
        return _head(0, v) if v >= 0 else _head(1, -1 - v)
    if isinstance(v, float):
        return b"\xfb" + struct.pack(">d", v)
    if isinstance(v, datetime):
        return b"\xc1" + encode(v.timestamp())
    if isinstance(v, bytes):
        return _head(2, len(v)) + v
    if isinstance(v, str):
        b = v.encode("utf-8")
        return _head(3, len(b)) + b
    if isinstance(v, (list, tuple)):
        return _head(4, len(v)) + b"".join(encode(x) for x in v)
    if isinstance(v, dict):
        return _head(5, len(v)) + b"".join(encode(k) + encode(x) for k, x in v.items())
    raise TypeError(f"cannot CBOR-encode {type(v).__name__}")


def decode(data: bytes) -> Any:
    value, end = _decode(data, 0)
    if end != len(data):
        raise ValueError("trailing bytes after the CBOR item")
    return value


def _decode(d: bytes, i: int) -> tuple[Any, int]:
    ib = d[i]
    major, ai = ib >> 5, ib & 31
    i += 1
    if major == 7:
        if ai == 20:
            return False, i
        if ai == 21:
            return True, i
        if ai in (22, 23):
            return None, i
        if ai == 25:
            return _half(d[i : i + 2]), i + 2
        if ai == 26:
            return struct.unpack(">f", d[i : i + 4])[0], i + 4
        if ai == 27:
            return struct.unpack(">d", d[i : i + 8])[0], i + 8
        raise ValueError(f"unsupported CBOR simple value {ai}")
    if ai == 31:  # indefinite length
        if major in (2, 3):
            parts = []
            while d[i] != 0xFF:
                part, i = _decode(d, i)
                parts.append(part)
            joined = b"".join(parts) if major == 2 else "".join(parts)
            return joined, i + 1
        if major == 4:
            items = []
            while d[i] != 0xFF:
                item, i = _decode(d, i)
                items.append(item)
            return items, i + 1
        if major == 5:
            out = {}
            while d[i] != 0xFF:
                k, i = _decode(d, i)
                out[k], i = _decode(d, i)
            return out, i + 1
        raise ValueError("bad indefinite-length CBOR item")
    if ai < 24:
        n = ai
    else:
        size = {24: 1, 25: 2, 26: 4, 27: 8}[ai]
        n = int.from_bytes(d[i : i + size], "big")
        i += size
    if major == 0:
        return n, i
    if major == 1:
        return -1 - n, i
    if major == 2:
        return bytes(d[i : i + n]), i + n
    if major == 3:
        return d[i : i + n].decode("utf-8"), i + n
    if major == 4:
        items = []
        for _ in range(n):
            item, i = _decode(d, i)
            items.append(item)
        return items, i
    if major == 5:
        out = {}
        for _ in range(n):
            k, i = _decode(d, i)
            out[k], i = _decode(d, i)
        return out, i
    value, i = _decode(d, i)  # major 6: a tag; tag 1 (epoch seconds) is kept as a number
    return (value if n == 1 else _Tagged(n, value)), i


def _half(b: bytes) -> float:
    h = int.from_bytes(b, "big")
    exp, frac = (h >> 10) & 0x1F, h & 0x3FF
    val = frac * 2.0**-24 if exp == 0 else (float("inf") if exp == 31 else (1 + frac / 1024) * 2.0 ** (exp - 15))
    return -val if h & 0x8000 else val


# --- DescribeAlarms -------------------------------------------------------------------------------


def _metric_alarm(a: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "AlarmName": a.name,
        "AlarmArn": a.alarm_arn,
        "AlarmConfigurationUpdatedTimestamp": a.configuration_updated_timestamp,
        "ActionsEnabled": bool(a.actions_enabled),
        "OKActions": list(a.ok_actions or []),
        "AlarmActions": list(a.alarm_actions or []),
        "InsufficientDataActions": list(a.insufficient_data_actions or []),
        "StateValue": a.state_value,
        "StateReason": a.state_reason,
        "StateReasonData": a.state_reason_data,
        "StateUpdatedTimestamp": a.state_updated_timestamp,
        "Dimensions": [{"Name": d.name, "Value": d.value} for d in (a.dimensions or [])],
        "EvaluationPeriods": int(a.evaluation_periods),
        "ComparisonOperator": a.comparison_operator,
    }
    for key, attr in (
        ("AlarmDescription", "description"), ("MetricName", "metric_name"), ("Namespace", "namespace"),
        ("Statistic", "statistic"), ("ExtendedStatistic", "extended_statistic"), ("Unit", "unit"),
        ("TreatMissingData", "treat_missing_data"), ("ThresholdMetricId", "threshold_metric_id"),
        ("EvaluateLowSampleCountPercentile", "evaluate_low_sample_count_percentile"),
    ):
        value = getattr(a, attr, None)
        if value is not None:
            out[key] = value
    for key, attr, conv in (("Period", "period", int), ("Threshold", "threshold", float), ("DatapointsToAlarm", "datapoints_to_alarm", int)):
        value = getattr(a, attr, None)
        if value is not None:
            out[key] = conv(value)
    return out


def describe_alarms(backend: Any, params: dict[str, Any]) -> dict[str, Any]:
    alarms = list(backend.alarms.values())
    names = params.get("AlarmNames")
    if names:
        alarms = [a for a in alarms if a.name in names]
    if params.get("AlarmNamePrefix"):
        alarms = [a for a in alarms if a.name.startswith(params["AlarmNamePrefix"])]
    if params.get("StateValue"):
        alarms = [a for a in alarms if a.state_value == params["StateValue"]]
    types = params.get("AlarmTypes") or ["MetricAlarm"]
    alarms.sort(key=lambda a: a.name)
    start = int(params.get("NextToken") or 0)
    size = int(params.get("MaxRecords") or 50)
    if not 1 <= size <= 100:
        raise _Error("ValidationError", "MaxRecords must be between 1 and 100.")
    page = alarms[start : start + size]
    out: dict[str, Any] = {
        "MetricAlarms": [_metric_alarm(a) for a in page if getattr(a, "rule", None) is None] if "MetricAlarm" in types else [],
        "CompositeAlarms": [],
    }
    if start + size < len(alarms):
        out["NextToken"] = str(start + size)
    return out


class _Error(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


_OPERATIONS: dict[str, Callable[[Any, dict[str, Any]], dict[str, Any]]] = {"DescribeAlarms": describe_alarms}


def params_of(body: bytes) -> dict[str, Any]:
    try:
        v = decode(body) if body else {}
    except (ValueError, IndexError, KeyError, UnicodeDecodeError):
        return {}
    return v if isinstance(v, dict) else {}


def serve(path: str, body: bytes, account: str, region: str, start_response: Callable[..., Any]) -> Optional[Iterable[bytes]]:
    """Answer a CloudWatch RPC v2 CBOR request, or None when `path` is not one."""
    m = PATH.match(path)
    if not m:
        return None
    op = m.group(1)
    from moto.cloudwatch.models import cloudwatch_backends

    try:
        fn = _OPERATIONS.get(op)
        if fn is None:
            raise _Error("UnknownOperationException", f"The local stack does not serve CloudWatch {op} over CBOR.")
        try:
            params = decode(body) if body else {}
        except (ValueError, IndexError, KeyError, UnicodeDecodeError) as e:
            raise _Error("SerializationException", f"the request body is not CBOR: {e}")
        data = encode(fn(cloudwatch_backends[account][region], params if isinstance(params, dict) else {}))
        status = "200 OK"
        extra: list[tuple[str, str]] = []
    except _Error as e:
        data = encode({"__type": f"com.amazonaws.cloudwatch#{e.code}", "message": e.message})
        status = "400 Bad Request"
        extra = [("x-amzn-query-error", f"{e.code};Sender")]
    start_response(status, [
        ("Content-Type", "application/cbor"),
        ("smithy-protocol", "rpc-v2-cbor"),
        ("Content-Length", str(len(data))),
        *extra,
    ])
    return [data]
