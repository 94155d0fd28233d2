"""deckhand as the roles infra/ synthesizes, on the local stack (which enforces IAM, dev/local-aws).

Deploys infra/ (infra/scripts/deploy-local, a fresh environment per run), then for every workflow in
.github/workflows/ that assumes a role (read from the files, never copied): mints the OIDC token
GitHub would give that job (dev/oidc: sub from its `environment:`, event and ref), makes
configure-aws-credentials' AssumeRoleWithWebIdentity for the role its `role-to-assume` names
(`vars.X_ROLE_ARN` = the stack output `XRoleArn`) and runs the real deckhand binary with the
inputs of the job's `uses: ./` step (every input is the deckhand flag of the same name) and the
repository's deckhand.yml. Only the build context and the site directory are this test's (a
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
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "dev" / "oidc"))
import github_oidc as gh  # noqa: E402

WORKFLOWS = ROOT / ".github" / "workflows"
RECORDED = ROOT / "infra" / "test" / "role-actions.json"
ARTIFACTS = Path(os.environ.get("DECKHAND_ARTIFACTS", ROOT / "target" / "artifacts"))
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
_recorded: dict[str, set[str]] = {}


def aws(*args: str) -> Any:
    out = subprocess.run([os.environ.get("DECKHAND_AWS_CLI", str(Path.home() / ".cache/deckhand/venv/bin/aws")),
                          "--endpoint-url", os.environ["AWS_ENDPOINT_URL"], "--output", "json", *args],
                         check=True, capture_output=True, text=True, env=bootstrap_env())
    return json.loads(out.stdout) if out.stdout.strip() else None


def bootstrap_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_SESSION")}
    env.update(AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test")
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
    name = subprocess.run([str(ROOT / "infra/scripts/deploy-local"), "--env", env_name], check=True,
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


def role_jobs() -> list[tuple[Path, str, dict[str, Any]]]:
    """(workflow, job id, job) of every job with a configure-aws-credentials step."""
    found = []
    for wf in sorted(WORKFLOWS.glob("*.y*ml")):
        doc = gh.load_workflow(wf)
        for job_id, job in (doc.get("jobs") or {}).items():
            if gh._configure_step(job or {}) is not None:
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


def describe_job(wf: Path, job_id: str, event: str, ref: str) -> str:
    claims = gh.claims_for(wf, event, ref, job=job_id)
    return f"{wf.name} job `{job_id}` ({event} {ref}; OIDC sub {claims['sub']})"


def assume_for(wf: Path, job_id: str, stack: dict[str, str], **token_kw: Any) -> tuple[dict[str, str], str, str]:
    event, ref = token_kw.pop("event", None) or event_of(wf)[0], token_kw.pop("ref", None) or event_of(wf)[1]
    inputs = gh.configure_step_inputs(wf, job_id, variables(stack))
    claims = gh.claims_for(wf, event, ref, job=job_id, audience=inputs.get("audience") or gh.DEFAULT_AUDIENCE, **token_kw)
    creds = gh.assume_role_with_web_identity(inputs["role-to-assume"], gh.sign(claims), inputs["aws-region"],
                                             session_name=inputs.get("role-session-name") or gh.SESSION_NAME)
    return creds, role_name_of(inputs, stack), claims["sub"]


RUN_COMMANDS = ("deploy", "plan")  # rollback.yml: its token and role are tested; its runs are not yet


def deckhand_steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    """The job's `uses: ./` steps running a command this test runs (deploy, plan)."""
    return [s for s in job.get("steps") or [] if isinstance(s, dict) and s.get("uses") == "./"
            and str((s.get("with") or {}).get("command", "deploy")) in RUN_COMMANDS]


