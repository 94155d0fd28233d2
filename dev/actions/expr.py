"""GitHub Actions expressions (`${{ }}`), as the runner evaluates them.

What is here is what GitHub documents ("Evaluate expressions in workflows and actions"):
literals (null, booleans, numbers, 'strings' with '' escapes), property access (`a.b`, `a.b-c`,
`a['b']`, `a[0]`), `!`, `<`, `<=`, `>`, `>=`, `==`, `!=`, `&&`, `||`, parentheses, and the functions
contains, startsWith, endsWith, format, join, toJSON, fromJSON, hashFiles, success, always, failure,
cancelled. Loose equality coerces to numbers across types, string comparison ignores case, `&&`/`||`
return an operand. Anything else (object filters `a.*.b`, unknown functions, unknown contexts, an
object interpolated into a string) raises ExprError: the rehearsal fails loudly, it never guesses.
"""

from __future__ import annotations

import glob
import hashlib
import json
import math
import os
import re
from typing import Any, Callable


class ExprError(Exception):
    pass


_TOKEN = re.compile(
    r"""\s*(?:
      (?P<num>0x[0-9a-fA-F]+|-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)
    | (?P<str>'(?:[^']|'')*')
    | (?P<op>==|!=|<=|>=|&&|\|\||[<>!()\[\].,*])
    | (?P<ident>[A-Za-z_][A-Za-z0-9_-]*)
    )""",
    re.VERBOSE,
)


def tokenize(src: str) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    pos = 0
    src = src.rstrip()
    while pos < len(src):
        m = _TOKEN.match(src, pos)
        if not m or m.end() == pos:
            raise ExprError(f"unexpected character at {pos} in expression `{src}`: {src[pos:pos + 10]!r}")
        pos = m.end()
        if m.group("num") is not None:
            text = m.group("num")
            out.append(("lit", float(int(text, 16)) if text.startswith("0x") else float(text)))
        elif m.group("str") is not None:
            out.append(("lit", m.group("str")[1:-1].replace("''", "'")))
        elif m.group("op") is not None:
            out.append(("op", m.group("op")))
        else:
            word = m.group("ident")
            if word == "true":
                out.append(("lit", True))
            elif word == "false":
                out.append(("lit", False))
            elif word == "null":
                out.append(("lit", None))
            else:
                out.append(("ident", word))
    out.append(("end", None))
    return out


# --- value semantics ------------------------------------------------------------------------

def to_number(v: Any) -> float:
    if v is None:
        return 0.0
    if isinstance(v, bool):
        return 1.0 if v else 0.0
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str):
        s = v.strip()
        if s == "":
            return 0.0
        try:
            return float(int(s, 16)) if s.lower().startswith("0x") else float(s)
        except ValueError:
            return math.nan
    return math.nan


def truthy(v: Any) -> bool:
    if v is None or v is False:
        return False
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return not (v == 0 or math.isnan(v))
    if isinstance(v, str):
        return v != ""
    return True


def _kind(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    return "object"


def equals(a: Any, b: Any) -> bool:
    ka, kb = _kind(a), _kind(b)
    if ka == kb:
        if ka == "string":
            return a.lower() == b.lower()
        if ka == "number":
            return float(a) == float(b)
        if ka == "object":
            return a is b
        return a == b
    if ka == "object" or kb == "object":
        return False
    return to_number(a) == to_number(b)


def compare(a: Any, b: Any) -> float | None:
    """<0, 0, >0, or None when not comparable (NaN)."""
    ka, kb = _kind(a), _kind(b)
    if ka == kb == "string":
        x, y = a.lower(), b.lower()
        return (x > y) - (x < y)
    x, y = to_number(a), to_number(b)
    if math.isnan(x) or math.isnan(y):
        return None
    return (x > y) - (x < y)


def to_string(v: Any) -> str:
    if v is None:
        return ""
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, (int, float)):
        f = float(v)
        if math.isnan(f):
            return "NaN"
        if f.is_integer() and abs(f) < 1e15:
            return str(int(f))
        return repr(f)
    if isinstance(v, str):
        return v
    raise ExprError("an object or array cannot be interpolated into a string (use toJSON)")


