"""Copies of workflow files for action-validator 0.6.0 (the newest), whose schema predates the
`queue` key of a concurrency block (GitHub changelog 2026-05-07, "GitHub Actions concurrency groups
now allow larger queues": `queue: single` (the default) or `queue: max`, the latter only when
cancel-in-progress is false or not set). The copies leave out exactly those `queue:` lines, after
checking their values here; everything else is validated as written.

    python schema-copy.py OUT_DIR FILE...   prints the path of each file to validate (copy or original)
"""

from __future__ import annotations

import re
import sys
from pathlib import Path


def strip_queue(path: Path) -> tuple[str, int]:
    lines = path.read_text().splitlines(keepends=True)
    out, removed, block_indent = [], 0, None
    for n, line in enumerate(lines, 1):
        indent = len(line) - len(line.lstrip(" "))
        if block_indent is not None and line.strip() and indent <= block_indent:
            block_indent = None
        m = re.match(r"^(\s*)concurrency:\s*(#.*)?$", line)
        if m:
            block_indent = len(m.group(1))
        elif block_indent is not None and re.match(r"^\s+queue:", line):
            value = re.match(r"^\s+queue:\s*([A-Za-z]+)\s*(#.*)?$", line)
            if not value or value.group(1) not in ("single", "max"):
                sys.exit(f"{path}:{n}: concurrency.queue must be `single` or `max`: {line.strip()}")
            block = "".join(lines[max(0, n - 6):n + 5])
            if value.group(1) == "max" and re.search(r"cancel-in-progress:\s*true", block):
                sys.exit(f"{path}:{n}: `queue: max` only when cancel-in-progress is false or not set")
            removed += 1
            continue
        out.append(line)
    return "".join(out), removed


def main(argv: list[str]) -> int:
    out_dir = Path(argv[0])
    out_dir.mkdir(parents=True, exist_ok=True)
    for f in map(Path, argv[1:]):
        text, removed = strip_queue(f)
        if removed:
            # In a directory named after the file's own (.github/workflows/deploy.yml and
            # .github/two-stage/deploy.yml share a name).
            copy = out_dir / f.parent.name / f.name
            copy.parent.mkdir(parents=True, exist_ok=True)
            copy.write_text(text)
            print(f"{f}: {removed} concurrency.queue line(s) checked and left out for the schema", file=sys.stderr)
            print(copy)
        else:
            print(f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