def deckhand_args(wf: Path, job: dict[str, Any], stack: dict[str, str], work: Path) -> list[str]:
    """The `uses: ./` step's inputs as deckhand flags; the build context and site dir are the test's."""
    [step] = deckhand_steps(job)
    inputs = {str(k): str(v) for k, v in (step.get("with") or {}).items()}
    resolved = {k: re.sub(r"\$\{\{\s*vars\.([A-Za-z0-9_]+)\s*\}\}", lambda m: variables(stack)[m.group(1)], v)
                for k, v in inputs.items()}
    for k, v in resolved.items():
        assert "${{" not in v, f"{wf.name}: input {k} is an expression this test cannot evaluate: {inputs[k]}"
    args = [resolved.pop("command", "deploy")]
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
        inputs = gh.configure_step_inputs(wf, job_id, variables(stack))
        if role_name_of(inputs, stack) == role:
            out.append((wf, job_id, job))
    out = [j for j in out if deckhand_steps(j[2])]
    assert out, f"no workflow in .github/workflows runs deckhand {'/'.join(RUN_COMMANDS)} as {role}"
    return out


def test_every_workflow_job_can_assume_the_role_it_names(stack: dict[str, str]) -> None:
    jobs = role_jobs()
    assert jobs, "no workflow job uses aws-actions/configure-aws-credentials"
    for wf, job_id, _ in jobs:
        event, ref = event_of(wf)
        try:
            creds, role, _ = assume_for(wf, job_id, stack)
        except gh.OidcError as e:
            pytest.fail(f"{describe_job(wf, job_id, event, ref)}: {e} — the role's trust policy "
                        "(infra/lib/spa-ecs-stack.ts) does not match the subject GitHub gives this job")
        assert creds["AWS_SESSION_TOKEN"] and role in ("DeployRole", "PlanRole")


def test_deploy_as_the_deploy_role_runs_both_halves(stack: dict[str, str], work: Path) -> None:
    for wf, job_id, job in jobs_assuming("DeployRole", stack):
        if "--dry-run" in deckhand_args(wf, job, stack, work):
            continue
        creds, role, sub = assume_for(wf, job_id, stack)
        r = run_deckhand(deckhand_args(wf, job, stack, work), creds)
        log = session_log(creds)
        record(role, log)
        denied = [a for e in log for a in e.get("iam") or [] if a["decision"] != "Allow"]
        assert r.returncode == 0, f"deckhand {wf.name} as {role} ({sub}) exited {r.returncode}:\n{r.stderr[-3000:]}"
        assert not denied, f"denied as {role}: {denied}"
        assert "backend: registered" in r.stdout + r.stderr and "frontend: uploaded" in r.stdout + r.stderr, r.stderr[-2000:]
        ops = {e["operation"] for e in log}
        assert {"RegisterTaskDefinition", "UpdateService", "PutObject", "CreateInvalidation"} <= ops, ops


def test_a_failing_rollout_as_the_deploy_role_reads_the_stopped_tasks(stack: dict[str, str], work: Path) -> None:
    cluster, service = stack["ClusterName"], stack["ServiceName"]
    sim(f"/services/{cluster}/{service}", "PUT", {"scenario": "tasks-fail", "step-seconds": 0.05})
    try:
        for wf, job_id, job in jobs_assuming("DeployRole", stack):
            args = deckhand_args(wf, job, stack, work)
            if "--dry-run" in args:
                continue
            creds, role, _ = assume_for(wf, job_id, stack)
            r = run_deckhand(args, creds)
            log = session_log(creds)
            record(role, log)
            assert r.returncode == 3, f"exit {r.returncode}, want 3 (rollout failed):\n{r.stderr[-3000:]}"
            assert "AccessDenied" not in r.stderr and "not authorized" not in r.stderr, r.stderr[-3000:]
            assert {"DescribeTasks", "ListTasks"} <= {e["operation"] for e in log}
    finally:
        sim(f"/services/{cluster}/{service}", "PUT", {"scenario": "healthy", "step-seconds": 0.05})


