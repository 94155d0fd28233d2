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
    from . import ecs_patch, fixes, wsgi

    wsgi.install()
    ecs_patch.install()
    fixes.install()
    try:
        from . import cfn

        cfn.install()
    except ImportError:
        pass
    try:
        from . import ecr_bridge

        ecr_bridge.install()
    except ImportError:
        pass
    _installed = True