def to_json(v: Any) -> str:
    def norm(x: Any) -> Any:
        if isinstance(x, float) and x.is_integer():
            return int(x)
        if isinstance(x, dict):
            return {k: norm(y) for k, y in x.items()}
        if isinstance(x, list):
            return [norm(y) for y in x]
        return x
    return json.dumps(norm(v), indent=2)


def from_json_value(x: Any) -> Any:
    if isinstance(x, bool) or x is None or isinstance(x, str):
        return x
    if isinstance(x, (int, float)):
        return float(x)
    if isinstance(x, dict):
        return {k: from_json_value(y) for k, y in x.items()}
    if isinstance(x, list):
        return [from_json_value(y) for y in x]
    return x


# --- evaluation -----------------------------------------------------------------------------

class Env:
    """What an expression can see: contexts by name, a status for success()/failure(), a workspace
    for hashFiles()."""

    def __init__(self, contexts: dict[str, Any], *, status: Callable[[], str] | None = None,
                 workspace: str | None = None, allowed: set[str] | None = None):
        self.contexts = contexts
        self.status = status or (lambda: "success")
        self.workspace = workspace
        self.allowed = allowed


class _Parser:
    def __init__(self, src: str, env: Env):
        self.src = src
        self.toks = tokenize(src)
        self.i = 0
        self.env = env

    def peek(self) -> tuple[str, Any]:
        return self.toks[self.i]

    def next(self) -> tuple[str, Any]:
        t = self.toks[self.i]
        self.i += 1
        return t

    def expect(self, op: str) -> None:
        t = self.next()
        if t != ("op", op):
            raise ExprError(f"expected `{op}` in expression `{self.src}`, got {t[1]!r}")

    def parse(self) -> Any:
        v = self.or_()
        if self.peek()[0] != "end":
            raise ExprError(f"unexpected {self.peek()[1]!r} in expression `{self.src}`")
        return v

    # Operators are evaluated eagerly but && / || keep GitHub's short-circuit result values.
    def or_(self) -> Any:
        v = self.and_()
        while self.peek() == ("op", "||"):
            self.next()
            rhs = self.and_()
            v = v if truthy(v) else rhs
        return v

    def and_(self) -> Any:
        v = self.eq()
        while self.peek() == ("op", "&&"):
            self.next()
            rhs = self.eq()
            v = rhs if truthy(v) else v
        return v

    def eq(self) -> Any:
        v = self.cmp()
        while self.peek() in (("op", "=="), ("op", "!=")):
            op = self.next()[1]
            rhs = self.cmp()
            r = equals(v, rhs)
            v = r if op == "==" else not r
        return v

    def cmp(self) -> Any:
        v = self.unary()
        while self.peek() in (("op", "<"), ("op", "<="), ("op", ">"), ("op", ">=")):
            op = self.next()[1]
            rhs = self.unary()
            c = compare(v, rhs)
            if c is None:
                v = False
            else:
                v = {"<": c < 0, "<=": c <= 0, ">": c > 0, ">=": c >= 0}[op]
        return v

    def unary(self) -> Any:
        if self.peek() == ("op", "!"):
            self.next()
            return not truthy(self.unary())
        return self.postfix()

    def postfix(self) -> Any:
        v = self.primary()
        while True:
            t = self.peek()
            if t == ("op", "."):
                self.next()
                name = self.next()
                if name == ("op", "*"):
                    raise ExprError(f"object filters (`.*`) are not supported by the rehearsal: `{self.src}`")
                if name[0] not in ("ident",) and not (name[0] == "lit" and isinstance(name[1], bool)):
                    raise ExprError(f"expected a property name after `.` in `{self.src}`")
                key = name[1] if name[0] == "ident" else ("true" if name[1] else "false")
                v = self.index(v, key)
            elif t == ("op", "["):
                self.next()
                if self.peek() == ("op", "*"):
                    raise ExprError(f"object filters (`[*]`) are not supported by the rehearsal: `{self.src}`")
                key = self.or_()
                self.expect("]")
                v = self.index(v, key)
            else:
                return v

    @staticmethod
    def index(v: Any, key: Any) -> Any:
        if isinstance(v, dict):
            if not isinstance(key, str):
                key = to_string(key)
            if key in v:
                return v[key]
            lower = key.lower()
            for k, x in v.items():
                if k.lower() == lower:
                    return x
            return None
        if isinstance(v, list):
            n = to_number(key)
            if math.isnan(n) or not float(n).is_integer() or n < 0 or n >= len(v):
                return None
            return v[int(n)]
        return None

    def primary(self) -> Any:
        t = self.next()
        if t[0] == "lit":
            return t[1]
        if t == ("op", "("):
            v = self.or_()
            self.expect(")")
            return v
        if t[0] == "ident":
            name = t[1]
            if self.peek() == ("op", "("):
                self.next()
                args = []
                if self.peek() != ("op", ")"):
                    args.append(self.or_())
                    while self.peek() == ("op", ","):
                        self.next()
                        args.append(self.or_())
                self.expect(")")
                return self.call(name, args)
            if self.env.allowed is not None and name not in self.env.allowed:
                raise ExprError(f"context `{name}` is not available here (available: {', '.join(sorted(self.env.allowed))}): `{self.src}`")
            if name not in self.env.contexts:
                raise ExprError(f"unrecognized named-value `{name}` in `{self.src}`")
            return self.env.contexts[name]
        raise ExprError(f"unexpected {t[1]!r} in expression `{self.src}`")

    def call(self, name: str, args: list[Any]) -> Any:
        lname = name.lower()

        def arity(lo: int, hi: int | None = None) -> None:
            hi = lo if hi is None else hi
            if not (lo <= len(args) <= hi):
                raise ExprError(f"{name}() takes {lo}{'' if hi == lo else f'..{hi}'} arguments, got {len(args)}: `{self.src}`")

        if lname == "contains":
            arity(2)
            hay, needle = args
            if isinstance(hay, list):
                return any(equals(x, needle) for x in hay)
            return to_string(needle).lower() in to_string(hay).lower()
        if lname == "startswith":
            arity(2)
            return to_string(args[0]).lower().startswith(to_string(args[1]).lower())
        if lname == "endswith":
            arity(2)
            return to_string(args[0]).lower().endswith(to_string(args[1]).lower())
        if lname == "format":
            if not args:
                raise ExprError(f"format() needs a format string: `{self.src}`")
            fmt, rest = to_string(args[0]), args[1:]

            def sub(m: re.Match) -> str:
                if m.group(0) == "{{":
                    return "{"
                if m.group(0) == "}}":
                    return "}"
                i = int(m.group(1))
                if i >= len(rest):
                    raise ExprError(f"format(): no argument {{{i}}} in `{self.src}`")
                return to_string(rest[i])
            return re.sub(r"\{\{|\}\}|\{(\d+)\}", sub, fmt)
        if lname == "join":
            arity(1, 2)
            sep = to_string(args[1]) if len(args) == 2 else ","
            if isinstance(args[0], list):
                return sep.join(to_string(x) for x in args[0])
            return to_string(args[0])
        if lname == "tojson":
            arity(1)
            return to_json(args[0])
        if lname == "fromjson":
            arity(1)
            try:
                return from_json_value(json.loads(to_string(args[0])))
            except json.JSONDecodeError as e:
                raise ExprError(f"fromJSON(): {e} in `{self.src}`") from None
        if lname == "hashfiles":
            if not args:
                raise ExprError(f"hashFiles() needs a pattern: `{self.src}`")
            return hash_files(self.env.workspace, [to_string(a) for a in args])
        if lname in ("success", "always", "failure", "cancelled"):
            arity(0)
            status = self.env.status()
            return {"success": status == "success", "always": True,
                    "failure": status == "failure", "cancelled": status == "cancelled"}[lname]
        raise ExprError(f"function {name}() is not supported: `{self.src}`")


