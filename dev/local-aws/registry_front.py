"""A front for the local registry that answers as ECR's registry where CNCF distribution is laxer.

`dev/local-aws/up` runs this on the registry port (127.0.0.1:5001, or DECKHAND_REGISTRY_PORT); it
starts Debian's docker-registry itself on a unix socket and passes every request through, bytes
unchanged (blobs streamed both ways, HEAD/GET, Range, chunked uploads; the Host header is kept, so
the registry's upload Locations name this port). What it refuses, as ECR does:

- **An immutable tag written again**: `PUT /v2/<repo>/manifests/<tag>` when the tag exists and a moto
  using this registry holds `<repo>` with tag immutability for that tag, whether the manifest is
  another digest or the same one (ECR refuses the identical re-push too: moby/buildkit#3776,
  aws/containers-roadmap#2380). ECR answers its registry clients `400 {"errors": [{"code":
  "TAG_INVALID", "message": "The image tag '<tag>' already exists in the '<repo>' repository and
  cannot be overwritten because the tag is immutable."}]}` (the wording since exclusion filters; the
  older one ended "because the repository is immutable": aws/containers-roadmap#862; kaniko matches
  "cannot be overwritten because the tag is immutable"; docker prints it as "tag invalid: …";
  the ECR API's PutImage raises ImageTagAlreadyExistsException: ECR User Guide, "Preventing image
  tags from being overwritten in Amazon ECR"). Which tags are immutable (IMMUTABLE,
  IMMUTABLE_WITH_EXCLUSION, MUTABLE_WITH_EXCLUSION and their WILDCARD filters) is the moto plugin's
  `/_sim/ecr/tag-immutable/<repo>?tag=…&registry=…` (ecr_bridge.py), asked of every moto that
  registered with this registry (`up` writes `<registry root>/.deckhand-motos/<moto port>`; a moto
  started with another registry answers 409 and is skipped): a registry shared by two motos refuses
  when either holds the tag immutable, since the ECR bridge mirrors the registry's tag into both.

Every request is one connection upstream (`Connection: close` towards the registry), so only the
request head is parsed; bodies are moved socket to socket by splice(2) in the kernel (a Python loop
over the bytes made blob downloads 2.5 times slower than the registry's own). `GET /_deckhand/health` names the front's code hash
(`up` restarts a front started from other code) and `GET /_deckhand/requests[?since=SEQ]` lists the
requests it passed (method, path, query, request body bytes, Content-Range, status) for tests.
"""

from __future__ import annotations

import argparse
import ctypes
import fcntl
import hashlib
import json
import os
import re
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import deque
from pathlib import Path
from typing import Optional

MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    ]
)
# distribution refuses a manifest over 4 MiB (registry/handlers/manifests.go: maxManifestBodySize).
MAX_MANIFEST = 4 << 20
HEAD_LIMIT = 64 << 10
CHUNK = 1 << 20
F_SETPIPE_SZ = 1031
MANIFEST_PUT = re.compile(r"^/v2/(?P<repo>.+)/manifests/(?P<ref>[^/]+)$")
CODE_HASH = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]

_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def splice_all(src: socket.socket, dst: socket.socket) -> int:
    """Moves bytes from `src` to `dst` until `src` ends (kernel to kernel); the count moved."""
    r, w = os.pipe()
    try:
        try:
            fcntl.fcntl(w, F_SETPIPE_SZ, CHUNK)
        except OSError:
            pass
        total = 0
        while True:
            n = os.splice(src.fileno(), w, CHUNK)
            if n == 0:
                return total
            total += n
            while n:
                n -= os.splice(r, dst.fileno(), n)
    except OSError:
        return -1
    finally:
        os.close(r)
        os.close(w)


