"""dev/oidc: the claims GitHub derives for a job, the refusals where GitHub issues no token, signatures."""

from __future__ import annotations

import base64
import json
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "dev" / "oidc"))
import github_oidc as gh  # noqa: E402


@pytest.fixture(autouse=True)
def oidc_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DECKHAND_OIDC_DIR", str(tmp_path / "oidc"))
    return tmp_path / "oidc"


def workflow(tmp_path: Path, text: str, name: str = "wf.yml") -> Path:
    d = tmp_path / ".github" / "workflows"
    d.mkdir(parents=True, exist_ok=True)
    p = d / name
    p.write_text(textwrap.dedent(text))
    return p


DEPLOY = """
    name: deploy
    on:
      push:
        branches: [main]
    permissions:
      id-token: write
    jobs:
      deploy:
        runs-on: ubuntu-24.04
        environment: production
        steps:
          - uses: aws-actions/configure-aws-credentials@v4
            with:
              role-to-assume: ${{ vars.DEPLOY_ROLE_ARN }}
              aws-region: ${{ vars.AWS_REGION }}
"""


def test_environment_job_gets_an_environment_subject(tmp_path: Path) -> None:
    c = gh.claims_for(workflow(tmp_path, DEPLOY), "push", "refs/heads/main", repository="o/r", now=1000)
    assert c["sub"] == "repo:o/r:environment:production"
    assert c["environment"] == "production"
    assert (c["aud"], c["iss"]) == ("sts.amazonaws.com", "https://token.actions.githubusercontent.com")
    assert (c["iat"], c["nbf"], c["exp"]) == (1000, 400, 1300)
    assert c["job_workflow_ref"] == "o/r/.github/workflows/wf.yml@refs/heads/main"
    assert (c["event_name"], c["ref_type"], c["ref_protected"], c["workflow"]) == ("push", "branch", "true", "deploy")


def test_environment_as_mapping_and_ref_subject_without_environment(tmp_path: Path) -> None:
    mapping = DEPLOY.replace("environment: production", "environment:\n          name: staging\n          url: https://x")
    assert gh.claims_for(workflow(tmp_path, mapping), "push", "refs/heads/main", repository="o/r")["sub"] == (
        "repo:o/r:environment:staging"
    )
    bare = DEPLOY.replace("environment: production", "").replace("branches: [main]", "branches: ['**']")
    c = gh.claims_for(workflow(tmp_path, bare), "push", "refs/heads/feature/x", repository="o/r")
    assert c["sub"] == "repo:o/r:ref:refs/heads/feature/x"
    assert "environment" not in c and c["ref_protected"] == "false"


def test_pull_request_subject_and_refs(tmp_path: Path) -> None:
    wf = workflow(tmp_path, DEPLOY.replace("push:\n        branches: [main]", "pull_request:").replace(
        "environment: production", ""))
    c = gh.claims_for(wf, "pull_request", "refs/pull/7/merge", repository="o/r", head_ref="topic")
    assert c["sub"] == "repo:o/r:pull_request"
    assert (c["ref"], c["head_ref"], c["base_ref"]) == ("refs/pull/7/merge", "topic", "main")


def test_immutable_subjects_carry_the_owner_and_repository_ids(tmp_path: Path) -> None:
    """GitHub's OpenID Connect reference, "Immutable subject claims": OWNER@OWNER_ID/REPO@REPO_ID."""
    wf = workflow(tmp_path, DEPLOY)
    c = gh.claims_for(wf, "push", "refs/heads/main", repository="o/r", immutable=True, owner_id="123", repository_id="456")
    assert c["sub"] == "repo:o@123/r@456:environment:production"
    assert (c["repository"], c["repository_owner_id"], c["repository_id"]) == ("o/r", "123", "456")
    # ids default to stable values derived from the names, the same in both forms
    legacy = gh.claims_for(wf, "push", "refs/heads/main", repository="o/r")
    derived = gh.claims_for(wf, "push", "refs/heads/main", repository="o/r", immutable=True)
    assert derived["sub"] == f"repo:o@{legacy['repository_owner_id']}/r@{legacy['repository_id']}:environment:production"


