"""Small corrections of moto 5.2.5 where it disagrees with AWS."""

from __future__ import annotations

from typing import Any


def _assoc(value: Any) -> dict[str, Any]:
    """FunctionAssociations / LambdaFunctionAssociations as the API shapes them."""
    if not isinstance(value, dict):
        return {"Quantity": 0}
    items = value.get("Items") or []
    if isinstance(items, dict):  # XML-parsed single element
        items = list(items.values())[0]
    if isinstance(items, dict):
        items = [items]
    out: dict[str, Any] = {"Quantity": len(items)}
    if items:
        out["Items"] = items
    return out


def install() -> None:
    from moto.cloudfront import models as cf

    # CloudFront invalidations: AWS reports "InProgress" then "Completed"; moto says "COMPLETED".
    orig_inv_init = cf.Invalidation.__init__

    def inv_init(self: Any, *args: Any, **kwargs: Any) -> None:
        orig_inv_init(self, *args, **kwargs)
        if getattr(self, "status", None) == "COMPLETED":
            self.status = "Completed"

    cf.Invalidation.__init__ = inv_init  # type: ignore[method-assign]

    # Cache behaviours: moto drops FunctionAssociations and LambdaFunctionAssociations.
    orig_cb_init = cf.DefaultCacheBehaviour.__init__

    def cb_init(self: Any, config: dict[str, Any]) -> None:
        orig_cb_init(self, config)
        self.function_associations = _assoc(config.get("FunctionAssociations"))
        self.lambda_function_associations = _assoc(config.get("LambdaFunctionAssociations"))

    cf.DefaultCacheBehaviour.__init__ = cb_init  # type: ignore[method-assign]

    # Origins: moto drops S3OriginConfig and OriginAccessControlId.
    orig_origin_init = cf.Origin.__init__

    def origin_init(self: Any, origin: dict[str, Any]) -> None:
        orig_origin_init(self, origin)
        if "S3OriginConfig" in origin:
            self.s3_origin_config = {
                "OriginAccessIdentity": (origin.get("S3OriginConfig") or {}).get("OriginAccessIdentity") or ""
            }
        self.origin_access_control_id = origin.get("OriginAccessControlId") or ""

    cf.Origin.__init__ = origin_init  # type: ignore[method-assign]

    install_ec2()
    install_ssm()


def install_ssm() -> None:
    """DescribeParameters: AWS returns each parameter's ARN and never its value; moto returns the
    value (decrypted or not) and no ARN. Its `Version` (ParameterMetadata.Version, which every
    PutParameter with Overwrite moves on) moto returns as AWS does.

    Paging: AWS answers a filtered DescribeParameters "on a best-effort basis ... The number of
    items returned, however, can be between zero and the value of MaxResults" with a NextToken
    while more may follow
    (https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_DescribeParameters.html);
    moto always fills its pages of 10. Here a filtered request gets one match a page (a NextToken
    while more match), so a client that reads only the first page misses parameters as it can on
    AWS; MaxResults outside 1..50 is the ValidationException AWS gives."""
    import contextvars

    from moto.ssm import models as ssm_models
    from moto.ssm import responses as ssm_responses
    from moto.ssm.utils import parameter_arn
    from moto.ssm.exceptions import ValidationException

    region_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("ssm_region", default=None)
    orig_describe = ssm_responses.SimpleSystemManagerResponse.describe_parameters
    orig_object = ssm_models.Parameter.describe_response_object

    def paged(self: Any) -> Any:
        from moto.core.responses import ActionResult

        filters = self._get_param("Filters")
        parameter_filters = self._get_param("ParameterFilters")
        max_results = self._get_param("MaxResults")
        if max_results is not None and not 1 <= int(max_results) <= 50:
            raise ValidationException(
                f"1 validation error detected: Value '{max_results}' at 'maxResults' failed to satisfy "
                "constraint: Member must have value less than or equal to 50")
        if not (filters or parameter_filters):
            return orig_describe(self)
        token = str(self._get_param("NextToken") or "0").strip() or "0"
        start = int(token) if token.isdigit() else 0
        result = self.ssm_backend.describe_parameters(filters, parameter_filters)
        response: dict[str, Any] = {
            "Parameters": [p.describe_response_object(False) for p in result[start:start + 1]]}
        if start + 1 < len(result):
            response["NextToken"] = str(start + 1)
        return ActionResult(response)

    def describe_parameters(self: Any) -> Any:
        token = region_var.set(self.region)
        try:
            return paged(self)
        finally:
            region_var.reset(token)

    def describe_response_object(self: Any, decrypt: bool = False, include_labels: bool = False) -> dict[str, Any]:
        r = orig_object(self, decrypt, include_labels)
        region = region_var.get()
        if region is not None:  # only inside DescribeParameters
            r.pop("Value", None)
            r["ARN"] = parameter_arn(self.account_id, region, self.name)
        return r

    ssm_responses.SimpleSystemManagerResponse.describe_parameters = describe_parameters  # type: ignore[method-assign]
    ssm_models.Parameter.describe_response_object = describe_response_object  # type: ignore[method-assign]


def install_ec2() -> None:
    """AWS::EC2::SecurityGroupIngress with SourcePrefixListId (moto 5.2.5 asserts on it)."""
    from moto.ec2.models import ec2_backends
    from moto.ec2.models.security_groups import SecurityGroupIngress

    orig = SecurityGroupIngress.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def create(cls: Any, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any) -> Any:
        props = cloudformation_json["Properties"]
        if not props.get("SourcePrefixListId"):
            return orig(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        backend = ec2_backends[account_id][region_name]
        if props.get("GroupId"):
            group = backend.describe_security_groups(group_ids=[props["GroupId"]])[0]
        else:
            group = backend.describe_security_groups(groupnames=[props["GroupName"]])[0]
        prefix = {"PrefixListId": props["SourcePrefixListId"]}
        if props.get("Description"):
            prefix["Description"] = props["Description"]
        backend.authorize_security_group_ingress(
            group_name_or_id=group.id,
            ip_protocol=str(props.get("IpProtocol")),
            from_port=props.get("FromPort"),
            to_port=props.get("ToPort"),
            ip_ranges=[],
            source_groups=[],
            prefix_list_ids=[prefix],
        )
        return cls(group, props)

    SecurityGroupIngress.create_from_cloudformation_json = classmethod(create)  # type: ignore[assignment]
