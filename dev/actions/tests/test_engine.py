"""The rehearsal engine on small workflows (no AWS): step semantics, contexts, file commands, the
emulated actions' rules, and that what it does not model fails loudly (exit 2)."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import rehearse  # noqa: E402

GIT_ENV = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@x"}


@pytest.fixture()
def repo(tmp_path):
    r = tmp_path / "repo"
    r.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main", str(r)], check=True)
    (r / "hello.txt").write_text("hello\n")
    (r / "action.yml").write_text(textwrap.dedent("""\
        name: t
        description: t
        inputs:
          command: {default: deploy}
          dry-run: {default: "false"}
          token: {default: "${{ github.token }}"}
        outputs:
          changed: {description: x}
        runs:
          using: docker
          image: docker://example/t:1
          env:
            T_DRY: ${{ inputs.dry-run }}
          args: ["${{ inputs.command }}"]
        """))
    subprocess.run(["git", "-C", str(r), "add", "."], check=True, env=GIT_ENV)
    subprocess.run(["git", "-C", str(r), "commit", "-qm", "one"], check=True, env=GIT_ENV)
    return r


def set_action(repo, text):
    """Commits `text` (dedented) as the repo's action.yml."""
    (repo / "action.yml").write_text(textwrap.dedent(text))
    subprocess.run(["git", "-C", str(repo), "commit", "-qam", "action"], check=True, env=GIT_ENV)


def write_wf(tmp_path, text):
    p = tmp_path / ".github" / "workflows" / "t.yml"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(textwrap.dedent(text))
    return p


def run(wf, repo, tmp_path, *extra):
    work = tmp_path / "work"
    code = rehearse.main([str(wf), "--repo-dir", str(repo), "--work", str(work), "--quiet", *extra])
    result = json.loads((work / "result.json").read_text()) if (work / "result.json").exists() else None
    return code, result, work


def test_run_steps_outputs_env_path_summary_and_status(repo, tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "leaked-from-the-caller")
    wf = write_wf(tmp_path, """\
        name: t
        on: {push: {branches: [main]}}
        env: {WF: wf}
        jobs:
          j:
            runs-on: ubuntu-24.04
            env: {JOB: "${{ github.ref_name }}-job"}  # (GitHub gives a job's env no `env` context)
            steps:
              - uses: actions/checkout@0000000000000000000000000000000000000000
              - id: a
                run: |
                  test -f hello.txt
                  echo "one=1" >> "$GITHUB_OUTPUT"
                  { echo "multi<<EOF"; echo "l1"; echo "l2"; echo "EOF"; } >> "$GITHUB_OUTPUT"
                  echo "FROM_A=a" >> "$GITHUB_ENV"
                  mkdir -p "$RUNNER_TEMP/bin" && printf '#!/bin/sh\\necho tool\\n' > "$RUNNER_TEMP/bin/mytool" && chmod +x "$RUNNER_TEMP/bin/mytool"
                  echo "$RUNNER_TEMP/bin" >> "$GITHUB_PATH"
                  echo "# Summary A" >> "$GITHUB_STEP_SUMMARY"
              - id: b
                env: {ONE: "${{ steps.a.outputs.one }}"}
                run: |
                  test "$ONE" = 1 && test "$FROM_A" = a && test "$JOB" = main-job && test "$WF" = wf && test "$(mytool)" = tool
                  test -z "${AWS_ACCESS_KEY_ID:-}"
                  test "$GITHUB_SHA" = "$(git rev-parse HEAD)" && test "$GITHUB_REF" = refs/heads/main
                  test "$GITHUB_EVENT_NAME" = push && test "$(jq -r .ref "$GITHUB_EVENT_PATH" 2>/dev/null || python3 -c 'import json,os; print(json.load(open(os.environ["GITHUB_EVENT_PATH"]))["ref"])')" = refs/heads/main
                  echo "B" >> "$GITHUB_STEP_SUMMARY"
              - id: soft
                continue-on-error: true
                run: exit 3
              - id: hard
                run: exit 4
              - id: never
                run: echo never
              - id: after
                if: failure() && steps.hard.outcome == 'failure'
                run: echo "ran=yes" >> "$GITHUB_OUTPUT"
        """)
    code, result, work = run(wf, repo, tmp_path, "--event", "push")
    assert code == 1
    steps = result["jobs"]["j"]["steps"]
    assert steps["a"]["outputs"] == {"one": "1", "multi": "l1\nl2"}
    assert steps["b"]["outcome"] == "success"
    assert steps["soft"]["outcome"] == "failure" and steps["soft"]["conclusion"] == "success"
    assert steps["hard"]["conclusion"] == "failure"
    assert steps["never"]["outcome"] == "skipped"
    assert steps["after"]["outputs"] == {"ran": "yes"}
    assert result["jobs"]["j"]["result"] == "failure"
    assert (work / "summary-j.md").read_text() == "# Summary A\nB\n"


