"""The runner's step and job semantics the rehearsal must share, each read from actions/runner's
source (src/Runner.Worker/…, v2.336) or GitHub's docs and cited beside its test (no AWS)."""

import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from test_engine import repo, run, set_action, write_wf  # noqa: E402,F401  (fixtures)
from test_fidelity import container_env, fake_entry  # noqa: E402


def log_of(work):
    return (work / "logs" / "rehearsal.log").read_text()


def test_a_steps_own_env_is_in_the_env_context_of_its_if_with_run_and_runs_env(repo, tmp_path):
    """StepsRunner.cs evaluates a step's `env:` into the env context (lines 106-138) before it
    evaluates the step's `if:` (line 221); ActionRunner.cs then evaluates `with:` (and a `run:`
    step's script, its `script` input) with those contexts. So `${{ env.X }}` there sees the
    step's own X (runs.env/runs.args may only read `inputs`: the action schema, action_yaml.json)."""
    set_action(repo, """\
        name: t
        description: t
        inputs:
          command: {default: deploy}
        runs:
          using: docker
          image: docker://example/t:1
          env:
            FROM_INPUT: ${{ inputs.command }}
          args: ["${{ inputs.command }}"]
        """)
    wf = write_wf(tmp_path, """\
        on: push
        jobs:
          j:
            runs-on: x
            steps:
              - uses: actions/checkout@0000000000000000000000000000000000000000
              - id: gated
                if: env.GO == 'yes'
                env: {GO: "yes", WORD: hello}
                run: echo "said=${{ env.WORD }}" >> "$GITHUB_OUTPUT"
              - uses: ./
                env: {CMD: from-step-env}
                with: {command: "${{ env.CMD }}"}
        """)
    code, result, work = run(wf, repo, tmp_path, "--event", "push", "--deckhand", str(fake_entry(tmp_path)))
    assert code == 0, log_of(work)[-3000:]
    assert result["jobs"]["j"]["steps"]["gated"]["outputs"] == {"said": "hello"}
    env = container_env(work, "j", "from-step-env")
    assert env["FROM_INPUT"] == "from-step-env" and env["INPUT_COMMAND"] == "from-step-env"


def test_a_post_step_evaluates_its_env_inputs_and_args_when_it_runs(repo, tmp_path):
    """A post step goes through StepsRunner.cs's loop like any step: its `env:` is evaluated then,
    with the job's status and env at that point (the env context is Global.EnvironmentVariables,
    GITHUB_ENV included); ActionRunner.RunAsync evaluates its `with:` for the Post stage and
    ContainerActionHandler.cs its runs.env and runs.args. Only STATE_* comes from the main step
    (ExecutionContext.RegisterPostJobStep hands it the main step's IntraActionState)."""
    set_action(repo, """\
        name: t
        description: t
        inputs:
          command: {default: deploy}
        runs:
          using: docker
          image: docker://example/t:1
          post-entrypoint: /usr/local/bin/post
          env:
            FROM_INPUT: ${{ inputs.command }}
          args: ["${{ inputs.command }}"]
        """)
    dump = ("#!/bin/bash\nenv | sort > \"$GITHUB_WORKSPACE/../{name}-env-$1\"\n"
            "[ {name} = main ] && echo 'held=yes' >> \"$GITHUB_STATE\"\nexit 0\n")
    main = fake_entry(tmp_path, dump.format(name="main"), "main")
    post = fake_entry(tmp_path, dump.format(name="post"), "post")
    wf = write_wf(tmp_path, """\
        on: push
        jobs:
          j:
            runs-on: x
            steps:
              - uses: actions/checkout@0000000000000000000000000000000000000000
              - uses: ./
                env: {SEEN: "${{ job.status }}"}
                with: {command: "cmd-${{ env.PHASE }}"}
              - run: |
                  echo "PHASE=late" >> "$GITHUB_ENV"
                  exit 1
        """)
    code, result, work = run(wf, repo, tmp_path, "--event", "push", "--deckhand", str(main),
                             "--action-entrypoint", f"/usr/local/bin/post={post}")
    assert code == 1, log_of(work)[-3000:]
    ws = work / "runner" / "j" / "work" / "spa-ecs"
    read = lambda f: dict(line.split("=", 1) for line in f.read_text().splitlines() if "=" in line)  # noqa: E731
    m, p = read(ws / "main-env-cmd-"), read(ws / "post-env-cmd-late")
    assert (m["SEEN"], m["INPUT_COMMAND"], m["FROM_INPUT"]) == ("success", "cmd-", "cmd-")
    assert (p["SEEN"], p["INPUT_COMMAND"], p["FROM_INPUT"], p["PHASE"]) == ("failure", "cmd-late", "cmd-late", "late")
    assert p["STATE_held"] == "yes"


