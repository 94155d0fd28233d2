"""GitHub Actions OIDC tokens for tests: a local issuer key, the claims GitHub derives for a job, and
the AssumeRoleWithWebIdentity call aws-actions/configure-aws-credentials makes.

    python github_oidc.py token  --workflow .github/workflows/deploy.yml --event push --ref refs/heads/main
    python github_oidc.py assume --workflow .github/workflows/deploy.yml --event push --ref refs/heads/main \
        --var DEPLOY_ROLE_ARN=arn:aws:iam::123456789012:role/... --var AWS_REGION=us-east-1
    python github_oidc.py jwks

See README.md next to this file. The issuer key is generated on first use under $DECKHAND_OIDC_DIR
(default ~/.cache/deckhand/oidc); the local stack verifies tokens against its jwks.json. It signs
test tokens only: nothing outside the local stack trusts it.
"""

from __future__ import annotations

import argparse
import base64
import fcntl
import hashlib
import json
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ISSUER = "https://token.actions.githubusercontent.com"
DEFAULT_AUDIENCE = "sts.amazonaws.com"  # what configure-aws-credentials requests
SESSION_NAME = "GitHubActions"  # configure-aws-credentials' default role-session-name
CONFIGURE_ACTION = "aws-actions/configure-aws-credentials"
# deckhand's own `role-to-assume` input (this repository's workflows run it as `uses: ./`): the action
# asks the runner for the job's ID token (audience sts.amazonaws.com) and calls
# AssumeRoleWithWebIdentity itself, session name `deckhand` (src/aws/renew.rs).
DECKHAND_ACTION = "./"
DECKHAND_SESSION_NAME = "deckhand"
ROLE_STEPS = f"{CONFIGURE_ACTION} or a deckhand step (`uses: {DECKHAND_ACTION}`) with role-to-assume"
# The repository's OIDC subject customisation (the body of PUT /repos/{owner}/{repo}/actions/oidc/
# customization/sub docs/security.md's setup sends): the subject the infra/ stack's roles trust.
SUBJECT_TEMPLATE = Path(__file__).resolve().parents[2] / "infra" / "github-oidc-sub.json"


def repository_sub_keys(path: Path = SUBJECT_TEMPLATE) -> list[str]:
    """`include_claim_keys` of the repository's subject customisation (use_default false)."""
    try:
        body = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise OidcError(f"{path}: cannot read the OIDC subject template: {e}") from e
    keys = body.get("include_claim_keys") if isinstance(body, dict) and body.get("use_default") is False else None
    if not isinstance(keys, list) or not keys or not all(isinstance(k, str) for k in keys):
        raise OidcError(f"{path}: expected {{\"use_default\": false, \"include_claim_keys\": [...]}}")
    return keys



class OidcError(Exception):
    """A token GitHub would not issue, or a call that failed: the message says why."""


# --- the issuer key --------------------------------------------------------------------------

