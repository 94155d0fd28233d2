"""IAM in the local stack: policy evaluation, implied authorisations, AWS's denial shapes per protocol,
AssumeRoleWithWebIdentity's token and trust checks. The bootstrap identity (test keys) stays admin."""

from __future__ import annotations

import json
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from conftest import unique

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "dev" / "oidc"))
import github_oidc as gh  # noqa: E402
from deckhand_moto_plugin import iam_policy  # noqa: E402

ACCOUNT = "123456789012"
PROVIDER = f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"
WORKFLOW = """
name: deploy
on:
  push:
    branches: [main]
  pull_request:
permissions:
  id-token: write
jobs:
  deploy:
    runs-on: ubuntu-24.04
    environment: production
    steps:
      - uses: aws-actions/configure-aws-credentials@v4
"""


# --- the evaluator ---------------------------------------------------------------------------

def allow(statement: dict[str, Any], action: str, resource: str, ctx: dict[str, Any] | None = None) -> str:
    doc = {"Statement": [{"Effect": "Allow", **statement}]}
    return iam_policy.evaluate([("p", doc)], action, resource, ctx or {}).effect


def test_actions_and_resources_match_with_wildcards() -> None:
    assert allow({"Action": "ECS:Describe*", "Resource": "*"}, "ecs:DescribeServices", "arn:x") == "Allow"
    assert allow({"Action": "ecs:Describe*", "Resource": "arn:aws:ecs:*:*:service/c/*"},
                 "ecs:DescribeServices", "arn:aws:ecs:us-east-1:1:service/c/api") == "Allow"
    assert allow({"Action": "ecs:Describe*", "Resource": "arn:aws:ecs:*:*:service/c/*"},
                 "ecs:DescribeServices", "arn:aws:ecs:us-east-1:1:service/d/api") == "ImplicitDeny"
    assert allow({"NotAction": "iam:*", "Resource": "*"}, "iam:PassRole", "r") == "ImplicitDeny"
    assert allow({"NotAction": "iam:*", "Resource": "*"}, "s3:GetObject", "r") == "Allow"
    assert allow({"Action": "s3:*", "NotResource": "arn:aws:s3:::b/_deckhand/*"}, "s3:GetObject",
                 "arn:aws:s3:::b/_deckhand/x") == "ImplicitDeny"
    assert allow({"Action": "s3:GetObject"}, "s3:GetObject", "arn:aws:s3:::b/k") == "ImplicitDeny", "no Resource"


def test_condition_operators() -> None:
    s = lambda cond: {"Action": "*", "Resource": "*", "Condition": cond}  # noqa: E731
    ctx = {"ecs:cluster": "arn:aws:ecs:us-east-1:1:cluster/c", "aws:SecureTransport": "true",
           "aws:TagKeys": ["a", "b"], "iam:PassedToService": "ecs-tasks.amazonaws.com"}
    assert allow(s({"ArnEquals": {"ecs:cluster": "arn:aws:ecs:us-east-1:1:cluster/c"}}), "x:y", "r", ctx) == "Allow"
    assert allow(s({"ArnLike": {"ecs:cluster": "arn:aws:ecs:*:1:cluster/*"}}), "x:y", "r", ctx) == "Allow"
    assert allow(s({"ArnEquals": {"ecs:cluster": "arn:aws:ecs:us-east-1:1:cluster/d"}}), "x:y", "r", ctx) == "ImplicitDeny"
    assert allow(s({"StringEquals": {"IAM:passedtoservice": "ecs-tasks.amazonaws.com"}}), "x:y", "r", ctx) == "Allow"
    assert allow(s({"StringLike": {"iam:PassedToService": "ecs-*"}}), "x:y", "r", ctx) == "Allow"
    assert allow(s({"Bool": {"aws:SecureTransport": "false"}}), "x:y", "r", ctx) == "ImplicitDeny"
    assert allow(s({"Null": {"ecs:CreateAction": "true"}}), "x:y", "r", ctx) == "Allow"
    assert allow(s({"Null": {"ecs:cluster": "true"}}), "x:y", "r", ctx) == "ImplicitDeny"
    assert allow(s({"StringEquals": {"ecs:CreateAction": "RegisterTaskDefinition"}}), "x:y", "r", ctx) == "ImplicitDeny"
    assert allow(s({"StringEqualsIfExists": {"ecs:CreateAction": "X"}}), "x:y", "r", ctx) == "Allow"
    assert allow(s({"StringNotEquals": {"ecs:CreateAction": "X"}}), "x:y", "r", ctx) == "Allow", "negated: missing key"
    assert allow(s({"ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b", "c"]}}), "x:y", "r", ctx) == "Allow"
    assert allow(s({"ForAllValues:StringEquals": {"aws:TagKeys": ["a"]}}), "x:y", "r", ctx) == "ImplicitDeny"
    assert allow(s({"ForAnyValue:StringEquals": {"aws:TagKeys": ["b"]}}), "x:y", "r", ctx) == "Allow"


