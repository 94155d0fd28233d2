"""Small corrections of moto 5.2.5 where it disagrees with AWS."""

from __future__ import annotations

from typing import Any


def install() -> None:
    from moto.cloudfront import models as cf

    # CloudFront invalidations: AWS reports "InProgress" then "Completed"; moto says "COMPLETED".
    orig_init = cf.Invalidation.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        orig_init(self, *args, **kwargs)
        if getattr(self, "status", None) == "COMPLETED":
            self.status = "Completed"

    cf.Invalidation.__init__ = init  # type: ignore[method-assign]