def oidc_dir() -> Path:
    return Path(os.environ.get("DECKHAND_OIDC_DIR") or Path.home() / ".cache" / "deckhand" / "oidc")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _int_b64(n: int) -> str:
    return _b64(n.to_bytes((n.bit_length() + 7) // 8, "big"))


def issuer_key() -> Any:
    """The issuer's RSA private key (created with its jwks.json on first use, 0600)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    d = oidc_dir()
    d.mkdir(parents=True, exist_ok=True)
    key_path, jwks_path = d / "issuer-key.pem", d / "jwks.json"
    with open(d / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not key_path.exists():
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            pem = key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            fd = os.open(key_path.with_suffix(".tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(pem)
            os.replace(key_path.with_suffix(".tmp"), key_path)
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        if not jwks_path.exists():
            tmp = jwks_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(jwks_of(key), indent=2) + "\n")
            os.replace(tmp, jwks_path)
    return key


def jwks_of(key: Any) -> dict[str, Any]:
    pub = key.public_key().public_numbers()
    jwk = {"kty": "RSA", "alg": "RS256", "use": "sig", "kid": key_id(key), "n": _int_b64(pub.n), "e": _int_b64(pub.e)}
    return {"keys": [jwk]}


def key_id(key: Any) -> str:
    from cryptography.hazmat.primitives import serialization

    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()[:40].upper()


def sign(claims: dict[str, Any]) -> str:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    key = issuer_key()
    header = {"typ": "JWT", "alg": "RS256", "kid": key_id(key)}
    signing_input = f"{_b64(json.dumps(header, separators=(',', ':')).encode())}." \
                    f"{_b64(json.dumps(claims, separators=(',', ':')).encode())}"
    sig = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{_b64(sig)}"


# --- workflow files ------------------------------------------------------------------------------

def load_workflow(path: Path) -> dict[str, Any]:
    import yaml

    try:
        doc = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise OidcError(f"{path}: cannot read the workflow: {e}") from e
    if not isinstance(doc, dict):
        raise OidcError(f"{path}: not a workflow (expected a mapping)")
    if True in doc and "on" not in doc:  # YAML 1.1 reads the bare key `on` as true
        doc["on"] = doc.pop(True)
    return doc


def _triggers(doc: dict[str, Any]) -> dict[str, Any]:
    on = doc.get("on")
    if isinstance(on, str):
        return {on: {}}
    if isinstance(on, list):
        return {str(e): {} for e in on}
    if isinstance(on, dict):
        return {str(k): (v or {}) for k, v in on.items()}
    return {}


def glob_match(pattern: str, name: str) -> bool:
    """GitHub's filter pattern cheat sheet (workflow syntax, "Filter pattern cheat sheet"): `*` any
    characters but `/`, `**` any characters, `?` zero or one and `+` one or more of the preceding
    character, `[...]` one character of the listed ones or ranges (a-z, A-Z, 0-9 only), `\\` escapes
    the next character; anything else is literal (`.` too). ValueError for a pattern GitHub refuses."""
    rx = ""
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            rx += re.escape(pattern[i + 1])
            i += 2
        elif pattern.startswith("**", i):
            rx += ".*"
            i += 2
        elif c == "*":
            rx += "[^/]*"
            i += 1
        elif c in "?+":
            if not rx or rx.endswith(("*", "?", "+")):
                raise ValueError(f"filter pattern {pattern!r}: {c!r} at {i} has no character before it to repeat")
            rx += c
            i += 1
        elif c == "[":
            close = pattern.find("]", i + 1)
            body = pattern[i + 1:close] if close > i else ""
            if close < 0 or not re.fullmatch(r"(?:[a-z](?:-[a-z])?|[A-Z](?:-[A-Z])?|[0-9](?:-[0-9])?)+", body):
                raise ValueError(f"filter pattern {pattern!r}: [{body} is not a character class GitHub accepts "
                                 "(letters, digits and ranges a-z, A-Z, 0-9)")
            rx += f"[{body}]"
            i = close + 1
        else:
            rx += re.escape(c)
            i += 1
    return re.fullmatch(rx, name) is not None


def patterns_match(patterns: list[str], name: str) -> bool:
    """A list of filter patterns in order: a pattern starting with `!` excludes what the ones before
    it included; the last pattern that matches decides."""
    matched = False
    for p in patterns:
        p = str(p)
        if p.startswith("!"):
            if glob_match(p[1:], name):
                matched = False
        elif glob_match(p, name):
            matched = True
    return matched


def filter_allows(spec: dict[str, Any], key: str, value: str) -> bool:
    """`branches` / `branches-ignore` (or `tags` / `tags-ignore`) of a trigger. ValueError for both
    at once (GitHub refuses the workflow) or a pattern GitHub refuses."""
    if key in spec and f"{key}-ignore" in spec:
        raise ValueError(f"`{key}` and `{key}-ignore` in one event filter: GitHub refuses the workflow")
    def listed(k: str) -> list[str]:
        return spec[k] if isinstance(spec[k], list) else [spec[k]]
    if key in spec:
        return patterns_match(listed(key), value)
    if f"{key}-ignore" in spec:
        return not patterns_match(listed(f"{key}-ignore"), value)
    return True


def _filter_allows(spec: dict[str, Any], key: str, value: str) -> bool:
    try:
        return filter_allows(spec, key, value)
    except ValueError as e:
        raise OidcError(str(e)) from e


def check_trigger(doc: dict[str, Any], path: Path, event: str, ref: str, base_ref: str) -> None:
    triggers = _triggers(doc)
    if event not in triggers:
        raise OidcError(f"{path}: the workflow does not run on `{event}` (on: {', '.join(triggers) or 'nothing'})")
    spec = triggers[event] if isinstance(triggers[event], dict) else {}
    if event == "push":
        if ref.startswith("refs/heads/"):
            if "tags" in spec and "branches" not in spec and "branches-ignore" not in spec:
                raise OidcError(f"{path}: on.push runs for tags only, not {ref}")
            if not _filter_allows(spec, "branches", ref[len("refs/heads/"):]):
                raise OidcError(f"{path}: on.push.branches does not match {ref}")
        elif ref.startswith("refs/tags/"):
            if ("branches" in spec or "branches-ignore" in spec) and "tags" not in spec:
                raise OidcError(f"{path}: on.push runs for branches only, not {ref}")
            if not _filter_allows(spec, "tags", ref[len("refs/tags/"):]):
                raise OidcError(f"{path}: on.push.tags does not match {ref}")
    if event in ("pull_request", "pull_request_target"):
        if not _filter_allows(spec, "branches", base_ref):
            raise OidcError(f"{path}: on.{event}.branches does not match the base branch {base_ref}")


def _id_token_permission(perms: Any) -> str | None:
    if perms is None:
        return None
    if isinstance(perms, str):
        return {"write-all": "write", "read-all": "read"}.get(perms, "none")
    if isinstance(perms, dict):
        return str(perms.get("id-token", "none"))
    return "none"


def pick_job(doc: dict[str, Any], path: Path, job: str | None) -> tuple[str, dict[str, Any]]:
    jobs = doc.get("jobs") or {}
    if not isinstance(jobs, dict) or not jobs:
        raise OidcError(f"{path}: no jobs")
    if job is None:
        with_step = [j for j, spec in jobs.items() if _role_step(spec) is not None]
        if len(with_step) != 1:
            raise OidcError(
                f"{path}: name the job with --job ({len(with_step)} jobs assume a role through {ROLE_STEPS}: {', '.join(jobs)})"
            )
        job = with_step[0]
    if job not in jobs:
        raise OidcError(f"{path}: no job `{job}` (jobs: {', '.join(jobs)})")
    return job, jobs[job] or {}


def _role_step(job_spec: dict[str, Any]) -> dict[str, Any] | None:
    """The step through which the job assumes its role: its configure-aws-credentials step, else its
    first deckhand step with `role-to-assume` (every such step of the job must name the same role and
    region: role_step_inputs checks)."""
    steps = [s for s in job_spec.get("steps") or [] if isinstance(s, dict)]
    for step in steps:
        if str(step.get("uses", "")).split("@")[0] == CONFIGURE_ACTION:
            return step
    for step in _deckhand_role_steps(job_spec):
        return step
    return None


def _deckhand_role_steps(job_spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in job_spec.get("steps") or [] if isinstance(s, dict) and s.get("uses") == DECKHAND_ACTION
            and (s.get("with") or {}).get("role-to-assume") not in (None, "")]


def job_environment(job_spec: dict[str, Any], path: Path, job: str) -> str | None:
    env = job_spec.get("environment")
    if isinstance(env, dict):
        env = env.get("name")
    if env is None:
        return None
    env = str(env)
    if "${{" in env:
        raise OidcError(f"{path}: jobs.{job}.environment is an expression ({env}): pass --environment NAME")
    return env


def _git(repo_root: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(repo_root), *args], capture_output=True, text=True, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def claims_for(
    workflow: Path,
    event: str,
    ref: str,
    repository: str = "deckhand-local/spa-ecs",
    job: str | None = None,
    base_ref: str = "main",
    head_ref: str | None = None,
    head_repository: str | None = None,
    environment: str | None = None,
    sha: str | None = None,
    actor: str = "deckhand-bot",
    audience: str = DEFAULT_AUDIENCE,
    now: int | None = None,
    lifetime: int = 300,
    ref_protected: bool | None = None,
    sub_keys: list[str] | None = None,
    immutable: bool = False,
    repository_id: str | None = None,
    owner_id: str | None = None,
) -> dict[str, Any]:
    """The claims GitHub puts in the OIDC token of `job` of `workflow` run for `event` on `ref`.

    `sub` follows GitHub's OpenID Connect reference (docs.github.com/en/actions/reference/security/oidc):
    the default subject `repo:OWNER/REPO:<context>` ("Example subject claims") when `sub_keys` is
    None; else the repository's customisation (`include_claim_keys`, "Customizing the subject
    claims for an organization or repository"), for this repository `repository_sub_keys()`
    (infra/github-oidc-sub.json, what docs/security.md's setup applies and the CLI's default). `immutable` writes the repository `OWNER@OWNER_ID/REPO@REPO_ID`, as GitHub
    does for repositories created, renamed or transferred after 15 July 2026 ("Immutable subject
    claims"); the IDs are the `repository_owner_id` / `repository_id` claims (`owner_id`,
    `repository_id` to choose them, e.g. a renamed repository keeps its IDs).

    Raises OidcError where GitHub issues no token: the workflow does not run for that event/ref,
    the job lacks `permissions: id-token: write`, or the pull request comes from a fork.
    """
    workflow = workflow.resolve()
    doc = load_workflow(workflow)
    if not re.fullmatch(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", repository):
        raise OidcError(f"--repo {repository!r}: expected OWNER/NAME")
    pr = event in ("pull_request", "pull_request_target")
    if pr and event == "pull_request" and not re.fullmatch(r"refs/pull/\d+/(merge|head)", ref):
        raise OidcError(f"{event}: the ref is refs/pull/<number>/merge, got {ref}")
    if not pr and not ref.startswith(("refs/heads/", "refs/tags/")):
        raise OidcError(f"{event}: the ref is refs/heads/<branch> or refs/tags/<tag>, got {ref}")
    check_trigger(doc, workflow, event, ref, base_ref)
    job, spec = pick_job(doc, workflow, job)
    perm = _id_token_permission(spec.get("permissions", doc.get("permissions")))
    if perm != "write":
        raise OidcError(
            f"{workflow}: job `{job}` has no `permissions: id-token: write` (id-token: {perm or 'unset'}): "
            "GitHub gives it no OIDC token"
        )
    if event == "pull_request" and head_repository and head_repository.lower() != repository.lower():
        raise OidcError(
            f"pull_request from the fork {head_repository}: GitHub downgrades id-token to none for workflow "
            "runs from forks, so the job gets no OIDC token"
        )
    env = environment if environment is not None else job_environment(spec, workflow, job)
    owner = repository.split("/")[0]

    repo_root = Path(_git(workflow.parent, "rev-parse", "--show-toplevel") or workflow.parent.parent.parent)
    try:
        rel = workflow.relative_to(repo_root).as_posix()
    except ValueError:
        rel = f".github/workflows/{workflow.name}"
    sha = sha or _git(repo_root, "rev-parse", "HEAD") or "0" * 40
    workflow_ref = f"{repository}/{rel}@{ref}"
    iat = int(time.time()) if now is None else now
    digits = lambda s: str(int(hashlib.sha256(s.encode()).hexdigest()[:8], 16))  # noqa: E731 stable ids
    claims: dict[str, Any] = {
        "jti": str(uuid.uuid4()),
        "sub": "",
        "aud": audience,
        "ref": ref,
        "sha": sha,
        "repository": repository,
        "repository_owner": owner,
        "repository_owner_id": owner_id or digits(owner),
        "repository_id": repository_id or digits(repository),
        "repository_visibility": "private",
        "run_id": str(iat * 10 + 7),
        "run_number": "1",
        "run_attempt": "1",
        "runner_environment": "github-hosted",
        "actor": actor,
        "actor_id": digits(actor),
        "workflow": str(doc.get("name") or rel),
        "workflow_ref": workflow_ref,
        "workflow_sha": sha,
        "job_workflow_ref": workflow_ref,
        "job_workflow_sha": sha,
        "head_ref": (head_ref or "feature") if pr else "",
        "base_ref": base_ref if pr else "",
        "event_name": event,
        "ref_type": "tag" if ref.startswith("refs/tags/") else "branch",
        "ref_protected": str(ref_protected if ref_protected is not None else ref == f"refs/heads/{base_ref}").lower(),
        "iss": ISSUER,
        "nbf": iat - 600,
        "iat": iat,
        "exp": iat + lifetime,
    }
    if env:
        claims["environment"] = env
        claims["environment_node_id"] = "EN_" + _b64(hashlib.sha256(f"{repository}:{env}".encode()).digest()[:12])
    claims["sub"] = subject_of(claims, sub_keys, immutable=immutable, pull_request=event == "pull_request")
    return claims


def _escape(value: Any) -> str:
    # "Any `:` within the metadata values will be replaced with `%3A` in the subject claim."
    return str(value).replace(":", "%3A")


def subject_of(claims: dict[str, Any], keys: list[str] | None, *, immutable: bool = False,
               pull_request: bool = False) -> str:
    """The `sub` GitHub writes for these claims: the default format (keys None) or the customised one
    (each key in order as `KEY:VALUE`, `repo` as `repo:OWNER/REPO`, `context` as the default's part
    after the repository), the repository in its immutable form when `immutable`."""
    owner, name = claims["repository"].split("/", 1)
    repo = f"{owner}@{claims['repository_owner_id']}/{name}@{claims['repository_id']}" if immutable else f"{owner}/{name}"
    if claims.get("environment"):
        context = f"environment:{_escape(claims['environment'])}"
    elif pull_request:
        context = "pull_request"
    else:
        context = f"ref:{_escape(claims['ref'])}"
    if keys is None:
        return f"repo:{repo}:{context}"
    parts = []
    for key in keys:
        if key == "repo":
            parts.append(f"repo:{repo}")
        elif key == "context":
            parts.append(context)
        elif key in claims and claims[key] not in (None, ""):
            parts.append(f"{key}:{_escape(claims[key])}")
        else:
            # The reference, on `environment`: "If the environment claim is included (also via
            # include_claim_keys), an environment is required and must be provided."
            raise OidcError(f"the subject template includes `{key}`, which this job's token does not carry: GitHub issues no token")
    return ":".join(parts)


def role_step_inputs(workflow: Path, job: str | None, variables: dict[str, str]) -> dict[str, str]:
    """How the job assumes its role, `${{ vars.X }}` / `${{ secrets.X }}` resolved, as
    configure-aws-credentials' inputs: its configure-aws-credentials step's `with:`; for deckhand's own
    `role-to-assume` (its steps' `role-to-assume` and `region`), `role-to-assume`, `aws-region`, the
    audience and session name deckhand uses."""
    doc = load_workflow(workflow)
    job, spec = pick_job(doc, workflow, job)
    step = _role_step(spec)
    if step is None:
        raise OidcError(f"{workflow}: job `{job}` has no {ROLE_STEPS}")
    what = CONFIGURE_ACTION if step.get("uses") != DECKHAND_ACTION else f"deckhand step `{step.get('name') or step.get('id') or DECKHAND_ACTION}`"

    def resolved(k: str, v: Any) -> str:
        text = str(v)

        def subst(m: re.Match[str]) -> str:
            name = m.group(2)
            if name not in variables:
                raise OidcError(f"{workflow}: jobs.{job} {what} `{k}` needs {m.group(1)}.{name}: pass --var {name}=VALUE")
            return variables[name]

        out = re.sub(r"\$\{\{\s*(vars|secrets|env)\.([A-Za-z0-9_]+)\s*\}\}", subst, text)
        if "${{" in out:
            raise OidcError(f"{workflow}: jobs.{job} {what} `{k}` is an expression this helper cannot evaluate: {text}")
        return out

    if step.get("uses") != DECKHAND_ACTION:
        return {str(k): resolved(str(k), v) for k, v in (step.get("with") or {}).items()}
    # deckhand: every step of the job that assumes a role assumes the same one, in the same region
    # (the region: the step's `region` input, else the job's or workflow's env AWS_REGION).
    seen = set()
    for s in _deckhand_role_steps(spec):
        w = s.get("with") or {}
        region = w.get("region") or (s.get("env") or {}).get("AWS_REGION") or (spec.get("env") or {}).get("AWS_REGION") \
            or (doc.get("env") or {}).get("AWS_REGION") or ""
        seen.add((resolved("role-to-assume", w["role-to-assume"]), resolved("region", region)))
    if len(seen) != 1:
        raise OidcError(f"{workflow}: jobs.{job}: its deckhand steps assume different roles or regions: {sorted(seen)}")
    [(role, region)] = seen
    return {"role-to-assume": role, "aws-region": region, "audience": DEFAULT_AUDIENCE,
            "role-session-name": DECKHAND_SESSION_NAME}


# --- the configure-aws-credentials call ----------------------------------------------------------

def assume_role_with_web_identity(
    role_arn: str, token: str, region: str, session_name: str = SESSION_NAME, duration: int = 3600,
    endpoint: str | None = None,
) -> dict[str, str]:
    """STS AssumeRoleWithWebIdentity, unsigned, as configure-aws-credentials calls it; the env it exports."""
    import botocore.session
    from botocore import UNSIGNED
    from botocore.config import Config
    from botocore.exceptions import ClientError

    endpoint = endpoint or os.environ.get("AWS_ENDPOINT_URL_STS") or os.environ.get("AWS_ENDPOINT_URL")
    if not endpoint or not re.match(r"^http://(127\.|localhost)", endpoint):
        raise OidcError(f"AWS_ENDPOINT_URL must point at the local stack (eval \"$(dev/local-aws/up)\"); got {endpoint!r}")
    sts = botocore.session.get_session().create_client(
        "sts", region_name=region, endpoint_url=endpoint,
        config=Config(signature_version=UNSIGNED, retries={"max_attempts": 1}),
    )
    try:
        r = sts.assume_role_with_web_identity(
            RoleArn=role_arn, RoleSessionName=session_name, WebIdentityToken=token, DurationSeconds=duration
        )
    except ClientError as e:
        err = e.response.get("Error", {})
        raise OidcError(f"Could not assume role with OIDC: {err.get('Code')}: {err.get('Message')}") from e
    c = r["Credentials"]
    return {
        "AWS_ACCESS_KEY_ID": c["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": c["SecretAccessKey"],
        "AWS_SESSION_TOKEN": c["SessionToken"],
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
    }


# --- CLI ---------------------------------------------------------------------------------------

def _token_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workflow", required=True, type=Path, help="workflow file (.github/workflows/X.yml)")
    p.add_argument("--event", required=True, help="event name: push, pull_request, workflow_dispatch, ...")
    p.add_argument("--ref", help="refs/heads/B, refs/tags/T; pull_request: refs/pull/N/merge (default 1)")
    p.add_argument("--job", help="job id (default: the one job with a configure-aws-credentials step)")
    p.add_argument("--repo", default=os.environ.get("GITHUB_REPOSITORY", "deckhand-local/spa-ecs"), help="OWNER/NAME")
    p.add_argument("--base", default="main", help="pull_request: the base branch (default main)")
    p.add_argument("--head", help="pull_request: the head branch")
    p.add_argument("--head-repo", help="pull_request: the repository the head branch lives in (a fork)")
    p.add_argument("--environment", help="override the job's environment: (an expression GitHub evaluated)")
    p.add_argument("--sha", help="commit (default: git HEAD)")
    p.add_argument("--actor", default="deckhand-bot")
    p.add_argument("--audience", help=f"aud claim (default {DEFAULT_AUDIENCE}, or the step's `audience` input)")
    p.add_argument("--lifetime", type=int, default=300, help="seconds until exp (default 300)")
    p.add_argument("--issued-at", type=int, help="iat (unix seconds; default now)")
    p.add_argument("--sub-keys", help="the repository's subject customisation, include_claim_keys comma-separated "
                   f"(default: {SUBJECT_TEMPLATE.relative_to(SUBJECT_TEMPLATE.parents[1])}, what docs/security.md's setup applies)")
    p.add_argument("--default-sub", action="store_true", help="GitHub's default subject (a repository without the customisation)")
    p.add_argument("--immutable", action="store_true",
                   help="immutable subject claims: the repository as OWNER@OWNER_ID/REPO@REPO_ID (GitHub's default since July 2026)")
    p.add_argument("--repo-id", help="repository_id (default: derived from the name; a renamed repository keeps its id)")
    p.add_argument("--owner-id", help="repository_owner_id (default: derived from the owner's name)")


def _claims_from(a: argparse.Namespace, audience: str | None = None) -> dict[str, Any]:
    ref = a.ref or ("refs/pull/1/merge" if a.event == "pull_request" else "refs/heads/main")
    return claims_for(
        a.workflow, a.event, ref, repository=a.repo, job=a.job, base_ref=a.base, head_ref=a.head,
        head_repository=a.head_repo, environment=a.environment, sha=a.sha, actor=a.actor,
        audience=a.audience or audience or DEFAULT_AUDIENCE, now=a.issued_at, lifetime=a.lifetime,
        sub_keys=None if a.default_sub else ([k.strip() for k in a.sub_keys.split(",") if k.strip()] if a.sub_keys
                                             else repository_sub_keys()),
        immutable=a.immutable, repository_id=a.repo_id, owner_id=a.owner_id,
    )


def serve(a: argparse.Namespace) -> int:
    """The runner's ID token endpoint, as a job with `permissions: id-token: write` sees it: the
    runner puts ACTIONS_ID_TOKEN_REQUEST_URL (…/idtoken?api-version=2.0, from the job's system
    connection, `GenerateIdTokenUrl` in actions/runner ContainerActionHandler.cs) and
    ACTIONS_ID_TOKEN_REQUEST_TOKEN in the step's env; `GET <URL>&audience=AUD` with
    `Authorization: bearer <request token>` answers `{"value": "<JWT>"}` (actions/toolkit
    packages/core/src/oidc-utils.ts reads `.value`), a fresh token on every call, for the audience
    asked (GitHub's default without one: the repository owner's URL). A wrong or missing bearer
    gets 401. Prints the two variables (`NAME=value` lines) first, then serves until killed;
    `GET /_calls` lists the audiences asked for (for tests)."""
    import secrets
    import threading
    import urllib.parse
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    request_token = secrets.token_urlsafe(32)
    calls: list[dict[str, Any]] = []
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _reply(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            url = urllib.parse.urlparse(self.path)
            if url.path == "/_calls":
                with lock:
                    return self._reply(200, {"calls": list(calls)})
            if not url.path.endswith("/idtoken"):
                return self._reply(404, {"message": "Not Found"})
            scheme, _, given = self.headers.get("Authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not secrets.compare_digest(given.strip(), request_token):
                return self._reply(401, {"message": "Unauthorized"})
            asked = urllib.parse.parse_qs(url.query).get("audience", [""])[0]
            audience = asked or f"https://github.com/{a.repo.split('/')[0]}"
            try:
                claims = _claims_from(a, audience)
                claims["aud"] = audience
                token = sign(claims)
            except OidcError as e:
                return self._reply(400, {"message": str(e)})
            with lock:
                calls.append({"audience": audience})
            self._reply(200, {"value": token})

    server = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    host, port = server.server_address[:2]
    plan, job = uuid.uuid4(), uuid.uuid4()
    print(f"ACTIONS_ID_TOKEN_REQUEST_URL=http://{host}:{port}/_apis/distributedtask/hubs/Actions/plans/"
          f"{plan}/jobs/{job}/idtoken?api-version=2.0")
    print(f"ACTIONS_ID_TOKEN_REQUEST_TOKEN={request_token}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="github_oidc", description="GitHub-shaped OIDC tokens for the local stack")
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("token", help="print the OIDC token (JWT) GitHub would issue to a job")
    _token_args(t)
    t.add_argument("--claims", action="store_true", help="print the claims as JSON instead of the JWT")
    s = sub.add_parser("assume", help="mint the token and make configure-aws-credentials' AssumeRoleWithWebIdentity")
    _token_args(s)
    s.add_argument("--var", action="append", default=[], metavar="NAME=VALUE", help="a vars./secrets. value the step uses")
    s.add_argument("--role-arn", help="role-to-assume (default: the step's input)")
    s.add_argument("--region", help="aws-region (default: the step's input, else AWS_REGION)")
    s.add_argument("--format", choices=["export", "github-env", "json"], default="export")
    v = sub.add_parser("serve", help="serve the runner's ID token endpoint (ACTIONS_ID_TOKEN_REQUEST_URL/_TOKEN)")
    _token_args(v)
    v.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: any free one)")
    sub.add_parser("jwks", help="print the issuer's JWKS (creates the key on first use)")
    a = ap.parse_args(argv)
    try:
        if a.cmd == "jwks":
            print(json.dumps(jwks_of(issuer_key()), indent=2))
            return 0
        if a.cmd == "serve":
            return serve(a)
        if a.cmd == "token":
            claims = _claims_from(a)
            print(json.dumps(claims, indent=2) if a.claims else sign(claims))
            return 0
        variables = {}
        for v in a.var:
            name, eq, value = v.partition("=")
            if not eq:
                raise OidcError(f"--var {v!r}: expected NAME=VALUE")
            variables[name] = value
        inputs = role_step_inputs(a.workflow.resolve(), a.job, variables)
        role_arn = a.role_arn or inputs.get("role-to-assume")
        region = a.region or inputs.get("aws-region") or os.environ.get("AWS_REGION")
        if not role_arn:
            raise OidcError(f"{a.workflow}: the job's role step ({ROLE_STEPS}) has no role-to-assume (pass --role-arn)")
        if not region:
            raise OidcError(f"{a.workflow}: the job's role step ({ROLE_STEPS}) has no region (pass --region)")
        claims = _claims_from(a, inputs.get("audience"))
        env = assume_role_with_web_identity(
            role_arn, sign(claims), region,
            session_name=inputs.get("role-session-name") or SESSION_NAME,
            duration=int(inputs.get("role-duration-seconds") or 3600),
        )
        if a.format == "json":
            print(json.dumps(env, indent=2))
        else:
            for k, v in env.items():
                print(f"export {k}={v}" if a.format == "export" else f"{k}={v}")
        return 0
    except OidcError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
