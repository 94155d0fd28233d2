"""Bridge moto's ECR API to the local OCI registry (127.0.0.1:5001).

moto answers the ECR API but serves no registry; images are pushed to the local registry
instead (deckhand's ``registry-override``). Before ListImages / DescribeImages /
BatchGetImage / BatchDeleteImage on a repository that exists in moto, the registry's tags
for the same repository name are read and mirrored into moto's repository with the
registry's real manifest bytes and ``Docker-Content-Digest``. A tag that moved in the
registry moves in ECR too, leaving the old image untagged, like a push to ECR does.
"""

from __future__ import annotations

import json
import logging
import os
import re
import urllib.error
import urllib.request
from typing import Any, Optional

from moto.ecr.models import ECRBackend, Image, ecr_backends

log = logging.getLogger("deckhand.ecr_bridge")

MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    ]
)

_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def registry() -> str:
    return os.environ.get("DECKHAND_REGISTRY", "127.0.0.1:5001")


def _request(method: str, path: str, accept: Optional[str] = None) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(f"http://{registry()}{path}", method=method)
    if accept:
        req.add_header("Accept", accept)
    try:
        with _opener.open(req, timeout=3) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def registry_tags(repo: str) -> dict[str, tuple[str, str, str]]:
    """tag -> (digest, manifest text, media type) for every tag of `repo` in the registry."""
    try:
        status, _, body = _request("GET", f"/v2/{repo}/tags/list?n=10000")
    except OSError as e:
        log.warning("registry %s unreachable: %s", registry(), e)
        return {}
    if status != 200:
        return {}
    out: dict[str, tuple[str, str, str]] = {}
    for tag in json.loads(body).get("tags") or []:
        status, headers, manifest = _request("GET", f"/v2/{repo}/manifests/{tag}", MANIFEST_TYPES)
        if status != 200 or "docker-content-digest" not in headers:
            continue
        media_type = headers.get("content-type", "").split(";")[0]
        out[tag] = (headers["docker-content-digest"], manifest.decode("utf-8"), media_type)
    return out


def image_size(manifest: str) -> Optional[int]:
    """Sum of the layer sizes (what ECR reports as imageSizeInBytes)."""
    try:
        doc = json.loads(manifest)
    except json.JSONDecodeError:
        return None
    if "layers" not in doc:
        return None
    return sum(int(layer.get("size", 0)) for layer in doc["layers"]) + int((doc.get("config") or {}).get("size", 0))


def sync_repository(backend: ECRBackend, repository_name: str) -> None:
    repository = backend.repositories.get(repository_name)
    if repository is None:
        return
    tags = registry_tags(repository_name)
    by_digest = {img.get_image_digest(): img for img in repository.images}
    for tag, (digest, manifest, media_type) in sorted(tags.items()):
        image = by_digest.get(digest)
        # a tag names one image: take it off any other image first
        for other in repository.images:
            if other is not image and tag in other.image_tags:
                other.remove_tag(tag)
                if not other.image_tags:
                    other.image_tag = None
        if image is None:
            image = Image(
                backend.account_id,
                tag,
                manifest,
                repository_name,
                image_manifest_mediatype=media_type,
                digest=digest,
                registry_id=repository.registry_id,
            )
            image._deckhand_registry = True  # type: ignore[attr-defined]
            image._deckhand_size = image_size(manifest)  # type: ignore[attr-defined]
            repository.images.append(image)
            by_digest[digest] = image
        elif tag not in image.image_tags:
            image.update_tag(tag)


def wildcard_matches(pattern: str, tag: str) -> bool:
    """An ImageTagMutabilityExclusionFilter of filterType WILDCARD: `*` stands for any run of
    characters, everything else is literal, and the filter names the whole tag (ECR API Reference,
    ImageTagMutabilityExclusionFilter: filter `^[0-9a-zA-Z._*-]{1,128}$`; ECR User Guide, "Preventing
    image tags from being overwritten": enter tag names or "use a wildcard (*) to match multiple
    similar tags"). moto's own PutImage takes the filter for a regular expression (re.match)."""
    return re.fullmatch(".*".join(re.escape(p) for p in pattern.split("*")), tag) is not None