def test_explicit_deny_wins() -> None:
    docs = [("a", {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}),
            ("d", {"Statement": [{"Effect": "Deny", "Action": "ssm:GetParameter*", "Resource": "*"}]})]
    d = iam_policy.evaluate(docs, "ssm:GetParameters", "arn:aws:ssm:us-east-1:1:parameter/x", {})
    assert (d.effect, d.policy) == ("Deny", "d")


# --- sessions on the local stack ---------------------------------------------------------------

def client(service: str, env: dict[str, str], creds: dict[str, str] | None = None) -> Any:
    import botocore.session
    from botocore.config import Config

    kw: dict[str, Any] = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}
    if creds:
        kw = {"aws_access_key_id": creds["AWS_ACCESS_KEY_ID"], "aws_secret_access_key": creds["AWS_SECRET_ACCESS_KEY"],
              "aws_session_token": creds["AWS_SESSION_TOKEN"]}
    return botocore.session.get_session().create_client(
        service, region_name="us-east-1", endpoint_url=env["AWS_ENDPOINT_URL"],
        config=Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"}), **kw)


@pytest.fixture(scope="session")
def provider(stack_env: dict[str, str]) -> str:
    iam = client("iam", stack_env)
    if PROVIDER not in [p["Arn"] for p in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]]:
        iam.create_open_id_connect_provider(Url="https://token.actions.githubusercontent.com",
                                            ClientIDList=["sts.amazonaws.com"], ThumbprintList=["0" * 40])
    return PROVIDER


def make_role(env: dict[str, str], policy: dict[str, Any], sub: str = "repo:o/r:environment:production") -> str:
    iam = client("iam", env)
    name = unique("role")
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": PROVIDER}, "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
                                       "token.actions.githubusercontent.com:sub": sub}}}]}
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": policy}))
    return arn


def token(tmp_path: Path, **kw: Any) -> str:
    wf = tmp_path / ".github" / "workflows" / "deploy.yml"
    wf.parent.mkdir(parents=True, exist_ok=True)
    wf.write_text(WORKFLOW)
    event = kw.pop("event", "push")
    ref = kw.pop("ref", "refs/pull/1/merge" if event == "pull_request" else "refs/heads/main")
    return gh.sign(gh.claims_for(wf, event, ref, repository=kw.pop("repository", "o/r"), **kw))


def assume(env: dict[str, str], role: str, tok: str) -> dict[str, str]:
    return gh.assume_role_with_web_identity(role, tok, "us-east-1", endpoint=env["AWS_ENDPOINT_URL"])


def refused(env: dict[str, str], role: str, tok: str) -> str:
    with pytest.raises(gh.OidcError) as e:
        assume(env, role, tok)
    return str(e.value)


