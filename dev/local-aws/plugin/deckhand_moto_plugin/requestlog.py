"""In-order log of every AWS request moto served (GET/DELETE /_sim/requests)."""

from __future__ import annotations

import threading
import time
from typing import Any, Optional

MAX_ENTRIES = 200_000  # oldest entries are dropped beyond this (seq keeps counting)

_lock = threading.Lock()
_entries: list[dict[str, Any]] = []
_seq = 0


def record(
    method: str, path: str, query: str, service: str, operation: str, write: bool, access_key_id: str | None
) -> dict[str, Any]:
    global _seq
    with _lock:
        _seq += 1
        entry = {
            "seq": _seq,
            "method": method,
            "path": path,
            "query": query,
            "service": service,
            "operation": operation,
            "write": write,
            "status": None,
            "access-key-id": access_key_id,
            # When the stack began serving it and how long that took (wall clock, seconds; "ms" is
            # set once the response is made): benchmarks tell tool time from time in the stack.
            "start": time.time(),
            "ms": None,
        }
        _entries.append(entry)
        if len(_entries) > MAX_ENTRIES:
            del _entries[: len(_entries) - MAX_ENTRIES]
        return entry


def snapshot(since: Optional[int] = None) -> list[dict[str, Any]]:
    """Entries with seq > `since` (all by default). Retained seqs are contiguous."""
    with _lock:
        start = 0
        if since is not None and _entries:
            start = max(0, min(len(_entries), since - _entries[0]["seq"] + 1))
        return [dict(e) for e in _entries[start:]]


def clear() -> None:
    """Forget all entries; seq keeps counting so a stale reader never mistakes old for new."""
    with _lock:
        _entries.clear()