def test_job_outputs_leave_out_empty_values_and_values_holding_a_secret(repo, tmp_path):
    """JobExtension.cs (FinalizeJob, "Evaluate and set job outputs"): an empty output is not set,
    one whose value the secret masker would change is skipped with the warning "Skip output 'X'
    since it may contain secret.", and an output that fails to evaluate fails the job."""
    wf = write_wf(tmp_path, """\
        on: push
        jobs:
          a:
            runs-on: x
            outputs:
              leaky: ${{ steps.s.outputs.v }}
              empty: ${{ steps.s.outputs.nothing }}
              plain: ok
            steps:
              - id: s
                run: |
                  echo "::add-mask::s3cr3t-value"
                  echo "v=prefix-s3cr3t-value" >> "$GITHUB_OUTPUT"
          b:
            needs: a
            runs-on: x
            steps:
              - id: r
                env: {L: "${{ needs.a.outputs.leaky }}", N: "${{ toJSON(needs.a.outputs) }}"}
                run: |
                  echo "leaky=[$L]" >> "$GITHUB_OUTPUT"
                  echo "keys=$(jq -r 'keys | join(",")' <<< "$N")" >> "$GITHUB_OUTPUT"
          c:
            runs-on: x
            outputs:
              bad: ${{ fromJSON('not json') }}
            steps:
              - run: "true"
        """)
    code, result, work = run(wf, repo, tmp_path, "--event", "push")
    assert code == 1
    jobs = result["jobs"]
    assert jobs["a"]["result"] == "success" and jobs["a"]["outputs"] == {"plain": "ok"}
    assert jobs["b"]["steps"]["r"]["outputs"] == {"leaky": "[]", "keys": "plain"}
    assert "Skip output 'leaky' since it may contain secret." in log_of(work)
    assert any(a["message"] == "Skip output 'leaky' since it may contain secret." for a in jobs["a"]["annotations"])
    assert jobs["c"]["result"] == "failure"


def test_job_status_functions_read_every_ancestor_and_a_skipped_need_is_no_failure(repo, tmp_path):
    """GitHub's docs ("Expressions", status check functions): "If you have a chain of dependent
    jobs, failure() returns true if any ancestor job fails"; a failure or skip applies to the whole
    chain after it ("Workflow syntax", jobs.<job_id>.needs). A skipped need fails nothing: neither
    success() nor failure() holds after it."""
    wf = write_wf(tmp_path, """\
        on: push
        jobs:
          a:
            runs-on: x
            steps: [{run: exit 1}]
          b:
            needs: a
            if: always()
            runs-on: x
            steps: [{run: "true"}]
          c:
            needs: b
            runs-on: x
            steps: [{run: "true"}]
          d:
            needs: b
            if: failure()
            runs-on: x
            steps: [{run: "true"}]
          e:
            if: false
            runs-on: x
            steps: [{run: "true"}]
          f:
            needs: e
            if: failure()
            runs-on: x
            steps: [{run: "true"}]
          g:
            needs: e
            if: always()
            runs-on: x
            steps: [{run: "true"}]
        """)
    code, result, work = run(wf, repo, tmp_path, "--event", "push")
    got = {j: v["result"] for j, v in result["jobs"].items()}
    assert got == {"a": "failure", "b": "success", "c": "skipped", "d": "success", "e": "skipped",
                   "f": "skipped", "g": "success"}, got


def test_a_steps_timeout_minutes_count_in_whole_minutes(repo, tmp_path):
    """PipelineTemplateConverter.ConvertToStepTimeout (src/Sdk/DTPipelines): `(Int32)number.Value`;
    StepsRunner.cs sets a timeout only when it is > 0. A step's `timeout-minutes: 0.02` is 0: no
    timeout at all (not 1.2 s)."""
    wf = write_wf(tmp_path, """\
        on: push
        jobs:
          j:
            runs-on: x
            steps:
              - id: slow
                timeout-minutes: 0.02
                run: sleep 2.5 && echo "done=yes" >> "$GITHUB_OUTPUT"
        """)
    code, result, work = run(wf, repo, tmp_path, "--event", "push")
    assert code == 0, log_of(work)[-2000:]
    assert result["jobs"]["j"]["steps"]["slow"]["outputs"] == {"done": "yes"}