def test_a_step_failure_names_the_exit_code_and_masks_secrets(repo, tmp_path):
    wf = write_wf(tmp_path, """\
        on: push
        jobs:
          j:
            runs-on: ubuntu-24.04
            steps:
              - run: |
                  echo "the secret is $S"
                  echo "::add-mask::dynamic-value"
                  echo "dynamic-value shows masked"
                  echo "::error file=deckhand.yml,line=3,col=1::bad key"
                env: {S: "${{ secrets.TOKEN }}"}
        """)
    code, result, work = run(wf, repo, tmp_path, "--event", "push", "--secret", "TOKEN=s3cr3t-value")
    assert code == 0
    log = (work / "logs" / "rehearsal.log").read_text()
    assert "s3cr3t-value" not in log and "the secret is ***" in log
    assert "dynamic-value" not in log
    assert result["jobs"]["j"]["annotations"] == [{"level": "error", "properties": "file=deckhand.yml,line=3,col=1", "message": "bad key"}]


@pytest.mark.parametrize("body,what", [
    ("    strategy: {matrix: {a: [1]}}\n", "strategy"),
    ("    services: {db: {image: x}}\n", "services"),
    # Only the workflow's concurrency group is held and queued (a job's was accepted and ignored).
    ("    concurrency: {group: deploy}\n", "concurrency"),
])
def test_unmodelled_job_keys_fail_loudly(repo, tmp_path, body, what, capsys):
    wf = write_wf(tmp_path, "on: push\njobs:\n  j:\n    runs-on: x\n" + body + "    steps:\n      - run: 'true'\n")
    code, _, _ = run(wf, repo, tmp_path, "--event", "push")
    assert code == 2
    assert what in capsys.readouterr().err


@pytest.mark.parametrize("step,what", [
    ("- uses: someone/else@v1", "not modelled"),
    ("- uses: actions/checkout@v4\n        with: {submodules: true}", "submodules"),
    ("- run: echo ${{ nope.x }}", "nope"),
    ("- run: echo ${{ toLower('x') }}", "toLower"),
])
def test_unsupported_steps_and_syntax_fail_loudly(repo, tmp_path, step, what, capsys):
    wf = write_wf(tmp_path, f"on: push\njobs:\n  j:\n    runs-on: x\n    steps:\n      {step}\n")
    code, _, _ = run(wf, repo, tmp_path, "--event", "push")
    assert code == 2
    assert what in capsys.readouterr().err


def test_a_workflow_that_does_not_run_for_the_event_is_refused(repo, tmp_path, capsys):
    wf = write_wf(tmp_path, "on: {push: {branches: [release]}}\njobs:\n  j:\n    runs-on: x\n    steps:\n      - run: 'true'\n")
    code, _, _ = run(wf, repo, tmp_path, "--event", "push")
    assert code == 2
    assert "does not run on push refs/heads/main" in capsys.readouterr().err


