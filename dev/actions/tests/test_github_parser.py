"""GitHub's workflow parser (dev/actions/node/helper.mjs on @actions/workflow-parser) as stage 65 runs it:
a workflow GitHub would refuse fails, with GitHub's message, file, line and column; the project's own
workflows and action.yml pass."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path.insert(0, str(HERE.parent))
import github_libs  # noqa: E402

HELPER = ROOT / "dev" / "actions" / "node" / "helper.mjs"


def validate(*files):
    github_libs.parse_workflow  # the helper's node_modules are installed by its first use
    return subprocess.run(["node", str(HELPER), "validate", *map(str, files)], capture_output=True, text=True)


GOOD = textwrap.dedent("""\
    on: push
    jobs:
      j:
        runs-on: ubuntu-24.04
        concurrency: {group: g, queue: max}
        steps:
          - if: env.A == 'x' && github.ref == 'refs/heads/main'
            run: echo ${{ github.sha }}
    """)


@pytest.mark.parametrize("body,message", [
    # an unknown key
    (GOOD.replace("runs-on: ubuntu-24.04", "runs-on: ubuntu-24.04\n    timeout: 5"), "(Line: 5, Col: 5): Unexpected value 'timeout'"),
    # a context a step's `if:` does not have (secrets are not available there)
    (GOOD.replace("env.A == 'x'", "secrets.TOKEN != ''"), "(Line: 7, Col: 13): Unrecognized named-value: 'secrets'"),
    # a job's `if:` runs before any step
    (GOOD.replace("runs-on: ubuntu-24.04", "runs-on: ubuntu-24.04\n    if: steps.a.outputs.x"), "(Line: 5, Col: 9): Unrecognized named-value: 'steps'"),
    # a function GitHub does not have
    (GOOD.replace("${{ github.sha }}", "${{ toLower(github.sha) }}"), "Unrecognized function: 'toLower'"),
    # a `needs` naming no job
    (GOOD + "  k:\n    runs-on: x\n    needs: build\n    steps: [{run: 'true'}]\n", "Job 'k' depends on unknown job 'build'"),
    # a cycle
    (GOOD.replace("runs-on: ubuntu-24.04", "runs-on: ubuntu-24.04\n    needs: k") + "  k:\n    runs-on: x\n    needs: j\n    steps: [{run: 'true'}]\n",
     "The workflow must contain at least one job with no dependencies"),
    # a queue GitHub does not know
    (GOOD.replace("queue: max", "queue: all"), "(Line: 5, Col: 36): Unexpected value 'all'"),
])
def test_a_workflow_github_refuses_fails_with_its_message(tmp_path, body, message):
    wf = tmp_path / "bad.yml"
    wf.write_text(body)
    with pytest.raises(github_libs.WorkflowInvalid) as e:
        github_libs.parse_workflow(wf)
    assert any(message in m and m.startswith(str(wf)) for m in e.value.errors), e.value.errors


def test_the_validate_command_exits_1_naming_each_error(tmp_path):
    """What stage 65 runs: one bad file among good ones fails the command."""
    bad = tmp_path / "bad.yml"
    bad.write_text(GOOD.replace("env.A == 'x'", "secrets.TOKEN != ''"))
    good = tmp_path / "good.yml"
    good.write_text(GOOD)
    r = validate(good, bad)
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"{bad} (Line: 7, Col: 13): Unrecognized named-value: 'secrets'" in r.stdout
    assert f"{good}: valid (workflow, 1 job(s))" in r.stdout


def test_the_projects_workflows_and_action_pass():
    for f in sorted((ROOT / ".github" / "workflows").glob("*.yml")):
        assert github_libs.parse_workflow(f)["jobs"], f
    assert github_libs.parse_action(ROOT / "action.yml")["runs"]["using"] == "docker"


def test_an_action_github_refuses_fails(tmp_path):
    a = tmp_path / "action.yml"
    a.write_text("name: x\ndescription: y\nruns:\n  using: docker\n  image: docker://x@sha256:00\n  entrypoint-typo: z\n")
    with pytest.raises(github_libs.WorkflowInvalid) as e:
        github_libs.parse_action(a)
    assert any("Unexpected value 'entrypoint-typo'" in m for m in e.value.errors), e.value.errors
