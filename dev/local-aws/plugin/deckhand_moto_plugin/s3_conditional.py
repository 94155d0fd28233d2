"""S3 conditional writes as atomic as S3 makes them.

moto 5.2.5 answers ``If-None-Match: *`` and ``If-Match: <etag>`` on PutObject (and ``If-Match`` on
DeleteObject) with 412 PreconditionFailed, but checks the condition and then writes, with other
work in between and other request threads running: two conditional writes that arrive together can
both pass the check, so "exactly one taker wins" would hold locally only by luck. S3 evaluates the
condition and the write as one step, and a conditional write that races another write of the same
key answers 409 ``ConditionalRequestConflict`` (the client must not assume it won). Here:

* every PutObject / DeleteObject / CopyObject (destination) of one key runs under that key's lock,
  so a condition is checked and acted on with nothing in between;
* a *conditional* write (``If-Match`` / ``If-None-Match``) that finds another write of the same key
  in progress answers 409 ``ConditionalRequestConflict`` at once, as S3 may; unconditional writes
  wait their turn.
"""

from __future__ import annotations

import threading
from typing import Any, Callable
from xml.sax.saxutils import escape

_guard = threading.Lock()
_locks: dict[tuple[str, str], threading.Lock] = {}


def _lock_of(bucket: str, key: str) -> threading.Lock:
    with _guard:
        return _locks.setdefault((bucket, key), threading.Lock())


def _conflict(bucket: str, key: str) -> Any:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>ConditionalRequestConflict</Code>'
        "<Message>A conflicting operation occurred. If using PutObject you can retry the request."
        f"</Message><Key>{escape(key)}</Key><BucketName>{escape(bucket)}</BucketName></Error>"
    )
    return 409, {"Content-Type": "application/xml"}, body


def _conditional(headers: Any) -> bool:
    return bool(headers.get("If-Match") or headers.get("If-None-Match"))


def _serialised(original: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        bucket = self.bucket_name
        key = self.parse_key_name()
        lock = _lock_of(bucket, key)
        if _conditional(self.headers):
            if not lock.acquire(blocking=False):
                return _conflict(bucket, key)
        else:
            lock.acquire()
        try:
            return original(self, *args, **kwargs)
        finally:
            lock.release()

    wrapper.__name__ = original.__name__
    wrapper.__doc__ = original.__doc__
    return wrapper


def install() -> None:
    from moto.s3.responses import S3Response

    for name in ("put_object", "delete_object", "copy_object"):
        setattr(S3Response, name, _serialised(getattr(S3Response, name)))
