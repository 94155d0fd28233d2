"""deckhand as the roles infra/ synthesizes, on the local stack (which enforces IAM, dev/local-aws).

Deploys infra/ (infra/scripts/deploy-local, a fresh environment per run), then for every workflow in
.github/workflows/ that assumes a role (read from the files, never copied): mints the OIDC token
GitHub would give that job (dev/oidc: sub from its `environment:`, event and ref), makes the
AssumeRoleWithWebIdentity its deckhand steps make themselves (their `role-to-assume` input: audience
sts.amazonaws.com, session `deckhand`; or a configure-aws-credentials step's, for a job that has one)
for the role it names (`vars.X_ROLE_ARN` = the stack output `XRoleArn`) and runs the real deckhand
binary with that session and the other inputs of the job's `uses: ./` step (every input is the
deckhand flag of the same name) and the repository's deckhand.yml. Only the build context and the site directory are this test's (a
FROM-scratch image and a two-file site: what they contain changes no AWS call).

Every IAM action the local stack authorised for each role's sessions is collected from the request
log and written to $DECKHAND_ARTIFACTS/role-actions.json (and, with ROLES_UPDATE=1, to
infra/test/role-actions.json, which infra/test/security.test.ts compares the template with).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any, Optional

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "dev" / "oidc"))
import github_oidc as gh  # noqa: E402

WORKFLOWS = ROOT / ".github" / "workflows"
RECORDED = ROOT / "infra" / "test" / "role-actions.json"
ARTIFACTS = Path(os.environ.get("DECKHAND_ARTIFACTS", ROOT / "target" / "artifacts"))
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
_recorded: dict[str, set[str]] = {}


def aws(*args: str, account: str | None = None) -> Any:
    out = subprocess.run([os.environ.get("DECKHAND_AWS_CLI", str(Path.home() / ".cache/deckhand/venv/bin/aws")),
                          "--endpoint-url", os.environ["AWS_ENDPOINT_URL"], "--output", "json", *args],
                         check=True, capture_output=True, text=True, env=bootstrap_env(account))
    return json.loads(out.stdout) if out.stdout.strip() else None


# Staging's account: the two-environment tests deploy staging's stack there (its bootstrap identity
# `test-<account>`, dev/local-aws/README.md), production's in the default account 123456789012.
STAGING_ACCOUNT = "210987654321"


def bootstrap_env(account: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_SESSION")}
    env.update(AWS_ACCESS_KEY_ID=f"test-{account}" if account else "test", AWS_SECRET_ACCESS_KEY="test")
    return env


def sim(path: str, method: str = "GET", body: Any = None) -> Any:
    req = urllib.request.Request(f"{os.environ['DECKHAND_SIM_URL']}{path}", method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Content-Type": "application/json"})
    with _opener.open(req, timeout=30) as r:
        return json.loads(r.read() or b"null")


@pytest.fixture(scope="session")
def stack() -> dict[str, str]:
    env_name = f"roles{int(time.time())}"
    # production of two environments: its DeployRole may read what a promotion needs of the staging
    # environment's stack (`staging` below deploys it: <env>s), in staging's own account
    name = subprocess.run([str(ROOT / "infra/scripts/deploy-local"), "--env", env_name, "-c", f"promoteFrom={env_name}s",
                           "-c", f"promoteFromAccount={STAGING_ACCOUNT}"], check=True,
                          capture_output=True, text=True, env=bootstrap_env()).stdout.strip().splitlines()[-1]
    outputs = {o["OutputKey"]: o["OutputValue"]
               for o in aws("cloudformation", "describe-stacks", "--stack-name", name)["Stacks"][0]["Outputs"]}
    # the SSM parameters deckhand.yml names must exist (CloudFormation cannot create SecureStrings)
    for param in re.findall(r"(/[A-Za-z0-9_./-]+)\s*$", (ROOT / "deckhand.yml").read_text(), re.M):
        try:
            aws("ssm", "put-parameter", "--name", param, "--type", "SecureString", "--value", "local-test-value")
        except subprocess.CalledProcessError:
            pass  # exists
    sim(f"/services/{outputs['ClusterName']}/{outputs['ServiceName']}", "PUT", {"scenario": "healthy", "step-seconds": 0.05})
    return {**outputs, "StackName": name}


@pytest.fixture(scope="session")
def blue_green_stack(stack: dict[str, str]) -> dict[str, str]:
    """A second stack of infra/ with `-c strategy=BLUE_GREEN` (after the first: the OIDC provider and the
    SSM parameters exist): the alternate target group, the rules, the infrastructure role, the alarms."""
    env_name = f"rolesbg{int(time.time())}"
    name = subprocess.run([str(ROOT / "infra/scripts/deploy-local"), "--env", env_name, "-c", "strategy=BLUE_GREEN"],
                          check=True, capture_output=True, text=True, env=bootstrap_env()).stdout.strip().splitlines()[-1]
    outputs = {o["OutputKey"]: o["OutputValue"]
               for o in aws("cloudformation", "describe-stacks", "--stack-name", name)["Stacks"][0]["Outputs"]}
    return {**outputs, "StackName": name}


def role_jobs() -> list[tuple[Path, str, dict[str, Any]]]:
    """(workflow, job id, job) of every job that assumes a role: deckhand steps with `role-to-assume`
    (or a configure-aws-credentials step)."""
    found = []
    for wf in sorted(WORKFLOWS.glob("*.y*ml")):
        doc = gh.load_workflow(wf)
        for job_id, job in (doc.get("jobs") or {}).items():
            if gh._role_step(job or {}) is not None:
                found.append((wf, job_id, job))
    return found


def event_of(wf: Path) -> tuple[str, str]:
    """The event (and ref) a workflow's configure step runs for: push to its branch, a PR, a dispatch."""
    triggers = gh._triggers(gh.load_workflow(wf))
    if "push" in triggers:
        branches = (triggers["push"] or {}).get("branches") or ["main"]
        return "push", f"refs/heads/{branches[0]}"
    if "pull_request" in triggers:
        return "pull_request", "refs/pull/1/merge"
    if "workflow_dispatch" in triggers:
        return "workflow_dispatch", "refs/heads/main"
    raise AssertionError(f"{wf.name}: no push, pull_request or workflow_dispatch trigger")


def variables(stack: dict[str, str]) -> dict[str, str]:
    """Repository variables: X_ROLE_ARN -> the stack output XRoleArn, STACK_NAME, AWS_REGION."""
    out = {"STACK_NAME": stack["StackName"], "AWS_REGION": os.environ.get("AWS_REGION", "us-east-1")}
    for key, value in stack.items():
        out[re.sub(r"(?<!^)(?=[A-Z])", "_", key).upper()] = value
    return out


def role_name_of(step_inputs: dict[str, str], stack: dict[str, str]) -> str:
    arn = step_inputs["role-to-assume"]
    for key, value in stack.items():
        if value == arn and key.endswith("RoleArn"):
            return key[: -len("Arn")]
    raise AssertionError(f"role-to-assume {arn} is none of the stack's role outputs")


# The subject customisation docs/security.md's setup applies to the repository (infra/github-oidc-sub.json):
# the subjects GitHub gives this repository's jobs.
SUB_KEYS = gh.repository_sub_keys()


