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
