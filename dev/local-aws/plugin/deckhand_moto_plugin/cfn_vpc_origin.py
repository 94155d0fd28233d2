"""AWS::CloudFront::VpcOrigin (moto 5.2.5 has no VPC origins) and a distribution origin's
VpcOriginConfig, which moto dropped.

A VPC origin points CloudFront at a load balancer (or instance) inside a VPC: CloudFront reaches it
through an interface it places there, never over the internet ("Restrict access with VPC origins",
CloudFront developer guide). CreateVpcOrigin (API reference) takes VpcOriginEndpointConfig {Name,
Arn, HTTPPort, HTTPSPort, OriginProtocolPolicy http-only|match-viewer|https-only,
OriginSslProtocols}; the resource's Ref and GetAtt Id are the origin's id, GetAtt Arn its ARN
(arn:aws:cloudfront::ACCOUNT:vpcorigin/ID). Here the endpoint must name an existing load balancer
(AWS refuses an unknown ARN) and the policy one of the three; the origin is kept in VPC_ORIGINS and
a distribution origin naming an unknown VpcOriginId is refused as CloudFront refuses it (here as
CreateStack's ValidationError, where AWS fails the resource).
"""

from __future__ import annotations

import random
import string
from datetime import datetime, timezone
from typing import Any

from moto.cloudformation.exceptions import UnformattedGetAttTemplateException, ValidationError
from moto.core.common_models import CloudFormationModel

VPC_ORIGINS: dict[str, "VpcOrigin"] = {}


class VpcOrigin:
    def __init__(self, account_id: str, config: dict[str, Any]):
        self.id = "vo_" + "".join(random.choices(string.ascii_letters + string.digits, k=22))
        self.arn = f"arn:aws:cloudfront::{account_id}:vpcorigin/{self.id}"
        self.account_id = account_id
        self.config = config
        self.created = datetime.now(timezone.utc)
        self.status = "Deployed"


class CloudFrontVpcOriginCfn(CloudFormationModel):
    def __init__(self, origin: VpcOrigin):
        self.origin = origin

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CloudFront::VpcOrigin"

    @property
    def physical_resource_id(self) -> str:
        return self.origin.id

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in ("Id", "Arn", "Status", "CreatedTime", "LastModifiedTime")

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        o = self.origin
        if attribute_name == "Id":
            return o.id
        if attribute_name == "Arn":
            return o.arn
        if attribute_name == "Status":
            return o.status
        if attribute_name in ("CreatedTime", "LastModifiedTime"):
            return o.created.isoformat()
        raise UnformattedGetAttTemplateException()

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> "CloudFrontVpcOriginCfn":
        from moto.elbv2.models import elbv2_backends

        config = dict(cloudformation_json["Properties"].get("VpcOriginEndpointConfig") or {})
        for key in ("Name", "Arn"):
            if not config.get(key):
                raise ValidationError(message=f"AWS::CloudFront::VpcOrigin {resource_name}: VpcOriginEndpointConfig.{key} is required")
        policy = config.setdefault("OriginProtocolPolicy", "match-viewer")
        if policy not in ("http-only", "match-viewer", "https-only"):
            raise ValidationError(message=f"AWS::CloudFront::VpcOrigin {resource_name}: OriginProtocolPolicy {policy!r} is not http-only, match-viewer or https-only")
        config.setdefault("HTTPPort", 80)
        config.setdefault("HTTPSPort", 443)
        arn = str(config["Arn"])
        region = arn.split(":")[3] if arn.count(":") >= 5 else region_name
        if arn not in elbv2_backends[account_id][region].load_balancers:
            raise ValidationError(message=f"AWS::CloudFront::VpcOrigin {resource_name}: {arn} is not a load balancer of this account")
        origin = VpcOrigin(account_id, config)
        VPC_ORIGINS[origin.id] = origin
        return cls(origin)

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[misc]
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
    ) -> None:
        VPC_ORIGINS.pop(resource_name, None)


def vpc_origin_config(origin_id: str, config: dict[str, Any]) -> dict[str, Any]:
    """A distribution origin's VpcOriginConfig as the API shapes it; its VPC origin must exist."""
    if config.get("VpcOriginId") not in VPC_ORIGINS:
        raise ValidationError(message=f"origin {origin_id}: VpcOriginConfig.VpcOriginId {config.get('VpcOriginId')!r} is no VPC origin of this account")
    out: dict[str, Any] = {"VpcOriginId": config["VpcOriginId"]}
    for k in ("OriginReadTimeout", "OriginKeepaliveTimeout", "OwnerAccountId"):
        if k in config:
            out[k] = int(config[k]) if k != "OwnerAccountId" else config[k]
    return out


def install() -> None:
    from moto.cloudfront import models as cf

    # Origins: moto drops VpcOriginConfig (fixes.py keeps S3OriginConfig / OAC the same way).
    orig_init = cf.Origin.__init__

    def origin_init(self: Any, origin: dict[str, Any]) -> None:
        orig_init(self, origin)
        self.vpc_origin_config = origin.get("VpcOriginConfig")

    cf.Origin.__init__ = origin_init  # type: ignore[method-assign]
