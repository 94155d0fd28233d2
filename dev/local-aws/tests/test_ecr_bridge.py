"""ECR API answered by moto, images served by the local registry (pushed with buildah)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.request
from pathlib import Path
from typing import Any, Callable

import pytest

from conftest import unique

ACCEPT = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json"
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def buildah(*args: str) -> str:
    env = dict(os.environ, STORAGE_DRIVER="vfs", BUILDAH_ISOLATION="chroot")
    out = subprocess.run(["buildah", *args], check=True, capture_output=True, text=True, env=env, timeout=300)
    return out.stdout.strip()


def push_tiny_image(tmp_path: Path, registry: str, repo: str, tag: str, content: str, *more_tags: str) -> None:
    (tmp_path / "hello.txt").write_text(content)
    (tmp_path / "Containerfile").write_text("FROM scratch\nCOPY hello.txt /hello.txt\n")
    local = f"localhost/{repo}:{tag}"
    buildah("bud", "--quiet", "-f", str(tmp_path / "Containerfile"), "-t", local, str(tmp_path))
    try:
        for t in (tag, *more_tags):
            buildah("push", "--quiet", "--tls-verify=false", local, f"docker://{registry}/{repo}:{t}")
    finally:
        buildah("rmi", local)


def registry_manifest(registry: str, repo: str, tag: str) -> tuple[str, bytes]:
    req = urllib.request.Request(f"http://{registry}/v2/{repo}/manifests/{tag}", headers={"Accept": ACCEPT})
    with _opener.open(req, timeout=10) as resp:
        return resp.headers["Docker-Content-Digest"], resp.read()


@pytest.fixture(scope="module")
def pushed(aws: Callable[..., Any], stack_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    if shutil.which("buildah") is None:
        pytest.fail("buildah is not installed (dev/local-aws/up installs it)")
    registry = stack_env["DECKHAND_REGISTRY"]
    repo = unique("deckhand-test/api")
    aws("ecr", "create-repository", "--repository-name", repo)
    push_tiny_image(tmp_path_factory.mktemp("img1"), registry, repo, "v1", f"one {repo}")
    digest1, manifest1 = registry_manifest(registry, repo, "v1")
    return {"registry": registry, "repo": repo, "digest1": digest1, "manifest1": manifest1}


def test_describe_images_finds_pushed_tag_with_registry_digest(aws, pushed: dict[str, Any]) -> None:
    details = aws("ecr", "describe-images", "--repository-name", pushed["repo"])["imageDetails"]
    (img,) = details
    assert img["imageTags"] == ["v1"]
    assert img["imageDigest"] == pushed["digest1"]
    manifest = json.loads(pushed["manifest1"])
    assert img["imageSizeInBytes"] == sum(layer["size"] for layer in manifest["layers"]) + manifest["config"]["size"]
    assert img["imageManifestMediaType"] == manifest.get("mediaType", "application/vnd.oci.image.manifest.v1+json")
    by_tag = aws("ecr", "describe-images", "--repository-name", pushed["repo"], "--image-ids", "imageTag=v1")
    assert by_tag["imageDetails"][0]["imageDigest"] == pushed["digest1"]


def test_missing_tag_is_image_not_found(aws, pushed: dict[str, Any]) -> None:
    from conftest import AwsCliError

    with pytest.raises(AwsCliError) as err:
        aws("ecr", "describe-images", "--repository-name", pushed["repo"], "--image-ids", "imageTag=src-missing")
    assert "ImageNotFoundException" in err.value.stderr


def test_list_images_and_batch_get_image_return_registry_manifest(aws, pushed: dict[str, Any]) -> None:
    ids = aws("ecr", "list-images", "--repository-name", pushed["repo"])["imageIds"]
    assert ids == [{"imageDigest": pushed["digest1"], "imageTag": "v1"}]
    got = aws("ecr", "batch-get-image", "--repository-name", pushed["repo"], "--image-ids", "imageTag=v1")
    (image,) = got["images"]
    assert image["imageId"] == {"imageDigest": pushed["digest1"], "imageTag": "v1"}
    assert image["imageManifest"].encode() == pushed["manifest1"]


def test_moving_a_tag_leaves_the_old_image_untagged(aws, pushed: dict[str, Any], tmp_path: Path) -> None:
    registry, repo = pushed["registry"], pushed["repo"]
    push_tiny_image(tmp_path, registry, repo, "latest", f"two {repo}", "v1")  # v1 now names the new image
    digest2, _ = registry_manifest(registry, repo, "v1")
    assert digest2 != pushed["digest1"]
    details = {d["imageDigest"]: sorted(d.get("imageTags", [])) for d in
               aws("ecr", "describe-images", "--repository-name", repo)["imageDetails"]}
    assert details == {pushed["digest1"]: [], digest2: ["latest", "v1"]}
    untagged = aws("ecr", "list-images", "--repository-name", repo, "--filter", "tagStatus=UNTAGGED")["imageIds"]
    assert untagged == [{"imageDigest": pushed["digest1"]}]


def test_authorization_token_points_at_the_real_ecr_host(aws) -> None:
    data = aws("ecr", "get-authorization-token")["authorizationData"][0]
    assert data["proxyEndpoint"] == "https://123456789012.dkr.ecr.us-east-1.amazonaws.com"
    assert data["authorizationToken"]


def test_repository_unknown_to_moto_is_not_bridged(aws, stack_env, tmp_path: Path) -> None:
    from conftest import AwsCliError

    repo = unique("not-in-ecr")
    push_tiny_image(tmp_path, stack_env["DECKHAND_REGISTRY"], repo, "v1", repo)
    with pytest.raises(AwsCliError) as err:
        aws("ecr", "describe-images", "--repository-name", repo)
    assert "RepositoryNotFoundException" in err.value.stderr