def test_keys_the_rehearsal_does_not_model_fail_loudly(repo, tmp_path):
    """A job's `continue-on-error`, and `with: args`/`entrypoint` of a container action (which the
    runner uses when action.yml has no runs.args / runs.entrypoint: ContainerActionHandler.cs), are
    not modelled: exit 2 naming them, never ignored."""
    wf = write_wf(tmp_path, """\
        on: push
        jobs:
          j:
            runs-on: x
            continue-on-error: true
            steps: [{run: "true"}]
        """)
    code, _, _ = run(wf, repo, tmp_path, "--event", "push")
    assert code == 2
    for key in ("args", "entrypoint"):
        wf = write_wf(tmp_path, f"""\
            on: push
            jobs:
              j:
                runs-on: x
                steps:
                  - uses: docker://example/t:1
                    with: {{{key}: x}}
            """)
        code, _, _ = run(wf, repo, tmp_path, "--event", "push", "--deckhand", str(fake_entry(tmp_path)))
        assert code == 2, key


# The variables a `runs.using: docker` action gets, from the runner's source: GitHubContext.cs's
# allowlist (GITHUB_<KEY> for each key the github context holds: file commands included), every key
# of RunnerContext.cs (os, arch, name, environment: JobRunner.cs; tool_cache; temp:
# TempDirectoryManager.cs; workspace: JobExtension.cs), HOME and the Actions runtime's
# (ContainerActionHandler.cs), GITHUB_ACTIONS and CI (DockerCommandManager.DockerRun).
RUNNER_VARIABLES = {
    # (action_repository/action_ref: null for `./` and `docker://` (ActionRunner.cs), exported as "".)
    "GITHUB_ACTION", "GITHUB_ACTION_REPOSITORY", "GITHUB_ACTION_REF", "GITHUB_ACTOR", "GITHUB_ACTOR_ID", "GITHUB_API_URL", "GITHUB_BASE_REF", "GITHUB_ENV",
    "GITHUB_EVENT_NAME", "GITHUB_EVENT_PATH", "GITHUB_GRAPHQL_URL", "GITHUB_HEAD_REF", "GITHUB_JOB",
    "GITHUB_OUTPUT", "GITHUB_PATH", "GITHUB_REF", "GITHUB_REF_NAME", "GITHUB_REF_PROTECTED", "GITHUB_REF_TYPE",
    "GITHUB_REPOSITORY", "GITHUB_REPOSITORY_ID", "GITHUB_REPOSITORY_OWNER", "GITHUB_REPOSITORY_OWNER_ID",
    "GITHUB_RETENTION_DAYS", "GITHUB_RUN_ATTEMPT", "GITHUB_RUN_ID", "GITHUB_RUN_NUMBER", "GITHUB_SERVER_URL",
    "GITHUB_SHA", "GITHUB_STATE", "GITHUB_STEP_SUMMARY", "GITHUB_TRIGGERING_ACTOR", "GITHUB_WORKFLOW",
    "GITHUB_WORKFLOW_REF", "GITHUB_WORKFLOW_SHA", "GITHUB_WORKSPACE",
    "RUNNER_ARCH", "RUNNER_ENVIRONMENT", "RUNNER_NAME", "RUNNER_OS", "RUNNER_TEMP", "RUNNER_TOOL_CACHE",
    "RUNNER_WORKSPACE", "HOME", "ACTIONS_RUNTIME_URL", "ACTIONS_RUNTIME_TOKEN", "ACTIONS_RESULTS_URL",
    "GITHUB_ACTIONS", "CI",
}
# What a shell or the host runtime adds on its own (not the runner's): the entry is a bash script;
# HOSTNAME is Docker's (every container's, its short id; the host runtime sets it so).
SHELL_OWN = {"PWD", "SHLVL", "_", "PATH", "OLDPWD", "HOSTNAME"}


