"""AWS::ECS::TaskDefinition keeps TaskRoleArn, ExecutionRoleArn and NetworkMode (moto 5.2.5 drops them).

Without them a revision registered from the stack's one carries no roles, so the ``iam:PassRole``
AWS authorises on RegisterTaskDefinition (iam_requests) would never be exercised locally.
"""

from __future__ import annotations

from typing import Any

_KEEP = {"TaskRoleArn": "task_role_arn", "ExecutionRoleArn": "execution_role_arn", "NetworkMode": "network_mode"}


def _keep(td: Any, cloudformation_json: Any) -> Any:
    props = (cloudformation_json or {}).get("Properties", {})
    for cfn_key, attr in _KEEP.items():
        if props.get(cfn_key):
            setattr(td, attr, props[cfn_key])
    return td


def install() -> None:
    from moto.ecs.models import TaskDefinition

    orig_create = TaskDefinition.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]
    orig_update = TaskDefinition.update_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def create(cls: Any, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kw: Any) -> Any:
        td = orig_create(cls, resource_name=resource_name, cloudformation_json=cloudformation_json,
                         account_id=account_id, region_name=region_name, **kw)
        return _keep(td, cloudformation_json)

    def update(cls: Any, original_resource: Any, new_resource_name: str, cloudformation_json: Any, account_id: str,
               region_name: str) -> Any:
        td = orig_update(cls, original_resource=original_resource, new_resource_name=new_resource_name,
                         cloudformation_json=cloudformation_json, account_id=account_id, region_name=region_name)
        return _keep(td, cloudformation_json)

    TaskDefinition.create_from_cloudformation_json = classmethod(create)  # type: ignore[assignment]
    TaskDefinition.update_from_cloudformation_json = classmethod(update)  # type: ignore[assignment]
