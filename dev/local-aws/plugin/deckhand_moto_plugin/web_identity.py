"""STS AssumeRoleWithWebIdentity and AssumeRole as AWS checks them (moto 5.2.5 checks nothing), and
``AWS::IAM::OIDCProvider`` in CloudFormation (moto drops it, leaving the trust policy's Federated
principal empty).

AssumeRoleWithWebIdentity: the token must be a JWT whose ``iss`` has an OIDC provider in the account
(``InvalidIdentityToken: No OpenIDConnect provider found in your account for <iss>``), whose ``aud``
is one of the provider's client ids (``Incorrect token audience``), signed (RS256) by a key of the
issuer's JWKS, and not expired (``ExpiredTokenException: Token expired: …``). Issuers are not
reachable from here: every issuer's JWKS is the local issuer's, ``$DECKHAND_OIDC_DIR/jwks.json``
(default ``~/.cache/deckhand/oidc``, written by dev/oidc). Then the role's trust policy is evaluated
for ``sts:AssumeRoleWithWebIdentity`` with principal ``{"Federated": <provider ARN>}`` and the
condition keys AWS sets for web identity: ``<provider>:aud``, ``:sub``, ``:azp``, ``:amr``, ``:oaud``
(AWS offers no key for other claims — GitHub's ``repository``, ``environment``,
``job_workflow_ref`` … reach a trust policy only through ``sub``), and ``aws:FederatedProvider``.
A refusal is ``AccessDenied: Not authorized to perform sts:AssumeRoleWithWebIdentity``.

``AWS::IAM::Role`` updates (UpdateStack, e.g. a new ``GitHubRepository`` parameter) apply the new
trust policy, description and session duration: moto 5.2.5 keeps the old trust policy and sets
the session duration from ``RoleDescription``, so a trust that CloudFormation changed stayed the
old one locally.
"""

from __future__ import annotations

import base64
import json
import os
import time
from pathlib import Path
from typing import Any, Optional
from urllib.parse import parse_qs

from . import iam_policy

ACCOUNT = "123456789012"
CLOCK_SKEW = 300


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def jwks_path() -> Path:
    d = os.environ.get("DECKHAND_OIDC_DIR") or str(Path.home() / ".cache" / "deckhand" / "oidc")
    return Path(d) / "jwks.json"


class Refused(Exception):
    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def _verify_signature(header: dict[str, Any], signing_input: bytes, signature: bytes) -> None:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    try:
        keys = json.loads(jwks_path().read_text())["keys"]
    except (OSError, ValueError, KeyError):
        raise Refused("InvalidIdentityToken", "Couldn't retrieve verification key from your identity provider,  "
                      "please reference AssumeRoleWithWebIdentity documentation for requirements")
    if header.get("alg") != "RS256":
        raise Refused("InvalidIdentityToken", f"The token's signing algorithm {header.get('alg')!r} is not supported")
    for k in keys:
        if header.get("kid") and k.get("kid") != header.get("kid"):
            continue
        pub = rsa.RSAPublicNumbers(int.from_bytes(_unb64(k["e"]), "big"), int.from_bytes(_unb64(k["n"]), "big"))
        try:
            pub.public_key().verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())
            return
        except InvalidSignature:
            continue
    raise Refused("InvalidIdentityToken", "The web identity token that was passed could not be validated by AWS. "
                  "Get a new identity token from the identity provider and then retry the request.")


def _account_of(arn: str) -> str:
    """The account of an IAM ARN (arn:aws:iam::ACCOUNT:…), else the default account."""
    parts = arn.split(":")
    return parts[4] if len(parts) > 5 and parts[4].isdigit() else ACCOUNT


def verify_token(token: str, account: str = ACCOUNT) -> tuple[dict[str, Any], Any]:
    """The claims and OIDC provider (the role's `account`'s: a provider is an account's resource)
    of a valid token; Refused otherwise."""
    from moto.iam.models import iam_backends

    parts = token.split(".")
    if len(parts) != 3:
        raise Refused("InvalidIdentityToken", "The ID Token provided is not a valid JWT. (You may see this error if you sent an Access Token)")
    try:
        header, claims = json.loads(_unb64(parts[0])), json.loads(_unb64(parts[1]))
        signature = _unb64(parts[2])
    except (ValueError, UnicodeDecodeError):
        raise Refused("InvalidIdentityToken", "The ID Token provided is not a valid JWT. (You may see this error if you sent an Access Token)")
    iss = str(claims.get("iss", ""))
    host = iss.split("://", 1)[-1].rstrip("/")
    provider = iam_backends[account]["aws"].open_id_providers.get(f"arn:aws:iam::{account}:oidc-provider/{host}")
    if provider is None or not iss.startswith("https://"):
        raise Refused("InvalidIdentityToken", f"No OpenIDConnect provider found in your account for {iss}")
    auds = claims.get("aud")
    auds = auds if isinstance(auds, list) else [auds]
    if not any(a in provider.client_id_list for a in auds):
        raise Refused("InvalidIdentityToken", "Incorrect token audience")
    _verify_signature(header, f"{parts[0]}.{parts[1]}".encode(), signature)
    now = int(time.time())
    exp = claims.get("exp")
    if not isinstance(exp, (int, float)):
        raise Refused("InvalidIdentityToken", "The token has no expiration (exp) claim")
    if exp < now:
        raise Refused("ExpiredTokenException", f"Token expired: current date/time {now} must be before the expiration date/time {int(exp)}")
    if isinstance(claims.get("nbf"), (int, float)) and claims["nbf"] > now + CLOCK_SKEW:
        raise Refused("InvalidIdentityToken", "The token is not yet valid (nbf)")
    return claims, provider


def _trust_denied() -> Refused:
    return Refused("AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity", 403)


