#!/usr/bin/env python3
"""Module graph of src/: fails on an import cycle between modules or an import that points up.

A module is a file (`src/a/b.rs` or `src/a/b/mod.rs` is `a::b`; `src/lib.rs` is the crate root).
Edges come from `crate::`, `super::` and `self::` paths (in `use` trees and in expressions) and
from uses of a child module declared with `mod x;`; a path resolves to the longest module it
names. Test code (`#[cfg(test)]` onwards, `tests.rs`) is ignored. LAYERS below is the declared
layering (DESIGN.md, "Layers"): a module may import its own layer or lower ones, never higher.

Usage: dev/ci/modgraph.py [SRC_DIR]   (prints the layer of every module with -v)
"""
import re
import sys
from pathlib import Path

# Longest prefix wins. Lower number = lower layer.
LAYERS = {
    "diagnose": (0, "leaves"),
    "output": (0, "leaves"),
    "github": (0, "leaves"),
    "step": (0, "leaves"),
    "timing": (0, "leaves"),
    "aws": (1, "aws"),
    "config": (2, "models"),
    "release": (2, "models"),
    "plan": (2, "models"),
    "image": (3, "steps"),
    "ecs": (3, "steps"),
    "site": (3, "steps"),
    "cdn": (3, "steps"),
    "secrets": (3, "steps"),
    "stack": (3, "steps"),
    "release::store": (3, "steps"),
    "release::lock": (3, "steps"),
    "release::history": (3, "steps"),
    "release::error": (3, "steps"),
    "backend": (4, "halves"),
    "frontend": (4, "halves"),
    "commands": (5, "commands"),
    "cli": (6, "top"),
    "reference": (6, "top"),  # test code only: the generated reference documents
    "": (6, "top"),  # lib.rs: lib::run, Error and the one renderer
}

PRELUDE = {"std", "core", "alloc"}


def module_of(src: Path, path: Path) -> str:
    rel = path.relative_to(src).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1]
    return "::".join(parts)


def strip_code(text: str) -> str:
    """Drops comments, strings and test code."""
    cut = text.find("#[cfg(test)]")
    if cut >= 0:
        text = text[:cut]
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r'r#*"(?:.|\n)*?"#*', '""', text)
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', text)
    text = re.sub(r"'(?:\\.|[^'\\])'", "''", text)
    return text


def expand_use(tree: str):
    """`a::{b, c::{d, e}}` -> [a::b, a::c::d, a::c::e] (renames and globs dropped)."""
    tree = re.sub(r"\s+as\s+\w+", "", tree)
    tree = re.sub(r"\s+", "", tree)
    out = []

    def walk(prefix, s):
        i = s.find("{")
        if i < 0:
            for item in s.split(","):
                if item:
                    out.append(prefix + item)
            return
        head = s[:i]
        depth, j = 0, i
        for j in range(i, len(s)):
            if s[j] == "{":
                depth += 1
            elif s[j] == "}":
                depth -= 1
                if depth == 0:
                    break
        inner = s[i + 1 : j]
        # split inner at top-level commas
        parts, depth, cur = [], 0, ""
        for ch in inner:
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            if ch == "," and depth == 0:
                parts.append(cur)
                cur = ""
            else:
                cur += ch
        parts.append(cur)
        for p in parts:
            if p:
                walk(prefix + head, p)
        rest = s[j + 1 :].lstrip(",")
        if rest:
            walk(prefix, rest)

    walk("", tree)
    return out


def resolve(segments, modules):
    """Longest module named by the segments (absolute, from the crate root)."""
    for n in range(len(segments), -1, -1):
        cand = "::".join(segments[:n])
        if cand in modules:
            return cand
    return ""


def absolute(mod: str, path: str, children):
    segs = [s for s in path.split("::") if s]
    if not segs:
        return None
    base = mod.split("::") if mod else []
    if segs[0] == "crate":
        return segs[1:]
    if segs[0] == "self":
        return base + segs[1:]
    if segs[0] == "super":
        cur = list(base)
        while segs and segs[0] == "super":
            cur = cur[:-1]
            segs = segs[1:]
        return cur + segs
    if segs[0] in children:
        return base + segs
    return None


def layer_of(mod: str):
    if mod == "":
        return LAYERS[""]
    segs = mod.split("::")
    for n in range(len(segs), 0, -1):
        key = "::".join(segs[:n])
        if key in LAYERS:
            return LAYERS[key]
    return None


def main() -> int:
    args = [a for a in sys.argv[1:] if not a.startswith("-")]
    verbose = "-v" in sys.argv
    src = Path(args[0] if args else "src")
    files = {}
    for p in sorted(src.rglob("*.rs")):
        if p.name == "tests.rs" or p.name == "main.rs":
            continue
        files[module_of(src, p)] = p
    modules = set(files)
    edges = {m: {} for m in modules}
    for mod, path in files.items():
        code = strip_code(path.read_text())
        children = set(re.findall(r"^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;", code, re.M))
        refs = []
        for m in re.finditer(r"\buse\s+([^;]+);", code):
            for p in expand_use(m.group(1)):
                refs.append(p)
        body = re.sub(r"\buse\s+[^;]+;", "", code)
        refs += re.findall(r"\b((?:crate|super|self)(?:::\w+)+)", body)
        for c in children:
            if re.search(rf"(?<![:\w]){c}::", body):
                refs.append(f"{c}::")
        for r in refs:
            segs = absolute(mod, r, children)
            if segs is None or (segs and segs[0] in PRELUDE):
                continue
            target = resolve(segs, modules)
            if target != mod and target in modules:
                edges[mod].setdefault(target, r)
    failed = False
    if verbose:
        for m in sorted(modules):
            print(f"{layer_of(m)}\t{m or '(crate root)'}")
    # Layer violations.
    for a in sorted(edges):
        la = layer_of(a)
        if la is None:
            print(f"error: module `{a}` has no layer in dev/ci/modgraph.py LAYERS")
            failed = True
            continue
        for b, via in sorted(edges[a].items()):
            lb = layer_of(b)
            if lb is not None and lb[0] > la[0]:
                print(
                    f"error: `{a or 'crate'}` ({la[1]}) imports `{b or 'crate'}` ({lb[1]}), a layer above it (via `{via}`)"
                )
                failed = True
    # Cycles (Tarjan's SCCs).
    index, low, stack, on, sccs = {}, {}, [], set(), []
    counter = [0]

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                sccs.append(comp)

    sys.setrecursionlimit(10000)
    for v in sorted(modules):
        if v not in index:
            strong(v)
    for comp in sccs:
        comp_set = set(comp)
        # Name one concrete cycle inside the component.
        start = sorted(comp)[0]
        path, seen = [start], {start}
        cur = start
        while True:
            nxt = sorted(w for w in edges[cur] if w in comp_set)
            back = [w for w in nxt if w == start]
            if back and len(path) > 1:
                break
            fresh = [w for w in nxt if w not in seen]
            if not fresh:
                break
            cur = fresh[0]
            path.append(cur)
            seen.add(cur)
        names = " -> ".join((m or "crate") for m in path + [start])
        print(f"error: import cycle between {len(comp)} modules: {names}")
        for m in sorted(comp):
            for w in sorted(edges[m]):
                if w in comp_set:
                    print(f"    {m or 'crate'} -> {w or 'crate'} (via `{edges[m][w]}`)")
        failed = True
    n_edges = sum(len(v) for v in edges.values())
    if failed:
        return 1
    print(f"module graph: {len(modules)} modules, {n_edges} imports, acyclic, layers point down")
    return 0


if __name__ == "__main__":
    sys.exit(main())