def test_a_container_action_gets_exactly_the_runners_variables(repo, tmp_path):
    """Nothing more and nothing less than the runner's list above, the inputs, runs.env and the
    workflow's env; with `id-token: write` also ACTIONS_ID_TOKEN_REQUEST_URL/_TOKEN, the token being
    the system connection's access token, the same as ACTIONS_RUNTIME_TOKEN (ContainerActionHandler.cs
    lines 221-236). RUNNER_WORKSPACE is the checkout's parent (JobExtension.cs)."""
    wf = write_wf(tmp_path, """\
        on: push
        env: {WF: w}
        jobs:
          j:
            runs-on: x
            permissions: {contents: read, id-token: write}
            steps:
              - uses: actions/checkout@0000000000000000000000000000000000000000
              - uses: ./
                env: {ST: s}
        """)
    code, result, work = run(wf, repo, tmp_path, "--event", "push", "--deckhand", str(fake_entry(tmp_path)),
                             "--runner-env", "MACHINE_ONLY=1")
    assert code == 0, log_of(work)[-3000:]
    env = container_env(work, "j", "deploy")
    want = RUNNER_VARIABLES | {"WF", "ST", "T_DRY", "INPUT_COMMAND", "INPUT_DRY-RUN", "INPUT_TOKEN",
                               "ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN"}
    got = set(env) - SHELL_OWN
    assert got == want, (sorted(got - want), sorted(want - got))
    assert env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"] == env["ACTIONS_RUNTIME_TOKEN"]
    ws = work / "runner" / "j" / "work" / "spa-ecs" / "spa-ecs"
    assert env["RUNNER_WORKSPACE"] == str(ws.parent) and env["GITHUB_WORKSPACE"] == str(ws)