def test_configure_aws_credentials_needs_id_token_write(repo, tmp_path):
    wf = write_wf(tmp_path, """\
        on: push
        permissions: {contents: read}
        jobs:
          j:
            runs-on: x
            steps:
              - id: aws
                uses: aws-actions/configure-aws-credentials@0000000000000000000000000000000000000000
                with: {role-to-assume: "arn:aws:iam::123456789012:role/r", aws-region: us-east-1}
        """)
    code, result, work = run(wf, repo, tmp_path, "--event", "push")
    assert code == 1
    assert result["jobs"]["j"]["steps"]["aws"]["outcome"] == "failure"
    assert "id-token: write" in (work / "logs" / "rehearsal.log").read_text()


def test_fork_pull_request_gets_no_secrets_and_a_read_only_token(repo, tmp_path):
    sha = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], check=True, text=True, capture_output=True).stdout.strip()
    subprocess.run(["git", "-C", str(repo), "update-ref", "refs/pull/7/merge", sha], check=True)
    wf = write_wf(tmp_path, """\
        on: pull_request
        permissions: {contents: read, pull-requests: write, id-token: write}
        jobs:
          j:
            runs-on: x
            steps:
              - id: s
                env: {S: "${{ secrets.API }}", T: "${{ github.token }}", V: "${{ vars.ROLE }}",
                      SAME: "${{ github.event.pull_request.head.repo.full_name == github.repository }}"}
                run: echo "s=$S" >> "$GITHUB_OUTPUT"; echo "t=$T" >> "$GITHUB_OUTPUT"; echo "v=$V" >> "$GITHUB_OUTPUT"; echo "same=$SAME" >> "$GITHUB_OUTPUT"
        """)
    common = ["--event", "pull_request", "--pr", "7", "--head-sha", sha, "--secret", "API=xyz", "--var", "ROLE=plan-role",
              "--token", "write-token", "--read-only-token", "ro-token"]
    code, result, _ = run(wf, repo, tmp_path, *common, "--head-repo", "someone/spa-ecs")
    assert code == 0
    job = result["jobs"]["j"]
    # A fork gets neither the repository's secrets nor its variables, and a read-only token.
    assert job["steps"]["s"]["outputs"] == {"s": "", "t": "ro-token", "v": "", "same": "false"}
    assert job["permissions"] == {"contents": "read", "pull-requests": "read"}
    code, result, _ = run(wf, repo, tmp_path, *common)
    assert result["jobs"]["j"]["steps"]["s"]["outputs"] == {"s": "xyz", "t": "write-token", "v": "plan-role", "same": "true"}


def test_workflow_dispatch_inputs(repo, tmp_path, capsys):
    wf = write_wf(tmp_path, """\
        on:
          workflow_dispatch:
            inputs:
              release: {default: previous}
              only: {type: choice, options: ["", backend, frontend], default: ""}
              flag: {type: boolean, default: false}
        jobs:
          j:
            runs-on: x
            steps:
              - id: s
                env: {R: "${{ inputs.release }}", O: "${{ inputs.only || 'both' }}", F: "${{ inputs.flag }}"}
                run: echo "v=$R/$O/$F" >> "$GITHUB_OUTPUT"
        """)
    code, result, _ = run(wf, repo, tmp_path, "--event", "workflow_dispatch")
    assert result["jobs"]["j"]["steps"]["s"]["outputs"] == {"v": "previous/both/false"}
    code, result, _ = run(wf, repo, tmp_path, "--event", "workflow_dispatch", "--input", "only=backend", "--input", "flag=true")
    assert result["jobs"]["j"]["steps"]["s"]["outputs"] == {"v": "previous/backend/true"}
    assert run(wf, repo, tmp_path, "--event", "workflow_dispatch", "--input", "only=db")[0] == 2
    assert run(wf, repo, tmp_path, "--event", "workflow_dispatch", "--input", "nope=1")[0] == 2
    assert "not declared" in capsys.readouterr().err