def test_dry_run_as_the_plan_role_writes_nothing_and_reads_no_secret(stack: dict[str, str], work: Path) -> None:
    for wf, job_id, job in jobs_assuming("PlanRole", stack):
        args = deckhand_args(wf, job, stack, work)
        creds, role, sub = assume_for(wf, job_id, stack)
        r = run_deckhand(args, creds)
        log = session_log(creds)
        record(role, log)
        assert r.returncode == 0, f"deckhand {' '.join(args[:3])} as {role} ({sub}) exited {r.returncode}:\n{r.stderr[-3000:]}"
        writes = [f"{e['service']}:{e['operation']}" for e in log if e["write"]]
        assert writes == [], f"{wf.name} as {role} made write calls: {writes}"
        secret_reads = [e["operation"] for e in log if e["operation"] in ("GetParameter", "GetParameters", "GetParametersByPath")]
        assert secret_reads == [], f"{role} read SSM values: {secret_reads}"


def test_status_as_the_plan_role_reads_only(stack: dict[str, str]) -> None:
    """`deckhand status` (read-only, the PlanRole's other command) with the preview job's session."""
    [(wf, job_id, _)] = jobs_assuming("PlanRole", stack)[:1]
    creds, role, _ = assume_for(wf, job_id, stack)
    r = run_deckhand(["status", "--stack", stack["StackName"]], creds)
    log = session_log(creds)
    record(role, log)
    assert r.returncode == 0, f"deckhand status as {role} exited {r.returncode}:\n{r.stderr[-3000:]}"
    assert [e["operation"] for e in log if e["write"]] == []


def test_a_write_as_the_plan_role_is_denied_naming_action_and_resource(stack: dict[str, str], work: Path) -> None:
    [(wf, job_id, job)] = jobs_assuming("PlanRole", stack)[:1]
    args = [a for a in deckhand_args(wf, job, stack, work) if a != "--dry-run"]
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
    [denied] = [a for e in session_log(creds) for a in e.get("iam") or [] if a["decision"] != "Allow"]
    assert denied["action"] == cause.group(1) and cause.group(2).strip('"') == denied["resource"]


def test_tokens_of_other_repositories_forks_and_branches_are_refused(stack: dict[str, str]) -> None:
    for wf, job_id, _ in role_jobs():
        event, ref = event_of(wf)
        with pytest.raises(gh.OidcError, match="Not authorized to perform sts:AssumeRoleWithWebIdentity"):
            assume_for(wf, job_id, stack, repository="someone-else/spa-ecs")
        # a job without `environment:` on another branch (e.g. a workflow pushed to a feature branch)
        inputs = gh.configure_step_inputs(wf, job_id, variables(stack))
        claims = gh.claims_for(wf, event, ref, job=job_id)
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
        inputs = gh.configure_step_inputs(wf, job_id, variables(stack))
        claims = gh.claims_for(wf, *event_of(wf), job=job_id)
        claims.update(sub=f"repo:{claims['repository']}:pull_request", event_name="pull_request")
        claims.pop("environment", None)
        with pytest.raises(gh.OidcError, match="Not authorized to perform sts:AssumeRoleWithWebIdentity"):
            gh.assume_role_with_web_identity(inputs["role-to-assume"], gh.sign(claims), inputs["aws-region"])


def test_zz_write_the_recorded_actions() -> None:
    """Runs last (name order): the IAM actions each role's runs needed."""
    got = {role: sorted(acts) for role, acts in sorted(_recorded.items())}
    assert set(got) == {"DeployRole", "PlanRole"}, f"runs recorded for {sorted(got)} only"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    text = json.dumps(got, indent=2) + "\n"
    (ARTIFACTS / "role-actions.json").write_text(text)
    if os.environ.get("ROLES_UPDATE") == "1":
        RECORDED.write_text(text)
    print(f"\nrecorded IAM actions: " + ", ".join(f"{r} {len(a)}" for r, a in got.items()))