def test_a_customised_subject_lists_the_template_s_claims_in_order(tmp_path: Path) -> None:
    """"Customizing the subject claims": each key as KEY:VALUE, `repo` and `context` as in the default,
    a `:` inside a value written %3A; the IDs stay in an immutable repository's `repo` segment."""
    keys = ["repo", "context", "ref", "job_workflow_ref"]
    wf = workflow(tmp_path, DEPLOY)
    c = gh.claims_for(wf, "push", "refs/heads/main", repository="o/r", sub_keys=keys)
    assert c["sub"] == ("repo:o/r:environment:production:ref:refs/heads/main:"
                        "job_workflow_ref:o/r/.github/workflows/wf.yml@refs/heads/main")
    c = gh.claims_for(wf, "push", "refs/heads/main", repository="o/r", sub_keys=keys, immutable=True, owner_id="1", repository_id="2")
    assert c["sub"].startswith("repo:o@1/r@2:environment:production:ref:refs/heads/main:job_workflow_ref:o/r/")
    colon = workflow(tmp_path, DEPLOY.replace("environment: production", "environment: 'prod:v1'"), "colon.yml")
    assert gh.claims_for(colon, "push", "refs/heads/main", repository="o/r", sub_keys=["repo", "context"])["sub"] == (
        "repo:o/r:environment:prod%3Av1")
    pr = workflow(tmp_path, DEPLOY.replace("push:\n        branches: [main]", "pull_request:").replace("environment: production", ""), "pr.yml")
    assert gh.claims_for(pr, "pull_request", "refs/pull/7/merge", repository="o/r", sub_keys=["repo", "context", "ref"])["sub"] == (
        "repo:o/r:pull_request:ref:refs/pull/7/merge")
    # a template naming a claim the job has not: GitHub issues no token
    with pytest.raises(gh.OidcError, match="`environment`"):
        gh.claims_for(pr, "pull_request", "refs/pull/7/merge", repository="o/r", sub_keys=["repo", "environment"])


def test_the_repository_s_subject_template_is_infra_s(tmp_path: Path) -> None:
    assert gh.repository_sub_keys() == json.loads((ROOT / "infra" / "github-oidc-sub.json").read_text())["include_claim_keys"]
    bad = tmp_path / "sub.json"
    bad.write_text('{"use_default": true}')
    with pytest.raises(gh.OidcError, match="use_default"):
        gh.repository_sub_keys(bad)


def test_no_token_where_github_gives_none(tmp_path: Path) -> None:
    wf = workflow(tmp_path, DEPLOY)
    with pytest.raises(gh.OidcError, match=r"on.push.branches does not match refs/heads/feature"):
        gh.claims_for(wf, "push", "refs/heads/feature", repository="o/r")
    with pytest.raises(gh.OidcError, match=r"does not run on `pull_request`"):
        gh.claims_for(wf, "pull_request", "refs/pull/1/merge", repository="o/r")
    no_perm = workflow(tmp_path, DEPLOY.replace("id-token: write", "contents: read"), "np.yml")
    with pytest.raises(gh.OidcError, match=r"no `permissions: id-token: write` \(id-token: none\)"):
        gh.claims_for(no_perm, "push", "refs/heads/main", repository="o/r")
    pr = workflow(tmp_path, DEPLOY.replace("push:\n        branches: [main]", "pull_request:"), "pr.yml")
    with pytest.raises(gh.OidcError, match=r"fork evil/r: GitHub downgrades id-token"):
        gh.claims_for(pr, "pull_request", "refs/pull/1/merge", repository="o/r", head_repository="evil/r")


def test_job_permissions_override_the_workflow(tmp_path: Path) -> None:
    text = DEPLOY.replace("    permissions:\n      id-token: write\n", "").replace(
        "environment: production", "environment: production\n        permissions: write-all")
    assert gh.claims_for(workflow(tmp_path, text), "push", "refs/heads/main", repository="o/r")["sub"].endswith(
        ":environment:production")


