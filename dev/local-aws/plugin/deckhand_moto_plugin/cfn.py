"""CloudFormation types moto 5.2.5 skips, backed by moto's real backends.

moto discovers CloudFormation models as *direct* subclasses of ``CloudFormationModel``
(``get_model_list`` is cached, so this module must be imported before the first stack).
"""

from __future__ import annotations

import json
import uuid
from typing import Any, Optional

from moto.cloudformation.exceptions import UnformattedGetAttTemplateException
from moto.core.common_models import CloudFormationModel
from moto.ecs import models as ecs_models
from moto.utilities.utils import get_partition


def camel(value: Any) -> Any:
    """CloudFormation PascalCase properties -> ECS API camelCase, recursively."""
    if isinstance(value, dict):
        return {(k[:1].lower() + k[1:]): camel(v) for k, v in value.items()}
    if isinstance(value, list):
        return [camel(v) for v in value]
    return value


def _items(values: Optional[list[Any]]) -> dict[str, Any]:
    values = list(values or [])
    out: dict[str, Any] = {"Quantity": len(values)}
    if values:
        out["Items"] = values
    return out


def _bool(v: Any) -> bool:
    return v is True or (isinstance(v, str) and v.lower() == "true")


# --- CloudFront -----------------------------------------------------------------------------


def _cache_behavior(cb: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in cb.items() if k not in ("AllowedMethods", "CachedMethods", "FunctionAssociations", "LambdaFunctionAssociations", "TrustedSigners", "TrustedKeyGroups")}
    allowed = cb.get("AllowedMethods") or ["GET", "HEAD"]
    cached = cb.get("CachedMethods") or ["GET", "HEAD"]
    out["AllowedMethods"] = {"Quantity": len(allowed), "Items": allowed, "CachedMethods": {"Quantity": len(cached), "Items": cached}}
    out["FunctionAssociations"] = _items(
        [{"FunctionARN": f["FunctionARN"], "EventType": f["EventType"]} for f in cb.get("FunctionAssociations") or []]
    )
    out["LambdaFunctionAssociations"] = _items(
        [
            {"LambdaFunctionARN": f["LambdaFunctionARN"], "EventType": f["EventType"], "IncludeBody": _bool(f.get("IncludeBody", False))}
            for f in cb.get("LambdaFunctionAssociations") or []
        ]
    )
    if cb.get("TrustedSigners"):
        out["TrustedSigners"] = {"Items": cb["TrustedSigners"]}
    if cb.get("TrustedKeyGroups"):
        out["TrustedKeyGroups"] = {"Items": cb["TrustedKeyGroups"]}
    if "Compress" in cb:
        out["Compress"] = _bool(cb["Compress"])
    return out


def _origin(o: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"Id": o["Id"], "DomainName": o["DomainName"]}
    for k in ("OriginPath", "ConnectionAttempts", "ConnectionTimeout", "OriginAccessControlId", "OriginShield"):
        if k in o:
            out[k] = o[k]
    if "S3OriginConfig" in o:
        out["S3OriginConfig"] = {"OriginAccessIdentity": (o["S3OriginConfig"] or {}).get("OriginAccessIdentity", "")}
    if "CustomOriginConfig" in o:
        c = dict(o["CustomOriginConfig"])
        protocols = c.pop("OriginSSLProtocols", None) or ["TLSv1.2"]
        c["OriginSslProtocols"] = {"Quantity": len(protocols), "Items": protocols}
        out["CustomOriginConfig"] = c
    if "VpcOriginConfig" in o:
        from .cfn_vpc_origin import vpc_origin_config

        out["VpcOriginConfig"] = vpc_origin_config(o["Id"], o["VpcOriginConfig"])
    headers = o.get("OriginCustomHeaders") or []
    out["CustomHeaders"] = {"Quantity": len(headers), "Items": headers}
    return out