def test_artifacts_across_runs_need_actions_read(repo, tmp_path):
    up = write_wf(tmp_path, """\
        on: push
        jobs:
          j:
            runs-on: x
            steps:
              - run: mkdir out && echo plan > out/plan.json
              - uses: actions/upload-artifact@0000000000000000000000000000000000000000
                with: {name: deckhand-plan, path: out/plan.json, if-no-files-found: error}
        """)
    store = tmp_path / "store"
    code, _, _ = run(up, repo, tmp_path, "--event", "push", "--run-id", "111", "--artifacts", str(store))
    assert code == 0 and (store / "111" / "deckhand-plan" / "plan.json").read_text() == "plan\n"
    down = """\
        on: push
        permissions: {PERMS}
        jobs:
          j:
            runs-on: x
            steps:
              - id: d
                uses: actions/download-artifact@0000000000000000000000000000000000000000
                with: {name: deckhand-plan, path: reviewed, run-id: "111", github-token: "${{ github.token }}"}
              - run: test "$(cat reviewed/plan.json)" = plan
        """
    wf = write_wf(tmp_path, down.replace("{PERMS}", "{contents: read, actions: read}"))
    code, _, _ = run(wf, repo, tmp_path, "--event", "push", "--run-id", "222", "--artifacts", str(store))
    assert code == 0
    wf = write_wf(tmp_path, down.replace("{PERMS}", "{contents: read}"))
    code, result, _ = run(wf, repo, tmp_path, "--event", "push", "--run-id", "333", "--artifacts", str(store))
    assert code == 1 and result["jobs"]["j"]["steps"]["d"]["outcome"] == "failure"


def test_upload_artifact_lays_the_files_out_as_the_action_does(repo, tmp_path):
    """upload-artifact v4+: relative to the least common ancestor of the search paths (a single
    file's directory, a directory's own contents), hidden files left out, `**` globs."""
    wf = write_wf(tmp_path, """\
        on: push
        jobs:
          j:
            runs-on: x
            steps:
              - id: mk
                run: |
                  mkdir -p out/sub out/.cache other
                  echo a > out/a.json; echo b > out/sub/b.json; echo h > out/.cache/h; echo o > other/o.txt
                  echo "file=out/a.json" >> "$GITHUB_OUTPUT"
              - id: one
                uses: actions/upload-artifact@0000000000000000000000000000000000000000
                with: {name: one, path: "${{ steps.mk.outputs.file }}", if-no-files-found: error, retention-days: "30"}
              - uses: actions/upload-artifact@0000000000000000000000000000000000000000
                with: {name: dir, path: out/}
              - uses: actions/upload-artifact@0000000000000000000000000000000000000000
                with: {name: many, path: "out/**/*.json\\nother/o.txt"}
              - uses: actions/upload-artifact@0000000000000000000000000000000000000000
                with: {name: hidden, path: out, include-hidden-files: true}
              - id: none
                uses: actions/upload-artifact@0000000000000000000000000000000000000000
                with: {name: none, path: nothing-here, if-no-files-found: ignore}
        """)
    store = tmp_path / "store"
    code, result, _ = run(wf, repo, tmp_path, "--event", "push", "--run-id", "5", "--artifacts", str(store))
    assert code == 0, result
    def tree(name):
        root = store / "5" / name
        return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    assert tree("one") == ["a.json"]
    assert tree("dir") == ["a.json", "sub/b.json"]
    assert tree("many") == ["other/o.txt", "out/a.json", "out/sub/b.json"]
    assert tree("hidden") == [".cache/h", "a.json", "sub/b.json"]
    assert not (store / "5" / "none").exists()
    steps = result["jobs"]["j"]["steps"]
    assert steps["one"]["outputs"]["artifact-url"].endswith("/actions/runs/5/artifacts/one")
    assert len(steps["one"]["outputs"]["artifact-digest"]) == 64
    assert steps["none"]["outputs"] == {}


