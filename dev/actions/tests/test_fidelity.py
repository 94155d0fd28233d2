"""Where the rehearsal must do what GitHub's runner does, checked against the runner's source
(actions/runner, src/Runner.Worker/…) and GitHub's docs (no AWS). Each behaviour is cited beside the
code that models it in rehearse.py."""

import base64
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from test_engine import repo, run, set_action, write_wf  # noqa: E402,F401  (fixtures)

ENTRY_DUMPS_ENV = ("#!/bin/bash\n"
                   "env | sort > \"$GITHUB_WORKSPACE/../container-env-$1\"\n"
                   "echo \"args=$*\" >> \"$GITHUB_OUTPUT\"\n")


def fake_entry(tmp_path, body=ENTRY_DUMPS_ENV, name="entry"):
    f = tmp_path / name
    f.write_text(body)
    f.chmod(0o755)
    return f


# An action with a post step: its main and post entry points stand in for deckhand's.
POST_ACTION = ("name: t\ndescription: t\nruns:\n  using: docker\n  image: docker://example/t:1\n"
               "  post-entrypoint: /usr/local/bin/post\n  args: [main]\n")


def rehearse_until_main(wf, repo, tmp_path, main, post, marks):
    """Starts the rehearsal of `wf` (a push) in the background with POST_ACTION's entry points `main`
    and `post`, and waits (30 s at most) until the main one has written `main` to `marks`: the
    process and its work directory."""
    work = tmp_path / "work"
    argv = [sys.executable, str(HERE.parent / "rehearse.py"), str(wf), "--event", "push", "--repo-dir", str(repo),
            "--work", str(work), "--quiet", "--deckhand", str(main), "--action-entrypoint", f"/usr/local/bin/post={post}"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not (marks.exists() and "main" in marks.read_text()) and time.monotonic() < deadline:
        time.sleep(0.1)
    return proc, work


def container_env(work, job, tag):
    text = (work / "runner" / job / "work" / "spa-ecs" / f"container-env-{tag}").read_text()
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def test_runs_env_only_fills_keys_the_step_and_job_did_not_set(repo, tmp_path):
    """ContainerActionHandler.cs: `if (!this.Environment.ContainsKey(env.Key)) this.Environment[env.Key] = …`
    — the action's runs.env never overrides the workflow's env (job, step, GITHUB_ENV)."""
    set_action(
        repo,
        "name: t\ndescription: t\ninputs:\n  dry-run: {default: 'false'}\nruns:\n  using: docker\n  image: docker://example/t:1\n"
        "  env:\n    T_DRY: ${{ inputs.dry-run }}\n    FROM_JOB: action\n    FROM_STEP: action\n    FROM_FILE: action\n"
        "    ONLY_ACTION: action\n  args: [one]\n")
    wf = write_wf(tmp_path, """\
        on: push
        jobs:
          j:
            runs-on: x
            env: {FROM_JOB: job}
            steps:
              - uses: actions/checkout@0000000000000000000000000000000000000000
              - run: echo "FROM_FILE=file" >> "$GITHUB_ENV"
              - uses: ./
                env: {FROM_STEP: step, T_DRY: step}
                with: {dry-run: "true"}
        """)
    code, result, work = run(wf, repo, tmp_path, "--event", "push", "--deckhand", str(fake_entry(tmp_path)))
    assert code == 0, (work / "logs" / "rehearsal.log").read_text()
    env = container_env(work, "j", "one")
    assert (env["FROM_JOB"], env["FROM_STEP"], env["FROM_FILE"], env["T_DRY"]) == ("job", "step", "file", "step")
    assert env["ONLY_ACTION"] == "action" and env["INPUT_DRY-RUN"] == "true"


def test_the_runner_machines_environment_reaches_run_steps_not_container_actions(repo, tmp_path):
    """ActionRunner.cs builds a container action's environment from the env context (workflow, job,
    step, GITHUB_ENV) only, and DockerCommandManager.DockerRun passes exactly those (`-e NAME`) plus
    the runner's own GITHUB_*/RUNNER_* (ContainerActionHandler.cs): the machine's variables
    (AWS_ENDPOINT_URL, DECKHAND_BUILDER, …) never get into the container. A `run:` step's process
    inherits them (ScriptHandler.cs: the runner's own environment plus the step's)."""
    wf = write_wf(tmp_path, """\
        on: push
        jobs:
          j:
            runs-on: x
            steps:
              - uses: actions/checkout@0000000000000000000000000000000000000000
              - id: sh
                run: echo "endpoint=${AWS_ENDPOINT_URL:-}" >> "$GITHUB_OUTPUT"
              - uses: ./
        """)
    code, result, work = run(wf, repo, tmp_path, "--event", "push", "--deckhand", str(fake_entry(tmp_path)),
                             "--runner-env", "AWS_ENDPOINT_URL=http://127.0.0.1:1", "--runner-env", "DECKHAND_BUILDER=buildah")
    assert code == 0, (work / "logs" / "rehearsal.log").read_text()
    assert result["jobs"]["j"]["steps"]["sh"]["outputs"] == {"endpoint": "http://127.0.0.1:1"}
    env = container_env(work, "j", "deploy")
    assert "AWS_ENDPOINT_URL" not in env and "DECKHAND_BUILDER" not in env, sorted(env)
    assert env["GITHUB_ACTIONS"] == "true" and env["INPUT_COMMAND"] == "deploy"


def _claims(jwt: str) -> dict:
    payload = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


ID_TOKEN_STEP = """\
              - id: {id}
                run: |
                  if [ -z "${{ACTIONS_ID_TOKEN_REQUEST_URL:-}}" ]; then echo "url=" >> "$GITHUB_OUTPUT"; exit 0; fi
                  test -n "$ACTIONS_ID_TOKEN_REQUEST_TOKEN"
                  curl -fsS -H "Authorization: bearer $ACTIONS_ID_TOKEN_REQUEST_TOKEN" "$ACTIONS_ID_TOKEN_REQUEST_URL&audience=sts.amazonaws.com" > "$RUNNER_TEMP/t.json"
                  echo "url=$ACTIONS_ID_TOKEN_REQUEST_URL" >> "$GITHUB_OUTPUT"
                  echo "jwt=$(jq -r .value "$RUNNER_TEMP/t.json")" >> "$GITHUB_OUTPUT"
                  code=$(curl -s -o /dev/null -w '%{{http_code}}' -H "Authorization: bearer wrong" "$ACTIONS_ID_TOKEN_REQUEST_URL&audience=x")
                  echo "wrong=$code" >> "$GITHUB_OUTPUT"
"""


def test_every_step_of_a_job_with_id_token_write_can_mint_an_oidc_token(repo, tmp_path):
    """ContainerActionHandler.cs and ScriptHandler.cs put ACTIONS_ID_TOKEN_REQUEST_URL/_TOKEN in every
    step's environment when the job's system connection has GenerateIdTokenUrl, which GitHub gives only
    with `permissions: id-token: write` ("About security hardening with OpenID Connect"): a `run:` step
    (e.g. an npm install script) can mint a token for any audience. The rehearsal serves that endpoint:
    the job's token, as dev/oidc mints it; a wrong bearer gets 401."""
    wf = write_wf(tmp_path, "on: push\njobs:\n"
                  "  minting:\n    runs-on: x\n    environment: production\n    permissions: {contents: read, id-token: write}\n    steps:\n"
                  + ID_TOKEN_STEP.format(id="build")
                  + "  plain:\n    runs-on: x\n    permissions: {contents: read}\n    steps:\n"
                  + ID_TOKEN_STEP.format(id="build"))
    code, result, work = run(wf, repo, tmp_path, "--event", "push")
    assert code == 0, (work / "logs" / "rehearsal.log").read_text()[-3000:]
    out = result["jobs"]["minting"]["steps"]["build"]["outputs"]
    assert out["url"] and out["wrong"] == "401"
    claims = _claims(out["jwt"])
    # the subject names the environment (GitHub's default form, or the repository's customised one after it)
    assert (claims["sub"] + ":").startswith("repo:deckhand-local/spa-ecs:environment:production:") and claims["aud"] == "sts.amazonaws.com"
    assert claims["iss"] == "https://token.actions.githubusercontent.com" and claims["environment"] == "production"
    assert result["jobs"]["plain"]["steps"]["build"]["outputs"] == {"url": ""}
    assert out["jwt"] not in (work / "logs" / "rehearsal.log").read_text()


def test_an_environment_protected_to_main_refuses_a_job_from_another_branch(repo, tmp_path):
    """An environment's deployment branch policy ("Managing environments for deployment": deployment
    branches and tags) is checked before the job starts; a job whose ref it does not allow fails
    without running a step. Its variables and secrets (environment-scoped) win over the repository's."""
    wf = write_wf(tmp_path, """\
        on: [push, workflow_dispatch]
        jobs:
          j:
            runs-on: x
            environment: production
            steps:
              - id: s
                env: {X: "${{ vars.WHERE }}", S: "${{ secrets.TOKEN }}"}
                run: echo "v=$X/$S" >> "$GITHUB_OUTPUT"
        """)
    envs = tmp_path / "environments.json"
    envs.write_text(json.dumps({"production": {"branches": ["main"], "variables": {"WHERE": "production"},
                                               "secrets": {"TOKEN": "prod-secret"}}}))
    subprocess.run(["git", "-C", str(repo), "branch", "feature"], check=True)
    common = ["--environments", str(envs), "--var", "WHERE=repository", "--secret", "TOKEN=repo-secret"]
    code, result, work = run(wf, repo, tmp_path, "--event", "push", *common)
    assert code == 0, (work / "logs" / "rehearsal.log").read_text()[-3000:]
    assert result["jobs"]["j"]["steps"]["s"]["outputs"] == {"v": "production/prod-secret"}
    code, result, work = run(wf, repo, tmp_path, "--event", "workflow_dispatch", "--ref", "refs/heads/feature", *common)
    assert code == 1
    job = result["jobs"]["j"]
    assert job["result"] == "failure" and job["steps"] == {}
    assert 'Branch "feature" is not allowed to deploy to production due to environment protection rules.' in \
        (work / "logs" / "rehearsal.log").read_text()


def test_post_entrypoint_runs_at_the_end_of_the_job_with_post_if(repo, tmp_path):
    """ActionRunner.cs registers a post step for an action with post (`RegisterPostJobStep`), run after
    every main step, in reverse order, with `post-if` (default `always()`: ActionManifestManager.cs) as
    its condition; ContainerActionHandler.cs runs it as the container with runs.post-entrypoint as the
    entrypoint and the same runs.args."""
    set_action(repo, POST_ACTION)
    post = fake_entry(tmp_path, "#!/bin/bash\necho \"post $* status=$STATE_x\" >> \"$GITHUB_WORKSPACE/../order\"\n", "post")
    main = fake_entry(tmp_path, "#!/bin/bash\necho \"main $*\" >> \"$GITHUB_WORKSPACE/../order\"\necho 'x=held' >> \"$GITHUB_STATE\"\nexit ${FAIL:-0}\n", "main")
    wf = write_wf(tmp_path, """\
        on: push
        jobs:
          j:
            runs-on: x
            steps:
              - uses: actions/checkout@0000000000000000000000000000000000000000
              - uses: ./
              - run: echo "last" >> "$GITHUB_WORKSPACE/../order"
        """)
    args = ["--event", "push", "--deckhand", str(main), "--action-entrypoint", f"/usr/local/bin/post={post}"]
    code, result, work = run(wf, repo, tmp_path, *args)
    assert code == 0, (work / "logs" / "rehearsal.log").read_text()[-3000:]
    order = (work / "runner" / "j" / "work" / "spa-ecs" / "order").read_text().splitlines()
    assert order == ["main main", "last", "post main status=held"]


def test_a_job_timeout_sends_sigint_then_sigterm_after_the_runners_grace(repo, tmp_path):
    """Job `timeout-minutes` cancels the job; the runner's ProcessInvoker (src/Runner.Sdk/ProcessInvoker.cs,
    CancelAndKillProcessTree) sends SIGINT, waits 7.5 s, sends SIGTERM, waits 2.5 s, then kills the
    process tree. Steps with `if: always()` still run; the job's result is cancelled."""
    wf = write_wf(tmp_path, """\
        on: push
        jobs:
          j:
            runs-on: x
            timeout-minutes: 0.02
            steps:
              - run: |
                  t0=$(date +%s%N)
                  trap 'echo "INT $(( ($(date +%s%N) - t0) / 1000000 ))" >> "$RUNNER_TEMP/../signals"' INT
                  trap 'echo "TERM $(( ($(date +%s%N) - t0) / 1000000 ))" >> "$RUNNER_TEMP/../signals"; exit 143' TERM
                  for _ in $(seq 200); do sleep 0.1; done
              - id: after
                if: always()
                run: echo "ran=yes" >> "$GITHUB_OUTPUT"
              - id: skipped
                run: echo never
        """)
    t0 = time.monotonic()
    code, result, work = run(wf, repo, tmp_path, "--event", "push")
    took = time.monotonic() - t0
    assert code == 1
    job = result["jobs"]["j"]
    assert job["result"] == "cancelled"
    assert job["steps"]["after"]["outputs"] == {"ran": "yes"} and job["steps"]["skipped"]["outcome"] == "skipped"
    sigs = [(line.split()[0], int(line.split()[1]) / 1000) for line in (work / "runner" / "j" / "signals").read_text().splitlines()]
    assert [s for s, _ in sigs] == ["INT", "TERM"], sigs
    # SIGINT at the job's deadline (1.2 s after the job started: the step started a little later), SIGTERM
    # the runner's 7.5 s after it
    assert 0 < sigs[0][1] < 3.0 and 7.0 <= sigs[1][1] - sigs[0][1] < 9.5, sigs
    assert took < 20


@pytest.mark.parametrize("queue,want", [
    # queue: single (the default): one pending run; the newer pending run cancels the older
    ("single", {"b": "cancelled", "c": "success"}),
    # queue: max: every run waits its turn, in order
    ("max", {"b": "success", "c": "success"}),
])
def test_concurrency_queues_pending_runs_as_github_does(repo, tmp_path, queue, want):
    """"Control the concurrency of workflows and jobs": a group runs one at a time; with the default
    queue only the newest pending run survives (a push cancels a pending rollback), with `queue: max`
    each pending run waits its turn. A is running (it waits for a file); B then C arrive."""
    wf = write_wf(tmp_path, f"""\
        on: push
        concurrency: {{group: deploy-production, cancel-in-progress: false, queue: {queue}}}
        jobs:
          j:
            runs-on: x
            steps:
              - run: |
                  while [ -n "$HOLD" ] && [ ! -e "$HOLD" ]; do sleep 0.1; done
                  echo "$RUN" >> "{tmp_path}/order"
                env: {{RUN: "${{{{ github.run_id }}}}", HOLD: "${{{{ vars.HOLD }}}}"}}
        """)
    store = tmp_path / "store"
    release = tmp_path / "release-a"

    def start(run_id, *extra):
        argv = [sys.executable, str(HERE.parent / "rehearse.py"), str(wf), "--event", "push", "--repo-dir", str(repo),
                "--work", str(tmp_path / f"work-{run_id}"), "--artifacts", str(store), "--run-id", run_id, "--quiet", *extra]
        return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def waiting(run_id):
        log = tmp_path / f"work-{run_id}" / "logs" / "rehearsal.log"
        return log.exists() and "waiting for concurrency group" in log.read_text()

    a = start("100", "--var", f"HOLD={release}")
    deadline = time.monotonic() + 30
    while not (tmp_path / "work-100" / "runner" / "j").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    b = start("200")
    while not waiting("200") and time.monotonic() < deadline:
        time.sleep(0.1)
    c = start("300")
    while not waiting("300") and time.monotonic() < deadline:
        time.sleep(0.1)
    release.write_text("go")
    codes = {name: p.wait(timeout=60) for name, p in (("a", a), ("b", b), ("c", c))}
    results = {name: json.loads((tmp_path / f"work-{rid}" / "result.json").read_text()) for name, rid in (("a", "100"), ("b", "200"), ("c", "300"))}
    got = {name: results[name]["conclusion"] for name in ("b", "c")}
    assert results["a"]["conclusion"] == "success" and got == want, (codes, got)
    order = (tmp_path / "order").read_text().split()
    assert order == (["100", "300"] if queue == "single" else ["100", "200", "300"])
    if queue == "single":
        assert codes["b"] == 1 and results["b"]["jobs"] == {}
        assert "Canceling since a higher priority waiting request for 'deckhand-local/spa-ecs:deploy-production' exists" in \
            (tmp_path / "work-200" / "logs" / "rehearsal.log").read_text()


def test_a_cancelled_run_still_runs_the_post_step(repo, tmp_path):
    """A cancel ("Cancel workflow": here SIGTERM to the rehearsal) cancels the running step with the
    runner's signals and skips the steps after it, but post steps run: post-if defaults to always()
    (ActionManifestManager.cs), evaluated once the job is cancelled (StepsRunner.cs runs the post steps
    registered so far). This is what releases the deploy lock of a cancelled job."""
    set_action(repo, POST_ACTION)
    marks = tmp_path / "marks"
    post = fake_entry(tmp_path, f"#!/bin/bash\necho \"post $JOB_STATUS_SEEN\" >> {marks}\n", "post")
    main = fake_entry(tmp_path, f"#!/bin/bash\necho main >> {marks}\ntrap 'echo int >> {marks}; exit 130' INT\n"
                      "for _ in $(seq 300); do sleep 0.1; done\n", "main")
    wf = write_wf(tmp_path, """\
        on: push
        jobs:
          j:
            runs-on: x
            steps:
              - uses: actions/checkout@0000000000000000000000000000000000000000
              - uses: ./
                env: {JOB_STATUS_SEEN: "${{ job.status }}"}
              - id: next
                run: echo never
        """)
    proc, work = rehearse_until_main(wf, repo, tmp_path, main, post, marks)
    proc.send_signal(15)
    assert proc.wait(timeout=30) == 1, proc.stderr.read()
    result = json.loads((work / "result.json").read_text())
    job = result["jobs"]["j"]
    assert result["conclusion"] == "cancelled" and job["result"] == "cancelled"
    assert job["steps"]["next"]["outcome"] == "skipped"
    # The post step's `env:` is evaluated when it runs (StepsRunner.cs evaluates every step's env,
    # post steps included, with the job's status then): the job is cancelled by then.
    assert marks.read_text().split("\n")[:3] == ["main", "int", "post cancelled"], marks.read_text()
    assert job["steps"]["__post___action_2"]["outcome"] == "success"


def test_a_post_step_asks_the_docker_daemon_about_the_main_steps_container(repo, tmp_path):
    """Docker names each container's host by its short id (HOSTNAME) and the runner mounts the daemon's
    socket into every container action (ContainerActionHandler.cs): a post step can tell whether the
    main step's container still runs (Docker Engine API GET /containers/{id}/json) before it releases
    what that step held. With --action-runtime host each action's process stands for its container
    (runner_model.DockerEngine): here the main step, cancelled, ignores SIGINT and SIGTERM and is
    killed; the post step finds its container exited, and an unknown one answered 404."""
    set_action(repo, POST_ACTION)
    marks = tmp_path / "marks"
    post = fake_entry(tmp_path, f"#!/bin/bash\nsock=\"${{DOCKER_HOST#unix://}}\"\n"
                      f"echo \"post $HOSTNAME $(curl -s --unix-socket \"$sock\" http://docker/containers/$STATE_container/json)\" >> {marks}\n"
                      f"echo \"unknown $(curl -s -o /dev/null -w '%{{http_code}}' --unix-socket \"$sock\" http://docker/containers/0123456789ab/json)\" >> {marks}\n",
                      "post")
    main = fake_entry(tmp_path, f"#!/bin/bash\necho \"container=$HOSTNAME\" >> \"$GITHUB_STATE\"\necho \"main $HOSTNAME\" >> {marks}\n"
                      "trap '' INT TERM\nfor _ in $(seq 300); do sleep 0.1; done\n", "main")
    wf = write_wf(tmp_path, """\
        on: push
        jobs:
          j:
            runs-on: x
            steps:
              - uses: actions/checkout@0000000000000000000000000000000000000000
              - uses: ./
        """)
    proc, work = rehearse_until_main(wf, repo, tmp_path, main, post, marks)
    proc.send_signal(2)
    assert proc.wait(timeout=60) == 1, proc.stderr.read()
    lines = marks.read_text().splitlines()
    main_host = lines[0].split()[1]
    assert re.fullmatch(r"[0-9a-f]{12}", main_host), lines
    post_host, answer = lines[1].split(" ", 2)[1:]
    assert post_host != main_host and re.fullmatch(r"[0-9a-f]{12}", post_host), lines  # a container of its own
    state = json.loads(answer)
    assert state["Id"].startswith(main_host) and len(state["Id"]) == 64
    # killed after the runner's SIGINT and SIGTERM: exited, 128 + SIGKILL
    assert state["State"] == {"Status": "exited", "Running": False, "ExitCode": 137}, state
    assert lines[2] == "unknown 404"