def distribution_config_from_cfn(cfg: dict[str, Any]) -> dict[str, Any]:
    """AWS::CloudFront::Distribution DistributionConfig -> CreateDistribution's shape."""
    out: dict[str, Any] = {
        "CallerReference": str(uuid.uuid4()),
        "Comment": cfg.get("Comment", ""),
        "Enabled": _bool(cfg.get("Enabled", True)),
        "Origins": _items([_origin(o) for o in cfg.get("Origins") or []]),
        "DefaultCacheBehavior": _cache_behavior(cfg["DefaultCacheBehavior"]),
        "CacheBehaviors": _items([_cache_behavior(cb) for cb in cfg.get("CacheBehaviors") or []]),
        "CustomErrorResponses": _items(
            [
                {**e, **({"ResponseCode": str(e["ResponseCode"])} if "ResponseCode" in e else {})}
                for e in cfg.get("CustomErrorResponses") or []
            ]
        ),
        "PriceClass": cfg.get("PriceClass", "PriceClass_All"),
        "HttpVersion": cfg.get("HttpVersion", "http2"),
        "IsIPV6Enabled": _bool(cfg.get("IPV6Enabled", True)),
        "DefaultRootObject": cfg.get("DefaultRootObject", ""),
        "WebACLId": cfg.get("WebACLId", ""),
    }
    if not out["CacheBehaviors"]["Quantity"]:
        del out["CacheBehaviors"]
    if cfg.get("Aliases"):
        out["Aliases"] = _items(cfg["Aliases"])
    if cfg.get("ViewerCertificate"):
        out["ViewerCertificate"] = cfg["ViewerCertificate"]
    if cfg.get("Logging"):
        out["Logging"] = {"Enabled": True, **cfg["Logging"]}
    geo = (cfg.get("Restrictions") or {}).get("GeoRestriction")
    if geo:
        out["Restrictions"] = {"GeoRestriction": {"RestrictionType": geo.get("RestrictionType", "none"), "Items": geo.get("Locations") or []}}
    return out


class CloudFrontDistributionCfn(CloudFormationModel):
    def __init__(self, distribution: Any, account_id: str):
        self.distribution = distribution
        self.account_id = account_id

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CloudFront::Distribution"

    @property
    def physical_resource_id(self) -> str:
        return self.distribution.distribution_id

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in ("DomainName", "Id")

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        if attribute_name == "DomainName":
            return self.distribution.domain_name
        if attribute_name == "Id":
            return self.distribution.distribution_id
        raise UnformattedGetAttTemplateException()

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> "CloudFrontDistributionCfn":
        from moto.cloudfront.models import cloudfront_backends

        props = cloudformation_json["Properties"]
        backend = cloudfront_backends[account_id][get_partition(region_name)]
        tags = props.get("Tags") or []
        dist, _, _ = backend.create_distribution(distribution_config_from_cfn(props["DistributionConfig"]), tags)
        return cls(dist, account_id)

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[misc]
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
    ) -> None:
        from moto.cloudfront.models import cloudfront_backends

        cloudfront_backends[account_id][get_partition(region_name)].distributions.pop(resource_name, None)


class CloudFrontFunctionCfn(CloudFormationModel):
    def __init__(self, function: Any):
        self.function = function

    @staticmethod
    def cloudformation_name_type() -> str:
        return "Name"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CloudFront::Function"

    @property
    def physical_resource_id(self) -> str:
        return self.function.arn

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in ("FunctionARN", "FunctionMetadata.FunctionARN", "Stage")

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        if attribute_name in ("FunctionARN", "FunctionMetadata.FunctionARN"):
            return self.function.arn
        if attribute_name == "Stage":
            return self.function.stage
        raise UnformattedGetAttTemplateException()

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> "CloudFrontFunctionCfn":
        from moto.cloudfront.models import cloudfront_backends

        props = cloudformation_json["Properties"]
        backend = cloudfront_backends[account_id][get_partition(region_name)]
        config = dict(props.get("FunctionConfig") or {})
        config.setdefault("Comment", "")
        config.setdefault("Runtime", "cloudfront-js-1.0")
        fn = backend.create_function(resource_name, config, str(props.get("FunctionCode", "")).encode(), [])
        if _bool(props.get("AutoPublish", False)):
            fn.stage = "LIVE"
            fn.status = "DEPLOYED"
        return cls(fn)

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[misc]
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
    ) -> None:
        from moto.cloudfront.models import cloudfront_backends

        name = resource_name.rsplit("/", 1)[-1]
        cloudfront_backends[account_id][get_partition(region_name)].functions.pop(name, None)


class CloudFrontOriginAccessControlCfn(CloudFormationModel):
    def __init__(self, control: Any):
        self.control = control

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CloudFront::OriginAccessControl"

    @property
    def physical_resource_id(self) -> str:
        return self.control.id

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "Id"

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        if attribute_name == "Id":
            return self.control.id
        raise UnformattedGetAttTemplateException()

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> "CloudFrontOriginAccessControlCfn":
        from moto.cloudfront.models import cloudfront_backends

        cfg = dict(cloudformation_json["Properties"]["OriginAccessControlConfig"])
        control = cloudfront_backends[account_id][get_partition(region_name)].create_origin_access_control(cfg)
        return cls(control)

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[misc]
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
    ) -> None:
        from moto.cloudfront.models import cloudfront_backends

        cloudfront_backends[account_id][get_partition(region_name)].origin_access_controls.pop(resource_name, None)


