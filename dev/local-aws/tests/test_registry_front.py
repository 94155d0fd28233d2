"""The registry front (registry_front.py): ECR's refusal of an immutable tag moved, and everything
else passed through unchanged (uploads in one piece, streamed or in chunks, HEAD, Range, Location)."""

from __future__ import annotations

import hashlib
import http.client as httpc
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from conftest import http, unique
from test_ecr_bridge import buildah, push_tiny_image, registry_manifest

from deckhand_moto_plugin.ecr_bridge import tag_immutable, wildcard_matches

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def request(registry: str, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    host, port = registry.rsplit(":", 1)
    conn = httpc.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.request(method, path, body=body if body or method in ("PUT", "POST", "PATCH") else None, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def upload_blob(registry: str, repo: str, data: bytes) -> str:
    status, headers, _ = request(registry, "POST", f"/v2/{repo}/blobs/uploads/")
    assert status == 202, status
    location = headers["location"]
    sep = "&" if "?" in location else "?"
    status, _, body = request(registry, "PUT", f"{location}{sep}digest={digest_of(data)}", data,
                              {"Content-Type": "application/octet-stream"})
    assert status == 201, body
    return digest_of(data)


def put_manifest(registry: str, repo: str, tag: str, content: str) -> tuple[int, bytes, str]:
    """An image whose single layer is `content`; (status, answer body, manifest digest)."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    layer = content.encode()
    manifest = json.dumps({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": upload_blob(registry, repo, config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": upload_blob(registry, repo, layer), "size": len(layer)}],
    }).encode()
    status, _, body = request(registry, "PUT", f"/v2/{repo}/manifests/{tag}", manifest, {"Content-Type": OCI_MANIFEST})
    return status, body, digest_of(manifest)


def tag_digest(registry: str, repo: str, tag: str) -> str | None:
    status, headers, _ = request(registry, "HEAD", f"/v2/{repo}/manifests/{tag}", headers={"Accept": OCI_MANIFEST})
    return headers.get("docker-content-digest") if status == 200 else None


def test_exclusion_filters_are_wildcards_over_the_whole_tag() -> None:
    assert wildcard_matches("dev-*", "dev-1") and wildcard_matches("dev-*", "dev-")
    assert not wildcard_matches("dev-*", "devx") and not wildcard_matches("dev-*", "a-dev-1")
    assert wildcard_matches("*-rc", "v1.2-rc") and not wildcard_matches("*-rc", "v1.2-rc1")
    assert wildcard_matches("v1.2", "v1.2") and not wildcard_matches("v1.2", "v1x2")
    dev = [{"filterType": "WILDCARD", "filter": "dev-*"}]
    assert tag_immutable("IMMUTABLE", None, "latest")
    assert not tag_immutable("MUTABLE", None, "latest")
    assert tag_immutable("IMMUTABLE_WITH_EXCLUSION", dev, "v1") and not tag_immutable("IMMUTABLE_WITH_EXCLUSION", dev, "dev-7")
    assert tag_immutable("MUTABLE_WITH_EXCLUSION", dev, "dev-7") and not tag_immutable("MUTABLE_WITH_EXCLUSION", dev, "latest")


@pytest.mark.parametrize(
    ("mutability", "filters", "moves", "stays"),
    [
        ("IMMUTABLE", None, [], ["v1", "dev-1"]),
        ("IMMUTABLE_WITH_EXCLUSION", "dev-*", ["dev-1"], ["v1"]),
        ("MUTABLE_WITH_EXCLUSION", "release-*", ["latest"], ["release-1"]),
        ("MUTABLE", None, ["v1", "latest"], []),
    ],
)
def test_a_tag_moves_only_where_ecr_lets_it(aws, stack_env: dict[str, str], mutability: str, filters: str | None,
                                            moves: list[str], stays: list[str]) -> None:
    registry = stack_env["DECKHAND_REGISTRY"]
    repo = unique("deckhand-test/front")
    args = ["ecr", "create-repository", "--repository-name", repo, "--image-tag-mutability", mutability]
    if filters:
        args += ["--image-tag-mutability-exclusion-filters", f"filterType=WILDCARD,filter={filters}"]
    aws(*args)
    for tag in moves + stays:
        status, body, first = put_manifest(registry, repo, tag, f"one {repo} {tag}")
        assert status == 201, body
        refused = {"errors": [{
            "code": "TAG_INVALID",
            "message": f"The image tag '{tag}' already exists in the '{repo}' repository and cannot be "
            "overwritten because the tag is immutable.",
        }]}
        # The same manifest again: ECR refuses it too where the tag is immutable (moby/buildkit#3776).
        status, body, _ = put_manifest(registry, repo, tag, f"one {repo} {tag}")
        if tag in moves:
            assert status == 201, body
        else:
            assert (status, json.loads(body)) == (400, refused)
        status, body, second = put_manifest(registry, repo, tag, f"two {repo} {tag}")
        if tag in moves:
            assert status == 201, body
            assert tag_digest(registry, repo, tag) == second
        else:
            assert (status, json.loads(body)) == (400, refused)
            assert tag_digest(registry, repo, tag) == first
            (img,) = aws("ecr", "describe-images", "--repository-name", repo, "--image-ids", f"imageTag={tag}")["imageDetails"]
            assert img["imageDigest"] == first


def test_a_repository_moto_does_not_hold_and_a_registry_no_moto_bridges_move_freely(stack_env: dict[str, str]) -> None:
    registry = stack_env["DECKHAND_REGISTRY"]
    repo = unique("deckhand-test/unknown")
    put_manifest(registry, repo, "v1", "one")
    status, _, second = put_manifest(registry, repo, "v1", "two")
    assert status == 201 and tag_digest(registry, repo, "v1") == second
    sim = stack_env["DECKHAND_SIM_URL"]
    assert http("GET", f"{sim}/ecr/tag-immutable/{repo}?tag=v1&registry={registry}")[0] == 404
    assert http("GET", f"{sim}/ecr/tag-immutable/{repo}?tag=v1&registry=127.0.0.1:1")[0] == 409


def test_buildah_push_onto_an_immutable_tag_fails_as_on_ecr(aws, stack_env: dict[str, str], tmp_path: Path) -> None:
    registry = stack_env["DECKHAND_REGISTRY"]
    repo = unique("deckhand-test/immutable")
    aws("ecr", "create-repository", "--repository-name", repo, "--image-tag-mutability", "IMMUTABLE")
    push_tiny_image(tmp_path, registry, repo, "v1", f"one {repo}")
    first, _ = registry_manifest(registry, repo, "v1")
    (tmp_path / "hello.txt").write_text(f"two {repo}")
    local = f"localhost/{repo}:two"
    buildah("bud", "--quiet", "-f", str(tmp_path / "Containerfile"), "-t", local, str(tmp_path))
    try:
        with pytest.raises(subprocess.CalledProcessError) as err:
            buildah("push", "--quiet", "--retry=0", "--tls-verify=false", local, f"docker://{registry}/{repo}:v1")
        assert "tag invalid" in err.value.stderr, err.value.stderr
        assert registry_manifest(registry, repo, "v1")[0] == first
        # Another tag of the same repository is a new tag: pushed as usual.
        buildah("push", "--quiet", "--retry=0", "--tls-verify=false", local, f"docker://{registry}/{repo}:v2")
        assert registry_manifest(registry, repo, "v2")[0] != first
    finally:
        buildah("rmi", local)


def front_log(registry: str, since: int) -> list[dict[str, Any]]:
    status, body = http("GET", f"http://{registry}/_deckhand/requests?since={since}")
    assert status == 200
    return body


def test_uploads_range_and_location_pass_through_unchanged(stack_env: dict[str, str]) -> None:
    registry = stack_env["DECKHAND_REGISTRY"]
    repo = unique("deckhand-test/pass")
    since = (front_log(registry, 0) or [{"seq": 0}])[-1]["seq"]
    data = os.urandom(3 << 20) + b"tail"
    # In chunks (OCI distribution spec, "Pushing a blob in chunks": PATCH with Content-Range, then
    # PUT ?digest= with the last or no bytes).
    status, headers, _ = request(registry, "POST", f"/v2/{repo}/blobs/uploads/")
    assert status == 202 and headers["location"].startswith(f"http://{registry}/v2/{repo}/blobs/uploads/")
    location, offset = headers["location"], 0
    for chunk in (data[: 1 << 20], data[1 << 20 : 3 << 20]):
        status, headers, body = request(registry, "PATCH", location, chunk, {
            "Content-Type": "application/octet-stream",
            "Content-Range": f"{offset}-{offset + len(chunk) - 1}",
        })
        assert status == 202, body
        offset += len(chunk)
        assert headers["range"] == f"0-{offset - 1}"
        location = headers["location"]
    sep = "&" if "?" in location else "?"
    status, headers, body = request(registry, "PUT", f"{location}{sep}digest={digest_of(data)}", data[offset:],
                                    {"Content-Type": "application/octet-stream"})
    assert status == 201, body
    assert headers["docker-content-digest"] == digest_of(data)
    # Streamed (what docker and buildah do): one PATCH, chunked transfer encoding, no Content-Range.
    other = os.urandom(1 << 20)
    status, headers, _ = request(registry, "POST", f"/v2/{repo}/blobs/uploads/")
    host, port = registry.rsplit(":", 1)
    conn = httpc.HTTPConnection(host, int(port), timeout=30)
    conn.request("PATCH", headers["location"], body=iter([other[:4096], other[4096:]]),
                 headers={"Content-Type": "application/octet-stream"}, encode_chunked=True)
    resp = conn.getresponse()
    resp.read()
    assert resp.status == 202
    location = resp.getheader("Location")
    conn.close()
    status, _, body = request(registry, "PUT", f"{location}&digest={digest_of(other)}" if "?" in location else f"{location}?digest={digest_of(other)}")
    assert status == 201, body
    # HEAD, GET and Range of a blob.
    status, headers, _ = request(registry, "HEAD", f"/v2/{repo}/blobs/{digest_of(data)}")
    assert status == 200 and int(headers["content-length"]) == len(data)
    status, _, body = request(registry, "GET", f"/v2/{repo}/blobs/{digest_of(data)}")
    assert status == 200 and body == data
    status, headers, body = request(registry, "GET", f"/v2/{repo}/blobs/{digest_of(data)}", headers={"Range": "bytes=10-19"})
    assert status == 206 and body == data[10:20] and headers["content-range"].startswith("bytes 10-19/")
    log = [e for e in front_log(registry, since) if e["path"].startswith(f"/v2/{repo}/")]
    patches = [e for e in log if e["method"] == "PATCH"]
    assert [e["content-range"] for e in patches] == ["0-1048575", "1048576-3145727", None]
    assert patches[-1]["transfer-encoding"] == "chunked" and patches[-1]["body"] > len(other)
    assert [e["status"] for e in log] == [202, 202, 202, 201, 202, 202, 201, 200, 200, 206]
