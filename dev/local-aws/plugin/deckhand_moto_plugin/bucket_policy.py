"""Bucket policies as real S3 evaluates them for the callers of the local stack.

moto 5.2.5 evaluates a bucket policy's statements without their Principal and Condition, so the
infra stack's two Deny statements — "deny every request that is not over TLS"
(``Bool aws:SecureTransport false``) and "deny CloudFront's service principal ``_deckhand/*``" —
deny every PutObject of every caller. Here:

* the local stack stands in for AWS's HTTPS endpoints, so a statement that only applies to
  non-TLS requests (``aws:SecureTransport`` = false) never matches;
* requests reaching moto are signed by IAM identities, never by a service principal, so statements
  whose Principal names only services (``cloudfront.amazonaws.com``) do not apply to them.
Other statements keep moto's behaviour.
"""

from __future__ import annotations

import json
from typing import Any


def _service_only(principal: Any) -> bool:
    return isinstance(principal, dict) and set(principal) == {"Service"}


def _only_without_tls(condition: Any) -> bool:
    if not isinstance(condition, dict):
        return False
    for op, tests in condition.items():
        if op.lower() != "bool" or not isinstance(tests, dict):
            continue
        for key, value in tests.items():
            values = value if isinstance(value, list) else [value]
            if key.lower() == "aws:securetransport" and all(str(v).lower() == "false" for v in values):
                return True
    return False


def applicable(policy: dict[str, Any]) -> dict[str, Any]:
    """The statements of a policy that apply to a local-stack caller."""
    statements = policy.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    kept = [
        s
        for s in statements
        if not _service_only(s.get("Principal")) and not _only_without_tls(s.get("Condition"))
    ]
    return {**policy, "Statement": kept}


def install() -> None:
    from moto.iam.access_control import IAMPolicy, PermissionResult
    from moto.s3.models import FakeBucket

    def get_permission(self: FakeBucket, action: str, resource: str) -> Any:
        if self.policy is None:
            return PermissionResult.NEUTRAL
        policy = applicable(json.loads(self.policy.decode()))
        if not policy["Statement"]:
            return PermissionResult.NEUTRAL
        return IAMPolicy(json.dumps(policy)).is_action_permitted(action, resource)

    FakeBucket.get_permission = get_permission  # type: ignore[method-assign]
