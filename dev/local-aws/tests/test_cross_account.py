"""Two accounts on one moto: a role of account B acting on account A's bucket and ECR repository
needs an Allow in BOTH its identity policy and the resource's policy (bucket policy, repository
policy); an explicit Deny in either wins ("Policy evaluation logic – cross-account policy
evaluation logic", IAM User Guide). ``test-<12 digits>`` is that account's bootstrap identity."""

from __future__ import annotations

import json
from typing import Any

import botocore.exceptions
import pytest

from conftest import unique

OTHER = "210987654321"  # the promoting account (B); the resources are the default account's (A)
A = "123456789012"


def client(service: str, env: dict[str, str], key: str = "test", creds: dict[str, Any] | None = None) -> Any:
    import botocore.session
    from botocore.config import Config

    kw: dict[str, Any] = {"aws_access_key_id": key, "aws_secret_access_key": "test"}
    if creds:
        kw = {"aws_access_key_id": creds["AccessKeyId"], "aws_secret_access_key": creds["SecretAccessKey"],
              "aws_session_token": creds["SessionToken"]}
    return botocore.session.get_session().create_client(
        service, region_name="us-east-1", endpoint_url=env["AWS_ENDPOINT_URL"],
        config=Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"}), **kw)


def role_in_b(env: dict[str, str], statements: list[dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    """A role of account B with these identity statements, and a session of it."""
    iam = client("iam", env, f"test-{OTHER}")
    name = unique("xrole")
    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{OTHER}:root"}, "Action": "sts:AssumeRole"}]}
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    if statements:
        iam.put_role_policy(RoleName=name, PolicyName="p",
                            PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements}))
    creds = client("sts", env, f"test-{OTHER}").assume_role(RoleArn=arn, RoleSessionName="xacct")["Credentials"]
    return arn, creds


def code(e: pytest.ExceptionInfo[botocore.exceptions.ClientError]) -> str:
    return str(e.value.response["Error"]["Code"])


@pytest.fixture
def bucket(stack_env: dict[str, str]) -> str:
    name = unique("xacct-src")
    s3 = client("s3", stack_env)
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="_deckhand/releases/r1.json", Body=b"{}")
    return name


def test_the_bootstrap_identity_of_another_account_acts_in_that_account(stack_env: dict[str, str]) -> None:
    assert client("sts", stack_env, f"test-{OTHER}").get_caller_identity()["Account"] == OTHER
    assert client("sts", stack_env).get_caller_identity()["Account"] == A


def test_another_accounts_role_reads_a_bucket_only_when_both_policies_allow(stack_env: dict[str, str], bucket: str) -> None:
    reads = [{"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": f"arn:aws:s3:::{bucket}/*"},
             {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{bucket}"}]
    role, creds = role_in_b(stack_env, reads)
    _, bare = role_in_b(stack_env, [])
    assert client("sts", stack_env, creds=creds).get_caller_identity()["Account"] == OTHER
    s3 = client("s3", stack_env, creds=creds)
    # 1. the identity policy alone: denied (no bucket policy names the role)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.get_object(Bucket=bucket, Key="_deckhand/releases/r1.json")
    assert code(e) == "AccessDenied"
    assert "no resource-based policy allows the s3:GetObject action" in str(e.value)
    # 2. the bucket policy grants the role list + read: reads pass, a write its identity allows is denied
    policy = {"Version": "2012-10-17", "Statement": [
        {"Sid": "PromoteToList", "Effect": "Allow", "Principal": {"AWS": role}, "Action": "s3:ListBucket",
         "Resource": f"arn:aws:s3:::{bucket}"},
        {"Sid": "PromoteToRead", "Effect": "Allow", "Principal": {"AWS": role}, "Action": "s3:GetObject",
         "Resource": f"arn:aws:s3:::{bucket}/*"}]}
    client("s3", stack_env).put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    assert s3.get_object(Bucket=bucket, Key="_deckhand/releases/r1.json")["Body"].read() == b"{}"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["_deckhand/releases/r1.json"]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.put_object(Bucket=bucket, Key="_deckhand/releases/forged.json", Body=b"{}")
    assert code(e) == "AccessDenied"
    # 3. the bucket policy alone (a role of B whose identity policy allows nothing): denied
    with pytest.raises(botocore.exceptions.ClientError) as e:
        client("s3", stack_env, creds=bare).get_object(Bucket=bucket, Key="_deckhand/releases/r1.json")
    assert code(e) == "AccessDenied"
    # 4. an explicit Deny in the bucket policy wins over both Allows
    policy["Statement"].append({"Effect": "Deny", "Principal": {"AWS": role}, "Action": "s3:GetObject",
                                "Resource": f"arn:aws:s3:::{bucket}/_deckhand/*"})
    client("s3", stack_env).put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.get_object(Bucket=bucket, Key="_deckhand/releases/r1.json")
    assert code(e) == "AccessDenied"


def test_another_accounts_role_describes_a_repository_only_through_its_repository_policy(stack_env: dict[str, str]) -> None:
    repo = unique("xacct-repo")
    ecr_a = client("ecr", stack_env)
    ecr_a.create_repository(repositoryName=repo)
    arn = f"arn:aws:ecr:us-east-1:{A}:repository/{repo}"
    role, creds = role_in_b(stack_env, [{"Effect": "Allow", "Action": ["ecr:DescribeImages", "ecr:DeleteRepository"],
                                         "Resource": arn}])
    ecr_b = client("ecr", stack_env, creds=creds)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ecr_b.describe_images(registryId=A, repositoryName=repo)
    assert code(e) == "AccessDeniedException"
    ecr_a.set_repository_policy(repositoryName=repo, policyText=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "PromoteToPull", "Effect": "Allow", "Principal": {"AWS": role},
         "Action": ["ecr:BatchGetImage", "ecr:DescribeImages", "ecr:GetDownloadUrlForLayer"]}]}))
    # answered from account A's registry (moto's ECR backends are per account)
    assert ecr_b.describe_images(registryId=A, repositoryName=repo)["imageDetails"] == []
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ecr_b.delete_repository(registryId=A, repositoryName=repo)
    assert code(e) == "AccessDeniedException"
    assert ecr_a.describe_repositories(repositoryNames=[repo])["repositories"][0]["repositoryName"] == repo