def describe_job(wf: Path, job_id: str, event: str, ref: str) -> str:
    claims = gh.claims_for(wf, event, ref, job=job_id, sub_keys=SUB_KEYS)
    return f"{wf.name} job `{job_id}` ({event} {ref}; OIDC sub {claims['sub']})"


def assume_for(wf: Path, job_id: str, stack: dict[str, str], **token_kw: Any) -> tuple[dict[str, str], str, str]:
    event, ref = token_kw.pop("event", None) or event_of(wf)[0], token_kw.pop("ref", None) or event_of(wf)[1]
    inputs = gh.role_step_inputs(wf, job_id, variables(stack))
    token_kw.setdefault("sub_keys", SUB_KEYS)
    claims = gh.claims_for(wf, event, ref, job=job_id, audience=inputs.get("audience") or gh.DEFAULT_AUDIENCE, **token_kw)
    creds = gh.assume_role_with_web_identity(inputs["role-to-assume"], gh.sign(claims), inputs["aws-region"],
                                             session_name=inputs.get("role-session-name") or gh.SESSION_NAME)
    return creds, role_name_of(inputs, stack), claims["sub"]


RUN_COMMANDS = ("deploy", "plan")  # rollback.yml: its token and role are tested; its runs are not yet


# The test makes the AssumeRoleWithWebIdentity the step's deckhand would make with the job's token
# (assume_for) and runs deckhand with that session: not the input.
ASSUMED_BY_THE_TEST = ("role-to-assume",)


def deckhand_steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    """The job's `uses: ./` steps running a command this test runs (deploy, plan)."""
    return [s for s in job.get("steps") or [] if isinstance(s, dict) and s.get("uses") == "./"
            and str((s.get("with") or {}).get("command", "deploy")) in RUN_COMMANDS]


def deckhand_args(wf: Path, job: dict[str, Any], stack: dict[str, str], work: Path) -> list[str]:
    """The `uses: ./` step's inputs as deckhand flags; the build context and site dir are the test's."""
    [step] = deckhand_steps(job)
    inputs = {str(k): str(v) for k, v in (step.get("with") or {}).items()}
    known = variables(stack)

    def evaluate(v: str) -> str:
        # These runs are direct pushes: deploy.yml's lookup step finds no reviewed plan (its own
        # rehearsal is dev/actions/tests/test_reviewed_plan.py), so `plan` is empty.
        v = re.sub(r"\$\{\{\s*steps\.reviewed\.outputs\.plan\s*\}\}", "", v)
        # `vars.X != 'true'` with X unset (these runs set no DECKHAND_REQUIRE_REVIEWED_PLAN).
        v = re.sub(r"\$\{\{\s*vars\.([A-Za-z0-9_]+)\s*!=\s*'true'\s*\}\}",
                   lambda m: str(known.get(m.group(1), "") != "true").lower(), v)
        # An unset repository variable is the empty string ("If a variable has not been set, the return
        # value of a context referencing the variable will be an empty string": GitHub's docs, Variables >
        # Using the vars context): DECKHAND_AWS_ENDPOINT, DECKHAND_REGISTRY_OVERRIDE, DECKHAND_BUILD_ARGS
        # are unset on GitHub, and an empty input is no flag (below).
        return re.sub(r"\$\{\{\s*vars\.([A-Za-z0-9_]+)\s*\}\}", lambda m: known.get(m.group(1), ""), v)

    resolved = {k: evaluate(v) for k, v in inputs.items() if k not in ASSUMED_BY_THE_TEST}
    for k, v in resolved.items():
        assert "${{" not in v, f"{wf.name}: input {k} is an expression this test cannot evaluate: {inputs[k]}"
    args = [resolved.pop("command", "deploy")]
    if "out" in resolved:  # a file the job keeps (plan --out): the test's, not the checkout's
        args += ["--out", str(work / Path(resolved.pop("out")).name)]
    for k, v in resolved.items():
        if v in ("true", "false"):
            if v == "true":
                args.append(f"--{k}")
            continue
        for line in [x for x in v.splitlines() if x.strip()]:
            args += [f"--{k}", line.strip()]
    args += ["--context", str(work / "app"), "--dockerfile", str(work / "app" / "Dockerfile"),
             "--dir", str(work / "site"), "--registry-override", os.environ.get("DECKHAND_REGISTRY", "127.0.0.1:5001")]
    return args


@pytest.fixture
def work(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "tests" / "fixtures" / "backend" / "app", tmp_path / "app")
    (tmp_path / "app" / "hello.txt").write_text(f"hello {tmp_path.name}\n")  # a new image each test
    (tmp_path / "site" / "assets").mkdir(parents=True)
    (tmp_path / "site" / "index.html").write_text(f"<!doctype html><title>{tmp_path.name}</title>")
    (tmp_path / "site" / "assets" / f"app-{tmp_path.name[-8:]}.js").write_text("console.log(1)\n")
    return tmp_path