def hash_files(workspace: str | None, patterns: list[str]) -> str:
    """hashFiles(): sha256 over the sha256 of each matched file, in path order; '' when none."""
    if not workspace:
        raise ExprError("hashFiles() needs a workspace")
    include: set[str] = set()
    for pattern in patterns:
        for line in pattern.splitlines():
            line = line.strip()
            if not line:
                continue
            neg = line.startswith("!")
            pat = line[1:] if neg else line
            matched = {p for p in glob.glob(os.path.join(workspace, pat), recursive=True) if os.path.isfile(p)}
            include = include - matched if neg else include | matched
    if not include:
        return ""
    outer = hashlib.sha256()
    for p in sorted(include):
        with open(p, "rb") as f:
            outer.update(hashlib.sha256(f.read()).digest())
    return outer.hexdigest()


def evaluate(src: str, env: Env) -> Any:
    return _Parser(src, env).parse()


def _split(text: str) -> list[tuple[bool, str]]:
    """Splits a template into (is_expr, text) parts; `}}` inside a string literal does not close."""
    parts: list[tuple[bool, str]] = []
    i = 0
    while True:
        j = text.find("${{", i)
        if j < 0:
            parts.append((False, text[i:]))
            return parts
        parts.append((False, text[i:j]))
        k = j + 3
        in_str = False
        while k < len(text):
            c = text[k]
            if in_str:
                if c == "'":
                    if k + 1 < len(text) and text[k + 1] == "'":
                        k += 1
                    else:
                        in_str = False
            elif c == "'":
                in_str = True
            elif text.startswith("}}", k):
                break
            k += 1
        else:
            raise ExprError(f"unterminated `${{{{` in {text!r}")
        parts.append((True, text[j + 3:k]))
        i = k + 2


