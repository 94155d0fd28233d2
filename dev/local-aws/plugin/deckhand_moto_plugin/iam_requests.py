"""What IAM authorises for one request: (action, resource, condition keys), implied ones included.

AWS authorises some calls more than once: RegisterTaskDefinition also needs ``iam:PassRole`` for its
task and execution roles (``iam:PassedToService`` = ecs-tasks.amazonaws.com) and, when it carries
tags, ``ecs:TagResource`` on the new revision (``ecs:CreateAction`` = RegisterTaskDefinition); S3's
multipart calls are ``s3:PutObject``, a copy also ``s3:GetObject`` of its source, a conditional write
carries ``s3:if-none-match``/``s3:if-match``; SSM SecureString values under a customer KMS key need
``kms:Decrypt`` (``kms:ViaService``). Resources are the ARNs AWS evaluates for each operation
deckhand and the stack use; an operation not listed here is evaluated on ``*``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Optional
from urllib.parse import parse_qs, unquote


@dataclass
class Authz:
    action: str
    resource: str
    context: dict[str, Any] = field(default_factory=dict)


@dataclass
class Request:
    service: str
    operation: str
    method: str
    path: str
    query: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    region: str
    account: str

    def json(self) -> dict[str, Any]:
        try:
            v = json.loads(self.body or b"{}")
            return v if isinstance(v, dict) else {}
        except (json.JSONDecodeError, UnicodeDecodeError):
            return {}

    def form(self) -> dict[str, str]:
        q = parse_qs(self.query)
        if self.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            q.update(parse_qs(self.body.decode("utf-8", "replace")))
        return {k: v[0] for k, v in q.items()}


def _arn(r: Request, service: str, resource: str, region: Optional[str] = None) -> str:
    return f"arn:aws:{service}:{r.region if region is None else region}:{r.account}:{resource}"


def _tag_context(tags: Any) -> dict[str, Any]:
    """aws:RequestTag/K and aws:TagKeys of ECS-style [{key, value}] or [{Key, Value}] tags."""
    pairs = []
    for t in tags or []:
        if isinstance(t, dict):
            k = t.get("key", t.get("Key"))
            if k is not None:
                pairs.append((str(k), str(t.get("value", t.get("Value", "")))))
    ctx: dict[str, Any] = {f"aws:RequestTag/{k}": v for k, v in pairs}
    if pairs:
        ctx["aws:TagKeys"] = [k for k, _ in pairs]
    return ctx


# --- ECS -----------------------------------------------------------------------------------------

def _ecs_cluster_arn(r: Request, cluster: Optional[str]) -> str:
    c = cluster or "default"
    return c if c.startswith("arn:") else _arn(r, "ecs", f"cluster/{c}")


def _ecs_next_revision_arn(r: Request, family: str) -> str:
    try:
        from moto.ecs.models import ecs_backends

        revisions = ecs_backends[r.account][r.region].task_definitions.get(family, {})
        rev = max(revisions, default=0) + 1
    except Exception:  # pragma: no cover - moto internals moved
        rev = 1
    return _arn(r, "ecs", f"task-definition/{family}:{rev}")


def _ecs_task_definition(r: Request, ref: str) -> dict[str, Any]:
    """The task definition RunTask names (family, family:rev or ARN): its ARN and roles."""
    try:
        from moto.ecs.models import ecs_backends

        td = ecs_backends[r.account][r.region].describe_task_definition(ref)
        return {"arn": td.arn, "taskRoleArn": getattr(td, "task_role_arn", None),
                "executionRoleArn": getattr(td, "execution_role_arn", None)}
    except Exception:
        return {"arn": ref if ref.startswith("arn:") else _arn(r, "ecs", f"task-definition/{ref}")}


_ECS_CREATE = {"CreateCluster", "CreateService", "RegisterTaskDefinition", "RunTask", "StartTask",
               "CreateCapacityProvider", "CreateTaskSet", "RegisterContainerInstance"}


def ecs(r: Request) -> list[Authz]:
    b, op = r.json(), r.operation
    cluster = _ecs_cluster_arn(r, b.get("cluster"))
    cname = cluster.rsplit("/", 1)[-1]
    ctx: dict[str, Any] = {"ecs:cluster": cluster}
    a = f"ecs:{op}"
    out: list[Authz] = []
    if op in ("DescribeServices",):
        out = [Authz(a, s if s.startswith("arn:") else _arn(r, "ecs", f"service/{cname}/{s}"), ctx)
               for s in b.get("services") or []]
    elif op in ("UpdateService", "DeleteService", "CreateService"):
        s = b.get("service") or b.get("serviceName") or ""
        c = dict(ctx)
        if b.get("taskDefinition"):
            c["ecs:task-definition"] = str(b["taskDefinition"])
        out = [Authz(a, s if s.startswith("arn:") else _arn(r, "ecs", f"service/{cname}/{s}"), c)]
    elif op == "DescribeTasks":
        out = [Authz(a, t if t.startswith("arn:") else _arn(r, "ecs", f"task/{cname}/{t}"), ctx)
               for t in b.get("tasks") or []]
    elif op in ("DescribeServiceDeployments",):
        out = [Authz(a, str(arn), ctx) for arn in b.get("serviceDeploymentArns") or []]
    elif op in ("StopServiceDeployment",):
        out = [Authz(a, str(b.get("serviceDeploymentArn", "")), ctx)]
    elif op in ("ListServiceDeployments",):
        s = str(b.get("service") or "")
        out = [Authz(a, s if s.startswith("arn:") else _arn(r, "ecs", f"service/{cname}/{s}"), ctx)]
    elif op == "RunTask":
        # the task definition is the resource (ecs:cluster, ecs:capacity-provider conditions); the
        # roles the task runs with are passed to ECS (iam:PassRole), as for RegisterTaskDefinition
        td = _ecs_task_definition(r, str(b.get("taskDefinition") or ""))
        c = dict(ctx)
        providers = [p.get("capacityProvider") for p in b.get("capacityProviderStrategy") or []]
        if providers:
            c["ecs:capacity-provider"] = providers
        out = [Authz(a, td["arn"], c)]
        roles = {k: td.get(k) for k in ("taskRoleArn", "executionRoleArn")}
        overrides = b.get("overrides") or {}
        roles.update({k: overrides[k] for k in ("taskRoleArn", "executionRoleArn") if overrides.get(k)})
        for role in roles.values():
            if role:
                out.append(Authz("iam:PassRole", str(role), {"iam:PassedToService": "ecs-tasks.amazonaws.com"}))
    elif op in ("StopTask",):
        t = str(b.get("task", ""))
        out = [Authz(a, t if t.startswith("arn:") else _arn(r, "ecs", f"task/{cname}/{t}"), ctx)]
    elif op in ("ListTasks", "ListServices", "ListContainerInstances"):
        out = [Authz(a, _arn(r, "ecs", f"container-instance/{cname}/*") if op != "ListServices" else "*", ctx)]
    elif op in ("DescribeClusters",):
        out = [Authz(a, _ecs_cluster_arn(r, c), {"ecs:cluster": _ecs_cluster_arn(r, c)})
               for c in (b.get("clusters") or ["default"])]
    elif op in ("DeleteCluster", "UpdateCluster", "PutClusterCapacityProviders"):
        out = [Authz(a, cluster, ctx)]
    elif op in ("TagResource", "UntagResource", "ListTagsForResource"):
        out = [Authz(a, str(b.get("resourceArn", "*")), _tag_context(b.get("tags")))]
    elif op in ("DeregisterTaskDefinition", "DescribeTaskDefinition", "RegisterTaskDefinition",
                "ListTaskDefinitions", "ListTaskDefinitionFamilies"):
        out = [Authz(a, "*", {})]
    elif op == "CreateCluster":
        out = [Authz(a, _ecs_cluster_arn(r, b.get("clusterName")), {})]
    else:
        out = [Authz(a, "*", {})]
    if op == "RegisterTaskDefinition":
        for key in ("taskRoleArn", "executionRoleArn"):
            if b.get(key):
                out.append(Authz("iam:PassRole", str(b[key]), {"iam:PassedToService": "ecs-tasks.amazonaws.com"}))
    if op in _ECS_CREATE and b.get("tags"):
        if op == "RegisterTaskDefinition":
            created = _ecs_next_revision_arn(r, str(b.get("family", "")))
        elif op == "CreateService":
            created = _arn(r, "ecs", f"service/{cname}/{b.get('serviceName', '')}")
        elif op == "CreateCluster":
            created = _ecs_cluster_arn(r, b.get("clusterName"))
        else:
            created = "*"
        out.append(Authz("ecs:TagResource", created, {"ecs:CreateAction": op, **_tag_context(b.get("tags"))}))
    return out


# --- ECR -----------------------------------------------------------------------------------------

def ecr(r: Request) -> list[Authz]:
    b, op = r.json(), r.operation
    a = f"ecr:{op}"
    account = str(b.get("registryId") or r.account)
    repo = lambda n: f"arn:aws:ecr:{r.region}:{account}:repository/{n}"  # noqa: E731
    if op == "GetAuthorizationToken":
        return [Authz(a, "*")]
    if op == "DescribeRepositories":
        names = b.get("repositoryNames")
        return [Authz(a, repo(n)) for n in names] if names else [Authz(a, "*")]
    if b.get("repositoryName"):
        return [Authz(a, repo(b["repositoryName"]), _tag_context(b.get("tags")))]
    return [Authz(a, "*")]


# --- SSM -----------------------------------------------------------------------------------------

def _ssm_param_arn(r: Request, name: str) -> str:
    return name if name.startswith("arn:") else _arn(r, "ssm", f"parameter/{name.lstrip('/')}")


def _kms_key_of(r: Request, name: str) -> Optional[str]:
    """The customer KMS key ARN a SecureString parameter is encrypted with (None: aws/ssm or not secure)."""
    try:
        from moto.ssm.models import ssm_backends

        p = ssm_backends[r.account][r.region].get_parameter(name)
    except Exception:
        return None
    if p is None or getattr(p, "type", "") != "SecureString":
        return None
    key = getattr(p, "keyid", None) or "alias/aws/ssm"
    return None if key in ("alias/aws/ssm",) else _kms_arn(r, key)


def _kms_arn(r: Request, key: str) -> str:
    if key.startswith("arn:"):
        return key
    if key.startswith("alias/"):
        try:
            from moto.kms.models import kms_backends

            key = kms_backends[r.account][r.region].get_key_id_from_alias(key) or key
        except Exception:
            pass
        if key.startswith("alias/"):
            return _arn(r, "kms", key)
    return _arn(r, "kms", f"key/{key}")


def ssm(r: Request) -> list[Authz]:
    b, op = r.json(), r.operation
    a = f"ssm:{op}"
    names: list[str] = []
    if op in ("GetParameter", "PutParameter", "DeleteParameter", "GetParameterHistory", "LabelParameterVersion"):
        names = [str(b.get("Name", ""))]
    elif op in ("GetParameters", "DeleteParameters"):
        names = [str(n) for n in b.get("Names") or []]
    elif op == "GetParametersByPath":
        names = [str(b.get("Path", "/"))]
    elif op in ("AddTagsToResource", "RemoveTagsFromResource", "ListTagsForResource"):
        names = [str(b.get("ResourceId", ""))]
    if not names:
        return [Authz(a, "*")]
    out = [Authz(a, _ssm_param_arn(r, n), _tag_context(b.get("Tags"))) for n in names]
    via = {"kms:ViaService": f"ssm.{r.region}.amazonaws.com", "kms:CallerAccount": r.account}
    if op in ("GetParameter", "GetParameters") and b.get("WithDecryption"):
        for n in names:
            key = _kms_key_of(r, n)
            if key:
                out.append(Authz("kms:Decrypt", key, via))
    if op == "PutParameter" and b.get("Type") == "SecureString" and b.get("KeyId") not in (None, "alias/aws/ssm"):
        out.append(Authz("kms:Encrypt", _kms_arn(r, str(b["KeyId"])), via))
    return out


# --- CloudFormation ------------------------------------------------------------------------------

def _stack_arn(r: Request, name: str) -> str:
    if name.startswith("arn:"):
        return name
    try:
        from moto.cloudformation.models import cloudformation_backends

        backend = cloudformation_backends[r.account][r.region]
        for s in list(backend.stacks.values()):
            if s.name == name and not s.status.startswith("DELETE_COMPLETE"):
                return s.stack_id
    except Exception:
        pass
    return _arn(r, "cloudformation", f"stack/{name}/*")


def cloudformation(r: Request) -> list[Authz]:
    f, op = r.form(), r.operation
    name = f.get("StackName")
    return [Authz(f"cloudformation:{op}", _stack_arn(r, name) if name else "*")]


# --- CloudFront ------------------------------------------------------------------------------------

def cloudfront(r: Request) -> list[Authz]:
    m = re.search(r"/distribution/([^/]+)", r.path)
    res = f"arn:aws:cloudfront::{r.account}:distribution/{m.group(1)}" if m else "*"
    return [Authz(f"cloudfront:{r.operation}", res)]


# --- S3 --------------------------------------------------------------------------------------------

_S3_ACTION = {
    "ListObjectsV2": "ListBucket", "ListObjects": "ListBucket", "HeadBucket": "ListBucket",
    "ListObjectVersions": "ListBucketVersions", "ListMultipartUploads": "ListBucketMultipartUploads",
    "HeadObject": "GetObject", "CreateMultipartUpload": "PutObject", "UploadPart": "PutObject",
    "CompleteMultipartUpload": "PutObject", "UploadPartCopy": "PutObject", "CopyObject": "PutObject",
    "DeleteObjects": "DeleteObject", "ListParts": "ListMultipartUploadParts", "ListBuckets": "ListAllMyBuckets",
    "PostObject": "PutObject",
    "GetBucketLifecycleConfiguration": "GetLifecycleConfiguration",
    "PutBucketLifecycleConfiguration": "PutLifecycleConfiguration",
    "GetBucketEncryption": "GetEncryptionConfiguration", "PutBucketEncryption": "PutEncryptionConfiguration",
    "GetBucketCors": "GetBucketCORS", "PutBucketCors": "PutBucketCORS",
    "GetPublicAccessBlock": "GetBucketPublicAccessBlock", "PutPublicAccessBlock": "PutBucketPublicAccessBlock",
    "GetBucketNotificationConfiguration": "GetBucketNotification",
    "PutBucketNotificationConfiguration": "PutBucketNotification",
    "GetObjectAttributes": "GetObject",
}
_S3_VERSIONED = {"GetObject": "GetObjectVersion", "DeleteObject": "DeleteObjectVersion",
                 "GetObjectTagging": "GetObjectVersionTagging", "PutObjectTagging": "PutObjectVersionTagging",
                 "GetObjectAcl": "GetObjectVersionAcl"}


def _s3_bucket_key(r: Request) -> tuple[str, str]:
    host = r.headers.get("host", "").split(":")[0]
    parts = r.path.lstrip("/").split("/", 1)
    if host and not re.fullmatch(r"[0-9.]+|localhost", host) and not host.startswith("s3.") and "." in host:
        return host.split(".")[0], unquote(r.path.lstrip("/"))
    return (unquote(parts[0]) if parts and parts[0] else "", unquote(parts[1]) if len(parts) > 1 else "")


def s3(r: Request) -> list[Authz]:
    bucket, key = _s3_bucket_key(r)
    q = parse_qs(r.query, keep_blank_values=True)
    op = r.operation
    base = _S3_ACTION.get(op, op)
    if "versionId" in q and base in _S3_VERSIONED:
        base = _S3_VERSIONED[base]
    ctx: dict[str, Any] = {}
    for h in ("if-none-match", "if-match"):
        if h in r.headers and op in ("PutObject", "CompleteMultipartUpload", "DeleteObject", "CopyObject"):
            ctx[f"s3:{h}"] = r.headers[h]
    if base == "ListBucket":
        ctx["s3:prefix"] = q.get("prefix", [""])[0]
        if "max-keys" in q:
            ctx["s3:max-keys"] = q["max-keys"][0]
    if not bucket:
        return [Authz(f"s3:{base}", "*")]
    object_level = bool(key) and op not in ("ListObjectsV2", "ListObjects", "HeadBucket")
    if op == "DeleteObjects":
        keys = re.findall(rb"<Key>(.*?)</Key>", r.body or b"")
        return [Authz("s3:DeleteObject", f"arn:aws:s3:::{bucket}/{k.decode('utf-8', 'replace')}", ctx) for k in keys] or [
            Authz("s3:DeleteObject", f"arn:aws:s3:::{bucket}/*", ctx)]
    out = [Authz(f"s3:{base}", f"arn:aws:s3:::{bucket}/{key}" if object_level else f"arn:aws:s3:::{bucket}", ctx)]
    src = r.headers.get("x-amz-copy-source")
    if src and op in ("CopyObject", "UploadPartCopy"):
        src_path, _, src_q = unquote(src).lstrip("/").partition("?")
        act = "s3:GetObjectVersion" if "versionId=" in src_q else "s3:GetObject"
        out.append(Authz(act, f"arn:aws:s3:::{src_path}"))
    return out


# --- STS / IAM / KMS / other ----------------------------------------------------------------------

def iam(r: Request) -> list[Authz]:
    f, op = r.form(), r.operation
    if f.get("RoleName"):
        return [Authz(f"iam:{op}", f"arn:aws:iam::{r.account}:role/{f['RoleName']}")]
    if f.get("UserName"):
        return [Authz(f"iam:{op}", f"arn:aws:iam::{r.account}:user/{f['UserName']}")]
    if f.get("PolicyArn"):
        return [Authz(f"iam:{op}", f["PolicyArn"])]
    return [Authz(f"iam:{op}", "*")]


def kms(r: Request) -> list[Authz]:
    b = r.json()
    key = b.get("KeyId")
    return [Authz(f"kms:{r.operation}", _kms_arn(r, str(key)) if key else "*")]


def sts(r: Request) -> list[Authz]:
    f = r.form()
    if r.operation in ("AssumeRole",) and f.get("RoleArn"):
        return [Authz("sts:AssumeRole", f["RoleArn"])]
    return [Authz(f"sts:{r.operation}", "*")]


def cloudwatch(r: Request) -> list[Authz]:
    """CloudWatch (signing name ``monitoring``; IAM prefix ``cloudwatch``): DescribeAlarms on the
    alarms it names (resource type alarm, Service Authorization Reference), else on ``*``."""
    from .cloudwatch_cbor import PATH, params_of

    if PATH.match(r.path):
        b = params_of(r.body)
        names = b.get("AlarmNames") or []
    else:
        f = r.form()
        b = r.json()
        names = b.get("AlarmNames") or [v for k, v in sorted(f.items()) if k.startswith("AlarmNames.member.")]
    a = f"cloudwatch:{r.operation}"
    if r.operation == "DescribeAlarms" and names:
        return [Authz(a, _arn(r, "cloudwatch", f"alarm:{n}")) for n in names]
    return [Authz(a, "*")]


_BY_SERVICE = {"ecs": ecs, "ecr": ecr, "monitoring": cloudwatch, "ssm": ssm, "cloudformation": cloudformation, "cloudfront": cloudfront,
               "s3": s3, "iam": iam, "kms": kms, "sts": sts}


def authorizations(r: Request) -> list[Authz]:
    fn = _BY_SERVICE.get(r.service)
    if fn is None:
        return [Authz(f"{r.service}:{r.operation}", "*")]
    return fn(r) or [Authz(f"{r.service}:{r.operation}", "*")]
