"""In-order log of every AWS request moto served (GET/DELETE /_sim/requests)."""

from __future__ import annotations

import threading
from typing import Any

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
        }
        _entries.append(entry)
        return entry


def snapshot() -> list[dict[str, Any]]:
    with _lock:
        return [dict(e) for e in _entries]


def clear() -> None:
    """Forget all entries; seq keeps counting so a stale reader never mistakes old for new."""
    with _lock:
        _entries.clear()