def test_the_image_runner_adds_nothing_to_the_environment_the_rehearsal_computed(tmp_path):
    """dev/action-image/run --no-inputs: the caller computed the container's whole environment (as
    the runner does); the script translates host paths, and adds no variable of its own (it used to
    add GITHUB_ACTION_REPOSITORY, GITHUB_ACTION_REF and a made-up RUNNER_WORKSPACE of its own; the
    rehearsal's runner_vars give those now). Checked with a
    `buildah` stand-in on PATH that records the `buildah run` it is given."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls"
    fake = bin_dir / "buildah"
    fake.write_text(textwrap.dedent(f"""\
        #!/usr/bin/env python3
        import json, sys
        args = sys.argv[1:]
        with open({str(calls)!r}, "a") as f:
            f.write(json.dumps(args) + "\\n")
        if args[0] == "inspect":
            print(json.dumps({{"OCIv1": {{"config": {{"Entrypoint": ["/usr/local/bin/deckhand"]}}}}}}))
        elif args[0] == "from":
            print("ctr-1")
        """))
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    ws = tmp_path / "ws"
    ws.mkdir()
    temp = tmp_path / "temp"
    fc = temp / "_runner_file_commands"
    fc.mkdir(parents=True)
    env_file = tmp_path / "env"
    env_file.write_text(f"ONLY=this\nRUNNER_TEMP={temp}\nGITHUB_OUTPUT={fc}/out\nGITHUB_ENV={fc}/env\n"
                        f"GITHUB_PATH={fc}/path\nGITHUB_STEP_SUMMARY={fc}/sum\nGITHUB_STATE={fc}/state\n"
                        f"GITHUB_WORKSPACE={ws}\nHOME={temp}/_github_home\nCI=true\nGITHUB_ACTIONS=true\n")
    r = subprocess.run([str(HERE.parents[1] / "action-image" / "run"), "--image", "img", "--workspace", str(ws),
                        "--runner-temp", str(temp), "--file-commands", str(fc), "--env-file", str(env_file),
                        "--no-inputs", "--", "deploy"],
                       env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    import json
    run_call = next(json.loads(line) for line in calls.read_text().splitlines() if json.loads(line)[0] == "run")
    given = dict(run_call[i + 1].split("=", 1) for i, a in enumerate(run_call) if a == "--env")
    assert set(given) == {"ONLY", "RUNNER_TEMP", "GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_PATH", "GITHUB_STEP_SUMMARY",
                          "GITHUB_STATE", "GITHUB_WORKSPACE", "HOME", "CI", "GITHUB_ACTIONS", "GITHUB_EVENT_PATH"}, sorted(given)
    assert given["RUNNER_TEMP"] == "/github/runner_temp" and given["GITHUB_OUTPUT"] == "/github/file_commands/out"


def test_workflow_commands_are_read_as_the_runner_reads_them(repo, tmp_path):
    """ActionCommand.cs: `::cmd::` after leading whitespace (TryParseV2 trims it), the legacy
    `##[cmd k=v;]data` ANYWHERE in a line (TryParse: IndexOf("##[")); ActionCommandManager.cs:
    `::stop-commands::TOKEN` processes no command (an add-mask neither) until `::TOKEN::`; the
    deprecated set-output and save-state are still honoured, with a warning (a step's output, a post
    step's STATE_*: what a forged line in an action's log can set); set-env is disabled (the step
    fails)."""
    set_action(repo, """\
        name: t
        description: t
        runs:
          using: docker
          image: docker://example/t:1
          post-entrypoint: /usr/local/bin/post
        """)
    main = fake_entry(tmp_path, "#!/bin/bash\necho 'plan: key x##[save-state name=lock]forged-state'\nexit 0\n", "main")
    post = fake_entry(tmp_path, "#!/bin/bash\necho \"post saw [$STATE_lock]\"\n", "post")
    wf = write_wf(tmp_path, """\
        on: push
        jobs:
          j:
            runs-on: x
            steps:
              - uses: actions/checkout@0000000000000000000000000000000000000000
              - id: s
                run: |
                  echo "   ::add-mask::indented-secret-1"
                  echo "shown: indented-secret-1"
                  echo "::set-output name=legacy::from-a-command"
                  echo "text before ##[set-output name=v1;]v1%3Bvalue"
                  echo "::stop-commands::pause-token-42"
                  echo "::add-mask::unmasked-while-stopped"
                  echo "shown: unmasked-while-stopped"
                  echo "::set-output name=ignored::x"
                  echo "::pause-token-42::"
                  echo "::error::after the resume"
                  echo "late=file" >> "$GITHUB_OUTPUT"
              - uses: ./
              - id: disabled
                continue-on-error: true
                run: echo "::set-env name=X::y"
        """)
    code, result, work = run(wf, repo, tmp_path, "--event", "push", "--deckhand", str(main),
                             "--action-entrypoint", f"/usr/local/bin/post={post}")
    log = log_of(work)
    assert code == 0, log[-3000:]
    steps = result["jobs"]["j"]["steps"]
    assert steps["s"]["outputs"] == {"legacy": "from-a-command", "v1": "v1;value", "late": "file"}
    # (The script itself is in the log before it runs, as on GitHub: only its output is checked.)
    assert "  shown: ***" in log and "shown: indented-secret-1" not in log
    assert "  shown: unmasked-while-stopped" in log
    messages = [(a["level"], a["message"]) for a in result["jobs"]["j"]["annotations"]]
    assert ("error", "after the resume") in messages
    assert ("warning", "The `set-output` command is deprecated and will be disabled soon. Please upgrade to using "
            "Environment Files. For more information see: https://github.blog/changelog/2022-10-11-github-actions-"
            "deprecating-save-state-and-set-output-commands/") in messages
    assert "post saw [forged-state]" in log
    assert steps["disabled"]["outcome"] == "failure" and steps["disabled"]["conclusion"] == "success"


def test_deployment_branch_patterns_are_ruby_fnmatch_where_a_wildcard_never_matches_a_slash(repo, tmp_path):
    """GitHub's deployment branch and tag policies use Ruby's File.fnmatch (REST API,
    deployment-branch-policy-name-pattern: "Wildcard characters will not match `/`. For example, to
    match branches that begin with `release/` and contain an additional single slash, use
    `release/*/*`"): `release/*` lets release/1 deploy, not release/2/hotfix."""
    import json
    wf = write_wf(tmp_path, """\
        on: workflow_dispatch
        jobs:
          j:
            runs-on: x
            environment: production
            steps: [{run: "true"}]
        """)
    envs = tmp_path / "environments.json"
    envs.write_text(json.dumps({"production": {"branches": ["release/*"]}}))
    for branch in ("release/1", "release/2/hotfix"):
        subprocess.run(["git", "-C", str(repo), "branch", branch], check=True)
    code, result, work = run(wf, repo, tmp_path, "--event", "workflow_dispatch", "--ref", "refs/heads/release/1",
                             "--environments", str(envs))
    assert code == 0, log_of(work)[-2000:]
    code, result, work = run(wf, repo, tmp_path, "--event", "workflow_dispatch", "--ref", "refs/heads/release/2/hotfix",
                             "--environments", str(envs))
    assert code == 1 and result["jobs"]["j"]["steps"] == {}
    assert 'Branch "release/2/hotfix" is not allowed to deploy to production due to environment protection rules.' \
        in log_of(work)


def test_trigger_filters_decide_whether_the_run_starts(repo, tmp_path, capsys):
    """"Events that trigger workflows": a pull_request runs only for the activity types `types` lists
    (by default opened, synchronize, reopened: a `labeled` or `closed` event starts nothing);
    `paths`/`paths-ignore` (the changed files), which the rehearsal does not evaluate, are refused
    (exit 2 naming the filter), never run as if they were not there."""
    sha = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True,
                         check=True).stdout.strip()
    subprocess.run(["git", "-C", str(repo), "update-ref", "refs/pull/7/merge", sha], check=True)
    pr = ["--event", "pull_request", "--pr", "7", "--head-sha", sha]
    for types, action, runs in (("", "closed", False), ("", "reopened", True),
                                ("types: [labeled]", "labeled", True), ("types: [labeled]", "synchronize", False)):
        wf = write_wf(tmp_path, f"""\
            on:
              pull_request:
                branches: [main]
                {types}
            jobs:
              j:
                runs-on: x
                steps: [{{run: "true"}}]
            """)
        code, result, work = run(wf, repo, tmp_path, *pr, "--pr-action", action)
        assert (code == 0 and bool(result and result["jobs"])) == runs, (types, action, code, capsys.readouterr().err[-500:])
    for filt in ("paths: ['src/**']", "paths-ignore: ['docs/**']"):
        wf = write_wf(tmp_path, f"""\
            on:
              push:
                {filt}
            jobs:
              j:
                runs-on: x
                steps: [{{run: "true"}}]
            """)
        code, _, work = run(wf, repo, tmp_path, "--event", "push")
        assert code == 2, filt
        assert filt.split(":")[0] in capsys.readouterr().err


