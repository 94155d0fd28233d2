"""Every third-party action in the workflows is pinned by a full commit sha with its version in a
comment (`uses: owner/repo@<40 hex> # vX.Y.Z`); local actions (`./`) are the repository's own.

    python pins.py FILE...      prints one line per reference; exit 1 naming each bad one
"""

import re
import sys
from pathlib import Path

USES = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>[^\s#]+)\s*(?:#\s*(?P<comment>.*))?$")
PINNED = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+(?:/[^@]+)?@[0-9a-f]{40}$")
VERSION = re.compile(r"^v\d+\.\d+\.\d+\b")


def main() -> int:
    bad = 0
    n = 0
    for f in sys.argv[1:]:
        for i, line in enumerate(Path(f).read_text().splitlines(), 1):
            m = USES.match(line)
            if not m:
                continue
            ref, comment = m.group("ref").strip("'\""), (m.group("comment") or "").strip()
            n += 1
            if ref.startswith("./") or ref == "./":
                print(f"{f}:{i}: {ref} (this repository)")
                continue
            if ref.startswith("docker://"):
                ok = "@sha256:" in ref
                why = "a docker:// image must be pinned by digest (@sha256:…)"
            else:
                ok = bool(PINNED.match(ref)) and bool(VERSION.match(comment))
                why = "pin by the full commit sha with the release tag in a comment: owner/repo@<40 hex> # vX.Y.Z"
            if ok:
                print(f"{f}:{i}: {ref} # {comment}")
            else:
                print(f"{f}:{i}: error: {ref}{' # ' + comment if comment else ''}: {why}", file=sys.stderr)
                bad += 1
    print(f"{n} action references, {bad} not pinned")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
