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
  wait their turn;
* DeleteObjects honours each object's ``ETag`` (S3's conditional deletes, general purpose buckets
  too: https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-deletes.html): an object
  whose current ETag is another (or that is gone) is not deleted, and the answer names it in an
  ``<Error>`` with ``PreconditionFailed`` (``NoSuchKey`` when gone) while the others are deleted.
  moto 5.2 ignores the element and deletes whatever is there.
"""

from __future__ import annotations

import threading
from typing import Any, Callable
from xml.sax.saxutils import escape

import xmltodict

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


def _delete_result(deleted: list[str], errors: list[tuple[str, str, str]], quiet: bool) -> str:
    parts = ['<?xml version="1.0" encoding="UTF-8"?>\n<DeleteResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">']
    if not quiet:
        parts += [f"<Deleted><Key>{escape(k)}</Key></Deleted>" for k in deleted]
    parts += [
        f"<Error><Key>{escape(k)}</Key><Code>{code}</Code><Message>{escape(message)}</Message></Error>"
        for k, code, message in errors
    ]
    parts.append("</DeleteResult>")
    return "".join(parts)


def _conditional_delete_keys(original: Callable[..., Any]) -> Callable[..., Any]:
    """DeleteObjects with per-object ``ETag`` conditions, each checked and acted on under the
    key's lock (as PutObject's conditions are)."""

    def wrapper(self: Any, bucket_name: str, authenticated: bool = True) -> Any:
        try:
            body = xmltodict.parse(self.body, strip_whitespace=False)
            objects = body["Delete"].get("Object", [])
        except Exception:  # malformed: moto's own answer
            return original(self, bucket_name, authenticated)
        if not isinstance(objects, list):
            objects = [objects]
        conditional = [o for o in objects if isinstance(o, dict) and o.get("ETag")]
        if not conditional or not authenticated:
            return original(self, bucket_name, authenticated)
        keys = sorted({o["Key"] for o in conditional})
        locks = [_lock_of(bucket_name, k) for k in keys]
        for lock in locks:
            lock.acquire()
        try:
            bucket = self.backend.get_bucket(bucket_name)
            failed: list[tuple[str, str, str]] = []
            kept = []
            for o in objects:
                want = o.get("ETag") if isinstance(o, dict) else None
                if want:
                    # The current version (a delete marker has no ETag: the key is gone).
                    etag = getattr(bucket.keys.get(o["Key"]), "etag", None)
                    if etag is None:
                        failed.append((o["Key"], "NoSuchKey", "The specified key does not exist."))
                        continue
                    if etag.strip('"') != want.strip('"'):
                        failed.append((o["Key"], "PreconditionFailed", "At least one of the pre-conditions you specified did not hold"))
                        continue
                kept.append({k: v for k, v in o.items() if k != "ETag"})
            quiet = str(body["Delete"].get("Quiet", "false")).lower() == "true"
            if not kept:
                return 200, {"Content-Type": "application/xml"}, _delete_result([], failed, quiet)
            body["Delete"]["Object"] = kept
            self.body = xmltodict.unparse(body).encode()
            status, headers, text = original(self, bucket_name, authenticated)
            if failed and isinstance(text, (str, bytes)):
                text = text.decode() if isinstance(text, bytes) else text
                extra = "".join(
                    f"<Error><Key>{escape(k)}</Key><Code>{code}</Code><Message>{escape(m)}</Message></Error>" for k, code, m in failed
                )
                text = text.replace("</DeleteResult>", extra + "</DeleteResult>")
            return status, headers, text
        finally:
            for lock in reversed(locks):
                lock.release()

    wrapper.__name__ = original.__name__
    wrapper.__doc__ = original.__doc__
    return wrapper


def install() -> None:
    from moto.s3.responses import S3Response

    for name in ("put_object", "delete_object", "copy_object"):
        setattr(S3Response, name, _serialised(getattr(S3Response, name)))
    S3Response._bucket_response_delete_keys = _conditional_delete_keys(S3Response._bucket_response_delete_keys)