def interpolate(text: Any, env: Env) -> Any:
    """A workflow value: a string whose `${{ }}` are replaced. A value that is exactly one expression
    keeps the expression's type (GitHub does the same for `if:` and `with:`)."""
    if not isinstance(text, str):
        return text
    parts = _split(text)
    exprs = [p for p in parts if p[0]]
    if not exprs:
        return text
    if len(parts) == 3 and parts[0] == (False, "") and parts[2] == (False, "") and parts[1][0]:
        return evaluate(parts[1][1], env)
    return "".join(to_string(evaluate(s, env)) if is_expr else s for is_expr, s in parts)


def interpolate_str(text: Any, env: Env) -> str:
    return to_string(interpolate(text, env)) if isinstance(text, str) else scalar_str(text)


def scalar_str(v: Any) -> str:
    """A YAML scalar as the string the runner passes (`true`, `22`)."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return to_string(float(v))
    if isinstance(v, str):
        return v
    raise ExprError(f"expected a scalar, got {type(v).__name__}: {v!r}")


_STATUS_FN = re.compile(r"\b(success|always|failure|cancelled)\s*\(", re.IGNORECASE)


def condition(text: Any, env: Env) -> bool:
    """An `if:`: `${{ }}` optional; without a status function it means `success() && (…)`."""
    if text is None:
        return env.status() == "success"
    if isinstance(text, bool):
        return text and env.status() == "success"
    s = str(text).strip()
    if s.startswith("${{") and s.endswith("}}") and len(_split(s)) == 3:
        s = s[3:-2]
    elif "${{" in s:
        return truthy(interpolate(s, env)) and env.status() == "success"
    value = truthy(evaluate(s, env))
    if _STATUS_FN.search(s):
        return value
    return value and env.status() == "success"