class Front:
    def __init__(self, listen: str, sock: str, motos_dir: Path):
        self.listen = listen
        self.sock = sock
        self.motos_dir = motos_dir
        self.log: deque[dict] = deque(maxlen=20000)
        self.seq = 0
        self.mutex = threading.Lock()
        self.locks: dict[tuple[str, str], threading.Lock] = {}

    # --- HTTP plumbing -------------------------------------------------------------------
    @staticmethod
    def parse(head: bytes) -> tuple[str, str, list[tuple[str, str]]]:
        lines = head.decode("latin-1").split("\r\n")
        method, target, _version = lines[0].split(" ", 2)
        headers = []
        for line in lines[1:]:
            if not line:
                continue
            name, _, value = line.partition(":")
            headers.append((name.strip(), value.strip()))
        return method, target, headers

    @staticmethod
    def header(headers: list[tuple[str, str]], name: str) -> Optional[str]:
        for k, v in headers:
            if k.lower() == name:
                return v
        return None

    @staticmethod
    def build(method: str, target: str, headers: list[tuple[str, str]], drop: tuple[str, ...] = ()) -> bytes:
        skip = {"connection", "keep-alive", "proxy-connection", *drop}
        out = [f"{method} {target} HTTP/1.1"]
        out += [f"{k}: {v}" for k, v in headers if k.lower() not in skip]
        out.append("Connection: close")
        return ("\r\n".join(out) + "\r\n\r\n").encode("latin-1")

    @staticmethod
    def respond(client: socket.socket, status: str, body: object) -> None:
        data = json.dumps(body).encode()
        client.sendall(
            f"HTTP/1.1 {status}\r\nContent-Type: application/json; charset=utf-8\r\n"
            f"Docker-Distribution-Api-Version: registry/2.0\r\nContent-Length: {len(data)}\r\n"
            "Connection: close\r\n\r\n".encode()
            + data
        )

    # --- connections ---------------------------------------------------------------------
    def handle(self, client: socket.socket) -> None:
        buf = client.recv(CHUNK)
        if not buf:
            return
        if buf[:1] == b"\x16":
            # A TLS ClientHello (buildah tries HTTPS first, even with --tls-verify=false): the
            # registry answers it with a 400 at once, and the client falls back to HTTP.
            self.forward(client, buf, {"body": 0})
            return
        while b"\r\n\r\n" not in buf:
            if len(buf) > HEAD_LIMIT:
                return
            more = client.recv(CHUNK)
            if not more:
                return
            buf += more
        head, _, rest = buf.partition(b"\r\n\r\n")
        method, target, headers = self.parse(head + b"\r\n\r\n")
        path, _, query = target.partition("?")
        if "://" in path:  # absolute-form (RFC 9112 3.2.2): the path is what follows the authority
            path = "/" + path.split("://", 1)[1].partition("/")[2]
        if path.startswith("/_deckhand/"):
            self.control(client, method, path, query)
            return
        with self.mutex:
            self.seq += 1
            entry = {
                "seq": self.seq,
                "method": method,
                "path": path,
                "query": query,
                "content-length": self.header(headers, "content-length"),
                "content-range": self.header(headers, "content-range"),
                "transfer-encoding": self.header(headers, "transfer-encoding"),
                "body": 0,
                "status": None,
                "at": time.time(),
            }
            self.log.append(entry)
        m = MANIFEST_PUT.match(path) if method == "PUT" else None
        if m and ":" not in m["ref"]:
            self.manifest_put(client, rest, method, target, headers, m["repo"], m["ref"], entry)
        else:
            self.forward(client, self.build(method, target, headers) + rest, entry, len(rest))
        entry["ms"] = round((time.time() - entry["at"]) * 1000, 1)

    def forward(self, client: socket.socket, first: bytes, entry: dict, body: int = 0) -> None:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as up:
            up.connect(self.sock)
            up.sendall(first)
            entry["body"] = body

            def upwards() -> None:  # the rest of the request body, as the client sends it
                n = splice_all(client, up)
                entry["body"] += max(n, 0)
                try:
                    up.shutdown(socket.SHUT_WR)
                except OSError:
                    pass

            sender = threading.Thread(target=upwards, daemon=True)
            sender.start()
            try:  # the answer's first bytes carry its status
                status = up.recv(16, socket.MSG_PEEK)
                if status.startswith(b"HTTP/1."):
                    entry["status"] = int(status.split(b" ", 2)[1])
            except (OSError, ValueError, IndexError):
                pass
            splice_all(up, client)
            try:
                client.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sender.join(5)

    def read_body(self, client: socket.socket, rest: bytes, headers) -> Optional[bytes]:
        if (self.header(headers, "expect") or "").lower() == "100-continue":
            client.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        f = client.makefile("rb")
        te = (self.header(headers, "transfer-encoding") or "").lower()
        stream = _Prefixed(rest, f)
        if "chunked" in te:
            out = bytearray()
            while True:
                size = int(stream.readline().split(b";")[0], 16)
                if size == 0:
                    while stream.readline() not in (b"\r\n", b""):
                        pass
                    return bytes(out)
                out += stream.read(size)
                stream.read(2)
                if len(out) > MAX_MANIFEST:
                    return None
        length = int(self.header(headers, "content-length") or 0)
        if length > MAX_MANIFEST:
            return None
        data = stream.read(length)
        return data if len(data) == length else None

    def manifest_put(self, client, rest, method, target, headers, repo, tag, entry) -> None:
        body = self.read_body(client, rest, headers)
        if body is None:
            entry["status"] = 400
            self.respond(client, "400 Bad Request", {"errors": [
                {"code": "MANIFEST_INVALID", "message": "manifest invalid", "detail": "over 4 MiB or cut short"}]})
            return
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        with self.mutex:
            lock = self.locks.setdefault((repo, tag), threading.Lock())
        with lock:
            # ECR refuses any manifest PUT naming a tag its repository already holds immutable, the
            # same manifest again included (moby/buildkit#3776, aws/containers-roadmap#2380: a
            # re-push of the identical image fails; kaniko's --push-ignore-immutable-tag-errors
            # exists for it). A client re-tagging idempotently must look before it PUTs.
            current = self.current_digest(repo, tag)
            if current is not None:
                holder = self.immutable_in(repo, tag)
                if holder:
                    entry["status"] = 400
                    entry["refused-by-moto"] = holder
                    # ECR's registry answer to a push onto an immutable tag (see the module doc).
                    self.respond(client, "400 Bad Request", {"errors": [{
                        "code": "TAG_INVALID",
                        "message": f"The image tag '{tag}' already exists in the '{repo}' repository "
                        "and cannot be overwritten because the tag is immutable.",
                    }]})
                    return
            head = self.build(method, target, headers, drop=("content-length", "transfer-encoding", "expect"))
            head = head[:-2] + f"Content-Length: {len(body)}\r\n\r\n".encode()
            self.forward(client, head + body, entry, len(body))

    # --- questions -----------------------------------------------------------------------
    def current_digest(self, repo: str, tag: str) -> Optional[str]:
        import http.client

        conn = http.client.HTTPConnection("localhost", timeout=10)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(self.sock)
        conn.sock = s
        try:
            conn.request("HEAD", f"/v2/{repo}/manifests/{tag}", headers={"Accept": MANIFEST_TYPES})
            resp = conn.getresponse()
            resp.read()
            return resp.getheader("Docker-Content-Digest") if resp.status == 200 else None
        finally:
            conn.close()

    def immutable_in(self, repo: str, tag: str) -> Optional[str]:
        """The moto (port) that holds `tag` of `repo` immutable, if any does."""
        try:
            ports = sorted(p.name for p in self.motos_dir.iterdir() if p.name.isdigit())
        except FileNotFoundError:
            return None
        q = urllib.parse.urlencode({"tag": tag, "registry": self.listen})
        for port in ports:
            url = f"http://127.0.0.1:{port}/_sim/ecr/tag-immutable/{urllib.parse.quote(repo, safe='/')}?{q}"
            try:
                with _opener.open(url, timeout=10) as resp:
                    if json.loads(resp.read()).get("immutable"):
                        return port
            except urllib.error.HTTPError:
                continue  # 404: no such repository there; 409: that moto uses another registry
            except OSError:
                continue  # that moto is down
        return None

    def control(self, client: socket.socket, method: str, path: str, query: str) -> None:
        if path == "/_deckhand/health" and method == "GET":
            self.respond(client, "200 OK", {"ok": True, "code_hash": CODE_HASH, "registry": self.listen})
        elif path == "/_deckhand/requests" and method == "GET":
            q = urllib.parse.parse_qs(query)
            since = int(q["since"][0]) if "since" in q else 0
            with self.mutex:
                entries = [dict(e) for e in self.log if e["seq"] > since]
            self.respond(client, "200 OK", entries)
        else:
            self.respond(client, "404 Not Found", {"error": f"no endpoint {method} {path}"})


