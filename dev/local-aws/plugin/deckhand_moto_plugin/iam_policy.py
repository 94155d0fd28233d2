"""IAM policy evaluation as AWS documents it, for identity and resource policies.

Statements match on Action/NotAction (case-insensitive wildcards), Resource/NotResource (wildcards),
Principal/NotPrincipal (resource and trust policies) and Condition (every operator, every key, any
value; ``IfExists``, ``ForAllValues:``/``ForAnyValue:``, negated operators true on a missing key).
An explicit Deny wins over any Allow; nothing matching is an implicit deny.
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any, Iterable, Optional

Context = dict[str, Any]  # condition key (any case) -> str or list[str]


@dataclass
class Decision:
    effect: str  # "Allow", "Deny" (explicit) or "ImplicitDeny"
    statement: Optional[dict[str, Any]] = None
    policy: Optional[str] = None  # name/ARN of the policy holding the statement


@lru_cache(maxsize=4096)
def _wild(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    rx = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(rx, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def wildcard(pattern: str, value: str, ignore_case: bool = False) -> bool:
    return _wild(pattern, ignore_case).fullmatch(value) is not None


def _list(v: Any) -> list[Any]:
    if v is None:
        return []
    return v if isinstance(v, list) else [v]


def arn_like(pattern: str, arn: str) -> bool:
    """ArnLike: each of the six colon-separated parts matched on its own."""
    p, a = pattern.split(":", 5), arn.split(":", 5)
    if len(p) != 6 or len(a) != 6:
        return wildcard(pattern, arn)
    return all(wildcard(x, y) for x, y in zip(p, a))


def _substitute(value: str, ctx: Context) -> str:
    """Policy variables: ${aws:username}, ${aws:PrincipalTag/x}, ${*}, ${?}, ${$}."""
    def var(m: re.Match[str]) -> str:
        name = m.group(1)
        if name in ("*", "?", "$"):
            return name
        got = get(ctx, name)
        return str(got[0]) if got else m.group(0)

    return re.sub(r"\$\{([^}]+)\}", var, value) if "${" in value else value


def get(ctx: Context, key: str) -> list[str]:
    """Values of a context key (keys are case-insensitive); [] when absent."""
    lk = key.lower()
    for k, v in ctx.items():
        if k.lower() == lk:
            return [str(x) for x in _list(v)]
    return []


def has(ctx: Context, key: str) -> bool:
    lk = key.lower()
    return any(k.lower() == lk for k in ctx)


def _date(v: str) -> float:
    try:
        return float(v)
    except ValueError:
        return datetime.fromisoformat(v.replace("Z", "+00:00")).replace(tzinfo=timezone.utc).timestamp()


def _cmp(base: str, actual: str, expected: str) -> bool:
    b = base.lower()
    try:
        if b.startswith("string"):
            ic = "ignorecase" in b
            if b in ("stringequals", "stringnotequals", "stringequalsignorecase", "stringnotequalsignorecase"):
                return actual.lower() == expected.lower() if ic else actual == expected
            return wildcard(expected, actual)  # StringLike / StringNotLike
        if b.startswith("arn"):
            return arn_like(expected, actual)
        if b.startswith("numeric"):
            x, y = float(actual), float(expected)
            return {"numericequals": x == y, "numericnotequals": x == y, "numericlessthan": x < y,
                    "numericlessthanequals": x <= y, "numericgreaterthan": x > y,
                    "numericgreaterthanequals": x >= y}[b]
        if b.startswith("date"):
            x, y = _date(actual), _date(expected)
            return {"dateequals": x == y, "datenotequals": x == y, "datelessthan": x < y,
                    "datelessthanequals": x <= y, "dategreaterthan": x > y, "dategreaterthanequals": x >= y}[b]
        if b == "bool":
            return actual.lower() == str(expected).lower()
        if b in ("ipaddress", "notipaddress"):
            return ipaddress.ip_address(actual) in ipaddress.ip_network(expected, strict=False)
        if b == "binaryequals":
            return actual == expected
    except (ValueError, KeyError):
        return False
    raise ValueError(f"unsupported condition operator {base}")


_NEGATED = {"stringnotequals", "stringnotequalsignorecase", "stringnotlike", "arnnotequals", "arnnotlike",
            "numericnotequals", "datenotequals", "notipaddress"}


def condition_matches(condition: dict[str, Any], ctx: Context) -> bool:
    for op, tests in (condition or {}).items():
        qualifier, _, base = op.rpartition(":")
        if_exists = base.lower().endswith("ifexists")
        if if_exists:
            base = base[: -len("IfExists")]
        negated = base.lower() in _NEGATED
        for key, expected in (tests or {}).items():
            expected_values = [_substitute(str(e), ctx) for e in _list(expected)]
            if base.lower() == "null":
                absent = not has(ctx, key) or not get(ctx, key)
                if not any(absent == (str(e).lower() == "true") for e in expected_values):
                    return False
                continue
            actual = get(ctx, key)
            if not has(ctx, key):
                if if_exists or negated or qualifier.lower() == "forallvalues":
                    continue
                return False
            if qualifier.lower() == "forallvalues":
                ok = all(any(_cmp(base, a, e) for e in expected_values) for a in actual)
                ok = (not ok) if negated else ok
            elif negated:
                ok = not any(_cmp(base, a, e) for a in actual for e in expected_values)
            else:
                ok = any(_cmp(base, a, e) for a in actual for e in expected_values)
            if not ok:
                return False
    return True


def _principal_matches(principal: Any, caller: dict[str, list[str]]) -> bool:
    """`caller` maps principal type (AWS, Federated, Service) to the identifiers naming the caller."""
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    for ptype, ids in principal.items():
        for pid in _list(ids):
            pid = str(pid)
            if pid == "*" and ptype == "AWS":
                return True
            for c in caller.get(ptype, []):
                if pid == c or (ptype == "AWS" and re.fullmatch(r"\d{12}", pid) and c == f"arn:aws:iam::{pid}:root"):
                    return True
    return False


def statement_matches(
    s: dict[str, Any], action: str, resource: Optional[str], ctx: Context,
    caller: Optional[dict[str, list[str]]] = None,
) -> bool:
    if "NotAction" in s:
        if any(wildcard(str(p), action, True) for p in _list(s["NotAction"])):
            return False
    elif not any(wildcard(str(p), action, True) for p in _list(s.get("Action"))):
        return False
    if resource is not None:
        if "NotResource" in s:
            if any(wildcard(_substitute(str(p), ctx), resource) for p in _list(s["NotResource"])):
                return False
        elif "Resource" in s:
            if not any(wildcard(_substitute(str(p), ctx), resource) for p in _list(s["Resource"])):
                return False
        elif caller is None:
            return False  # an identity policy statement without Resource is invalid
    if caller is not None:
        if "NotPrincipal" in s:
            if _principal_matches(s["NotPrincipal"], caller):
                return False
        elif "Principal" in s and not _principal_matches(s["Principal"], caller):
            return False
    return condition_matches(s.get("Condition") or {}, ctx)


def statements(document: Any) -> list[dict[str, Any]]:
    doc = json.loads(document) if isinstance(document, str) else document
    return [s for s in _list((doc or {}).get("Statement")) if isinstance(s, dict)]


def evaluate(
    policies: Iterable[tuple[str, Any]], action: str, resource: Optional[str], ctx: Context,
    caller: Optional[dict[str, list[str]]] = None,
) -> Decision:
    """`policies`: (name, document). Explicit Deny > Allow > implicit deny."""
    allow: Optional[Decision] = None
    for name, doc in policies:
        for s in statements(doc):
            if not statement_matches(s, action, resource, ctx, caller):
                continue
            if s.get("Effect") == "Deny":
                return Decision("Deny", s, name)
            if s.get("Effect") == "Allow" and allow is None:
                allow = Decision("Allow", s, name)
    return allow or Decision("ImplicitDeny")