# --- S3 -------------------------------------------------------------------------------------


class S3BucketPolicyCfn(CloudFormationModel):
    def __init__(self, bucket_name: str):
        self.bucket_name = bucket_name

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::S3::BucketPolicy"

    @property
    def physical_resource_id(self) -> str:
        return self.bucket_name

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return False

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        raise UnformattedGetAttTemplateException()

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> "S3BucketPolicyCfn":
        from moto.s3.models import s3_backends

        props = cloudformation_json["Properties"]
        bucket = props["Bucket"]
        bucket_name = bucket if isinstance(bucket, str) else bucket.name
        policy = props["PolicyDocument"]
        if not isinstance(policy, str):
            policy = json.dumps(policy)
        s3_backends[account_id][get_partition(region_name)].put_bucket_policy(bucket_name, policy.encode())
        return cls(bucket_name)

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[misc]
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
    ) -> None:
        from moto.s3.models import s3_backends

        try:
            s3_backends[account_id][get_partition(region_name)].delete_bucket_policy(resource_name)
        except Exception:
            pass


# --- CloudWatch -------------------------------------------------------------------------------


class CloudWatchAlarmCfn(CloudFormationModel):
    """AWS::CloudWatch::Alarm (moto's CloudFormation knows only dashboards): the metric or
    metric-math alarm, through the backend's PutMetricAlarm. Ref is the alarm name, GetAtt Arn its
    ARN (AWS::CloudWatch::Alarm, "Return values", CloudFormation user guide)."""

    def __init__(self, alarm: Any):
        self.alarm = alarm

    @staticmethod
    def cloudformation_name_type() -> str:
        return "AlarmName"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CloudWatch::Alarm"

    @property
    def physical_resource_id(self) -> str:
        return self.alarm.name

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in ("Arn",)

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        if attribute_name == "Arn":
            return self.alarm.alarm_arn
        raise UnformattedGetAttTemplateException()

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> "CloudWatchAlarmCfn":
        from moto.cloudwatch.models import Dimension, Metric, MetricDataQuery, MetricStat, cloudwatch_backends

        p = cloudformation_json["Properties"]
        queries = None
        if p.get("Metrics"):
            queries = []
            for m in p["Metrics"]:
                stat = m.get("MetricStat")
                metric_stat = None
                if stat:
                    metric = stat["Metric"]
                    dims = [Dimension(d["Name"], str(d["Value"])) for d in metric.get("Dimensions") or []]
                    metric_stat = MetricStat(
                        metric=Metric(metric["MetricName"], metric["Namespace"], dims),
                        period=str(stat["Period"]),
                        stat=stat["Stat"],
                        unit=stat.get("Unit"),
                    )
                queries.append(
                    MetricDataQuery(
                        query_id=m["Id"],
                        label=m.get("Label"),
                        period=m.get("Period"),
                        return_data=m.get("ReturnData"),
                        expression=m.get("Expression"),
                        metric_stat=metric_stat,
                    )
                )
        backend = cloudwatch_backends[account_id][region_name]
        alarm = backend.put_metric_alarm(
            name=p.get("AlarmName") or resource_name,
            namespace=p.get("Namespace"),
            metric_name=p.get("MetricName"),
            metric_data_queries=queries,
            comparison_operator=p["ComparisonOperator"],
            evaluation_periods=int(p["EvaluationPeriods"]),
            datapoints_to_alarm=int(p["DatapointsToAlarm"]) if p.get("DatapointsToAlarm") is not None else None,
            period=p.get("Period"),
            threshold=float(p["Threshold"]) if p.get("Threshold") is not None else None,  # type: ignore[arg-type]
            statistic=p.get("Statistic"),
            extended_statistic=p.get("ExtendedStatistic"),
            description=p.get("AlarmDescription"),
            dimensions=[{"Name": d["Name"], "Value": d["Value"]} for d in p.get("Dimensions") or []],
            alarm_actions=p.get("AlarmActions") or [],
            ok_actions=p.get("OKActions") or [],
            insufficient_data_actions=p.get("InsufficientDataActions") or [],
            actions_enabled=_bool(p.get("ActionsEnabled", True)),
            treat_missing_data=p.get("TreatMissingData"),
            unit=p.get("Unit"),
        )
        return cls(alarm)

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[misc]
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
    ) -> None:
        from moto.cloudwatch.models import cloudwatch_backends

        cloudwatch_backends[account_id][region_name].delete_alarms([resource_name])


