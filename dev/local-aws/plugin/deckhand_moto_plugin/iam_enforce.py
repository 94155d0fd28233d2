"""IAM enforced in front of moto: every request signed by an STS session or an IAM user's access key
is authorised as AWS does (identity policies, the session policy, S3 bucket policies, implied
authorisations from iam_requests); a denied request gets AWS's AccessDenied in its protocol's shape.

Any other access key id (``test``, the per-test ``AKID…`` ids) is the *bootstrap identity*: the
account's administrator, as before. ``test-<12 digits>`` is the bootstrap identity of that account
(moto's ``x-moto-account-id``: a second account on the same moto, e.g. staging's beside production's).

Across accounts (a caller of account A, a resource of account B: an S3 bucket's owner, an ECR
repository's registry id) a request needs an Allow in BOTH the caller's identity policies and the
resource's policy (bucket policy, ECR repository policy); an explicit Deny in either wins ("Policy
evaluation logic – cross-account policy evaluation logic", IAM User Guide). In one account either
allows, as before. moto's own access control (INITIAL_NO_AUTH_ACTION_COUNT) stays
off: it cannot tell the two apart and evaluates neither resources nor conditions.

Every authorisation is appended to the request-log entry (``iam``: ``[{action, resource,
decision}]``) and the caller's ARN to ``principal``, so a test can read exactly which IAM actions a
role's run needed.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any, Callable, Iterable, Optional
from urllib.parse import parse_qs

from . import iam_policy, iam_requests

ACCOUNT = "123456789012"
_BOOTSTRAP_OF_ACCOUNT = re.compile(r"^test-(\d{12})$")
WSGIResponse = Callable[[Callable[..., Any]], Iterable[bytes]]

_JSON_SERVICES = {"ecs", "ecr", "ssm", "logs", "kms", "secretsmanager", "events", "dynamodb", "sqs", "ecr-public"}
_XML_NS = {"sts": "https://sts.amazonaws.com/doc/2011-06-15/", "iam": "https://iam.amazonaws.com/doc/2010-05-08/",
           "cloudformation": "http://cloudformation.amazonaws.com/doc/2010-05-15/",
           "cloudfront": "http://cloudfront.amazonaws.com/doc/2020-05-31/",
           "elasticloadbalancing": "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/",
           "autoscaling": "http://autoscaling.amazonaws.com/doc/2011-01-01/"}


class Caller:
    def __init__(self, arn: str, policies: list[tuple[str, Any]], session_policy: Optional[str],
                 principal_ids: dict[str, list[str]], kind: str, expired: bool = False,
                 account: str = ACCOUNT):
        self.account = account
        self.arn = arn
        self.policies = policies
        self.session_policy = session_policy
        self.principal_ids = principal_ids
        self.kind = kind
        self.expired = expired


def _credentials(environ: dict[str, Any]) -> tuple[Optional[str], Optional[str], Optional[str]]:
    """(access key id, region, security token) of a SigV4 request."""
    auth = environ.get("HTTP_AUTHORIZATION", "")
    token = environ.get("HTTP_X_AMZ_SECURITY_TOKEN")
    scope = None
    if "Credential=" in auth:
        scope = auth.split("Credential=", 1)[1].split(",")[0].strip()
    else:
        q = parse_qs(environ.get("QUERY_STRING", ""))
        if q.get("X-Amz-Credential"):
            scope = q["X-Amz-Credential"][0]
            token = token or (q.get("X-Amz-Security-Token") or [None])[0]
    if not scope:
        return None, None, token
    parts = scope.split("/")
    return parts[0], (parts[2] if len(parts) > 2 else None), token


def _role_policies(role: Any) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = [(f"{role.arn} inline {n}", d) for n, d in (role.policies or {}).items()]
    for arn, mp in (getattr(role, "managed_policies", None) or {}).items():
        try:
            doc = next(v.document for v in mp.versions if v.is_default)
        except StopIteration:
            continue
        out.append((arn, doc))
    return out


def find_session(access_key_id: str) -> Optional[Any]:
    from moto.sts.models import sts_backends

    for account in list(sts_backends.keys()):
        for assumed in sts_backends[account]["aws"].assumed_roles:
            if assumed.access_key_id == access_key_id:
                return assumed
    return None


def identify(access_key_id: Optional[str], token: Optional[str]) -> Optional[Caller] | str:
    """The caller behind an access key: a Caller, None (bootstrap identity) or an error code."""
    if not access_key_id:
        return None
    from moto.iam.models import iam_backends

    session = find_session(access_key_id)
    if session is not None:
        if token != session.session_token:
            return "InvalidToken"
        role_name = session.role_arn.split("/")[-1]
        try:
            role = iam_backends[session.account_id]["aws"].get_role(role_name)
            policies = _role_policies(role)
        except Exception:
            policies = []  # the role was deleted: the session can do nothing
        expired = session.expiration.timestamp() < time.time() if hasattr(session.expiration, "timestamp") else False
        return Caller(session.arn, policies, session.policy or None,
                      {"AWS": [session.arn, session.role_arn]}, "AssumedRole", expired, session.account_id)
    for account in list(iam_backends.keys()):
        backend = iam_backends[account]["aws"]
        for user in list(backend.users.values()):
            if any(k.access_key_id == access_key_id for k in user.access_keys):
                pols: list[tuple[str, Any]] = [(f"{user.arn} inline {n}", d) for n, d in user.policies.items()]
                for arn, mp in user.managed_policies.items():
                    pols.append((arn, next(v.document for v in mp.versions if v.is_default)))
                for g in backend.get_groups_for_user(user.name):
                    pols += [(f"{g.arn} inline {n}", d) for n, d in g.policies.items()]
                    for arn, mp in g.managed_policies.items():
                        pols.append((arn, next(v.document for v in mp.versions if v.is_default)))
                return Caller(user.arn, pols, None, {"AWS": [user.arn]}, "User", account=account)
    return None


def global_context(caller: Caller, region: str, environ: dict[str, Any]) -> dict[str, Any]:
    now = time.time()
    return {
        "aws:PrincipalArn": caller.principal_ids["AWS"][-1],
        "aws:PrincipalAccount": caller.account,
        "aws:PrincipalType": caller.kind,
        "aws:userid": caller.arn.rsplit("/", 1)[-1],
        "aws:RequestedRegion": region,
        # The local stack stands in for AWS's HTTPS endpoints (see bucket_policy.py).
        "aws:SecureTransport": "true",
        "aws:SourceIp": environ.get("REMOTE_ADDR", "127.0.0.1"),
        "aws:CurrentTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
        "aws:EpochTime": str(int(now)),
        "aws:ViaAWSService": "false",
    }


def bootstrap_account(access_key_id: Optional[str]) -> Optional[str]:
    """The account whose bootstrap identity ``test-<12 digits>`` is (None: another key)."""
    m = _BOOTSTRAP_OF_ACCOUNT.match(access_key_id or "")
    return m.group(1) if m else None


def _bucket_owner_and_policy(bucket: str) -> tuple[Optional[str], Optional[str]]:
    """The account that owns `bucket` (moto 5 keeps bucket names global: s3_backends.bucket_accounts)
    and its bucket policy."""
    try:
        from moto.s3.models import s3_backends

        owner = s3_backends.bucket_accounts.get(bucket)
        if owner is None:
            return None, None
        partition, account = owner
        b = s3_backends[account][partition].buckets.get(bucket)
        return account, (b.policy.decode() if b is not None and b.policy else None)
    except Exception:
        return None, None


def _repository_policy(arn: str) -> Optional[str]:
    """The repository policy of the ECR repository `arn` (arn:aws:ecr:REGION:ACCOUNT:repository/NAME)."""
    try:
        from moto.ecr.models import ecr_backends

        _, _, _, region, account, rest = arn.split(":", 5)
        repo = ecr_backends[account][region].repositories.get(rest.split("/", 1)[1])
        return repo.policy if repo is not None else None
    except Exception:
        return None


def resource_owner_and_policy(caller: Caller, a: iam_requests.Authz) -> tuple[str, Optional[str]]:
    """The account a request's resource belongs to, and its resource-based policy (bucket policy,
    ECR repository policy) if it has one."""
    if a.action.startswith("s3:") and a.resource.startswith("arn:aws:s3:::"):
        owner, policy = _bucket_owner_and_policy(a.resource[len("arn:aws:s3:::"):].split("/", 1)[0])
        return owner or caller.account, policy
    parts = a.resource.split(":")
    owner = parts[4] if len(parts) > 5 and parts[4].isdigit() else caller.account
    if a.action.startswith("ecr:") and ":repository/" in a.resource:
        return owner, _repository_policy(a.resource)
    if a.action == "sts:AssumeRole" and ":role/" in a.resource and owner != caller.account:
        # A role's trust policy is its resource-based policy: another account's role is assumed
        # when the caller's identity policy AND the trust policy allow ("Cross-account policy
        # evaluation logic", IAM User Guide; "Granting a user permissions to switch roles").
        # (check_assume_role checks the trust policy again, as it does in one account.)
        return owner, _trust_policy(a.resource)
    return owner, None


def _trust_policy(arn: str) -> Optional[str]:
    try:
        from moto.iam.models import iam_backends

        role = iam_backends[arn.split(":")[4]]["aws"].get_role_by_arn(arn)
        doc = role.assume_role_policy_document
        return doc if isinstance(doc, str) else json.dumps(doc)
    except Exception:
        return None


def decide(caller: Caller, a: iam_requests.Authz, ctx: dict[str, Any]) -> iam_policy.Decision:
    identity = iam_policy.evaluate(caller.policies, a.action, a.resource, ctx)
    if identity.effect == "Deny":
        return identity
    owner, policy = resource_owner_and_policy(caller, a)
    resource: Optional[iam_policy.Decision] = None
    if policy:
        # A resource policy naming an account's root (or the bare account id) admits that account's
        # principals ("AWS JSON policy elements: Principal", IAM User Guide).
        ids = {"AWS": caller.principal_ids["AWS"] + [f"arn:aws:iam::{caller.account}:root", caller.account]}
        resource = iam_policy.evaluate([("resource-based policy", policy)], a.action, a.resource, ctx, ids)
        if resource.effect == "Deny":
            return iam_policy.Decision("Deny", resource.statement, "resource-based policy")
    if caller.session_policy and identity.effect == "Allow":
        sd = iam_policy.evaluate([("session policy", caller.session_policy)], a.action, a.resource, ctx)
        if sd.effect != "Allow":
            return iam_policy.Decision(sd.effect if sd.effect == "Deny" else "ImplicitDeny", sd.statement, "session policy")
    if owner != caller.account:
        # Another account's resource: its policy must allow too ("Cross-account policy evaluation
        # logic": "the request is allowed only if both ... the identity-based policy ... and the
        # resource-based policy ... allow").
        if identity.effect != "Allow":
            return identity
        if resource is None or resource.effect != "Allow":
            return iam_policy.Decision("ImplicitDeny", None, "cross-account resource-based policy")
        return identity
    if identity.effect == "Allow":
        return identity
    if resource is not None and resource.effect == "Allow":
        # In one account a statement naming the account (its root ARN or id) delegates to the
        # identity policies, which allow nothing here; only one naming the user, role or session
        # itself allows on its own ("AWS JSON policy elements: Principal", IAM User Guide: "AWS
        # account principals"; "Policy evaluation for requests within a single account").
        direct = iam_policy.evaluate([("resource-based policy", policy)], a.action, a.resource, ctx,
                                     caller.principal_ids)
        if direct.effect == "Allow":
            return direct
    return identity


def denial_message(caller: Caller, a: iam_requests.Authz, d: iam_policy.Decision, quote: bool = False) -> str:
    res = f'"{a.resource}"' if quote else a.resource
    head = f"User: {caller.arn} is not authorized to perform: {a.action} on resource: {res} because "
    if d.effect == "Deny" and d.policy == "resource-based policy":
        return head + "of an explicit deny in a resource-based policy"
    if d.effect == "Deny":
        return head + "of an explicit deny in an identity-based policy"
    if d.policy == "cross-account resource-based policy":
        return head + f"no resource-based policy allows the {a.action} action"
    if d.policy == "session policy":
        return head + f"no session policy allows the {a.action} action"
    return head + f"no identity-based policy allows the {a.action} action"


def error_response(service: str, method: str, code: str, message: str, status: int, cbor: bool = False) -> WSGIResponse:
    rid = str(uuid.uuid4())
    if cbor:  # Smithy RPC v2 CBOR (CloudWatch): the error's code in __type, awsQuery's in a header
        from .cloudwatch_cbor import encode

        body = encode({"__type": code, "message": message})
        headers = [("Content-Type", "application/cbor"), ("smithy-protocol", "rpc-v2-cbor"),
                   ("x-amzn-query-error", f"{code};Sender"), ("x-amzn-RequestId", rid)]
    elif service in _JSON_SERVICES:
        json_code = {"AccessDenied": "AccessDeniedException", "ExpiredToken": "ExpiredTokenException",
                     "InvalidClientTokenId": "UnrecognizedClientException"}.get(code, code)
        body = json.dumps({"__type": json_code, "message": message}).encode()
        headers = [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-ErrorType", json_code),
                   ("x-amzn-RequestId", rid)]
        status = 400
    elif service == "s3":
        s3_code = {"InvalidClientTokenId": "InvalidAccessKeyId", "InvalidToken": "InvalidToken"}.get(code, code)
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{s3_code}</Code><Message>{_esc(message)}'
                f"</Message><RequestId>{rid[:16].upper()}</RequestId><HostId>{rid}</HostId></Error>").encode()
        headers = [("Content-Type", "application/xml"), ("x-amz-request-id", rid[:16].upper())]
        if method == "HEAD":
            body = b""
    else:
        ns = _XML_NS.get(service, f"https://{service}.amazonaws.com/doc/")
        body = (f'<ErrorResponse xmlns="{ns}"><Error><Type>Sender</Type><Code>{code}</Code>'
                f"<Message>{_esc(message)}</Message></Error><RequestId>{rid}</RequestId></ErrorResponse>").encode()
        headers = [("Content-Type", "text/xml"), ("x-amzn-RequestId", rid)]
    headers.append(("Content-Length", str(len(body))))
    reason = {400: "Bad Request", 403: "Forbidden"}.get(status, "")

    def respond(start_response: Callable[..., Any]) -> Iterable[bytes]:
        start_response(f"{status} {reason}", headers)
        return [body]

    return respond


def _esc(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def authorize(environ: dict[str, Any], service: str, operation: str, body: bytes,
              entry: Optional[dict[str, Any]] = None) -> Optional[WSGIResponse]:
    """None when the request may proceed to moto; else the AWS error response to send."""
    from . import web_identity

    from .cloudwatch_cbor import PATH as CBOR_PATH

    method = environ.get("REQUEST_METHOD", "GET")
    cbor = bool(CBOR_PATH.match(environ.get("PATH_INFO", "")))
    akid, region, token = _credentials(environ)
    if operation == "AssumeRoleWithWebIdentity" and (service == "sts" or akid is None):
        if entry is not None:
            entry["service"] = "sts"  # unsigned: no signing name says so
        return web_identity.check(environ, body, entry)
    caller = identify(akid, token)
    if caller is None:
        account = bootstrap_account(akid)
        if account is not None:
            environ["HTTP_X_MOTO_ACCOUNT_ID"] = account  # moto's BaseResponse.get_current_account
        return None  # bootstrap identity: the account's administrator
    if isinstance(caller, str):
        return error_response(service, method, "InvalidClientTokenId",
                              "The security token included in the request is invalid.", 403, cbor)
    if entry is not None:
        entry["principal"] = caller.arn
    if caller.expired:
        return error_response(service, method, "ExpiredToken", "The security token included in the request is expired", 403, cbor)
    if service == "sts" and operation == "GetCallerIdentity":
        return None  # always allowed, even under an explicit deny
    headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
    if environ.get("CONTENT_TYPE"):
        headers["content-type"] = environ["CONTENT_TYPE"]
    req = iam_requests.Request(service, operation, method, environ.get("PATH_INFO", ""),
                               environ.get("QUERY_STRING", ""), headers, body, region or "us-east-1", caller.account)
    base_ctx = global_context(caller, req.region, environ)
    log: list[dict[str, Any]] = []
    if entry is not None:
        entry["iam"] = log
    for a in iam_requests.authorizations(req):
        ctx = {**base_ctx, **a.context}
        d = decide(caller, a, ctx)
        log.append({"action": a.action, "resource": a.resource, "decision": d.effect})
        if d.effect != "Allow":
            return error_response(service, method, "AccessDenied", denial_message(caller, a, d, quote=service == "s3"), 403, cbor)
    if service == "sts" and operation == "AssumeRole":
        return web_identity.check_assume_role(caller, req, entry)
    if service == "ecr":
        # moto's ECR backends are per account and refuse another registryId
        # (ECRBackend._get_repository): an authorised request on another account's repository is
        # answered by that account's backend, as ECR answers it from the repository's registry.
        registry = str(req.json().get("registryId") or "")
        if registry and registry != caller.account:
            environ["HTTP_X_MOTO_ACCOUNT_ID"] = registry
    return None