def run_deckhand(args: list[str], creds: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DECKHAND_MOTO"))}
    env.update(creds, AWS_ENDPOINT_URL=os.environ["AWS_ENDPOINT_URL"])
    return subprocess.run([os.environ["DECKHAND_BIN"], *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)


def session_log(creds: dict[str, str]) -> list[dict[str, Any]]:
    return sim(f"/requests?access-key-id={creds['AWS_ACCESS_KEY_ID']}")


def record(role: str, log: list[dict[str, Any]]) -> None:
    acts = _recorded.setdefault(role, set())
    for e in log:
        for a in e.get("iam") or []:
            if a["decision"] == "Allow":
                acts.add(a["action"])


def jobs_assuming(role: str, stack: dict[str, str]) -> list[tuple[Path, str, dict[str, Any]]]:
    out = []
    for wf, job_id, job in role_jobs():
        inputs = gh.role_step_inputs(wf, job_id, variables(stack))
        if role_name_of(inputs, stack) == role:
            out.append((wf, job_id, job))
    out = [j for j in out if deckhand_steps(j[2])]
    assert out, f"no workflow in .github/workflows runs deckhand {'/'.join(RUN_COMMANDS)} as {role}"
    return out


def deploy_jobs(stack: dict[str, str], work: Path) -> list[tuple[Path, str, list[str]]]:
    """(workflow, job id, deckhand args) of each job that deploys as DeployRole (not a --dry-run)."""
    out = []
    for wf, job_id, job in jobs_assuming("DeployRole", stack):
        args = deckhand_args(wf, job, stack, work)
        if "--dry-run" not in args:
            out.append((wf, job_id, args))
    return out


def run_as_job(wf: Path, job_id: str, stack: dict[str, str], args: list[str],
               strategy: Optional[str] = None) -> tuple[subprocess.CompletedProcess[str], list[dict[str, Any]], str, str]:
    """deckhand `args` with the session the job's token gets (assume_for), and that session's request
    log, whose IAM actions are recorded for its role (as `ROLE:STRATEGY` on a stack of another
    deployment strategy than ROLLING): (result, log, role, OIDC sub)."""
    creds, role, sub = assume_for(wf, job_id, stack)
    r = run_deckhand(args, creds)
    log = session_log(creds)
    record(f"{role}:{strategy}" if strategy else role, log)
    return r, log, role, sub


def denials(log: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The IAM decisions of a request log that were not Allow."""
    return [a for e in log for a in e.get("iam") or [] if a["decision"] != "Allow"]


def test_every_deckhand_step_assumes_its_role_itself() -> None:
    """Issue 22.8: every deckhand step of the workflows assumes its role itself (`role-to-assume`: a
    session it renews during a long wait), none runs on keys configure-aws-credentials exported (one
    hour, not renewable inside the action); no other step of theirs calls AWS, so no job has a
    configure-aws-credentials step."""
    steps = 0
    for wf in sorted(WORKFLOWS.glob("*.y*ml")):
        for job_id, job in (gh.load_workflow(wf).get("jobs") or {}).items():
            for step in (job or {}).get("steps") or []:
                if not isinstance(step, dict):
                    continue
                uses = str(step.get("uses", "")).split("@")[0]
                assert uses != gh.CONFIGURE_ACTION, \
                    f"{wf.name} job `{job_id}`: a configure-aws-credentials step (deckhand steps take role-to-assume)"
                if uses == "./":
                    steps += 1
                    w = step.get("with") or {}
                    assert w.get("role-to-assume"), f"{wf.name} job `{job_id}` step {step.get('name')!r}: no role-to-assume"
                    assert w.get("region"), f"{wf.name} job `{job_id}` step {step.get('name')!r}: no region"
    assert steps >= 5, f"{steps} deckhand steps in .github/workflows"


def test_every_workflow_job_can_assume_the_role_it_names(stack: dict[str, str]) -> None:
    jobs = role_jobs()
    assert jobs, "no workflow job assumes a role (deckhand's role-to-assume or configure-aws-credentials)"
    for wf, job_id, _ in jobs:
        event, ref = event_of(wf)
        try:
            creds, role, _ = assume_for(wf, job_id, stack)
        except gh.OidcError as e:
            pytest.fail(f"{describe_job(wf, job_id, event, ref)}: {e} — the role's trust policy "
                        "(infra/lib/spa-ecs-stack.ts) does not match the subject GitHub gives this job")
        assert creds["AWS_SESSION_TOKEN"] and role in ("DeployRole", "PlanRole")


def test_deploy_as_the_deploy_role_runs_both_halves(stack: dict[str, str], work: Path) -> None:
    for wf, job_id, args in deploy_jobs(stack, work):
        r, log, role, sub = run_as_job(wf, job_id, stack, args)
        denied = denials(log)
        assert r.returncode == 0, f"deckhand {wf.name} as {role} ({sub}) exited {r.returncode}:\n{r.stderr[-3000:]}"
        assert not denied, f"denied as {role}: {denied}"
        assert "backend: registered" in r.stdout + r.stderr and "frontend: uploaded" in r.stdout + r.stderr, r.stderr[-2000:]
        ops = {e["operation"] for e in log}
        assert {"RegisterTaskDefinition", "UpdateService", "PutObject", "CreateInvalidation"} <= ops, ops


def test_a_blue_green_rollout_its_alarm_rolls_back_as_the_deploy_role_names_the_alarm(blue_green_stack: dict[str, str], work: Path) -> None:
    """The deploy role of a BLUE_GREEN stack: ECS (the simulator) rolls the deployment back when the
    stack's 5xx alarm fires during the bake time; deckhand follows it stage by stage and names the alarm
    (cloudwatch:DescribeAlarms on the alarm: the one action this strategy adds, recorded as
    DeployRole:BLUE_GREEN and checked against the template by infra/test/strategy.test.ts)."""
    cluster, service = blue_green_stack["ClusterName"], blue_green_stack["ServiceName"]
    alarm = f"{blue_green_stack['StackName']}-api-target-5xx-rate"
    (described,) = aws("ecs", "describe-services", "--cluster", cluster, "--services", service)["services"]
    assert described["deploymentConfiguration"]["strategy"] == "BLUE_GREEN"
    assert described["deploymentConfiguration"]["alarms"]["alarmNames"][0] == alarm
    sim(f"/services/{cluster}/{service}", "PUT",
        {"scenario": "healthy", "step-seconds": 0.05, "steps-per-minute": 2, "alarm-at": "BAKE_TIME"})
    jobs = deploy_jobs(blue_green_stack, work)
    assert jobs, "no workflow job deploys as DeployRole"
    wf, job_id, args = jobs[0]
    r, log, role, _ = run_as_job(wf, job_id, blue_green_stack, args, strategy="BLUE_GREEN")
    assert not denials(log), f"denied as {role}: {denials(log)}"
    assert r.returncode == 3, f"exit {r.returncode}, want 3 (rolled back on an alarm):\n{r.stderr[-3000:]}"
    assert alarm in r.stderr and "BAKE_TIME" in r.stderr, r.stderr[-3000:]
    assert "DescribeAlarms" in {e["operation"] for e in log}


def test_a_failing_rollout_as_the_deploy_role_reads_the_stopped_tasks(stack: dict[str, str], work: Path) -> None:
    cluster, service = stack["ClusterName"], stack["ServiceName"]
    sim(f"/services/{cluster}/{service}", "PUT", {"scenario": "tasks-fail", "step-seconds": 0.05})
    try:
        for wf, job_id, args in deploy_jobs(stack, work):
            r, log, role, _ = run_as_job(wf, job_id, stack, args)
            assert r.returncode == 3, f"exit {r.returncode}, want 3 (rollout failed):\n{r.stderr[-3000:]}"
            assert "AccessDenied" not in r.stderr and "not authorized" not in r.stderr, r.stderr[-3000:]
            assert {"DescribeTasks", "ListTasks"} <= {e["operation"] for e in log}
    finally:
        sim(f"/services/{cluster}/{service}", "PUT", {"scenario": "healthy", "step-seconds": 0.05})


def test_a_pre_deploy_task_as_the_deploy_role_is_run_and_stopped_at_its_timeout(stack: dict[str, str], work: Path) -> None:
    """backend.pre-deploy (a migration) as the deploy role: RunTask of the new revision (iam:PassRole of
    its roles), DescribeTasks, and StopTask when it outlives its timeout — exit 4, the service not
    updated. The task runs until stopped (the simulator's one-off task with run-steps null)."""
    cluster, family = stack["ClusterName"], stack["TaskFamily"]
    config = work / "deckhand.yml"
    text = (ROOT / "deckhand.yml").read_text().replace(
        "backend:\n", "backend:\n  pre-deploy: { command: [node, dist/migrate.js], timeout: 1s }\n", 1)
    assert "pre-deploy" in text
    config.write_text(text)
    sim(f"/run-task/{cluster}/{family}", "PUT", {"run-steps": None, "step-seconds": 0.05})
    try:
        for wf, job_id, args in deploy_jobs(stack, work):
            r, log, role, _ = run_as_job(wf, job_id, stack, [*args, "--config", str(config)])
            denied = denials(log)
            assert not denied, f"denied as {role}: {denied}"
            assert r.returncode == 4, f"exit {r.returncode}, want 4 (pre-deploy timed out):\n{r.stderr[-3000:]}"
            ops = [e["operation"] for e in log]
            assert {"RunTask", "DescribeTasks", "StopTask"} <= set(ops), ops
            assert "UpdateService" not in ops, ops
            break
    finally:
        sim(f"/run-task/{cluster}/{family}", "DELETE")


def test_dry_run_as_the_plan_role_writes_nothing_and_reads_no_secret(stack: dict[str, str], work: Path) -> None:
    for wf, job_id, job in jobs_assuming("PlanRole", stack):
        args = deckhand_args(wf, job, stack, work)
        r, log, role, sub = run_as_job(wf, job_id, stack, args)
        assert r.returncode == 0, f"deckhand {' '.join(args[:3])} as {role} ({sub}) exited {r.returncode}:\n{r.stderr[-3000:]}"
        writes = [f"{e['service']}:{e['operation']}" for e in log if e["write"]]
        assert writes == [], f"{wf.name} as {role} made write calls: {writes}"
        secret_reads = [e["operation"] for e in log if e["operation"] in ("GetParameter", "GetParameters", "GetParametersByPath")]
        assert secret_reads == [], f"{role} read SSM values: {secret_reads}"
        if "--out" in args:  # plan --out: the plan the job keeps for the deploy
            plan = json.loads(Path(args[args.index("--out") + 1]).read_text())
            assert plan["version"] == 1 and "verdict" in plan, plan


def test_status_as_the_plan_role_reads_only(stack: dict[str, str]) -> None:
    """`deckhand status` (read-only, the PlanRole's other command) with the preview job's session."""
    [(wf, job_id, _)] = jobs_assuming("PlanRole", stack)[:1]
    r, log, role, _ = run_as_job(wf, job_id, stack, ["status", "--stack", stack["StackName"]])
    assert r.returncode == 0, f"deckhand status as {role} exited {r.returncode}:\n{r.stderr[-3000:]}"
    assert [e["operation"] for e in log if e["write"]] == []


def test_the_plan_role_sees_a_rotated_secret_by_version_and_cannot_read_values(stack: dict[str, str], work: Path) -> None:
    """A new version of a parameter the service's revision names: the preview job's plan (PlanRole)
    names the rotation from DescribeParameters' Version alone; the role itself is denied
    GetParameters (which would decrypt through the aws/ssm key)."""
    [(wf, job_id, job)] = jobs_assuming("PlanRole", stack)[:1]
    parameters = configured_secrets()  # what the service's revision names (deckhand.yml)
    var = sorted(parameters)[0]
    before = aws("ssm", "describe-parameters", "--parameter-filters",
                 f"Key=Name,Option=Equals,Values={parameters[var]}")["Parameters"][0]["Version"]
    aws("ssm", "put-parameter", "--name", parameters[var], "--type", "SecureString", "--overwrite",
        "--value", f"rotated-canary-{int(time.time())}")
    args = deckhand_args(wf, job, stack, work)
    creds, role, _ = assume_for(wf, job_id, stack)
    r = run_deckhand(args, creds)
    log = session_log(creds)
    record(role, log)
    assert r.returncode == 0, r.stderr[-3000:]
    assert f"secret {var} rotated (version {before} → {before + 1})" in r.stdout, r.stdout[-3000:]
    assert "rotated-canary" not in r.stdout + r.stderr
    ops = [e["operation"] for e in log]
    assert "DescribeParameters" in ops and not [o for o in ops if o.startswith("GetParameter")], ops
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(creds, AWS_ENDPOINT_URL=os.environ["AWS_ENDPOINT_URL"])
    get = subprocess.run([os.environ.get("DECKHAND_AWS_CLI", str(Path.home() / ".cache/deckhand/venv/bin/aws")),
                          "ssm", "get-parameters", "--with-decryption", "--names", parameters[var]],
                         env=env, capture_output=True, text=True)
    assert get.returncode != 0 and "ssm:GetParameters" in get.stderr and "not authorized" in get.stderr, get.stderr
    assert "rotated-canary" not in get.stdout


def as_a_deploy(args: list[str]) -> list[str]:
    """The same step's inputs as a real deploy: `deploy`, without --dry-run and plan's own flags."""
    out, rest = ["deploy"], iter(args[1:])
    for a in rest:
        if a in ("--out",):
            next(rest)
        elif a not in ("--dry-run", "--comment", "--detailed-exitcode"):
            out.append(a)
    return out


def test_a_write_as_the_plan_role_is_denied_naming_action_and_resource(stack: dict[str, str], work: Path) -> None:
    [(wf, job_id, job)] = jobs_assuming("PlanRole", stack)[:1]
    args = as_a_deploy(deckhand_args(wf, job, stack, work))
    creds, role, _ = assume_for(wf, job_id, stack)
    r = run_deckhand(args, creds)
    assert r.returncode == 1, f"exit {r.returncode}:\n{r.stderr[-2000:]}"
    m = re.search(r"^error: .*$", r.stderr, re.M)
    assert m, r.stderr[-2000:]
    cause = re.search(r"is not authorized to perform: (\S+) on resource: (\S+)", r.stderr)
    assert cause, f"no action/resource in:\n{r.stderr[-2000:]}"
    help_line = re.search(r"^help: .*$", r.stderr, re.M)
    assert help_line and cause.group(1) in help_line.group(0) and "PlanRole" in help_line.group(0), (
        f"help: does not name the action and the stack's role:\n{r.stderr[-2000:]}")
    [denied] = denials(session_log(creds))
    assert denied["action"] == cause.group(1) and cause.group(2).strip('"') == denied["resource"]


def test_tokens_of_other_repositories_forks_and_branches_are_refused(stack: dict[str, str]) -> None:
    for wf, job_id, _ in role_jobs():
        event, ref = event_of(wf)
        with pytest.raises(gh.OidcError, match="Not authorized to perform sts:AssumeRoleWithWebIdentity"):
            assume_for(wf, job_id, stack, repository="someone-else/spa-ecs")
        # a job without `environment:` on another branch (e.g. a workflow pushed to a feature branch)
        inputs = gh.role_step_inputs(wf, job_id, variables(stack))
        claims = gh.claims_for(wf, event, ref, job=job_id, sub_keys=SUB_KEYS)
        claims.update(sub=f"repo:{claims['repository']}:ref:refs/heads/feature", ref="refs/heads/feature")
        claims.pop("environment", None)
        with pytest.raises(gh.OidcError, match="Not authorized to perform sts:AssumeRoleWithWebIdentity"):
            gh.assume_role_with_web_identity(inputs["role-to-assume"], gh.sign(claims), inputs["aws-region"])
        if event == "pull_request":
            # GitHub gives a fork's pull request no OIDC token at all ...
            with pytest.raises(gh.OidcError, match="fork someone/spa-ecs"):
                gh.claims_for(wf, event, ref, job=job_id, head_repository="someone/spa-ecs")
    # ... and a pull request's subject never reaches the deploy role
    for wf, job_id, _ in jobs_assuming("DeployRole", stack):
        inputs = gh.role_step_inputs(wf, job_id, variables(stack))
        claims = gh.claims_for(wf, *event_of(wf), job=job_id, sub_keys=SUB_KEYS)
        claims.update(sub=f"repo:{claims['repository']}:pull_request", event_name="pull_request")
        claims.pop("environment", None)
        with pytest.raises(gh.OidcError, match="Not authorized to perform sts:AssumeRoleWithWebIdentity"):
            gh.assume_role_with_web_identity(inputs["role-to-assume"], gh.sign(claims), inputs["aws-region"])


# --- which subjects the roles trust (infra/lib/github-oidc.ts) ------------------------------------------
# GitHub's OpenID Connect reference (docs.github.com/en/actions/reference/security/oidc): the default
# subject ("Example subject claims"), the immutable repository form OWNER@OWNER_ID/REPO@REPO_ID of
# repositories created, renamed or transferred after 15 July 2026 ("Immutable subject claims"), and the
# repository's customisation infra/github-oidc-sub.json (repo, context, ref, job_workflow_ref), which
# docs/security.md's setup applies and every role trusts exactly.

def refused(role_arn: str, claims: dict[str, Any], region: str) -> bool:
    try:
        gh.assume_role_with_web_identity(role_arn, gh.sign(claims), region)
    except gh.OidcError as e:
        assert "Not authorized to perform sts:AssumeRoleWithWebIdentity" in str(e), e
        return True
    return False


def job_claims(wf: Path, job_id: str, **kw: Any) -> dict[str, Any]:
    event, ref = kw.pop("event", None) or event_of(wf)[0], kw.pop("ref", None) or event_of(wf)[1]
    kw.setdefault("sub_keys", SUB_KEYS)
    return gh.claims_for(wf, event, ref, job=job_id, **kw)


def on_branch(claims: dict[str, Any], branch: str, *, immutable: bool = False) -> dict[str, Any]:
    """The same job's claims had it run from `branch` (its workflow file of that branch)."""
    ref = f"refs/heads/{branch}"
    wf_ref = claims["job_workflow_ref"].rsplit("@", 1)[0] + f"@{ref}"
    out = {**claims, "ref": ref, "job_workflow_ref": wf_ref, "workflow_ref": wf_ref, "ref_protected": "false"}
    out["sub"] = gh.subject_of(out, SUB_KEYS, immutable=immutable, pull_request=False)
    return out


def set_repository(stack: dict[str, str], repository: str) -> None:
    """UpdateStack with a new GitHubRepository (every other parameter kept), as after a rename."""
    import botocore.session

    cfn = botocore.session.get_session().create_client(
        "cloudformation", region_name=os.environ.get("AWS_REGION", "us-east-1"), endpoint_url=os.environ["AWS_ENDPOINT_URL"],
        aws_access_key_id="test", aws_secret_access_key="test")
    desc = cfn.describe_stacks(StackName=stack["StackName"])["Stacks"][0]
    defaults = {p["ParameterKey"]: p.get("DefaultValue") for p in cfn.get_template_summary(StackName=stack["StackName"])["Parameters"]}
    # A parameter at its default is left out (it stays at its default): moto 5.2.5 fails
    # UsePreviousValue for a parameter the stack was created without.
    params = [{"ParameterKey": p["ParameterKey"], "UsePreviousValue": True} for p in desc["Parameters"]
              if p["ParameterKey"] != "GitHubRepository" and p.get("ParameterValue") != defaults.get(p["ParameterKey"])
              and not p["ParameterKey"].startswith("SsmParameterValue")]
    cfn.update_stack(StackName=stack["StackName"], UsePreviousTemplate=True, Capabilities=["CAPABILITY_IAM"],
                     Parameters=[*params, {"ParameterKey": "GitHubRepository", "ParameterValue": repository}])
    status = cfn.describe_stacks(StackName=stack["StackName"])["Stacks"][0]["StackStatus"]
    assert status == "UPDATE_COMPLETE", status


def test_the_roles_trust_only_the_customised_subject_of_the_repository_as_it_is_named(stack: dict[str, str]) -> None:
    """deploy-local names the repository `deckhand-local/spa-ecs` (a repository from before July 2026):
    every job assumes its role with the customised subject in that form; GitHub's default subject
    (no customisation) and the immutable form are refused."""
    for wf, job_id, _ in role_jobs():
        inputs = gh.role_step_inputs(wf, job_id, variables(stack))
        arn, region = inputs["role-to-assume"], inputs["aws-region"]
        creds, role, sub = assume_for(wf, job_id, stack)
        assert creds["AWS_SESSION_TOKEN"], sub
        default_sub = job_claims(wf, job_id, sub_keys=None)
        assert refused(arn, default_sub, region), f"{role} trusts the default subject {default_sub['sub']}"
        immutable = job_claims(wf, job_id, immutable=True)
        assert refused(arn, immutable, region), f"{role} trusts {immutable['sub']}, another repository form than the stack's"


def test_a_renamed_repository_is_trusted_in_its_immutable_form_and_its_old_name_never(stack: dict[str, str]) -> None:
    """The repository is renamed to deckhand-local/spa-ecs-app: GitHub now writes it
    deckhand-local@OWNER_ID/spa-ecs-app@REPO_ID, and the stack's GitHubRepository is updated to that
    (UpdateStack). Every job assumes its role in that form; the old name (either form, the same IDs)
    and the old name taken by a new repository (another REPO_ID) are refused."""
    old = job_claims(*role_jobs()[0][:2])
    owner_id, repo_id = old["repository_owner_id"], old["repository_id"]
    new_name = "deckhand-local/spa-ecs-app"
    set_repository(stack, f"deckhand-local@{owner_id}/spa-ecs-app@{repo_id}")
    try:
        for wf, job_id, _ in role_jobs():
            inputs = gh.role_step_inputs(wf, job_id, variables(stack))
            arn, region = inputs["role-to-assume"], inputs["aws-region"]
            renamed = job_claims(wf, job_id, repository=new_name, immutable=True, owner_id=owner_id, repository_id=repo_id)
            assert renamed["sub"].startswith(f"repo:deckhand-local@{owner_id}/spa-ecs-app@{repo_id}:"), renamed["sub"]
            gh.assume_role_with_web_identity(arn, gh.sign(renamed), region)
            for what, claims in [
                ("the old name", job_claims(wf, job_id)),
                ("the old name, immutable form", job_claims(wf, job_id, immutable=True, owner_id=owner_id, repository_id=repo_id)),
                ("the old name taken by a new repository", job_claims(wf, job_id, immutable=True, owner_id=owner_id,
                                                                      repository_id=str(int(repo_id) + 1))),
                ("the new name without its IDs", job_claims(wf, job_id, repository=new_name)),
            ]:
                assert refused(arn, claims, region), f"{wf.name} {job_id}: {what} ({claims['sub']}) was trusted"
    finally:
        set_repository(stack, "deckhand-local/spa-ecs")


def test_the_deploy_role_trusts_the_default_branch_workflows_only(stack: dict[str, str]) -> None:
    """DeployRole: the deploy environment, on main, from deploy.yml or rollback.yml of main. A
    dispatch or push from another branch (its workflow edited: still `environment: production`) is
    refused, in either repository form; so is another workflow file in the environment on main."""
    jobs = [j for j in role_jobs() if role_name_of(gh.role_step_inputs(j[0], j[1], variables(stack)), stack) == "DeployRole"]
    assert {wf.name for wf, _, _ in jobs} >= {"deploy.yml", "rollback.yml"}, jobs
    for wf, job_id, _ in jobs:
        inputs = gh.role_step_inputs(wf, job_id, variables(stack))
        arn, region = inputs["role-to-assume"], inputs["aws-region"]
        main = job_claims(wf, job_id)
        assert main["sub"].endswith(f":job_workflow_ref:deckhand-local/spa-ecs/.github/workflows/{wf.name}@refs/heads/main"), main["sub"]
        feature = on_branch(main, "feature")
        assert ":environment:production:ref:refs/heads/feature:" in feature["sub"], feature["sub"]
        assert refused(arn, feature, region), f"{feature['sub']} assumed DeployRole"
        other = {**main, "job_workflow_ref": main["job_workflow_ref"].replace(wf.name, "other.yml")}
        other["sub"] = gh.subject_of(other, SUB_KEYS)
        assert refused(arn, other, region), f"{other['sub']} assumed DeployRole"
    # rollback.yml dispatched from a feature branch, the token as GitHub mints it
    rollback = next((wf, j) for wf, j, _ in jobs if wf.name == "rollback.yml")
    dispatched = job_claims(*rollback, event="workflow_dispatch", ref="refs/heads/feature")
    inputs = gh.role_step_inputs(*rollback, variables(stack))
    assert refused(inputs["role-to-assume"], dispatched, inputs["aws-region"]), dispatched["sub"]


# --- secrets sync (deploy.yml's `command: secrets sync` step, as DeployRole) ---------------------------

def secrets_sync_jobs(stack: dict[str, str]) -> list[tuple[Path, str, dict[str, Any], dict[str, Any]]]:
    """(workflow, job id, job, step) of every DeployRole job's `uses: ./` step running `secrets sync`."""
    out = []
    for wf, job_id, job in role_jobs():
        if role_name_of(gh.role_step_inputs(wf, job_id, variables(stack)), stack) != "DeployRole":
            continue
        for step in job.get("steps") or []:
            if isinstance(step, dict) and step.get("uses") == "./" and \
                    " ".join(str((step.get("with") or {}).get("command", "")).split()) == "secrets sync":
                out.append((wf, job_id, job, step))
    assert out, "no DeployRole job in .github/workflows runs `deckhand secrets sync`"
    return out


def configured_secrets() -> dict[str, str]:
    """deckhand.yml's backend.secrets: VAR -> /ssm/name."""
    import yaml

    return {str(k): str(v) for k, v in ((yaml.safe_load((ROOT / "deckhand.yml").read_text()) or {})
                                        .get("backend", {}).get("secrets") or {}).items()}


def stack_parameters(stack: dict[str, str]) -> dict[str, str]:
    """deckhand.yml names the production stack's parameters (/spa-ecs/...); this test's stack (a fresh
    environment, spa-ecs-roles<time>) has the same two under its own name: VAR -> /<stack>/name."""
    out = {}
    for var, name in configured_secrets().items():
        m = re.fullmatch(r"/spa-ecs/([a-z0-9-]+)", name)
        assert m, f"deckhand.yml backend.secrets.{var} = {name}: not one of the stack's parameters (/spa-ecs/<name>)"
        out[var] = f"/{stack['StackName']}/{m.group(1)}"
    return out


def secrets_sync_args(step: dict[str, Any], stack: dict[str, str], parameters: dict[str, str]) -> list[str]:
    """The step's inputs as flags, plus --secret for this stack's parameter names."""
    inputs = {str(k): str(v) for k, v in (step.get("with") or {}).items()}
    args = inputs.pop("command").split()
    for k, v in inputs.items():
        if k in ASSUMED_BY_THE_TEST:
            continue
        # An unset repository variable is the empty string (as in deckhand_args); an empty input is no flag.
        v = re.sub(r"\$\{\{\s*vars\.([A-Za-z0-9_]+)\s*\}\}", lambda m: variables(stack).get(m.group(1), ""), v)
        assert "${{" not in v, f"secrets sync input {k}: an expression this test cannot evaluate: {v}"
        if v.strip():
            args += [f"--{k}", v]
    for var, name in parameters.items():
        args += ["--secret", f"{var}={name}"]
    return args


def step_secret_env(step: dict[str, Any]) -> list[str]:
    """The environment variables the step passes from GitHub secrets (`VAR: ${{ secrets.VAR }}`)."""
    env = {str(k): str(v) for k, v in (step.get("env") or {}).items()}
    for k, v in env.items():
        assert re.fullmatch(r"\$\{\{\s*secrets\." + re.escape(k) + r"\s*\}\}", v), \
            f"secrets sync step env {k}: {v} (expected ${{{{ secrets.{k} }}}})"
    return sorted(env)


def parameter_value(name: str) -> tuple[str, str]:
    p = aws("ssm", "get-parameter", "--name", name, "--with-decryption")["Parameter"]
    return p["Type"], p["Value"]


def run_sync(step: dict[str, Any], stack: dict[str, str], creds: dict[str, str], parameters: dict[str, str],
             values: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], list[dict[str, Any]]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DECKHAND_MOTO"))}
    env.update(creds)
    env.update(values, AWS_ENDPOINT_URL=os.environ["AWS_ENDPOINT_URL"])
    r = subprocess.run([os.environ["DECKHAND_BIN"], *secrets_sync_args(step, stack, parameters)], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=120)
    return r, session_log(creds)


def test_secrets_sync_as_the_deploy_role_writes_only_changed_values(stack: dict[str, str]) -> None:
    """deploy.yml's step with the deploy job's token: a changed value -> one put; the same -> none."""
    parameters = stack_parameters(stack)
    assert len(parameters) == 2, parameters
    for wf, job_id, _, step in secrets_sync_jobs(stack):
        assert step_secret_env(step) == sorted(parameters), f"{wf.name}: the step's env must pass every backend.secrets variable"
        canary = f"canary-{int(time.time() * 1000)}"
        values = {var: f"{canary}-{var.lower()}-1" for var in parameters}
        # 1. both values differ from what deploy-local wrote: two puts
        creds, role, sub = assume_for(wf, job_id, stack)
        r, log = run_sync(step, stack, creds, parameters, values)
        record(role, log)
        assert r.returncode == 0, f"secrets sync as {role} ({sub}) exited {r.returncode}:\n{r.stderr[-3000:]}"
        assert [a for e in log for a in e.get("iam") or [] if a["decision"] != "Allow"] == []
        assert sorted(e["operation"] for e in log if e["operation"] == "PutParameter") == ["PutParameter"] * 2
        for var, name in parameters.items():
            assert parameter_value(name) == ("SecureString", values[var])
        assert canary not in r.stdout + r.stderr, "a secret value was printed"
        # 2. one value changed: exactly one put, of that parameter
        changed = sorted(parameters)[0]
        values[changed] = f"{canary}-{changed.lower()}-2"
        creds, role, _ = assume_for(wf, job_id, stack)
        r, log = run_sync(step, stack, creds, parameters, values)
        record(role, log)
        assert r.returncode == 0, r.stderr[-3000:]
        put_log = [e for e in log if e["operation"] == "PutParameter"]
        assert len(put_log) == 1, [e["operation"] for e in log]
        assert [a["resource"] for a in put_log[0]["iam"] if a["action"] == "ssm:PutParameter"] == [
            f"arn:aws:ssm:{variables(stack)['AWS_REGION']}:{stack_account(stack)}:parameter{parameters[changed]}"]
        assert f"{parameters[changed]} ({changed}): would change" in r.stdout
        for var, name in parameters.items():
            assert parameter_value(name) == ("SecureString", values[var])
        assert canary not in r.stdout + r.stderr
        # 3. the same values again: no write call at all (no put, no lock)
        creds, role, _ = assume_for(wf, job_id, stack)
        r, log = run_sync(step, stack, creds, parameters, values)
        record(role, log)
        assert r.returncode == 0, r.stderr[-3000:]
        assert [f"{e['service']}:{e['operation']}" for e in log if e["write"]] == []
        assert "no changes" in r.stdout and canary not in r.stdout + r.stderr


def stack_account(stack: dict[str, str]) -> str:
    return stack["DeployRoleArn"].split(":")[4]


def test_secrets_sync_cannot_reach_beyond_the_two_parameters(stack: dict[str, str]) -> None:
    """DeployRole: a third parameter is denied (read and write), nothing written; PlanRole: no value read."""
    parameters = stack_parameters(stack)
    [(wf, job_id, _, step)] = secrets_sync_jobs(stack)[:1]
    before = {name: parameter_value(name) for name in parameters.values()}
    other = f"/{stack['StackName']}/not-a-stack-secret"
    values = {var: f"canary-scope-{var.lower()}" for var in [*parameters, "OTHER_SECRET"]}
    # deckhand with a parameter outside the two: the read of it is denied, nothing is written
    creds, role, _ = assume_for(wf, job_id, stack)
    r, log = run_sync(step, stack, creds, {**parameters, "OTHER_SECRET": other}, values)
    assert r.returncode == 1, f"exit {r.returncode}:\n{r.stderr[-2000:]}"
    cause = re.search(r"is not authorized to perform: (\S+) on resource: (\S+)", r.stderr)
    assert cause and cause.group(1) == "ssm:GetParameters" and cause.group(2).strip('"').endswith(f":parameter{other}"), r.stderr[-2000:]
    assert [f"{e['service']}:{e['operation']}" for e in log if e["write"]] == []
    assert "canary-scope" not in r.stdout + r.stderr
    # the role itself: PutParameter outside the two is denied (the policy, not only deckhand's order)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(creds, AWS_ENDPOINT_URL=os.environ["AWS_ENDPOINT_URL"])
    put = subprocess.run([os.environ.get("DECKHAND_AWS_CLI", str(Path.home() / ".cache/deckhand/venv/bin/aws")),
                          "ssm", "put-parameter", "--name", other, "--type", "SecureString", "--value", "x"],
                         env=env, capture_output=True, text=True)
    assert put.returncode != 0 and "ssm:PutParameter" in put.stderr and "not authorized" in put.stderr, put.stderr
    with pytest.raises(subprocess.CalledProcessError):
        aws("ssm", "get-parameter", "--name", other)
    # PlanRole (the preview job's token) cannot read the values, let alone write them
    [(pwf, pjob, _)] = jobs_assuming("PlanRole", stack)[:1]
    pcreds, _, _ = assume_for(pwf, pjob, stack)
    r, log = run_sync(step, stack, pcreds, parameters, values)
    assert r.returncode == 1, f"exit {r.returncode}:\n{r.stderr[-2000:]}"
    help_line = re.search(r"^help: .*$", r.stderr, re.M)
    assert "ssm:GetParameters" in r.stderr and help_line and "PlanRole" in help_line.group(0), r.stderr[-2000:]
    assert [a["action"] for e in log for a in e.get("iam") or [] if a["decision"] == "Allow" and a["action"].startswith("ssm:")
            and a["action"] != "ssm:DescribeParameters"] == []
    assert [f"{e['service']}:{e['operation']}" for e in log if e["write"]] == []
    assert {name: parameter_value(name) for name in parameters.values()} == before


# --- two environments: one stack each (issue 25) ------------------------------------------------
# The session's stack is production, synthesized with promoteFrom=<its name>s and
# promoteFromAccount=STAGING_ACCOUNT; `staging` deploys that source environment's stack
# (GitHubDeployEnvironment=staging) in STAGING_ACCOUNT with promoteToRoleArn = production's
# DeployRole (its bucket and repository policies): environments in separate accounts, the case an
# AWS Organization has (the same-account case is infra/test/promote.test.ts's and tests/promote.rs's).
# The jobs are .github/two-stage/deploy.yml's, as a repository with two environments has it in
# .github/workflows/.

TWO_STAGE = ROOT / ".github" / "two-stage"


@pytest.fixture(scope="session")
def staging(stack: dict[str, str]) -> dict[str, str]:
    env_name = stack["StackName"].split("-")[-1] + "s"
    name = subprocess.run([str(ROOT / "infra/scripts/deploy-local"), "--env", env_name, "--parameters", "GitHubDeployEnvironment=staging",
                           "-c", f"promoteToRoleArn={stack['DeployRoleArn']}"],
                          check=True, capture_output=True, text=True, env=bootstrap_env(STAGING_ACCOUNT)).stdout.strip().splitlines()[-1]
    outputs = {o["OutputKey"]: o["OutputValue"]
               for o in aws("cloudformation", "describe-stacks", "--stack-name", name, account=STAGING_ACCOUNT)["Stacks"][0]["Outputs"]}
    assert f":{STAGING_ACCOUNT}:" in outputs["DeployRoleArn"], outputs["DeployRoleArn"]
    sim(f"/services/{outputs['ClusterName']}/{outputs['ServiceName']}", "PUT", {"scenario": "healthy", "step-seconds": 0.05})
    return {**outputs, "StackName": name}


@pytest.fixture
def two_stage(tmp_path: Path) -> Path:
    """The two-stage deploy.yml where a repository keeps its workflows (its job_workflow_ref)."""
    wf = tmp_path / "repo" / ".github" / "workflows" / "deploy.yml"
    wf.parent.mkdir(parents=True)
    shutil.copy2(TWO_STAGE / "deploy.yml", wf)
    return wf


def two_stage_config(work: Path, stack: dict[str, str], staging: dict[str, str]) -> Path:
    """deckhand.yml with `environments:` (each its own stack and SSM parameters)."""
    import yaml

    cfg = yaml.safe_load((ROOT / "deckhand.yml").read_text())
    # The local registry stands for both environments' ECR (flags set only the environment promoted
    # to: the one promoted from reads its image where deckhand.yml says).
    cfg["backend"]["registry-override"] = os.environ.get("DECKHAND_REGISTRY", "127.0.0.1:5001")
    secrets = lambda s: {var: f"/{s['StackName']}/{Path(p).name}" for var, p in cfg["backend"]["secrets"].items()}  # noqa: E731
    # Staging is in another account: production's promotion cannot read its stack (CloudFormation has
    # no resource-based policies), so its block names its bucket and repository (docs/iam.md).
    cfg["environments"] = {
        "staging": {"stack": staging["StackName"], "account": STAGING_ACCOUNT,
                    "frontend": {"bucket": staging["BucketName"]},
                    "backend": {"secrets": secrets(staging), "repository": staging["RepositoryName"]}},
        "production": {"stack": stack["StackName"], "promote-from": "staging", "backend": {"secrets": secrets(stack)}},
    }
    path = work / "deckhand.yml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def test_each_environments_job_assumes_only_its_own_environments_role(
        stack: dict[str, str], staging: dict[str, str], two_stage: Path) -> None:
    """The staging job's token gets staging's DeployRole and not production's; the promote job's
    token (environment production) gets production's and not staging's."""
    push = {"event": "push", "ref": "refs/heads/main"}
    _, role, sub = assume_for(two_stage, "staging", staging, **push)
    assert role == "DeployRole" and ":environment:staging:" in sub, sub
    with pytest.raises(gh.OidcError, match="Not authorized to perform sts:AssumeRoleWithWebIdentity"):
        assume_for(two_stage, "staging", stack, **push)
    _, role, sub = assume_for(two_stage, "promote", stack, **push)
    assert role == "DeployRole" and ":environment:production:" in sub, sub
    with pytest.raises(gh.OidcError, match="Not authorized to perform sts:AssumeRoleWithWebIdentity"):
        assume_for(two_stage, "promote", staging, **push)


def denied(creds: dict[str, str], *args: str) -> str:
    """An AWS CLI call with the session: its error (it must fail)."""
    env = {**bootstrap_env(), **creds}
    env.pop("AWS_PROFILE", None)
    r = subprocess.run([os.environ.get("DECKHAND_AWS_CLI", str(Path.home() / ".cache/deckhand/venv/bin/aws")),
                        "--endpoint-url", os.environ["AWS_ENDPOINT_URL"], *args], capture_output=True, text=True, env=env)
    assert r.returncode != 0, f"{' '.join(args)} succeeded as {creds['AWS_ACCESS_KEY_ID']}"
    assert "AccessDenied" in r.stderr or "not authorized" in r.stderr, r.stderr
    return r.stderr


def test_staging_deploys_and_production_promotes_reading_only_from_staging(
        stack: dict[str, str], staging: dict[str, str], two_stage: Path, work: Path) -> None:
    """`deploy --environment staging` as staging's role (in staging's account), then `promote --to
    production` as production's (in production's): production's role reads staging's records, files
    and image through their bucket and repository policies — never its stack — and writes nothing of
    staging's; staging's role can neither read nor write production's service, bucket or stack. The
    promoted service runs staging's image digest and production's bucket serves staging's bytes."""
    config = two_stage_config(work, stack, staging)
    push = {"event": "push", "ref": "refs/heads/main"}
    local = ["--config", str(config), "--context", str(work / "app"), "--dockerfile", str(work / "app" / "Dockerfile"),
             "--dir", str(work / "site"), "--registry-override", os.environ.get("DECKHAND_REGISTRY", "127.0.0.1:5001")]
    staging_creds, role, _ = assume_for(two_stage, "staging", staging, **push)
    r = run_deckhand(["deploy", "--environment", "staging", *local], staging_creds)
    assert r.returncode == 0, r.stderr[-3000:]
    staged = re.search(r"release (\S+) succeeded", r.stderr)
    assert staged, r.stderr[-2000:]
    record(role, session_log(staging_creds))

    prod_creds, role, _ = assume_for(two_stage, "promote", stack, **push)
    r = run_deckhand(["promote", "--to", "production", "--release", staged.group(1), "--config", str(config),
                      "--registry-override", os.environ.get("DECKHAND_REGISTRY", "127.0.0.1:5001")], prod_creds)
    assert r.returncode == 0, r.stderr[-3000:]
    log = session_log(prod_creds)
    record(role, log)
    refused = [a for e in log for a in e.get("iam") or [] if a["decision"] != "Allow"]
    assert refused == [], refused
    on_staging = sorted({a["action"] for e in log for a in e.get("iam") or [] if staging["StackName"] in a["resource"]})
    assert on_staging and set(on_staging) <= {"s3:ListBucket", "s3:GetObject",
                                              "ecr:BatchGetImage", "ecr:DescribeImages", "ecr:GetDownloadUrlForLayer"}, on_staging
    assert {"s3:GetObject", "s3:ListBucket", "ecr:DescribeImages"} <= set(on_staging), on_staging
    # the same image digest, the same site bytes, in production's account
    image = lambda s, account=None: aws(  # noqa: E731
        "ecs", "describe-task-definition", "--task-definition",
        aws("ecs", "describe-services", "--cluster", s["ClusterName"], "--services", s["ServiceName"],
            account=account)["services"][0]["taskDefinition"], account=account)["taskDefinition"]["containerDefinitions"][0]["image"]
    assert image(stack).split("@")[1] == image(staging, STAGING_ACCOUNT).split("@")[1]
    etags = lambda b, account=None: {o["Key"]: o["ETag"] for o in aws(  # noqa: E731
        "s3api", "list-objects-v2", "--bucket", b, account=account).get("Contents", []) if not o["Key"].startswith("_deckhand/")}
    staged_files = etags(bucket := staging["BucketName"], STAGING_ACCOUNT)
    assert staged_files and {k: v for k, v in etags(stack["BucketName"]).items() if k in staged_files} == staged_files
    # Production's role can write nothing of staging's (its bucket policy grants list + read) ...
    denied(prod_creds, "s3api", "put-object", "--bucket", bucket, "--key", "index.html", "--body", str(config))
    denied(prod_creds, "s3api", "delete-object", "--bucket", bucket, "--key", "_deckhand/lock")
    denied(prod_creds, "ecs", "update-service", "--cluster", staging["ClusterName"], "--service", staging["ServiceName"],
           "--force-new-deployment")
    denied(prod_creds, "ssm", "put-parameter", "--name", f"/{staging['StackName']}/api-access-token", "--type", "SecureString",
           "--value", "x", "--overwrite")
    # ... nor of its image: a push to ECR is authorised as these API actions (ECR User Guide, "Required
    # IAM permissions for pushing an image": InitiateLayerUpload, UploadLayerPart, CompleteLayerUpload,
    # PutImage, BatchCheckLayerAvailability), checked here through ECR's API (the local registry itself
    # checks no credentials: dev/local-aws/README.md).
    repo = staging["RepositoryUri"].split("/", 1)[1]
    at_staging = ["--registry-id", STAGING_ACCOUNT, "--repository-name", repo]
    denied(prod_creds, "ecr", "initiate-layer-upload", *at_staging)
    denied(prod_creds, "ecr", "put-image", *at_staging, "--image-tag", "forged", "--image-manifest",
           json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "layers": [],
                       "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": 2,
                                  "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"}}))
    denied(prod_creds, "ecr", "batch-delete-image", *at_staging, "--image-ids", "imageTag=forged")
    # ... and staging's role nothing of production's, not even a read.
    staging_creds, _, _ = assume_for(two_stage, "staging", staging, **push)
    denied(staging_creds, "s3api", "list-objects-v2", "--bucket", stack["BucketName"], "--prefix", "_deckhand/releases/")
    denied(staging_creds, "s3api", "put-object", "--bucket", stack["BucketName"], "--key", "index.html", "--body", str(config))
    denied(staging_creds, "ecs", "describe-services", "--cluster", stack["ClusterName"], "--services", stack["ServiceName"])
    denied(staging_creds, "cloudformation", "describe-stacks", "--stack-name", stack["StackName"])
    denied(staging_creds, "ecr", "describe-images", "--registry-id", stack["RepositoryUri"].split(".", 1)[0],
           "--repository-name", stack["RepositoryUri"].split("/", 1)[1])
    r = run_deckhand(["status", "--environment", "production", "--config", str(config)], staging_creds)
    assert r.returncode != 0 and "not authorized" in r.stderr, r.stderr[-2000:]


def test_zz_write_the_recorded_actions() -> None:
    """Runs last (name order): the IAM actions each role's runs needed."""
    got = {role: sorted(acts) for role, acts in sorted(_recorded.items())}
    assert set(got) == {"DeployRole", "DeployRole:BLUE_GREEN", "PlanRole"}, f"runs recorded for {sorted(got)} only"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    text = json.dumps(got, indent=2) + "\n"
    (ARTIFACTS / "role-actions.json").write_text(text)
    if os.environ.get("ROLES_UPDATE") == "1":
        RECORDED.write_text(text)
    print(f"\nrecorded IAM actions: " + ", ".join(f"{r} {len(a)}" for r, a in got.items()))