# --- ECS ------------------------------------------------------------------------------------


class EcsCapacityProviderCfn(CloudFormationModel):
    def __init__(self, provider: Any):
        self.provider = provider

    @staticmethod
    def cloudformation_name_type() -> str:
        return "Name"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::ECS::CapacityProvider"

    @property
    def physical_resource_id(self) -> str:
        return self.provider.name

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in ("Arn",)

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        if attribute_name == "Arn":
            return self.provider.capacity_provider_arn
        raise UnformattedGetAttTemplateException()

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> "EcsCapacityProviderCfn":
        props = cloudformation_json["Properties"]
        asg = camel(props.get("AutoScalingGroupProvider") or {})
        tags = camel(props.get("Tags") or [])
        backend = ecs_models.ecs_backends[account_id][region_name]
        return cls(backend.create_capacity_provider(resource_name, asg, tags))

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[misc]
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
    ) -> None:
        ecs_models.ecs_backends[account_id][region_name].capacity_providers.pop(resource_name, None)


class EcsClusterCapacityProviderAssociationsCfn(CloudFormationModel):
    def __init__(self, cluster: Any):
        self.cluster = cluster

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::ECS::ClusterCapacityProviderAssociations"

    @property
    def physical_resource_id(self) -> str:
        return self.cluster.name

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return False

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        raise UnformattedGetAttTemplateException()

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> "EcsClusterCapacityProviderAssociationsCfn":
        props = cloudformation_json["Properties"]
        cluster = props["Cluster"]
        cluster_name = cluster.name if hasattr(cluster, "name") else str(cluster).split("/")[-1]
        backend = ecs_models.ecs_backends[account_id][region_name]
        providers = [p if isinstance(p, str) else p.physical_resource_id for p in props.get("CapacityProviders") or []]
        strategy = camel(props.get("DefaultCapacityProviderStrategy") or [])
        return cls(backend.put_cluster_capacity_providers(cluster_name, providers, strategy))

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[misc]
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
    ) -> None:
        try:
            ecs_models.ecs_backends[account_id][region_name].put_cluster_capacity_providers(resource_name, [], [])
        except Exception:
            pass


def _service_create_from_cfn(
    cls: Any, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
) -> Any:
    """AWS::ECS::Service keeping LoadBalancers, DeploymentConfiguration, CapacityProviderStrategy."""
    props = cloudformation_json["Properties"]
    cluster = props.get("Cluster", "default")
    cluster_name = cluster.name if isinstance(cluster, ecs_models.Cluster) else str(cluster).split("/")[-1]
    td = props["TaskDefinition"]
    td_str = td.arn if isinstance(td, ecs_models.TaskDefinition) else td
    backend = ecs_models.ecs_backends[account_id][region_name]
    desired = props.get("DesiredCount")
    return backend.create_service(
        cluster_name,
        props.get("ServiceName") or resource_name,
        int(desired) if desired is not None else 1,
        td_str,
        camel(props.get("LoadBalancers")),
        props.get("SchedulingStrategy"),
        camel(props.get("Tags")),
        camel(props.get("DeploymentController")),
        None if props.get("CapacityProviderStrategy") else props.get("LaunchType"),
        network_configuration=camel(props.get("NetworkConfiguration")),
        service_registries=camel(props.get("ServiceRegistries")),
        platform_version=props.get("PlatformVersion"),
        propagate_tags=props.get("PropagateTags") or "NONE",
        role_arn=props.get("Role"),
        deployment_configuration=camel(props.get("DeploymentConfiguration")),
        capacity_provider_strategy=camel(props.get("CapacityProviderStrategy")),
        health_check_grace_period_seconds=props.get("HealthCheckGracePeriodSeconds"),
        enable_execute_command=props.get("EnableExecuteCommand"),
        enable_ecs_managed_tags=props.get("EnableECSManagedTags"),
        placement_constraints=camel(props.get("PlacementConstraints")),
        placement_strategy=camel(props.get("PlacementStrategies")),
    )


