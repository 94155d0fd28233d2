"""Fault injection from outside the client: hold a marked client's writes after its Nth.

A test that wants "the process dies right after its Nth AWS write" (SIGKILL at any write, with no
hook in the code under test) marks the client by its access key id and arms a fault:

    PUT /_sim/faults/<akid> {"hold-after-writes": N}

The first N write requests (``ops.is_write``: everything but Describe*/List*/Get*/Head*/…) signed
with that key id are served as usual; every later write from it is *held*: moto never sees it, the
request thread waits. Reads keep being served (a client that polls while its write hangs is not
stopped by the fault). ``GET /_sim/faults/<akid>?wait=S`` answers once a write is held *and* the N
served writes have all finished (a concurrent client may have several in flight), or after S
seconds — ``holding`` says which. The test then kills the client (its process is now exactly
"killed after its Nth write") and ends the fault:

    DELETE /_sim/faults/<akid>                 drop the held writes (answered 503, never served), disarm
    POST   /_sim/faults/<akid>/release         serve the held writes now, disarm

``"uncounted-paths": [REGEX, …]`` (matched against the request path) are writes the fault neither
counts nor holds — e.g. a lock's heartbeat renewals, whose number depends on timing, so that "the
Nth write" is the same write on every run.

``release`` lets a test pause a live client at a precise point (do something else meanwhile) and
then let it go on. A held write is dropped by itself after ``MAX_HOLD_SECONDS`` (a test that died
leaves no thread waiting forever). ``POST /moto-api/reset`` drops every held write.

Each held request's log entry (``/_sim/requests``) gets ``"fault": "held"``, then ``"dropped"`` or
``"released"``; a dropped one keeps ``status`` 503.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Optional

MAX_HOLD_SECONDS = 600.0

_cond = threading.Condition()


@dataclass
class _Ticket:
    entry: dict[str, Any]
    outcome: Optional[str] = None  # "drop" | "serve"


@dataclass
class _Fault:
    limit: int
    uncounted: list[re.Pattern[str]] = field(default_factory=list)
    served: int = 0
    in_flight: int = 0
    held: list[_Ticket] = field(default_factory=list)


_faults: dict[str, _Fault] = {}


def _end_all(fault: _Fault, outcome: str) -> None:
    for t in fault.held:
        if t.outcome is None:
            t.outcome = outcome
    _cond.notify_all()


def arm(akid: str, payload: dict[str, Any]) -> None:
    unknown = set(payload) - {"hold-after-writes", "uncounted-paths"}
    if unknown:
        raise ValueError(
            f"unknown fault key(s): {', '.join(sorted(unknown))} (known: hold-after-writes, uncounted-paths)"
        )
    n = payload.get("hold-after-writes")
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise ValueError("hold-after-writes must be an integer >= 0")
    paths = payload.get("uncounted-paths", [])
    if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
        raise ValueError("uncounted-paths must be a list of regular expressions")
    try:
        uncounted = [re.compile(p) for p in paths]
    except re.error as e:
        raise ValueError(f"uncounted-paths: {e}") from None
    with _cond:
        old = _faults.get(akid)
        if old is not None:
            _end_all(old, "drop")
        _faults[akid] = _Fault(limit=n, uncounted=uncounted)


def _view(akid: str, fault: Optional[_Fault]) -> dict[str, Any]:
    if fault is None:
        return {"access-key-id": akid, "armed": False, "holding": False, "held": 0}
    return {
        "access-key-id": akid,
        "armed": True,
        "hold-after-writes": fault.limit,
        "served": fault.served,
        "in-flight": fault.in_flight,
        "held": len(fault.held),
        # What a test waits for: a write is held and every write let through has been answered.
        "holding": bool(fault.held) and fault.in_flight == 0,
        "held-requests": [
            {"seq": t.entry["seq"], "operation": t.entry["operation"], "path": t.entry["path"]}
            for t in fault.held
        ],
    }


def state(akid: str, wait: float = 0.0) -> dict[str, Any]:
    """The fault's state; with `wait`, block up to that many seconds until it is holding."""
    deadline = time.monotonic() + max(0.0, min(wait, 120.0))
    with _cond:
        while True:
            fault = _faults.get(akid)
            view = _view(akid, fault)
            left = deadline - time.monotonic()
            if view["holding"] or fault is None or left <= 0:
                return view
            _cond.wait(left)


def end(akid: str, outcome: str) -> dict[str, Any]:
    """Disarm; held writes are dropped (`drop`) or served (`serve`). Answers the final state."""
    with _cond:
        fault = _faults.pop(akid, None)
        view = _view(akid, fault)
        if fault is not None:
            _end_all(fault, outcome)
        view["armed"] = False
        return view


def reset() -> None:
    with _cond:
        for fault in _faults.values():
            _end_all(fault, "drop")
        _faults.clear()


def gate(akid: Optional[str], write: bool, entry: dict[str, Any]) -> tuple[Optional[str], Optional[_Fault]]:
    """Called before a request is served. None: not under a fault. "pass": served and counted
    (call `done` with the fault after). "drop": held, then dropped (do not serve). "serve": held,
    then released."""
    if not write or akid is None:
        return None, None
    with _cond:
        fault = _faults.get(akid)
        if fault is None or any(p.search(entry["path"]) for p in fault.uncounted):
            return None, None
        if fault.served < fault.limit and not fault.held:
            fault.served += 1
            fault.in_flight += 1
            return "pass", fault
        ticket = _Ticket(entry)
        fault.held.append(ticket)
        entry["fault"] = "held"
        _cond.notify_all()
        deadline = time.monotonic() + MAX_HOLD_SECONDS
        while ticket.outcome is None:
            left = deadline - time.monotonic()
            if left <= 0:
                ticket.outcome = "drop"
                break
            _cond.wait(left)
        entry["fault"] = "dropped" if ticket.outcome == "drop" else "released"
        return ticket.outcome, None


def done(fault: _Fault) -> None:
    """A write that `gate` let through has been answered."""
    with _cond:
        if fault.in_flight > 0:
            fault.in_flight -= 1
            _cond.notify_all()