def test_web_identity_checks_token_and_trust(stack_env: dict[str, str], provider: str, tmp_path: Path) -> None:
    role = make_role(stack_env, [{"Effect": "Allow", "Action": "sts:GetCallerIdentity", "Resource": "*"}])
    creds = assume(stack_env, role, token(tmp_path))
    who = client("sts", stack_env, creds).get_caller_identity()
    assert who["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/{role.split('/')[-1]}/GitHubActions"
    denied = "AccessDenied: Not authorized to perform sts:AssumeRoleWithWebIdentity"
    assert denied in refused(stack_env, role, token(tmp_path, repository="evil/r"))
    assert denied in refused(stack_env, role, token(tmp_path, environment="staging"))
    assert denied in refused(stack_env, role, token(tmp_path, event="pull_request", environment=""))
    assert denied in refused(stack_env, role + "-missing", token(tmp_path))
    assert "InvalidIdentityToken: Incorrect token audience" in refused(stack_env, role, token(tmp_path, audience="x"))
    assert "ExpiredTokenException: Token expired: current date/time" in refused(
        stack_env, role, token(tmp_path, now=int(time.time()) - 3600))
    good = token(tmp_path)
    head, body, sig = good.split(".")
    claims = json.loads(gh._unb64(body))
    claims["sub"] = "repo:o/r:environment:production"
    forged = f"{head}.{gh._b64(json.dumps({**claims, 'jti': 'x'}).encode())}.{sig}"
    assert "InvalidIdentityToken: The web identity token that was passed could not be validated" in refused(
        stack_env, role, forged)
    assert "not a valid JWT" in refused(stack_env, role, "not-a-jwt")
    other = gh.sign({**claims, "iss": "https://issuer.example.com"})
    assert "No OpenIDConnect provider found in your account for https://issuer.example.com" in refused(stack_env, role, other)


def test_tag_on_create_and_pass_role_are_authorised(stack_env: dict[str, str], provider: str, tmp_path: Path) -> None:
    family = unique("fam")
    base = [{"Effect": "Allow", "Action": "ecs:RegisterTaskDefinition", "Resource": "*"}]
    role = make_role(stack_env, base)
    ecs = client("ecs", stack_env, assume(stack_env, role, token(tmp_path)))
    td = {"family": family, "containerDefinitions": [{"name": "api", "image": "x", "memory": 64}],
          "tags": [{"key": "deckhand:release", "value": "r1"}]}
    with pytest.raises(Exception) as e:
        ecs.register_task_definition(**td)
    err = e.value.response  # type: ignore[attr-defined]
    assert err["Error"]["Code"] == "AccessDeniedException"
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert err["Error"]["Message"] == (
        f"User: arn:aws:sts::{ACCOUNT}:assumed-role/{role.split('/')[-1]}/GitHubActions is not authorized to perform: "
        f"ecs:TagResource on resource: arn:aws:ecs:us-east-1:{ACCOUNT}:task-definition/{family}:1 because no "
        "identity-based policy allows the ecs:TagResource action")

    tag = {"Effect": "Allow", "Action": "ecs:TagResource", "Resource": f"arn:aws:ecs:us-east-1:{ACCOUNT}:task-definition/{family}:*",
           "Condition": {"StringEquals": {"ecs:CreateAction": "RegisterTaskDefinition"}}}
    role2 = make_role(stack_env, base + [tag])
    ecs2 = client("ecs", stack_env, assume(stack_env, role2, token(tmp_path)))
    assert ecs2.register_task_definition(**td)["taskDefinition"]["revision"] == 1
    with pytest.raises(Exception) as e:  # TagResource outside a create: ecs:CreateAction is absent
        ecs2.tag_resource(resourceArn=f"arn:aws:ecs:us-east-1:{ACCOUNT}:task-definition/{family}:1",
                          tags=[{"key": "k", "value": "v"}])
    assert "ecs:TagResource" in e.value.response["Error"]["Message"]  # type: ignore[attr-defined]

    task_role = f"arn:aws:iam::{ACCOUNT}:role/{unique('task')}"
    with pytest.raises(Exception) as e:
        ecs2.register_task_definition(**td, taskRoleArn=task_role)
    assert f"iam:PassRole on resource: {task_role}" in e.value.response["Error"]["Message"]  # type: ignore[attr-defined]
    pass_other = {"Effect": "Allow", "Action": "iam:PassRole", "Resource": task_role,
                  "Condition": {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}}
    role3 = make_role(stack_env, base + [tag, pass_other])
    ecs3 = client("ecs", stack_env, assume(stack_env, role3, token(tmp_path)))
    with pytest.raises(Exception):
        ecs3.register_task_definition(**td, taskRoleArn=task_role)
    pass_ecs = {**pass_other, "Condition": {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}}
    role4 = make_role(stack_env, base + [tag, pass_ecs])
    ecs4 = client("ecs", stack_env, assume(stack_env, role4, token(tmp_path)))
    assert ecs4.register_task_definition(**td, taskRoleArn=task_role)["taskDefinition"]["revision"] == 2


def test_denials_have_each_protocols_shape(stack_env: dict[str, str], provider: str, tmp_path: Path) -> None:
    bucket = unique("iam-b")
    client("s3", stack_env).create_bucket(Bucket=bucket)
    role = make_role(stack_env, [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"},
                                 {"Effect": "Deny", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/secret/*"}])
    creds = assume(stack_env, role, token(tmp_path))
    s3 = client("s3", stack_env, creds)
    with pytest.raises(Exception) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    err = e.value.response  # type: ignore[attr-defined]
    assert (err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"]) == ("AccessDenied", 403)
    assert err["Error"]["Message"].endswith(
        f'is not authorized to perform: s3:PutObject on resource: "arn:aws:s3:::{bucket}/k" because no '
        "identity-based policy allows the s3:PutObject action")
    with pytest.raises(Exception) as e:
        s3.get_object(Bucket=bucket, Key="secret/x")
    assert "because of an explicit deny in an identity-based policy" in e.value.response["Error"]["Message"]  # type: ignore[attr-defined]
    with pytest.raises(Exception) as e:
        s3.head_bucket(Bucket=bucket)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403  # type: ignore[attr-defined]
    with pytest.raises(Exception) as e:
        client("cloudformation", stack_env, creds).describe_stacks(StackName="nope")
    err = e.value.response  # type: ignore[attr-defined]
    assert (err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"]) == ("AccessDenied", 403)
    assert "cloudformation:DescribeStacks on resource: arn:aws:cloudformation:us-east-1:" in err["Error"]["Message"]
    # a raw JSON-protocol denial: AWS's JSON body, not moto's XML
    with pytest.raises(Exception) as e:
        client("ssm", stack_env, creds).get_parameter(Name="/x/y", WithDecryption=True)
    assert e.value.response["Error"]["Code"] == "AccessDeniedException"  # type: ignore[attr-defined]
    bad = {**creds, "AWS_SESSION_TOKEN": "forged"}
    with pytest.raises(Exception) as e:
        client("ecs", stack_env, bad).list_clusters()
    assert e.value.response["Error"]["Code"] == "UnrecognizedClientException"  # type: ignore[attr-defined]


def test_the_request_log_records_each_authorisation(stack_env: dict[str, str], provider: str, tmp_path: Path) -> None:
    role = make_role(stack_env, [{"Effect": "Allow", "Action": "ecs:ListClusters", "Resource": "*"}])
    creds = assume(stack_env, role, token(tmp_path))
    client("ecs", stack_env, creds).list_clusters()
    url = f"{stack_env['DECKHAND_SIM_URL']}/requests?access-key-id={creds['AWS_ACCESS_KEY_ID']}"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    [entry] = json.load(opener.open(url))
    assert entry["iam"] == [{"action": "ecs:ListClusters", "resource": "*", "decision": "Allow"}]
    assert entry["principal"].endswith("/GitHubActions")


def test_the_bootstrap_identity_is_the_administrator(stack_env: dict[str, str]) -> None:
    assert client("ecs", stack_env).list_clusters()["ResponseMetadata"]["HTTPStatusCode"] == 200
