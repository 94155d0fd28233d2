"""CloudFormation: the six types moto skips, plus an ECS service keeping what moto drops."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import pytest

from conftest import AwsCliError, unique

TEMPLATE = Path(__file__).parent / "fixtures" / "stack.json"


@pytest.fixture(scope="module")
def stack(aws: Callable[..., Any]) -> dict[str, Any]:
    name = unique("cfn")
    aws("cloudformation", "create-stack", "--stack-name", name, "--template-body", TEMPLATE.read_text())
    desc = aws("cloudformation", "describe-stacks", "--stack-name", name)["Stacks"][0]
    resources = aws("cloudformation", "describe-stack-resources", "--stack-name", name)["StackResources"]
    return {
        "name": name,
        "desc": desc,
        "outputs": {o["OutputKey"]: o["OutputValue"] for o in desc.get("Outputs", [])},
        "resources": {r["LogicalResourceId"]: r for r in resources},
    }


def test_stack_completes_with_every_resource_created(stack: dict[str, Any]) -> None:
    assert stack["desc"]["StackStatus"] == "CREATE_COMPLETE"
    types = {r["ResourceType"] for r in stack["resources"].values()}
    assert {
        "AWS::CloudFront::Distribution", "AWS::CloudFront::Function", "AWS::CloudFront::OriginAccessControl",
        "AWS::S3::BucketPolicy", "AWS::ECS::CapacityProvider", "AWS::ECS::ClusterCapacityProviderAssociations",
    } <= types
    for logical, r in stack["resources"].items():
        assert r["ResourceStatus"] == "CREATE_COMPLETE", logical
        assert r.get("PhysicalResourceId"), f"{logical} has no physical id (skipped by moto?)"


def test_outputs_resolve_ref_and_getatt(stack: dict[str, Any]) -> None:
    out = stack["outputs"]
    name = stack["name"]
    assert out["DistributionId"] == out["DistributionIdAtt"]
    assert out["DistributionDomainName"].endswith(".cloudfront.net")
    assert out["FunctionArn"] == f"arn:aws:cloudfront::123456789012:function/{name}-spa-rewrite"
    assert out["FunctionRef"] == out["FunctionArn"]
    assert out["OacId"]
    assert out["ClusterName"] == f"{name}-cluster"
    assert out["ServiceName"] == "api"
    assert out["ServiceArn"] == f"arn:aws:ecs:us-east-1:123456789012:service/{name}-cluster/api"
    assert out["CapacityProviderName"].startswith(f"{name}-CapacityProvider-")


def test_distribution_is_real_with_function_and_error_responses(aws, stack: dict[str, Any]) -> None:
    out = stack["outputs"]
    dist = aws("cloudfront", "get-distribution", "--id", out["DistributionId"])["Distribution"]
    assert dist["DomainName"] == out["DistributionDomainName"]
    cfg = dist["DistributionConfig"]
    dcb = cfg["DefaultCacheBehavior"]
    assert dcb["TargetOriginId"] == "site"
    assert dcb["FunctionAssociations"] == {
        "Quantity": 1, "Items": [{"FunctionARN": out["FunctionArn"], "EventType": "viewer-request"}]}
    assert cfg["CustomErrorResponses"]["Items"] == [
        {"ErrorCode": 404, "ResponsePagePath": "/404.html", "ResponseCode": "404", "ErrorCachingMinTTL": 10}]
    origins = {o["Id"]: o for o in cfg["Origins"]["Items"]}
    assert origins["site"]["DomainName"] == f"{out['BucketName']}.s3.us-east-1.amazonaws.com"
    assert origins["site"]["OriginAccessControlId"] == out["OacId"]
    assert origins["api"]["CustomOriginConfig"]["OriginProtocolPolicy"] == "http-only"
    (api,) = cfg["CacheBehaviors"]["Items"]
    assert api["PathPattern"] == "/api/*" and api["AllowedMethods"]["Quantity"] == 7
    fn = aws("cloudfront", "describe-function", "--name", f"{stack['name']}-spa-rewrite")["FunctionSummary"]
    assert fn["FunctionMetadata"]["Stage"] == "LIVE"
    assert fn["FunctionConfig"]["Runtime"] == "cloudfront-js-2.0"
    oac = aws("cloudfront", "get-origin-access-control", "--id", out["OacId"])["OriginAccessControl"]
    assert oac["OriginAccessControlConfig"]["SigningBehavior"] == "always"


def test_bucket_policy_is_set_on_the_bucket(aws, stack: dict[str, Any]) -> None:
    out = stack["outputs"]
    policy = json.loads(aws("s3api", "get-bucket-policy", "--bucket", out["BucketName"])["Policy"])
    allow, deny = policy["Statement"]
    assert allow["Resource"] == f"arn:aws:s3:::{out['BucketName']}/*"
    assert allow["Condition"]["StringEquals"]["AWS:SourceArn"] == (
        f"arn:aws:cloudfront::123456789012:distribution/{out['DistributionId']}")
    assert deny["Effect"] == "Deny" and deny["Resource"].endswith("/_deckhand/*")


def test_capacity_provider_and_cluster_association(aws, stack: dict[str, Any]) -> None:
    out = stack["outputs"]
    providers = aws("ecs", "describe-capacity-providers", "--capacity-providers", out["CapacityProviderName"])
    (cp,) = providers["capacityProviders"]
    assert cp["autoScalingGroupProvider"]["managedScaling"]["status"] == "ENABLED"
    cluster = aws("ecs", "describe-clusters", "--clusters", out["ClusterName"])["clusters"][0]
    assert cluster["capacityProviders"] == [out["CapacityProviderName"]]
    assert cluster["defaultCapacityProviderStrategy"] == [
        {"capacityProvider": out["CapacityProviderName"], "weight": 1, "base": 0}]
    # moto 5.2.5 answered 500 without names; ECS lists all of them
    names = [p["name"] for p in aws("ecs", "describe-capacity-providers")["capacityProviders"]]
    assert out["CapacityProviderName"] in names


def test_ecs_service_keeps_load_balancers_deployment_config_and_strategy(aws, stack: dict[str, Any]) -> None:
    out = stack["outputs"]
    svc = aws("ecs", "describe-services", "--cluster", out["ClusterName"], "--services", "api")["services"][0]
    assert svc["loadBalancers"] == [{
        "targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/api/0123456789abcdef",
        "containerName": "api", "containerPort": 3000}]
    assert svc["deploymentConfiguration"] == {
        "deploymentCircuitBreaker": {"enable": True, "rollback": True},
        "maximumPercent": 200, "minimumHealthyPercent": 50, "strategy": "ROLLING"}
    assert svc["capacityProviderStrategy"] == [
        {"capacityProvider": out["CapacityProviderName"], "weight": 1, "base": 0}]
    assert svc["healthCheckGracePeriodSeconds"] == 30
    (dep,) = svc["deployments"]
    assert (dep["rolloutState"], dep["runningCount"], svc["runningCount"]) == ("COMPLETED", 2, 2)
    assert svc["taskDefinition"].endswith(f":task-definition/{stack['name']}-api:1")


def test_bad_getatt_on_new_type_is_a_validation_error(aws) -> None:
    template = {
        "Resources": {"Oac": {"Type": "AWS::CloudFront::OriginAccessControl", "Properties": {
            "OriginAccessControlConfig": {"Name": unique("oac"), "OriginAccessControlOriginType": "s3",
                                          "SigningBehavior": "always", "SigningProtocol": "sigv4"}}}},
        "Outputs": {"X": {"Value": {"Fn::GetAtt": ["Oac", "NoSuchAttribute"]}}},
    }
    with pytest.raises(AwsCliError) as err:
        aws("cloudformation", "create-stack", "--stack-name", unique("bad"), "--template-body", json.dumps(template))
    assert "ValidationError" in err.value.stderr
    assert "does not support attribute type NoSuchAttribute in Fn::GetAtt" in err.value.stderr


def test_security_group_ingress_from_prefix_list(aws) -> None:
    template = {
        "Parameters": {"PrefixList": {"Type": "String", "Default": "pl-3b927c52"}},
        "Resources": {
            "Vpc": {"Type": "AWS::EC2::VPC", "Properties": {"CidrBlock": "10.9.0.0/16"}},
            "Sg": {"Type": "AWS::EC2::SecurityGroup", "Properties": {
                "GroupDescription": "alb", "VpcId": {"Ref": "Vpc"}}},
            "FromCloudFront": {"Type": "AWS::EC2::SecurityGroupIngress", "Properties": {
                "GroupId": {"Fn::GetAtt": ["Sg", "GroupId"]}, "IpProtocol": "tcp", "FromPort": 80, "ToPort": 80,
                "SourcePrefixListId": {"Ref": "PrefixList"}, "Description": "CloudFront origin-facing"}},
        },
        "Outputs": {"GroupId": {"Value": {"Fn::GetAtt": ["Sg", "GroupId"]}}},
    }
    name = unique("sg")
    aws("cloudformation", "create-stack", "--stack-name", name, "--template-body", json.dumps(template))
    desc = aws("cloudformation", "describe-stacks", "--stack-name", name)["Stacks"][0]
    assert desc["StackStatus"] == "CREATE_COMPLETE"
    group_id = desc["Outputs"][0]["OutputValue"]
    (sg,) = aws("ec2", "describe-security-groups", "--group-ids", group_id)["SecurityGroups"]
    (perm,) = sg["IpPermissions"]
    assert (perm["IpProtocol"], perm["FromPort"], perm["ToPort"]) == ("tcp", 80, 80)
    assert perm["PrefixListIds"][0]["PrefixListId"] == "pl-3b927c52"


def test_delete_stack_removes_the_new_types(aws) -> None:
    template = json.loads(TEMPLATE.read_text())
    for logical in ("TaskDef", "Service"):
        del template["Resources"][logical]
    for key in ("ServiceName", "ServiceArn"):
        del template["Outputs"][key]
    name = unique("del")
    aws("cloudformation", "create-stack", "--stack-name", name, "--template-body", json.dumps(template))
    desc = aws("cloudformation", "describe-stacks", "--stack-name", name)["Stacks"][0]
    out = {o["OutputKey"]: o["OutputValue"] for o in desc["Outputs"]}
    aws("cloudformation", "delete-stack", "--stack-name", name)
    status = aws("cloudformation", "describe-stacks", "--stack-name", desc["StackId"])["Stacks"][0]["StackStatus"]
    assert status == "DELETE_COMPLETE"
    for args, code in [
        (["cloudfront", "get-distribution", "--id", out["DistributionId"]], "NoSuchDistribution"),
        (["cloudfront", "describe-function", "--name", f"{name}-spa-rewrite"], "NoSuchFunctionExists"),
        (["cloudfront", "get-origin-access-control", "--id", out["OacId"]], "NoSuchOriginAccessControl"),
    ]:
        with pytest.raises(AwsCliError) as err:
            aws(*args)
        assert code in err.value.stderr
    names = [p["name"] for p in aws("ecs", "describe-capacity-providers")["capacityProviders"]]
    assert out["CapacityProviderName"] not in names


def test_update_stack_with_a_new_task_definition_rolls_the_service(aws) -> None:
    template = json.loads(TEMPLATE.read_text())
    name = unique("upd")
    aws("cloudformation", "create-stack", "--stack-name", name, "--template-body", json.dumps(template))
    cluster = f"{name}-cluster"
    before = aws("ecs", "describe-services", "--cluster", cluster, "--services", "api")["services"][0]
    template["Resources"]["TaskDef"]["Properties"]["ContainerDefinitions"][0]["Image"] = "public.ecr.aws/docker/library/node:24"
    aws("cloudformation", "update-stack", "--stack-name", name, "--template-body", json.dumps(template))
    assert aws("cloudformation", "describe-stacks", "--stack-name", name)["Stacks"][0]["StackStatus"] == "UPDATE_COMPLETE"
    after = aws("ecs", "describe-services", "--cluster", cluster, "--services", "api")["services"][0]
    assert after["taskDefinition"].endswith(f"task-definition/{name}-api:2")
    assert [(d["status"], d["taskDefinition"]) for d in after["deployments"]][:1] == [("PRIMARY", after["taskDefinition"])]
    assert after["deployments"][0]["id"] != before["deployments"][0]["id"]
    assert after["deploymentConfiguration"] == before["deploymentConfiguration"]


def test_update_stack_applies_a_role_s_new_trust_policy(aws) -> None:
    """A parameter the trust policy reads changes (UpdateStack): the role trusts the new value only
    (moto 5.2.5 kept the old trust policy and took MaxSessionDuration from RoleDescription)."""
    template = {
        "Parameters": {"Repo": {"Type": "String"}},
        "Resources": {"Role": {"Type": "AWS::IAM::Role", "Properties": {
            "MaxSessionDuration": 7200, "Description": "deploy",
            "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity",
                "Principal": {"Federated": "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"},
                "Condition": {"StringEquals": {"token.actions.githubusercontent.com:sub": {
                    "Fn::Join": ["", ["repo:", {"Ref": "Repo"}, ":environment:production"]]}}}}]}}}},
        "Outputs": {"RoleName": {"Value": {"Ref": "Role"}}},
    }
    name = unique("trust")
    aws("cloudformation", "create-stack", "--stack-name", name, "--template-body", json.dumps(template),
        "--parameters", "ParameterKey=Repo,ParameterValue=o/r")
    role = aws("cloudformation", "describe-stacks", "--stack-name", name)["Stacks"][0]["Outputs"][0]["OutputValue"]
    sub = lambda: aws("iam", "get-role", "--role-name", role)["Role"]["AssumeRolePolicyDocument"]["Statement"][0][  # noqa: E731
        "Condition"]["StringEquals"]["token.actions.githubusercontent.com:sub"]
    assert sub() == "repo:o/r:environment:production"
    aws("cloudformation", "update-stack", "--stack-name", name, "--use-previous-template",
        "--parameters", "ParameterKey=Repo,ParameterValue=o@1/r@2")
    assert aws("cloudformation", "describe-stacks", "--stack-name", name)["Stacks"][0]["StackStatus"] == "UPDATE_COMPLETE"
    assert sub() == "repo:o@1/r@2:environment:production"
    got = aws("iam", "get-role", "--role-name", role)["Role"]
    assert (got["MaxSessionDuration"], got.get("Description")) == (7200, "deploy")


def _vpc_origin_template(arn: Any) -> dict[str, Any]:
    return {
        "Resources": {
            "Vpc": {"Type": "AWS::EC2::VPC", "Properties": {"CidrBlock": "10.77.0.0/16"}},
            "A": {"Type": "AWS::EC2::Subnet", "Properties": {"VpcId": {"Ref": "Vpc"}, "CidrBlock": "10.77.1.0/24", "AvailabilityZone": "us-east-1a"}},
            "B": {"Type": "AWS::EC2::Subnet", "Properties": {"VpcId": {"Ref": "Vpc"}, "CidrBlock": "10.77.2.0/24", "AvailabilityZone": "us-east-1b"}},
            "Alb": {"Type": "AWS::ElasticLoadBalancingV2::LoadBalancer",
                    "Properties": {"Scheme": "internal", "Type": "application", "Subnets": [{"Ref": "A"}, {"Ref": "B"}]}},
            "Origin": {"Type": "AWS::CloudFront::VpcOrigin", "Properties": {"VpcOriginEndpointConfig": {
                "Name": "api", "Arn": arn, "HTTPPort": 80, "OriginProtocolPolicy": "http-only", "OriginSSLProtocols": ["TLSv1.2"]}}},
            "Dist": {"Type": "AWS::CloudFront::Distribution", "Properties": {"DistributionConfig": {
                "Enabled": True,
                "Origins": [{"Id": "api", "DomainName": {"Fn::GetAtt": ["Alb", "DNSName"]},
                             "VpcOriginConfig": {"VpcOriginId": {"Fn::GetAtt": ["Origin", "Id"]}, "OriginReadTimeout": 30}}],
                "DefaultCacheBehavior": {"TargetOriginId": "api", "ViewerProtocolPolicy": "redirect-to-https",
                                         "CachePolicyId": "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"}}}},
        },
        "Outputs": {"DistributionId": {"Value": {"Ref": "Dist"}}, "OriginId": {"Value": {"Ref": "Origin"}},
                    "OriginArn": {"Value": {"Fn::GetAtt": ["Origin", "Arn"]}}},
    }


def test_a_vpc_origin_points_the_distribution_at_an_internal_load_balancer(aws) -> None:
    """AWS::CloudFront::VpcOrigin (moto has none): Ref/Id and Arn, the distribution origin's
    VpcOriginConfig as GetDistribution returns it; an endpoint that is no load balancer is refused."""
    name = unique("vpco")
    aws("cloudformation", "create-stack", "--stack-name", name, "--template-body", json.dumps(_vpc_origin_template({"Ref": "Alb"})))
    desc = aws("cloudformation", "describe-stacks", "--stack-name", name)["Stacks"][0]
    assert desc["StackStatus"] == "CREATE_COMPLETE", desc
    out = {o["OutputKey"]: o["OutputValue"] for o in desc["Outputs"]}
    assert out["OriginId"].startswith("vo_") and out["OriginArn"] == f"arn:aws:cloudfront::123456789012:vpcorigin/{out['OriginId']}"
    [origin] = aws("cloudfront", "get-distribution", "--id", out["DistributionId"])["Distribution"]["DistributionConfig"]["Origins"]["Items"]
    assert origin["VpcOriginConfig"] == {"VpcOriginId": out["OriginId"], "OriginReadTimeout": 30}
    assert "CustomOriginConfig" not in origin
    bad = unique("vpcobad")
    arn = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/nothing/0123456789abcdef"
    try:
        aws("cloudformation", "create-stack", "--stack-name", bad, "--template-body", json.dumps(_vpc_origin_template(arn)))
    except AwsCliError as e:
        assert "is not a load balancer" in e.stderr
        return
    status = aws("cloudformation", "describe-stacks", "--stack-name", bad)["Stacks"][0]
    assert status["StackStatus"].endswith("FAILED"), status


def test_a_metric_math_alarm_over_target_groups_is_created_named_and_deleted(aws) -> None:
    """AWS::CloudWatch::Alarm (moto's CloudFormation skips it) with metric math over an ALB target
    group's metrics, whose dimensions are GetAtt LoadBalancerFullName / TargetGroupFullName (moto:
    not implemented). infra/ builds these for its traffic-shifting strategies."""
    name = unique("alarm")
    dims = [
        {"Name": "LoadBalancer", "Value": {"Fn::GetAtt": ["Alb", "LoadBalancerFullName"]}},
        {"Name": "TargetGroup", "Value": {"Fn::GetAtt": ["Tg", "TargetGroupFullName"]}},
    ]

    def stat(metric: str) -> dict[str, Any]:
        return {"Metric": {"Namespace": "AWS/ApplicationELB", "MetricName": metric, "Dimensions": dims}, "Period": 60, "Stat": "Sum"}

    template = {
        "Resources": {
            "Vpc": {"Type": "AWS::EC2::VPC", "Properties": {"CidrBlock": "10.8.0.0/16"}},
            "SubnetA": {"Type": "AWS::EC2::Subnet", "Properties": {"VpcId": {"Ref": "Vpc"}, "CidrBlock": "10.8.0.0/24", "AvailabilityZone": "us-east-1a"}},
            "SubnetB": {"Type": "AWS::EC2::Subnet", "Properties": {"VpcId": {"Ref": "Vpc"}, "CidrBlock": "10.8.1.0/24", "AvailabilityZone": "us-east-1b"}},
            "Alb": {"Type": "AWS::ElasticLoadBalancingV2::LoadBalancer", "Properties": {
                "Scheme": "internal", "Subnets": [{"Ref": "SubnetA"}, {"Ref": "SubnetB"}]}},
            "Tg": {"Type": "AWS::ElasticLoadBalancingV2::TargetGroup", "Properties": {
                "Port": 80, "Protocol": "HTTP", "TargetType": "instance", "VpcId": {"Ref": "Vpc"}}},
            "Alarm": {"Type": "AWS::CloudWatch::Alarm", "Properties": {
                "AlarmName": f"{name}-5xx", "AlarmDescription": "5xx share", "ComparisonOperator": "GreaterThanThreshold",
                "EvaluationPeriods": 2, "DatapointsToAlarm": 2, "Threshold": 5, "TreatMissingData": "notBreaching",
                "Metrics": [
                    {"Id": "expr", "Expression": "100 * FILL(e, 0) / FILL(r, 1)", "ReturnData": True},
                    {"Id": "e", "MetricStat": stat("HTTPCode_Target_5XX_Count"), "ReturnData": False},
                    {"Id": "r", "MetricStat": stat("RequestCount"), "ReturnData": False},
                ]}},
        },
        "Outputs": {
            "AlarmRef": {"Value": {"Ref": "Alarm"}},
            "AlarmArn": {"Value": {"Fn::GetAtt": ["Alarm", "Arn"]}},
            "TgFullName": {"Value": {"Fn::GetAtt": ["Tg", "TargetGroupFullName"]}},
            "AlbFullName": {"Value": {"Fn::GetAtt": ["Alb", "LoadBalancerFullName"]}},
            "TgArn": {"Value": {"Ref": "Tg"}},
            "AlbArn": {"Value": {"Ref": "Alb"}},
        },
    }
    aws("cloudformation", "create-stack", "--stack-name", name, "--template-body", json.dumps(template))
    desc = aws("cloudformation", "describe-stacks", "--stack-name", name)["Stacks"][0]
    assert desc["StackStatus"] == "CREATE_COMPLETE"
    out = {o["OutputKey"]: o["OutputValue"] for o in desc["Outputs"]}
    assert out["AlarmRef"] == f"{name}-5xx"
    assert out["AlarmArn"] == f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{name}-5xx"
    # targetgroup/<name>/<id> and app/<name>/<id>: the ARNs' resource parts, as CloudWatch's dimensions
    assert out["TgArn"].endswith(":" + out["TgFullName"]) and out["TgFullName"].startswith("targetgroup/")
    assert out["AlbArn"].endswith(":loadbalancer/" + out["AlbFullName"]) and out["AlbFullName"].startswith("app/")
    (alarm,) = aws("cloudwatch", "describe-alarms", "--alarm-names", f"{name}-5xx")["MetricAlarms"]
    assert (alarm["Threshold"], alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == (5.0, 2, 2)
    assert alarm["TreatMissingData"] == "notBreaching"
    by_id = {m["Id"]: m for m in alarm["Metrics"]}
    assert by_id["expr"]["Expression"] == "100 * FILL(e, 0) / FILL(r, 1)"
    got = {d["Name"]: d["Value"] for d in by_id["e"]["MetricStat"]["Metric"]["Dimensions"]}
    assert got == {"LoadBalancer": out["AlbFullName"], "TargetGroup": out["TgFullName"]}
    aws("cloudformation", "delete-stack", "--stack-name", name)
    assert aws("cloudwatch", "describe-alarms", "--alarm-names", f"{name}-5xx")["MetricAlarms"] == []