def _role(role_arn: str) -> Optional[Any]:
    from moto.iam.models import iam_backends

    try:
        return iam_backends[_account_of(role_arn)]["aws"].get_role_by_arn(role_arn)
    except Exception:
        return None


def check(environ: dict[str, Any], body: bytes, entry: Optional[dict[str, Any]]) -> Any:
    """AssumeRoleWithWebIdentity: None to let moto issue the session, else the error response."""
    from .iam_enforce import error_response

    form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
    form.update({k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()})
    try:
        claims, provider = verify_token(form.get("WebIdentityToken", ""), _account_of(form.get("RoleArn", "")))
        role = _role(form.get("RoleArn", ""))
        if role is None:
            raise _trust_denied()
        host = provider.url
        auds = claims.get("aud") if isinstance(claims.get("aud"), list) else [claims.get("aud")]
        ctx: dict[str, Any] = {
            f"{host}:aud": [str(a) for a in auds],
            f"{host}:sub": str(claims.get("sub", "")),
            "aws:FederatedProvider": provider.arn,
        }
        for k in ("azp", "amr", "oaud"):
            if k in claims:
                ctx[f"{host}:{k}"] = claims[k]
        if entry is not None:
            entry["principal"] = f"{provider.arn} sub={claims.get('sub')}"
        decision = iam_policy.evaluate([("trust policy", role.assume_role_policy_document)],
                                       "sts:AssumeRoleWithWebIdentity", None, ctx, {"Federated": [provider.arn]})
        if decision.effect != "Allow":
            raise _trust_denied()
        duration = int(form.get("DurationSeconds") or 3600)
        if duration > int(getattr(role, "max_session_duration", 3600) or 3600):
            raise Refused("ValidationError", f"The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
    except Refused as r:
        return error_response("sts", "POST", r.code, r.message, r.status)
    return None


def check_assume_role(caller: Any, req: Any, entry: Optional[dict[str, Any]]) -> Any:
    """AssumeRole by an IAM principal: the target role's trust policy must name it (or its account)."""
    from .iam_enforce import error_response

    role_arn = req.form().get("RoleArn", "")
    role = _role(role_arn)
    ok = False
    if role is not None:
        caller_ids = {"AWS": caller.principal_ids["AWS"] + [f"arn:aws:iam::{caller.account}:root"]}
        d = iam_policy.evaluate([("trust policy", role.assume_role_policy_document)], "sts:AssumeRole", None,
                                {"aws:PrincipalArn": caller.principal_ids["AWS"][-1]}, caller_ids)
        ok = d.effect == "Allow"
    if ok:
        return None
    return error_response("sts", "POST", "AccessDenied",
                          f"User: {caller.arn} is not authorized to perform: sts:AssumeRole on resource: {role_arn}", 403)


def _install_role_update() -> None:
    from moto.iam.models import Role, _serialize_version_datetime, iam_backends
    from moto.utilities.utils import get_partition

    def update(cls: Any, original_resource: Any, new_resource_name: str, cloudformation_json: Any, account_id: str,
               region_name: str) -> Any:
        # UpdateRole + UpdateAssumeRolePolicy, as CloudFormation applies a changed role in place
        # (AWS::IAM::Role: AssumeRolePolicyDocument, Description and MaxSessionDuration are
        # "Update requires: No interruption").
        props = cloudformation_json["Properties"]
        backend = iam_backends[account_id][get_partition(region_name)]
        name = props.get("RoleName", original_resource.name)
        role = backend.update_role(name, props.get("Description", ""), props.get("MaxSessionDuration", 3600))
        trust = props.get("AssumeRolePolicyDocument")
        if trust is not None:
            backend.update_assume_role_policy(
                name, trust if isinstance(trust, str) else json.dumps(trust, default=_serialize_version_datetime))
        return role

    Role.update_from_cloudformation_json = classmethod(update)  # type: ignore[assignment]


def install() -> None:
    """AWS::IAM::OIDCProvider: Ref = the provider ARN (moto has no CloudFormation type for it);
    AWS::IAM::Role updates that apply the new trust policy."""
    _install_role_update()
    from moto.cloudformation import parsing
    from moto.core.common_models import CloudFormationModel
    from moto.iam.models import iam_backends

    class OidcProviderCfn(CloudFormationModel):
        def __init__(self, arn: str):
            self.arn = arn

        @staticmethod
        def cloudformation_name_type() -> str:
            return ""

        @staticmethod
        def cloudformation_type() -> str:
            return "AWS::IAM::OIDCProvider"

        @property
        def physical_resource_id(self) -> str:
            return self.arn

        @classmethod
        def has_cfn_attr(cls, attr: str) -> bool:
            return attr == "Arn"

        def get_cfn_attribute(self, attr: str) -> Any:
            if attr == "Arn":
                return self.arn
            raise NotImplementedError(attr)

        @classmethod
        def create_from_cloudformation_json(cls, resource_name: str, cloudformation_json: Any, account_id: str,
                                            region_name: str, **kwargs: Any) -> "OidcProviderCfn":
            p = cloudformation_json.get("Properties", {})
            backend = iam_backends[account_id]["aws"]
            provider = backend.create_open_id_connect_provider(
                p["Url"], p.get("ThumbprintList") or [], p.get("ClientIdList") or [], p.get("Tags") or [])
            return cls(provider.arn)

        @classmethod
        def delete_from_cloudformation_json(cls, resource_name: str, cloudformation_json: Any, account_id: str,
                                            region_name: str) -> None:
            iam_backends[account_id]["aws"].delete_open_id_connect_provider(resource_name)

    for fn in (parsing.get_model_list, parsing.get_model_map, parsing.get_name_type_map):
        fn.cache_clear()
