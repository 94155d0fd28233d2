#!/usr/bin/env python3
"""Fails when a file under SRC has more than MAX lines before its `#[cfg(test)]` tests.

Usage: dev/ci/filesize.py [SRC_DIR] [MAX]
"""
import sys
from pathlib import Path

src = Path(sys.argv[1] if len(sys.argv) > 1 else "src")
limit = int(sys.argv[2]) if len(sys.argv) > 2 else 600
over = []
for p in sorted(src.rglob("*.rs")):
    if p.name == "tests.rs":
        continue
    lines = p.read_text().splitlines()
    n = next((i for i, l in enumerate(lines) if l.strip() == "#[cfg(test)]"), len(lines))
    if n > limit:
        over.append((n, p))
for n, p in over:
    print(f"error: {p}: {n} lines before its tests (limit {limit}); split it")
if over:
    sys.exit(1)
print(f"file sizes: every file under {src}/ has at most {limit} lines (tests apart)")