@pytest.mark.parametrize("with_,code,what", [
    ('{name: "a/b", path: f}', 1, "The artifact name is not valid"),
    ("{name: a, path: f, if-no-files-found: fail}", 1, "Unrecognized if-no-files-found"),
    ("{name: a, path: f, retention-days: '400'}", 1, "retention-days"),
    ("{name: a, path: nothing-here, if-no-files-found: error}", 1, "No files were found"),
    ("{name: a, path: f, compression: 9}", 2, "compression"),
    ('{name: a, path: "f\\n!g"}', 2, "exclusion patterns"),
])
def test_upload_artifact_refuses_what_the_action_refuses(repo, tmp_path, with_, code, what, capsys):
    wf = write_wf(tmp_path, f"""\
        on: push
        jobs:
          j:
            runs-on: x
            steps:
              - run: echo f > f
              - id: up
                uses: actions/upload-artifact@0000000000000000000000000000000000000000
                with: {with_}
        """)
    got, result, work = run(wf, repo, tmp_path, "--event", "push")
    assert got == code
    text = capsys.readouterr().err if code == 2 else (work / "logs" / "rehearsal.log").read_text()
    assert what in text
    if code == 1:
        assert result["jobs"]["j"]["steps"]["up"]["outcome"] == "failure"


def test_an_artifact_name_is_uploaded_once_per_run(repo, tmp_path):
    step = "      - uses: actions/upload-artifact@0000000000000000000000000000000000000000\n        with: {name: p, path: f%s}\n"
    wf = write_wf(tmp_path, "on: push\njobs:\n  j:\n    runs-on: x\n    steps:\n      - run: echo f > f\n"
                  + step % "" + step % "")
    code, result, work = run(wf, repo, tmp_path, "--event", "push")
    assert code == 1 and "already exists in run" in (work / "logs" / "rehearsal.log").read_text()
    wf = write_wf(tmp_path, "on: push\njobs:\n  j:\n    runs-on: x\n    steps:\n      - run: echo f > f\n"
                  + step % "" + step % ", overwrite: true")
    assert run(wf, repo, tmp_path, "--event", "push")[0] == 0


def test_container_action_inputs_env_and_args(repo, tmp_path):
    fake = tmp_path / "entry"
    fake.write_text("#!/bin/bash\n"
                    "echo \"args=$*\" >> \"$GITHUB_OUTPUT\"\n"
                    "env | grep -E '^(INPUT_|T_DRY|GITHUB_ACTIONS|ENDPOINT)' | sort | sed 's/^/env:/' \n"
                    "echo \"changed=$(printenv INPUT_DRY-RUN)\" >> \"$GITHUB_OUTPUT\"\n"
                    "echo 'undeclared=1' >> \"$GITHUB_OUTPUT\"\n"
                    "printenv 'INPUT_DRY-RUN' | sed 's/^/dry:/' >> \"$GITHUB_STEP_SUMMARY\"\n")
    fake.chmod(0o755)
    wf = write_wf(tmp_path, """\
        on: push
        permissions: {contents: read}
        jobs:
          j:
            runs-on: x
            steps:
              - uses: actions/checkout@0000000000000000000000000000000000000000
              - id: act
                uses: ./
                with: {command: plan, dry-run: "true"}
        """)
    code, result, work = run(wf, repo, tmp_path, "--event", "push", "--deckhand", str(fake), "--runner-env", "ENDPOINT=http://127.0.0.1:1")
    assert code == 0
    assert result["jobs"]["j"]["steps"]["act"]["outputs"] == {"args": "plan", "changed": "true", "undeclared": "1"}
    log = (work / "logs" / "rehearsal.log").read_text()
    assert "env:INPUT_DRY-RUN=true" in log and "env:T_DRY=true" in log and "env:INPUT_COMMAND=plan" in log
    assert "env:ENDPOINT" not in log  # the runner machine's environment never reaches a container action
    assert (work / "summary-j.md").read_text() == "dry:true\n"
    wf2 = write_wf(tmp_path, wf.read_text().replace("dry-run:", "dry-runn:"))
    code, result, _ = run(wf2, repo, tmp_path, "--event", "push", "--deckhand", str(fake))
    assert code == 1 and result["jobs"]["j"]["steps"]["act"]["outcome"] == "failure"


