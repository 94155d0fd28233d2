"""deckhand's moto plugin: ECS rollout simulator, request log, CloudFormation types, ECR bridge.

Import it (``install()``) before ``moto.server.main`` builds the app; ``python -m
deckhand_moto_plugin --host 127.0.0.1 --port 4566`` does both.
"""

from __future__ import annotations

_installed = False


def install() -> None:
    global _installed
    if _installed:
        return
    from . import (bucket_policy, cfn, cfn_task_roles, cfn_vpc_origin, ecr_bridge, ecs_patch, fixes, s3_conditional,
                   web_identity, wsgi)

    wsgi.install()
    web_identity.install()
    cfn_task_roles.install()
    ecs_patch.install()
    fixes.install()
    cfn_vpc_origin.install()
    cfn.install()
    ecr_bridge.install()
    bucket_policy.install()
    s3_conditional.install()
    _installed = True