def _verify(token: str, jwks: dict[str, Any]) -> dict[str, Any]:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    head, body, sig = token.split(".")
    jwk = jwks["keys"][0]
    n = int.from_bytes(gh._unb64(jwk["n"]), "big")
    e = int.from_bytes(gh._unb64(jwk["e"]), "big")
    rsa.RSAPublicNumbers(e, n).public_key().verify(
        gh._unb64(sig), f"{head}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256()
    )
    assert json.loads(gh._unb64(head))["kid"] == jwk["kid"]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


def test_tokens_verify_against_the_published_jwks(tmp_path: Path, oidc_dir: Path) -> None:
    claims = gh.claims_for(workflow(tmp_path, DEPLOY), "push", "refs/heads/main", repository="o/r")
    token = gh.sign(claims)
    jwks = json.loads((oidc_dir / "jwks.json").read_text())
    assert _verify(token, jwks) == claims
    assert (oidc_dir / "issuer-key.pem").stat().st_mode & 0o077 == 0


def test_configure_step_inputs_resolve_vars(tmp_path: Path) -> None:
    wf = workflow(tmp_path, DEPLOY)
    got = gh.role_step_inputs(wf, None, {"DEPLOY_ROLE_ARN": "arn:aws:iam::1:role/d", "AWS_REGION": "eu-west-1"})
    assert got == {"role-to-assume": "arn:aws:iam::1:role/d", "aws-region": "eu-west-1"}
    with pytest.raises(gh.OidcError, match=r"needs vars.AWS_REGION: pass --var AWS_REGION=VALUE"):
        gh.role_step_inputs(wf, None, {"DEPLOY_ROLE_ARN": "x"})


DECKHAND_ASSUMES = """
    name: deploy
    on:
      push:
        branches: [main]
    jobs:
      deploy:
        runs-on: ubuntu-24.04
        environment: production
        permissions:
          id-token: write
        steps:
          - uses: actions/checkout@v4
          - name: Sync secrets
            uses: ./
            with:
              command: secrets sync
              role-to-assume: ${{ vars.DEPLOY_ROLE_ARN }}
              region: ${{ vars.AWS_REGION }}
          - name: Deploy
            uses: ./
            with:
              command: deploy
              role-to-assume: ${{ vars.DEPLOY_ROLE_ARN }}
              region: ${{ vars.AWS_REGION }}
"""


def test_deckhand_role_to_assume_is_the_jobs_role_step(tmp_path: Path) -> None:
    """A job whose deckhand steps assume the role themselves (no configure-aws-credentials): the
    role, region, audience and session name deckhand uses."""
    wf = workflow(tmp_path, DECKHAND_ASSUMES)
    got = gh.role_step_inputs(wf, None, {"DEPLOY_ROLE_ARN": "arn:aws:iam::1:role/d", "AWS_REGION": "eu-west-1"})
    assert got == {"role-to-assume": "arn:aws:iam::1:role/d", "aws-region": "eu-west-1",
                   "audience": "sts.amazonaws.com", "role-session-name": "deckhand"}
    # two steps of one job naming different roles: refused, naming both
    other = workflow(tmp_path, DECKHAND_ASSUMES.replace("role-to-assume: ${{ vars.DEPLOY_ROLE_ARN }}\n              region: ${{ vars.AWS_REGION }}\n          - name: Deploy",
                                                        "role-to-assume: ${{ vars.PLAN_ROLE_ARN }}\n              region: ${{ vars.AWS_REGION }}\n          - name: Deploy"),
                     "other.yml")
    with pytest.raises(gh.OidcError, match=r"assume different roles or regions"):
        gh.role_step_inputs(other, None, {"DEPLOY_ROLE_ARN": "d", "PLAN_ROLE_ARN": "p", "AWS_REGION": "eu-west-1"})