def tag_immutable(mutability: str, filters: list[dict[str, str]] | None, tag: str) -> bool:
    """Whether ECR refuses to move `tag` in a repository with this mutability (ECR User Guide,
    "Preventing image tags from being overwritten"): IMMUTABLE every tag; IMMUTABLE_WITH_EXCLUSION
    every tag no exclusion filter matches; MUTABLE_WITH_EXCLUSION only the tags a filter matches;
    MUTABLE none."""
    matched = any(
        f.get("filterType", "WILDCARD") == "WILDCARD" and wildcard_matches(f.get("filter", ""), tag)
        for f in filters or []
    )
    if mutability == "IMMUTABLE":
        return True
    if mutability == "IMMUTABLE_WITH_EXCLUSION":
        return not matched
    if mutability == "MUTABLE_WITH_EXCLUSION":
        return matched
    return False


def tag_immutability(repository_name: str, tag: str, registry_addr: str) -> dict[str, Any]:
    """For the registry front (dev/local-aws/registry_front.py): would ECR refuse to move `tag` of
    `repository_name` in any account and region of this moto? LookupError: no such repository;
    PermissionError: this moto bridges another registry than `registry_addr`."""
    if registry_addr and registry_addr != registry():
        raise PermissionError(f"this moto bridges the registry {registry()}, not {registry_addr}")
    found = []
    for account_id, regions in ecr_backends.items():
        for region, backend in regions.items():
            repo = backend.repositories.get(repository_name)
            if repo is None:
                continue
            filters = repo.image_tag_mutability_exclusion_filters
            found.append({
                "account": account_id,
                "region": region,
                "mutability": str(getattr(repo.image_tag_mutability, "value", repo.image_tag_mutability)),
                "immutable": tag_immutable(
                    str(getattr(repo.image_tag_mutability, "value", repo.image_tag_mutability)), filters, tag
                ),
            })
    if not found:
        raise LookupError(f"no ECR repository {repository_name} in this moto")
    return {"immutable": any(f["immutable"] for f in found), "repositories": found}


_orig_list_images = ECRBackend.list_images
_orig_describe_images = ECRBackend.describe_images
_orig_batch_get_image = ECRBackend.batch_get_image
_orig_batch_delete_image = ECRBackend.batch_delete_image
_orig_size = Image.get_image_size_in_bytes


def list_images(self: ECRBackend, repository_name: str, *args: Any, **kwargs: Any) -> Any:
    sync_repository(self, repository_name)
    return _orig_list_images(self, repository_name, *args, **kwargs)


def describe_images(self: ECRBackend, repository_name: str, *args: Any, **kwargs: Any) -> Any:
    sync_repository(self, repository_name)
    return _orig_describe_images(self, repository_name, *args, **kwargs)


def batch_get_image(self: ECRBackend, repository_name: str, *args: Any, **kwargs: Any) -> Any:
    sync_repository(self, repository_name)
    return _orig_batch_get_image(self, repository_name, *args, **kwargs)


def batch_delete_image(self: ECRBackend, repository_name: str, registry_id: Any = None, image_ids: Any = None) -> Any:
    sync_repository(self, repository_name)
    repository = self.repositories.get(repository_name)
    before = {img.get_image_digest(): img for img in repository.images} if repository else {}
    result = _orig_batch_delete_image(self, repository_name, registry_id, image_ids)
    after = {img.get_image_digest() for img in repository.images} if repository else set()
    for digest, img in before.items():
        if getattr(img, "_deckhand_registry", False) and digest not in after:
            try:
                _request("DELETE", f"/v2/{repository_name}/manifests/{digest}")
            except OSError as e:
                log.warning("registry delete of %s@%s failed: %s", repository_name, digest, e)
    return result


def get_image_size_in_bytes(self: Image) -> Optional[int]:
    size = getattr(self, "_deckhand_size", None)
    return size if size is not None else _orig_size(self)


def install() -> None:
    ECRBackend.list_images = list_images  # type: ignore[method-assign]
    ECRBackend.describe_images = describe_images  # type: ignore[method-assign]
    ECRBackend.batch_get_image = batch_get_image  # type: ignore[method-assign]
    ECRBackend.batch_delete_image = batch_delete_image  # type: ignore[method-assign]
    Image.get_image_size_in_bytes = get_image_size_in_bytes  # type: ignore[method-assign]
