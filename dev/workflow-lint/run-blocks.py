"""Extracts every `run:` block of the workflows (and composite actions) into shell files for shellcheck.

    python run-blocks.py OUTDIR FILE...

Each block becomes OUTDIR/<workflow>.<job>.<n>.sh with the shell the runner would use (`bash -e` by
default, `bash --noprofile --norc -eo pipefail` for `shell: bash`) as its first lines, so shellcheck
checks it as it runs. `${{ … }}` is pasted by the runner as text before the shell sees the script, so
each is replaced by a plain word (`GHA_EXPR`): an expression inside quotes stays inside them, one
outside them is flagged by zizmor (template-injection) rather than hidden here. Prints one line per
block: `FILE:LINE job step -> OUT`.
"""

import re
import sys
from pathlib import Path

import yaml


class Loader(yaml.SafeLoader):
    pass


def _construct_mapping(loader, node, deep=False):
    mapping = yaml.SafeLoader.construct_mapping(loader, node, deep)
    mapping["__line__"] = node.start_mark.line + 1
    for key_node, value_node in node.value:
        if key_node.value == "run":
            mapping["__run_line__"] = value_node.start_mark.line + 1
    return mapping


Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)

EXPR = re.compile(r"\$\{\{.*?\}\}", re.S)


def main() -> int:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    count = 0
    for f in sys.argv[2:]:
        doc = yaml.load(Path(f).read_text(), Loader=Loader) or {}
        jobs = doc.get("jobs") or {}
        # A composite action's steps are under runs.steps.
        if "runs" in doc and isinstance(doc["runs"], dict) and doc["runs"].get("steps"):
            jobs = {"action": {"steps": doc["runs"]["steps"]}}
        wf_shell = ((doc.get("defaults") or {}).get("run") or {}).get("shell")
        for job_id, job in jobs.items():
            if not isinstance(job, dict):
                continue
            job_shell = ((job.get("defaults") or {}).get("run") or {}).get("shell", wf_shell)
            for n, step in enumerate(job.get("steps") or [], 1):
                if "run" not in step:
                    continue
                shell = step.get("shell", job_shell)
                if shell in (None, "bash"):
                    header = "#!/usr/bin/env bash\nset -e\n" if shell is None else "#!/usr/bin/env bash\nset -eo pipefail\n"
                elif shell == "sh":
                    header = "#!/bin/sh\nset -e\n"
                else:
                    print(f"{f}: job {job_id} step {n}: shell {shell!r} is not checked by shellcheck", file=sys.stderr)
                    return 1
                body = EXPR.sub("GHA_EXPR", str(step["run"]))
                target = out / f"{Path(f).parent.name}.{Path(f).stem}.{job_id}.{n}.sh"
                # Keep line numbers: the header is two lines; shellcheck's numbers - 2 = the block's.
                target.write_text(header + body + ("" if body.endswith("\n") else "\n"))
                print(f"{f}:{step.get('__run_line__', step['__line__'])} {job_id} step {n} -> {target}")
                count += 1
    print(f"{count} run blocks", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