def test_a_resource_policy_naming_its_own_account_grants_nothing_without_an_identity_allow(stack_env: dict[str, str], bucket: str) -> None:
    """In one account, a bucket policy whose Principal is the account (its root ARN or bare id)
    delegates to the account's identity policies: it allows only a principal its identity policy
    allows ("AWS JSON policy elements: Principal", IAM User Guide: AWS account principals); only a
    policy naming the role or session itself allows on its own. An explicit Deny naming the account
    applies to its every principal."""
    iam = client("iam", stack_env)
    name = unique("samerole")
    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{A}:root"}, "Action": "sts:AssumeRole"}]}
    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    creds = client("sts", stack_env).assume_role(RoleArn=role, RoleSessionName="same")["Credentials"]
    s3 = client("s3", stack_env, creds=creds)
    key = "_deckhand/releases/r1.json"
    for principal in (f"arn:aws:iam::{A}:root", A):
        policy = {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": principal}, "Action": "s3:GetObject",
             "Resource": f"arn:aws:s3:::{bucket}/*"}]}
        client("s3", stack_env).put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
        with pytest.raises(botocore.exceptions.ClientError) as e:
            s3.get_object(Bucket=bucket, Key=key)
        assert code(e) == "AccessDenied", principal
    # naming the role itself: the bucket policy alone allows (same account)
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": role}, "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"},
        {"Effect": "Deny", "Principal": {"AWS": f"arn:aws:iam::{A}:root"}, "Action": "s3:GetObject",
         "Resource": f"arn:aws:s3:::{bucket}/_deckhand/*"}]}
    client("s3", stack_env).put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.get_object(Bucket=bucket, Key=key)
    assert code(e) == "AccessDenied"
    assert "explicit deny in a resource-based policy" in str(e.value)
    policy["Statement"].pop()
    client("s3", stack_env).put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"{}"


def test_another_accounts_role_is_assumed_when_its_trust_and_the_callers_identity_policy_allow(stack_env: dict[str, str]) -> None:
    """A role's trust policy is the resource-based half of a cross-account AssumeRole: allowed when
    it and the caller's identity policy allow, denied when either does not."""
    iam = client("iam", stack_env)
    name = unique("target")
    target = f"arn:aws:iam::{A}:role/{name}"
    caller, creds = role_in_b(stack_env, [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": target}])
    _, bare = role_in_b(stack_env, [])
    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": caller}, "Action": "sts:AssumeRole"}]}
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
    got = client("sts", stack_env, creds=creds).assume_role(RoleArn=target, RoleSessionName="xacct")
    assert got["AssumedRoleUser"]["Arn"].startswith(f"arn:aws:sts::{A}:assumed-role/{name}/")
    with pytest.raises(botocore.exceptions.ClientError) as e:  # the trust allows, the identity does not
        client("sts", stack_env, creds=bare).assume_role(RoleArn=target, RoleSessionName="xacct")
    assert code(e) == "AccessDenied"
    trust["Statement"][0]["Principal"] = {"AWS": f"arn:aws:iam::{A}:root"}
    iam.update_assume_role_policy(RoleName=name, PolicyDocument=json.dumps(trust))
    with pytest.raises(botocore.exceptions.ClientError) as e:  # the identity allows, the trust does not
        client("sts", stack_env, creds=creds).assume_role(RoleArn=target, RoleSessionName="xacct")
    assert code(e) == "AccessDenied"