def test_an_id_token_asked_without_an_audience_is_for_the_repository_owner(repo, tmp_path):
    """GitHub's OIDC reference ("OIDC token claims", aud): "By default, this is the URL of the
    repository owner"; only a request with `&audience=` gets another (configure-aws-credentials asks
    for sts.amazonaws.com). A step that mints without one must not hold a token AWS's trust accepts."""
    import base64
    import json
    wf = write_wf(tmp_path, """\
        on: push
        jobs:
          j:
            runs-on: x
            permissions: {contents: read, id-token: write}
            steps:
              - id: t
                run: |
                  curl -fsS -H "Authorization: bearer $ACTIONS_ID_TOKEN_REQUEST_TOKEN" "$ACTIONS_ID_TOKEN_REQUEST_URL" > "$RUNNER_TEMP/t.json"
                  echo "jwt=$(jq -r .value "$RUNNER_TEMP/t.json")" >> "$GITHUB_OUTPUT"
        """)
    code, result, work = run(wf, repo, tmp_path, "--event", "push")
    assert code == 0, log_of(work)[-2000:]
    payload = result["jobs"]["j"]["steps"]["t"]["outputs"]["jwt"].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["aud"] == "https://github.com/deckhand-local", claims["aud"]


def test_a_docker_step_image_is_pulled_before_the_first_step_and_a_failed_pull_fails_the_job(repo, tmp_path):
    """ActionManager.cs PrepareActionsAsync: a `uses: docker://…` step's image is pulled in "Set up
    job", before any step (PullActionContainerAsync, condition success()); a pull that fails fails the
    job there, so no step with the default success() runs, not even the ones before the docker step
    (an `if: always()` step still does). Here the registry standing for ghcr.io refuses connections."""
    wf = write_wf(tmp_path, """\
        on: push
        jobs:
          j:
            runs-on: x
            steps:
              - id: before
                run: echo "ran=yes" >> "$GITHUB_OUTPUT"
              - id: action
                uses: docker://ghcr.io/deckhand-local/never-published@sha256:0000000000000000000000000000000000000000000000000000000000000000
              - id: cleanup
                if: always()
                run: echo "ran=yes" >> "$GITHUB_OUTPUT"
        """)
    code, result, work = run(wf, repo, tmp_path, "--event", "push", "--deckhand", str(fake_entry(tmp_path)),
                             "--registry-mirror", "ghcr.io=127.0.0.1:9")
    assert code == 1, log_of(work)[-2000:]
    steps = result["jobs"]["j"]["steps"]
    assert steps["before"]["outcome"] == "skipped" and steps["action"]["outcome"] == "skipped", steps
    assert steps["cleanup"]["outputs"] == {"ran": "yes"}
    assert "Pull ghcr.io/deckhand-local/never-published@sha256:" in log_of(work)