@pytest.mark.parametrize("patterns,name,want", [
    # GitHub's "Filter pattern cheat sheet" (workflow syntax) examples
    (["feature/*"], "feature/my-branch", True),
    (["feature/*"], "feature/your/branch", False),
    (["feature/**"], "feature/your/branch", True),
    (["v2*"], "v2.9", True),
    (["v[12].[0-9]+.[0-9]+"], "v1.10.1", True),
    (["v[12].[0-9]+.[0-9]+"], "v3.0.0", False),
    (["v[0-9]+.[0-9]+.[0-9]+"], "v0.1.0", True),
    (["v[0-9]+.[0-9]+.[0-9]+"], "v0.1", False),
    (["v[0-9]+.[0-9]+.[0-9]+"], "v0x1y0", False),  # `.` is literal
    (["v[0-9]+.[0-9]+.[0-9]+"], "v0.1.0-rc1", False),
    (["releases/v1.0?"], "releases/v1.", True),  # `?`: zero or one of the preceding character
    (["releases/v1.0?"], "releases/v1.00", False),
    (["main", "releases/**", "!releases/**-alpha"], "releases/10-alpha", False),
    (["main", "releases/**", "!releases/**-alpha"], "releases/10", True),
    (["!releases/**-alpha", "releases/**"], "releases/10-alpha", True),  # the last match decides
    (["release\\+1"], "release+1", True),
    (["release\\+1"], "releasee1", False),
])
def test_branch_and_tag_filters_follow_githubs_pattern_syntax(patterns, name, want):
    assert rehearse._patterns_match(patterns, name) is want


@pytest.mark.parametrize("pattern", ["v[a-Z]", "+x", "v[.]", "x[0-9"])
def test_a_filter_pattern_github_would_not_take_fails_loudly(pattern):
    with pytest.raises(rehearse.RehearsalError, match="filter pattern"):
        rehearse._glob_match(pattern, "x")


def test_the_environment_url_is_evaluated_after_the_steps_and_kept_unless_it_holds_a_secret(repo, tmp_path):
    """JobExtension.cs "Evaluate environment data": `environment.url` may name `steps` (evaluated
    when the job finishes); a value the masker would change is dropped with GitHub's warning."""
    wf = write_wf(tmp_path, """\
        name: t
        on: {push: {branches: [main]}}
        jobs:
          ok:
            runs-on: ubuntu-24.04
            environment: {name: production, url: "${{ steps.site.outputs.url }}"}
            steps:
              - id: site
                run: echo "url=https://example.test/app" >> "$GITHUB_OUTPUT"
          secret:
            runs-on: ubuntu-24.04
            environment: {name: staging, url: "https://example.test/${{ steps.s.outputs.v }}"}
            steps:
              - id: s
                env: {V: "${{ secrets.TOKEN }}"}
                run: echo "v=$V" >> "$GITHUB_OUTPUT"
          plain:
            runs-on: ubuntu-24.04
            environment: production
            steps:
              - run: "true"
        """)
    code, result, work = run(wf, repo, tmp_path, "--event", "push", "--secret", "TOKEN=s3cr3t-value")
    assert code == 0, (work / "logs" / "rehearsal.log").read_text()[-3000:]
    jobs = result["jobs"]
    assert jobs["ok"]["environment_url"] == "https://example.test/app" and jobs["ok"]["result"] == "success"
    assert jobs["secret"]["environment_url"] is None and jobs["secret"]["result"] == "success"
    assert "Skip setting environment url as environment 'staging' may contain secret." in [
        a["message"] for a in jobs["secret"]["annotations"]]
    assert jobs["plain"]["environment_url"] is None
