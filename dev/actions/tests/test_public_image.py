"""dev/action-image/public: release.yml's check that the action image can be pulled with no
credentials, as the runner pulls `docker://` action images (actions/runner ActionManager.cs
PullActionContainerAsync: no registry login), against a registry stand-in that answers as GHCR does
(the anonymous token flow of "Docker Registry v2 authentication": 401 + a Bearer challenge, a token
for repository:NAME:pull, then the manifest; a private package refuses it)."""

import json
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[3]
PUBLIC = ROOT / "dev" / "action-image" / "public"
DIGEST = "sha256:" + "ab" * 32
NAME = "octo-org/deckhand"


def registry(mode: str):
    """A registry stand-in: `open` (no auth), `public` (anonymous tokens pull), `private-token`
    (the token endpoint refuses anonymous clients), `private-denied` (a token, but the manifest is
    denied, as GHCR answers for a private package)."""
    seen: list[str] = []

    class H(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def send(self, code: int, body: dict, headers: dict | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            seen.append(self.path)
            host = f"http://127.0.0.1:{self.server.server_address[1]}"
            if self.path.startswith("/token"):
                if mode == "private-token":
                    return self.send(401, {"errors": [{"code": "UNAUTHORIZED"}]})
                query = parse_qs(urlsplit(self.path).query)
                assert query.get("scope") == [f"repository:{NAME}:pull"] and query.get("service") == ["ghcr.io"], self.path
                return self.send(200, {"token": "anon-token"})
            if self.path == f"/v2/{NAME}/manifests/{DIGEST}":
                auth = self.headers.get("Authorization")
                if mode == "open" or (auth == "Bearer anon-token" and mode == "public"):
                    return self.send(200, {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": []})
                if auth and mode == "private-denied":
                    return self.send(403, {"errors": [{"code": "DENIED", "message": "requested access to the resource is denied"}]})
                return self.send(401, {"errors": [{"code": "UNAUTHORIZED"}]},
                                 {"WWW-Authenticate": f'Bearer realm="{host}/token",service="ghcr.io",scope="repository:{NAME}:pull"'})
            return self.send(404, {"errors": [{"code": "NAME_UNKNOWN"}]})

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, seen


def check(mode: str) -> tuple[subprocess.CompletedProcess, list[str]]:
    srv, seen = registry(mode)
    try:
        r = subprocess.run([str(PUBLIC), "--registry-url", f"http://127.0.0.1:{srv.server_address[1]}", f"ghcr.io/{NAME}@{DIGEST}"],
                           capture_output=True, text=True, timeout=60)
    finally:
        srv.shutdown()
    return r, seen


@pytest.mark.parametrize("mode", ["open", "public"])
def test_a_package_anyone_can_pull_passes(mode):
    r, seen = check(mode)
    assert r.returncode == 0, r.stderr
    assert "pulled anonymously (public)" in r.stdout
    assert seen[0] == f"/v2/{NAME}/manifests/{DIGEST}"


@pytest.mark.parametrize("mode", ["private-token", "private-denied"])
def test_a_private_package_fails_the_release_saying_how_to_publish_it(mode):
    r, seen = check(mode)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "the package is not public" in r.stderr and "the runner pulls action images without credentials" in r.stderr
    assert "Change visibility -> Public" in r.stderr
    assert any(p.startswith("/token") for p in seen), seen


def test_only_a_digest_reference_is_checked():
    for bad in ("ghcr.io/octo-org/deckhand:v1", "ghcr.io/octo-org/deckhand", f"octo-org/deckhand@{DIGEST}"):
        r = subprocess.run([str(PUBLIC), bad], capture_output=True, text=True)
        assert r.returncode == 2 and "is not REGISTRY/NAME@sha256" in r.stderr, (bad, r.stderr)