def _patch_update_diff() -> None:
    """UpdateStack: an ECS service whose task definition is replaced is updated too.

    moto diffs raw template JSON, so a service that only `Ref`s a changed task definition
    kept the old (now deregistered) revision; CloudFormation rolls the service to the new one.
    """
    from moto.cloudformation import parsing

    orig = parsing.ResourceMap.build_resource_diff

    def build_resource_diff(self: Any, other_template: dict[str, Any], parameters: Any = None) -> dict[str, Any]:
        actions = orig(self, other_template, parameters)
        new = other_template["Resources"]
        replaced = {n for n in actions["Modify"] if new[n].get("Type") == "AWS::ECS::TaskDefinition"}
        for name, res in new.items():
            if (
                res.get("Type") == "AWS::ECS::Service"
                and name not in actions["Modify"]
                and name not in actions["Add"]
                and replaced.intersection(parsing.get_references_from_template(res))
            ):
                actions["Modify"].append(name)
        return actions

    parsing.ResourceMap.build_resource_diff = build_resource_diff  # type: ignore[method-assign]


def _patch_elbv2_full_names() -> None:
    """GetAtt LoadBalancerFullName (`app/<name>/<id>`) and TargetGroupFullName
    (`targetgroup/<name>/<id>`): the CloudWatch dimensions of ALB metrics (AWS::ElasticLoadBalancingV2
    LoadBalancer / TargetGroup "Return values"); moto raises NotImplementedError / has no GetAtt."""
    from moto.elbv2 import models as elbv2_models

    lb_orig = elbv2_models.FakeLoadBalancer.get_cfn_attribute

    def lb_attribute(self: Any, attribute_name: str) -> Any:
        if attribute_name == "LoadBalancerFullName":
            return self.arn.split(":loadbalancer/", 1)[1]
        return lb_orig(self, attribute_name)

    def tg_has(cls: Any, attr: str) -> bool:
        return attr in ("TargetGroupFullName", "TargetGroupName", "TargetGroupArn")

    def tg_attribute(self: Any, attribute_name: str) -> Any:
        if attribute_name == "TargetGroupFullName":
            return self.arn.rsplit(":", 1)[1]
        if attribute_name == "TargetGroupName":
            return self.name
        if attribute_name == "TargetGroupArn":
            return self.arn
        raise UnformattedGetAttTemplateException()

    elbv2_models.FakeLoadBalancer.get_cfn_attribute = lb_attribute  # type: ignore[method-assign]
    elbv2_models.FakeTargetGroup.has_cfn_attr = classmethod(tg_has)  # type: ignore[assignment]
    elbv2_models.FakeTargetGroup.get_cfn_attribute = tg_attribute  # type: ignore[attr-defined]


def _patch_ecr_repository_policy() -> None:
    """AWS::ECR::Repository's RepositoryPolicyText (moto 5.2.5 ignores it on create and update):
    the repository policy CloudFormation sets with SetRepositoryPolicy (AWS::ECR::Repository,
    CloudFormation User Guide), so iam_enforce evaluates it for other accounts' callers."""
    import json as _json

    from moto.ecr.models import Repository

    create = Repository.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]
    update = Repository.update_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def _policy(repo: Any, cloudformation_json: Any) -> Any:
        text = cloudformation_json.get("Properties", {}).get("RepositoryPolicyText")
        if repo is not None:
            repo.policy = None if text is None else (text if isinstance(text, str) else _json.dumps(text))
        return repo

    def created(cls: Any, resource_name: str, cloudformation_json: Any, *args: Any, **kwargs: Any) -> Any:
        return _policy(create(cls, resource_name, cloudformation_json, *args, **kwargs), cloudformation_json)

    def updated(cls: Any, original: Any, new_name: str, cloudformation_json: Any, *args: Any, **kwargs: Any) -> Any:
        repo = update(cls, original, new_name, cloudformation_json, *args, **kwargs)
        return _policy(repo if repo is not None else original, cloudformation_json)

    Repository.create_from_cloudformation_json = classmethod(created)  # type: ignore[assignment]
    Repository.update_from_cloudformation_json = classmethod(updated)  # type: ignore[assignment]


def install() -> None:
    _patch_update_diff()
    _patch_ecr_repository_policy()
    _patch_elbv2_full_names()
    ecs_models.Service.create_from_cloudformation_json = classmethod(_service_create_from_cfn)  # type: ignore[assignment]
    # the model list is cached on first use; make sure ours are in it
    from moto.cloudformation import parsing

    for fn in (parsing.get_model_list, parsing.get_model_map, parsing.get_name_type_map):
        fn.cache_clear()
