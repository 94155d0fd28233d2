"""Name the AWS operation behind a raw HTTP request, for the request log.

JSON protocols carry it in ``X-Amz-Target``, query protocols in ``Action``; S3 is
derived from method, path, sub-resource query keys and headers; other REST services
are matched against botocore's own ``requestUri`` templates.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Optional
from urllib.parse import parse_qs

READ_PREFIXES = (
    "Describe",
    "List",
    "Get",
    "BatchGet",
    "Head",
    "Query",
    "Scan",
    "Search",
    "Lookup",
    "Validate",
    "Select",
    "Estimate",
)


def is_write(operation: Optional[str]) -> bool:
    """True unless the operation only reads (Describe*/List*/Get*/BatchGet*/Head*, ...)."""
    if not operation:
        return True
    return not operation.startswith(READ_PREFIXES)


# --- S3 -------------------------------------------------------------------------------

# bucket-level sub-resources: query key -> operation noun (Get<noun>/Put<noun>/Delete<noun>)
_S3_BUCKET_SUBRESOURCES = {
    "policy": "BucketPolicy",
    "acl": "BucketAcl",
    "tagging": "BucketTagging",
    "versioning": "BucketVersioning",
    "cors": "BucketCors",
    "website": "BucketWebsite",
    "lifecycle": "BucketLifecycleConfiguration",
    "encryption": "BucketEncryption",
    "notification": "BucketNotificationConfiguration",
    "ownershipControls": "BucketOwnershipControls",
    "publicAccessBlock": "PublicAccessBlock",
    "logging": "BucketLogging",
    "replication": "BucketReplication",
    "accelerate": "BucketAccelerateConfiguration",
    "requestPayment": "BucketRequestPayment",
    "object-lock": "ObjectLockConfiguration",
    "policyStatus": "BucketPolicyStatus",
    "inventory": "BucketInventoryConfiguration",
    "metrics": "BucketMetricsConfiguration",
    "analytics": "BucketAnalyticsConfiguration",
    "intelligent-tiering": "BucketIntelligentTieringConfiguration",
}
_S3_OBJECT_SUBRESOURCES = {
    "tagging": "ObjectTagging",
    "acl": "ObjectAcl",
    "retention": "ObjectRetention",
    "legal-hold": "ObjectLegalHold",
}


def _is_ip_or_local(host: str) -> bool:
    return host in ("localhost",) or bool(re.fullmatch(r"[0-9.]+", host)) or host.startswith("[")


def s3_operation(method: str, path: str, query: str, headers: dict[str, str]) -> str:
    """Operation name of an S3 REST request (path-style or virtual-hosted)."""
    q = parse_qs(query, keep_blank_values=True)
    host = headers.get("host", "").split(":")[0]
    bucket_from_host = None
    if host and not _is_ip_or_local(host) and not host.startswith("s3.") and "." in host:
        bucket_from_host = host.split(".")[0]
    parts = path.lstrip("/").split("/", 1) if path.strip("/") else []
    if bucket_from_host:
        bucket = bucket_from_host
        key = path.lstrip("/")
    else:
        bucket = parts[0] if parts else ""
        key = parts[1] if len(parts) > 1 else ""
    m = method.upper()
    if q.get("x-id"):  # newer SDKs (e.g. Rust) name the operation themselves
        return q["x-id"][0]
    if not bucket:
        return "ListBuckets" if m == "GET" else f"{m.title()}Service"
    if not key:
        if m == "GET":
            if q.get("list-type") == ["2"]:
                return "ListObjectsV2"
            if "versions" in q:
                return "ListObjectVersions"
            if "uploads" in q:
                return "ListMultipartUploads"
            if "location" in q:
                return "GetBucketLocation"
        if m == "POST" and "delete" in q:
            return "DeleteObjects"
        for sub, noun in _S3_BUCKET_SUBRESOURCES.items():
            if sub in q:
                verb = {"GET": "Get", "PUT": "Put", "DELETE": "Delete"}.get(m)
                if verb:
                    return f"{verb}{noun}"
        return {
            "GET": "ListObjects",
            "PUT": "CreateBucket",
            "DELETE": "DeleteBucket",
            "HEAD": "HeadBucket",
            "POST": "PostObject",
        }.get(m, m)
    copy = "x-amz-copy-source" in headers
    if m == "PUT":
        if "partNumber" in q and "uploadId" in q:
            return "UploadPartCopy" if copy else "UploadPart"
        for sub, noun in _S3_OBJECT_SUBRESOURCES.items():
            if sub in q:
                return f"Put{noun}"
        return "CopyObject" if copy else "PutObject"
    if m == "GET":
        if "uploadId" in q:
            return "ListParts"
        if "attributes" in q:
            return "GetObjectAttributes"
        for sub, noun in _S3_OBJECT_SUBRESOURCES.items():
            if sub in q:
                return f"Get{noun}"
        return "GetObject"
    if m == "HEAD":
        return "HeadObject"
    if m == "POST":
        if "uploads" in q:
            return "CreateMultipartUpload"
        if "uploadId" in q:
            return "CompleteMultipartUpload"
        if "restore" in q:
            return "RestoreObject"
        if "select" in q:
            return "SelectObjectContent"
        return "PostObject"
    if m == "DELETE":
        if "uploadId" in q:
            return "AbortMultipartUpload"
        if "tagging" in q:
            return "DeleteObjectTagging"
        return "DeleteObject"
    return m


# --- other REST protocols (CloudFront, ...) via botocore's requestUri templates --------

_SIGNING_TO_BOTOCORE = {"execute-api": "apigateway", "es": "opensearch"}


@lru_cache(maxsize=64)
def _rest_routes(service: str) -> list[tuple[str, re.Pattern[str], tuple[str, ...], str, int]]:
    import botocore.session

    name = _SIGNING_TO_BOTOCORE.get(service, service)
    try:
        model = botocore.session.get_session().get_service_model(name)
    except Exception:
        return []
    if model.protocol not in ("rest-json", "rest-xml"):
        return []
    routes = []
    for op_name in model.operation_names:
        http = model.operation_model(op_name).http
        uri = http.get("requestUri", "/")
        path_part, _, query_part = uri.partition("?")
        regex = ""
        literal = 0
        for token in re.split(r"(\{[^}]+\})", path_part):
            if token.startswith("{"):
                regex += "(.+)" if token.endswith("+}") else "([^/]+)"
            else:
                regex += re.escape(token)
                literal += len(token)
        required = tuple(
            kv.split("=", 1)[0] for kv in query_part.split("&") if kv
        )
        routes.append(
            (http.get("method", "GET"), re.compile(f"^{regex}/?$"), required, op_name, literal)
        )
    # most specific first: more required query keys, then more literal characters
    routes.sort(key=lambda r: (len(r[2]), r[4]), reverse=True)
    return routes


def rest_operation(service: str, method: str, path: str, query: str) -> Optional[str]:
    q = parse_qs(query, keep_blank_values=True)
    for m, regex, required, op_name, _ in _rest_routes(service):
        if m == method.upper() and regex.match(path) and all(k in q for k in required):
            return op_name
    return None
