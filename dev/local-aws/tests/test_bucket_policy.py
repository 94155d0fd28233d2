"""Bucket policies: the infra stack's TLS-only and CloudFront-only denies do not block IAM callers
of the local stack (moto 5.2.5 ignores Principal and Condition and denied every PutObject)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from conftest import unique


def infra_like_policy(bucket: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "s3:*",
                "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
            {
                "Effect": "Deny", "Principal": {"Service": "cloudfront.amazonaws.com"},
                "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/_deckhand/*",
            },
            {
                "Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "s3:PutObject",
                "Resource": f"arn:aws:s3:::{bucket}/private/*",
            },
        ],
    }


def test_tls_and_service_principal_denies_do_not_apply_to_iam_callers(aws: Any) -> None:
    bucket = unique("policy")
    aws("s3api", "create-bucket", "--bucket", bucket)
    aws("s3api", "put-bucket-policy", "--bucket", bucket, "--policy", json.dumps(infra_like_policy(bucket)))
    aws("s3api", "put-object", "--bucket", bucket, "--key", "_deckhand/lock")
    aws("s3api", "put-object", "--bucket", bucket, "--key", "index.html")
    keys = [o["Key"] for o in aws("s3api", "list-objects-v2", "--bucket", bucket)["Contents"]]
    assert sorted(keys) == ["_deckhand/lock", "index.html"]
    # A deny without a principal/condition we model still denies, as moto did before.
    with pytest.raises(Exception, match="403|Forbidden|AccessDenied"):
        aws("s3api", "put-object", "--bucket", bucket, "--key", "private/x")