class _Prefixed:
    """Bytes already received, then the socket's file."""

    def __init__(self, prefix: bytes, f):
        self.prefix = prefix
        self.f = f

    def read(self, n: int) -> bytes:
        out = self.prefix[:n]
        self.prefix = self.prefix[n:]
        if len(out) < n:
            out += self.f.read(n - len(out))
        return out

    def readline(self) -> bytes:
        i = self.prefix.find(b"\n")
        if i >= 0:
            out, self.prefix = self.prefix[: i + 1], self.prefix[i + 1 :]
            return out
        out, self.prefix = self.prefix, b""
        return out + self.f.readline(HEAD_LIMIT)


def _die_with_parent() -> None:
    # The registry must not outlive its front (a SIGKILLed front would leave it holding the socket).
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", required=True, help="host:port")
    ap.add_argument("--socket", required=True, help="the registry's unix socket")
    ap.add_argument("--root", required=True, help="the registry's storage root")
    ap.add_argument("--config", required=True, help="registry.yml")
    args = ap.parse_args()
    if os.path.exists(args.socket):
        os.unlink(args.socket)
    env = dict(os.environ, REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY=args.root,
               REGISTRY_HTTP_NET="unix", REGISTRY_HTTP_ADDR=args.socket)
    registry = subprocess.Popen(["/usr/bin/docker-registry", "serve", args.config], env=env,
                                preexec_fn=_die_with_parent)
    for _ in range(300):
        if os.path.exists(args.socket) or registry.poll() is not None:
            break
        time.sleep(0.05)
    if registry.poll() is not None:
        sys.exit(f"registry-front: docker-registry exited ({registry.returncode})")
    front = Front(args.listen, args.socket, Path(args.root) / ".deckhand-motos")

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            try:
                front.handle(self.request)
            except Exception as e:  # a broken request must not stop the front
                print(f"registry-front: {type(e).__name__}: {e}", file=sys.stderr, flush=True)

    class Server(socketserver.ThreadingTCPServer):
        daemon_threads = True
        allow_reuse_address = True
        request_queue_size = 128

    host, port = args.listen.rsplit(":", 1)
    server = Server((host, int(port)), Handler)

    def stop(*_: object) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    threading.Thread(target=lambda: (registry.wait(), stop()), daemon=True).start()
    server.serve_forever()
    if registry.poll() is None:
        registry.terminate()
        try:
            registry.wait(5)
        except subprocess.TimeoutExpired:
            registry.kill()
    if os.path.exists(args.socket):
        os.unlink(args.socket)


if __name__ == "__main__":
    main()
