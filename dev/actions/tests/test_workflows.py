"""The shape of the project's workflows, as the rehearsal reads them (`rehearse --list`, nothing runs):
triggers, least permissions per job, concurrency, environment, and ci.yml running the README's test
command. The behaviour of deploy/preview/rollback is rehearsed for real in dev/ci/stages/47-rehearsal.sh."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path.insert(0, str(HERE.parent))
import rehearse  # noqa: E402

WF = ROOT / ".github" / "workflows"
# The checkout's commit, given as the event's sha: a clone of another branch, or CI's checkout of a
# pull request (detached, no local main), has no refs/heads/main to default to.
HEAD = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], check=True, text=True, capture_output=True).stdout.strip()


def listing(capsys, name, *args):
    code = rehearse.main([str(WF / name), "--list", "--list-workspace", str(ROOT), "--sha", HEAD, "--quiet", *args])
    out = capsys.readouterr().out
    assert code == 0
    return json.loads(out)


def doc(name):
    return rehearse.load_workflow(WF / name)


def test_every_workflow_grants_nothing_at_the_top():
    for f in sorted(WF.glob("*.yml")):
        assert rehearse.load_workflow(f).get("permissions") == {}, f"{f.name}: top-level permissions must be {{}} (each job asks for what it needs)"


def test_ci_runs_the_readme_test_command(capsys):
    out = listing(capsys, "ci.yml", "--event", "push")
    assert out["runs_for_event"] is True
    assert set(out["on"]) == {"pull_request", "push"}
    job = out["jobs"]["test"]
    assert job["permissions"] == {"contents": "read"}
    steps = job["steps"]
    assert steps[0]["uses"].startswith("actions/checkout@") and steps[0]["with"] == {"persist-credentials": "false"}
    cache = steps[1]
    assert cache["uses"].startswith("actions/cache@")
    key = cache["with"]["key"]
    assert key.startswith("deckhand-Linux-") and len(key) == len("deckhand-Linux-") + 64  # hashFiles('Cargo.lock')
    assert steps[-1]["run"].strip().endswith("bash .ci/run")
    ci_run = (ROOT / ".ci" / "run").read_text()
    assert "exec dev/test-all" in ci_run
    assert "dev/test-all" in (ROOT / "README.md").read_text()


def test_deploy_runs_on_push_to_main_only_one_at_a_time(capsys):
    d = doc("deploy.yml")
    assert rehearse.workflow_runs_for(d, "push", "refs/heads/main", None)
    assert not rehearse.workflow_runs_for(d, "push", "refs/heads/feature", None)
    assert not rehearse.workflow_runs_for(d, "pull_request", "refs/pull/1/merge", "main")
    assert d["concurrency"]["cancel-in-progress"] is False
    job = d["jobs"]["deploy"]
    assert job["environment"] == "production"
    assert rehearse.permissions_of(d, job) == {"contents": "read", "id-token": "write", "pull-requests": "read", "actions": "read"}


def test_deploy_applies_the_reviewed_plan_unless_told_otherwise():
    """The lookup runs first (before any AWS credential); its plan goes to `deploy --plan`; a plan that
    no longer matches is replaced unless the repository variable DECKHAND_REQUIRE_REVIEWED_PLAN is true."""
    job = doc("deploy.yml")["jobs"]["deploy"]
    names = [s.get("name") or s.get("uses", "").split("@")[0] for s in job["steps"]]
    # the lookup runs before the first step that assumes the role (deckhand's role-to-assume)
    assert names.index("Find the reviewed plan") < names.index("Sync secrets") < names.index("Deploy")
    assert "aws-actions/configure-aws-credentials" not in names
    first_role = min(i for i, s in enumerate(job["steps"]) if (s.get("with") or {}).get("role-to-assume"))
    assert names.index("Find the reviewed plan") < first_role
    [find] = [s for s in job["steps"] if s.get("name") == "Find the reviewed plan"]
    assert find["id"] == "reviewed" and find["env"]["REQUIRE_REVIEWED_PLAN"] == "${{ vars.DECKHAND_REQUIRE_REVIEWED_PLAN }}"
    assert find["env"]["GH_TOKEN"] == "${{ github.token }}"
    assert "actions/workflows/preview.yml/runs" in find["run"] and "name=deckhand-plan" in find["run"]
    [deploy] = [s for s in job["steps"] if s.get("name") == "Deploy"]
    assert deploy["with"]["plan"] == "${{ steps.reviewed.outputs.plan }}"
    assert deploy["with"]["replan-if-moved"] == "${{ vars.DECKHAND_REQUIRE_REVIEWED_PLAN != 'true' }}"
    # the artifact preview.yml keeps is the one deploy.yml looks for, its file at the zip's root
    [upload] = [s for s in doc("preview.yml")["jobs"]["plan"]["steps"] if s.get("uses", "").startswith("actions/upload-artifact@")]
    assert upload["with"]["name"] == "deckhand-plan"
    [plan] = [s for s in doc("preview.yml")["jobs"]["plan"]["steps"] if s.get("uses") == "./"]
    assert plan["with"]["out"] == "deckhand-plan.json" and "unzip -p \"$zip\" deckhand-plan.json" in find["run"]


@pytest.mark.parametrize("var,want", [(None, "true"), ("false", "true"), ("true", "false"), ("TRUE", "false")])
def test_deploy_replans_unless_the_variable_is_true(capsys, var, want):
    out = listing(capsys, "deploy.yml", "--event", "push", *([f"--var=DECKHAND_REQUIRE_REVIEWED_PLAN={var}"] if var else []))
    [deploy] = [s for s in out["jobs"]["deploy"]["steps"] if s.get("name") == "Deploy"]
    assert deploy["with"]["replan-if-moved"] == want


def test_preview_is_read_only_except_its_comment(capsys):
    d = doc("preview.yml")
    assert rehearse.workflow_runs_for(d, "pull_request", "refs/pull/1/merge", "main")
    assert not rehearse.workflow_runs_for(d, "push", "refs/heads/main", None)
    job = d["jobs"]["plan"]
    assert "environment" not in job  # its OIDC subject is repo:O/R:pull_request, the one PlanRole trusts
    perms = rehearse.permissions_of(d, job)
    assert {k for k, v in perms.items() if v == "write"} == {"id-token", "pull-requests"}
    assert perms.get("contents") == "read"
    assert not [s for s in job["steps"] if s.get("uses", "").startswith("aws-actions/configure-aws-credentials@")]
    # `deckhand plan` through the action, assuming the read-only PlanRole itself (role-to-assume),
    # not for a fork (no OIDC token); the sticky comment with the job's token (nothing else of the
    # action gets it), the plan's JSON kept as an artifact for the deploy.
    [plan] = [s for s in job["steps"] if s.get("uses") == "./"]
    assert "head.repo.full_name == github.repository" in plan["if"]
    assert plan["with"]["role-to-assume"] == "${{ vars.PLAN_ROLE_ARN }}" and plan["with"]["region"] == "${{ vars.AWS_REGION }}"
    assert plan["with"]["command"] == "plan" and plan["with"]["out"]
    assert "dry-run" not in plan["with"] and plan["with"].get("comment", "") in ("", "true")
    assert plan["env"] == {"GITHUB_TOKEN": "${{ github.token }}"}
    [upload] = [s for s in job["steps"] if s.get("uses", "").startswith("actions/upload-artifact@")]
    assert upload["with"]["path"] == "${{ steps.plan.outputs.plan-json }}" and upload["with"]["if-no-files-found"] == "error"
    assert upload["with"]["name"] == "deckhand-plan"
    assert job["steps"].index(upload) > job["steps"].index(plan)


@pytest.mark.parametrize("name", sorted(p.name for p in WF.glob("*.yml")))
def test_no_step_persists_the_checkout_token(name):
    d = doc(name)
    for job in d["jobs"].values():
        for step in job.get("steps", []):
            if step.get("uses", "").startswith("actions/checkout@"):
                assert (step.get("with") or {}).get("persist-credentials") is False, f"{name}: checkout must set persist-credentials: false"


def test_list_fails_loudly_on_an_unknown_context(tmp_path, capsys):
    wf = tmp_path / "x.yml"
    wf.write_text("on: push\npermissions: {}\njobs:\n  j:\n    runs-on: x\n    steps:\n      - run: echo ${{ bogus.x }}\n")
    assert rehearse.main([str(wf), "--list", "--event", "push", "--sha", HEAD, "--quiet"]) == 2
    assert "bogus" in capsys.readouterr().err


def test_rollback_is_dispatched_by_hand_like_a_deploy(capsys):
    d = doc("rollback.yml")
    dispatch = rehearse.triggers(d)
    assert set(dispatch) == {"workflow_dispatch"}
    inputs = dispatch["workflow_dispatch"]["inputs"]
    assert inputs["release"]["default"] == "previous"
    assert inputs["only"]["options"] == ["both", "backend", "frontend"]
    deploy = doc("deploy.yml")
    assert d["concurrency"] == deploy["concurrency"]  # never beside a deploy
    job, deploy_job = d["jobs"]["rollback"], deploy["jobs"]["deploy"]
    assert job["environment"] == deploy_job["environment"] == "production"
    # deploy's token also reads pull requests and actions (the reviewed plan); a rollback needs neither
    reviewed_plan = {"pull-requests": "read", "actions": "read"}
    assert rehearse.permissions_of(d, job) == {k: v for k, v in rehearse.permissions_of(deploy, deploy_job).items() if k not in reviewed_plan}
    assert rehearse.permissions_of(d, job) == {"contents": "read", "id-token": "write"}
    role = [s["with"].get("role-to-assume") for s in job["steps"] if s.get("uses") == "./"]
    assert role == ["${{ vars.DEPLOY_ROLE_ARN }}"] * 2
    assert not [s for s in job["steps"] if s.get("uses", "").startswith("aws-actions/")]
    out = listing(capsys, "rollback.yml", "--event", "workflow_dispatch", "--input", "only=frontend")
    steps = {s["id"]: s for s in out["jobs"]["rollback"]["steps"] if s.get("id")}
    assert steps["plan"]["with"]["only"] == "frontend" and steps["plan"]["with"]["dry-run"] == "true"
    assert steps["rollback"]["with"]["to"] == "previous" and "dry-run" not in steps["rollback"]["with"]
    out = listing(capsys, "rollback.yml", "--event", "workflow_dispatch")
    assert {s["id"]: s for s in out["jobs"]["rollback"]["steps"] if s.get("id")}["rollback"]["with"]["only"] == ""


def test_deploy_syncs_every_configured_secret_from_github_secrets_before_the_deploy():
    import yaml

    job = doc("deploy.yml")["jobs"]["deploy"]
    steps = job["steps"]
    ids = [s.get("id") for s in steps]
    sync = steps[ids.index("secrets")]
    assert sync["uses"] == "./" and sync["with"]["command"] == "secrets sync"
    assert sync["with"]["stack"] == steps[ids.index("deploy")]["with"]["stack"]
    assert ids.index("secrets") < ids.index("deploy")
    assert sync["with"]["role-to-assume"] == steps[ids.index("deploy")]["with"]["role-to-assume"] == "${{ vars.DEPLOY_ROLE_ARN }}"
    configured = yaml.safe_load((ROOT / "deckhand.yml").read_text())["backend"]["secrets"]
    # each backend.secrets variable straight from the GitHub secret of the same name, nothing else
    assert sync["env"] == {var: f"${{{{ secrets.{var} }}}}" for var in configured}
    # no other step sees a secret
    others = [s for s in steps if s is not sync]
    assert not any("secrets." in json.dumps(s) for s in others)


@pytest.mark.parametrize("name,event,extra", [
    ("deploy.yml", "push", []),
    ("preview.yml", "pull_request", ["--pr", "1", "--head-sha", HEAD]),
    ("rollback.yml", "workflow_dispatch", []),
])
def test_the_action_reaches_another_aws_only_through_the_repository_variable(capsys, name, event, extra):
    """A container action sees the workflow's env and the runner's variables, never the runner machine's
    (ContainerActionHandler.cs, DockerCommandManager.cs): a stack that is not AWS's (the local one) is
    named by the repository variable DECKHAND_AWS_ENDPOINT (unset on GitHub: every endpoint empty,
    AWS's), which every deckhand step passes as `endpoint-url`; the registry standing for ECR and the
    backend's base image (no Docker Hub there) likewise, for the plan and the deploy alike."""
    for var, want in ((None, ""), ("http://127.0.0.1:4566", "http://127.0.0.1:4566")):
        out = listing(capsys, name, "--event", event, *extra, *([f"--var=DECKHAND_AWS_ENDPOINT={var}"] if var else []),
                      *(["--var=DECKHAND_REGISTRY_OVERRIDE=127.0.0.1:5001", "--var=DECKHAND_BUILD_ARGS=NODE_IMAGE=x"] if var else []))
        actions = [s for job in out["jobs"].values() for s in job["steps"] if s.get("uses") == "./"]
        assert actions, f"{name}: no deckhand step"
        for s in actions:
            assert s["with"].get("endpoint-url") == want, (name, s)
            if s["with"].get("command") in ("deploy", "plan"):  # the reviewed plan is made with the deploy's configuration
                assert s["with"].get("registry-override") == ("127.0.0.1:5001" if var else ""), (name, s)
                assert s["with"].get("build-arg") == ("NODE_IMAGE=x" if var else ""), (name, s)


def readme_workflow() -> str:
    """The deploy workflow README.md shows (the first ```yaml block after "## Use it")."""
    text = (ROOT / "README.md").read_text()
    rest = text[text.index("## Use it"):]
    start = rest.index("```yaml\n") + len("```yaml\n")
    return rest[start:rest.index("```", start)]


def test_the_readme_workflow_is_one_github_accepts_with_least_privilege(tmp_path):
    """README.md's short deploy workflow is parsed and validated by GitHub's parser (as the project's
    own are), grants nothing at the top, builds the SPA in a job without id-token, deploys in the
    production environment with id-token, and pins every action to a commit the project's own
    deploy.yml uses (so it cannot fall behind a bumped pin)."""
    path = tmp_path / "deploy.yml"
    path.write_text(readme_workflow())
    tree = rehearse.parse(path)["tree"]
    assert tree["permissions"] == {}
    site, deploy = tree["jobs"]["site"], tree["jobs"]["deploy"]
    assert site["permissions"] == {"contents": "read"}
    assert "environment" not in site and "id-token" not in site["permissions"]
    assert any("npm run build" in s.get("run", "") for s in site["steps"])
    assert deploy["needs"] == "site" or deploy["needs"] == ["site"]
    assert deploy["environment"] == "production"
    assert deploy["permissions"]["id-token"] == "write"
    assert deploy["steps"][0]["uses"].startswith("actions/checkout@")
    ours = (WF / "deploy.yml").read_text()
    for job in (site, deploy):
        for step in job["steps"]:
            uses = step.get("uses")
            if uses is None:
                continue
            if "/deckhand@" in uses:
                assert step["with"]["command"] in ("deploy", "secrets sync")
                continue
            name, ref = uses.split("@")
            assert len(ref) == 40 and f"uses: {uses}" in ours, f"{uses}: not a pin deploy.yml uses"


def test_the_readme_workflow_fails_the_check_when_it_drifts(tmp_path):
    bad = readme_workflow().replace("permissions: { contents: read }\n", "permissions: { contents: read, id-token: write }\n", 1)
    path = tmp_path / "deploy.yml"
    path.write_text(bad)
    site = rehearse.parse(path)["tree"]["jobs"]["site"]
    assert site["permissions"] != {"contents": "read"}
    path.write_text(readme_workflow().replace("jobs:", "jobz:", 1))
    with pytest.raises(rehearse.RehearsalError):
        rehearse.parse(path)


README_ACTION = "OWNER/deckhand@RELEASE_COMMIT_SHA"


def abridgment_errors(readme: dict, ours: dict) -> list[str]:
    """How README's workflow differs from deploy.yml as `deckhand init` writes it for README_ACTION
    (`uses: ./` -> that pin), read with GitHub's parser: the same trigger and concurrency; each job
    one of deploy.yml's with the same runs-on, needs, environment and permissions; its steps some of
    that job's, in order, each with the same `uses`, `run` and `working-directory` and a part of its
    `with` and `env`; no step that calls AWS (configure-aws-credentials, a deckhand step) left out."""
    errs = []
    for key in ("on", "concurrency", "permissions"):
        if readme.get(key) != ours.get(key):
            errs.append(f"{key}: {readme.get(key)!r}, init writes {ours.get(key)!r}")
    for name, job in readme["jobs"].items():
        theirs = ours["jobs"].get(name)
        if theirs is None:
            errs.append(f"job {name}: init writes no such job")
            continue
        for key in ("runs-on", "needs", "environment", "permissions"):
            if job.get(key) != theirs.get(key):
                errs.append(f"job {name}: {key} {job.get(key)!r}, init writes {theirs.get(key)!r}")

        def uses(step):
            u = step.get("uses")
            return "./" if u == README_ACTION else u

        def part(a, b):
            return all(b.get(k) == v for k, v in (a or {}).items())

        left = list(theirs["steps"])
        for i, step in enumerate(job["steps"]):
            while left and not (uses(step) == left[0].get("uses") and step.get("run") == left[0].get("run")
                                and step.get("working-directory") == left[0].get("working-directory")
                                and part(step.get("with"), left[0].get("with") or {})
                                and part(step.get("env"), left[0].get("env") or {})):
                skipped = left.pop(0)
                if skipped.get("uses") == "./" or "configure-aws-credentials" in (skipped.get("uses") or ""):
                    errs.append(f"job {name}: leaves out the step {skipped.get('name') or skipped['uses']}, which calls AWS")
            if not left:
                errs.append(f"job {name}, step {i + 1} ({step.get('name') or step.get('uses')}): not a step init writes (in this order)")
                break
            left.pop(0)
        for skipped in left:
            if skipped.get("uses") == "./" or "configure-aws-credentials" in (skipped.get("uses") or ""):
                errs.append(f"job {name}: leaves out the step {skipped.get('name') or skipped['uses']}, which calls AWS")
    return errs


def test_the_readme_workflow_is_the_one_init_writes_abridged(tmp_path):
    """Issue 24: "the README's example workflow is the one `init` writes". The README shows deploy.yml
    as init writes it for OWNER/deckhand@RELEASE_COMMIT_SHA with steps left out (never one that calls
    AWS) and keys shortened: the workflow the rehearsal runs (init writes this repository's
    deploy.yml, test_init.py), so what a newcomer copies is rehearsed."""
    path = tmp_path / "deploy.yml"
    path.write_text(readme_workflow())
    readme = rehearse.parse(path)["tree"]
    ours = rehearse.parse(WF / "deploy.yml")["tree"]
    assert abridgment_errors(readme, ours) == []
    # It fails when the README drifts: a changed input, a step that calls AWS left out.
    drift = readme_workflow().replace("command: deploy", "command: deploy, dry-run: true", 1)
    path.write_text(drift)
    assert abridgment_errors(rehearse.parse(path)["tree"], ours)


# --- .github/two-stage/: the workflows of two environments (init --staging-stack writes them) -------

TWO = ROOT / ".github" / "two-stage"


def test_two_stage_deploys_staging_then_promotes_its_release_to_production():
    """The staging job is the single deploy job in the staging environment (the same steps: the
    reviewed plan looked up before any credential, the SPA verified, secrets then deploy), with its
    release id as its output; the promote job (environment production, its url the promotion's) takes
    the release only from that output, never from the event, an input or a step a PR's code ran."""
    d = rehearse.load_workflow(TWO / "deploy.yml")
    single = doc("deploy.yml")
    assert d["on"] == single["on"] and d["permissions"] == {}
    assert d["concurrency"] == {**single["concurrency"], "group": "deploy"}
    assert rehearse.load_workflow(TWO / "rollback.yml")["concurrency"]["group"] == "deploy"
    assert list(d["jobs"]) == ["site", "staging", "promote"] and d["jobs"]["site"] == single["jobs"]["site"]
    staging, promote = d["jobs"]["staging"], d["jobs"]["promote"]
    assert staging["environment"] == "staging" and staging["needs"] == "site"
    assert rehearse.permissions_of(d, staging) == rehearse.permissions_of(single, single["jobs"]["deploy"])
    assert staging["outputs"] == {"release-id": "${{ steps.deploy.outputs.release-id }}"}
    ours = [(s.get("name"), s.get("uses"), s.get("run")) for s in staging["steps"]]
    theirs = [(s.get("name"), s.get("uses"), s.get("run")) for s in single["jobs"]["deploy"]["steps"]]
    assert ours == theirs
    for s in staging["steps"]:
        if s.get("uses") == "./":
            assert s["with"]["environment"] == "staging" and "stack" not in s["with"], s
    assert promote["needs"] == "staging" and promote["if"] == "needs.staging.outputs.release-id != ''"
    assert promote["environment"] == {"name": "production", "url": "${{ steps.promote.outputs.url }}"}
    assert rehearse.permissions_of(d, promote) == {"contents": "read", "id-token": "write"}
    [step] = [s for s in promote["steps"] if s.get("id") == "promote"]
    assert step["uses"] == "./" and step["with"]["command"] == "promote" and step["with"]["to"] == "production"
    assert step["with"]["release"] == "${{ needs.staging.outputs.release-id }}"
    text = (TWO / "deploy.yml").read_text()
    promote_text = text[text.index("\n  promote:\n"):]
    assert "github.event" not in promote_text and "inputs." not in promote_text
    [sync] = [s for s in promote["steps"] if s.get("name") == "Sync secrets"]
    assert sync["with"]["environment"] == "production" and sync["env"] == [
        s for s in staging["steps"] if s.get("name") == "Sync secrets"][0]["env"]


def test_two_stage_rollback_runs_in_the_environment_it_is_given():
    d = rehearse.load_workflow(TWO / "rollback.yml")
    env = d["on"]["workflow_dispatch"]["inputs"]["environment"]
    assert env["type"] == "choice" and set(env["options"]) == {"production", "staging"} and env["default"] == "production"
    job = d["jobs"]["rollback"]
    assert job["environment"] == "${{ inputs.environment }}"
    for s in job["steps"]:
        if s.get("uses") == "./":
            assert s["with"]["environment"] == "${{ inputs.environment }}" and "stack" not in s["with"], s
