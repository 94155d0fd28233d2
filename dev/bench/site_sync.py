"""The site-sync benchmark harness (run through dev/bench/site-sync, which installs the tools).

One s3s-fs server, one deterministic Vite-like site; per run and tool a fresh bucket that goes
through three timed syncs in order: cold upload, CI rebuild (the same bytes regenerated, so every
mtime is fresh) and a rebuild where 1% of the assets changed (new content-hashed names, new
index.html). Medians over the runs; ratios of deckhand to rclone and to aws-cli; deckhand's peak RSS
from /usr/bin/time -v.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EXTS = [("js", 50), ("css", 10), ("png", 14), ("svg", 8), ("woff2", 6), ("json", 8), ("wasm", 4)]
BIG_FILES = 3  # assets above the 8 MiB multipart threshold
CASES = ["cold upload", "CI rebuild", "1% changed"]
TOOLS = ["deckhand", "rclone", "aws"]


def in_stack(log: list[dict]) -> float:
    """Seconds the stack spent serving a run's calls: the union of their [start, start + ms] intervals
    (concurrent calls overlap). Wall time minus this is the tool's own side (its CPU, the network,
    the waiting between calls)."""
    spans = sorted((e["start"], e["start"] + e["ms"] / 1000) for e in log if e.get("ms") is not None)
    total, end = 0.0, float("-inf")
    for a, b in spans:
        if b > end:
            total += b - max(a, end)
            end = b
    return total


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def asset_plan(n_files: int, seed: int) -> list[tuple[str, str, int]]:
    """(stem, ext, size) for each asset: long-tailed sizes, a few above 8 MiB."""
    rng = random.Random(seed)
    exts = [e for e, w in EXTS for _ in range(w)]
    plan = []
    for i in range(n_files - 1):
        if i < BIG_FILES:
            size = 9 * 1024 * 1024 + i * 1_500_000
            ext = "wasm"
        else:
            size = int(min(max(rng.lognormvariate(8.2, 1.4), 120), 2_500_000))
            ext = rng.choice(exts)
        plan.append((f"chunk{i:05d}", ext, size))
    return plan


def changed_set(n_assets: int, seed: int, fraction: float) -> set[int]:
    if fraction <= 0:
        return set()
    rng = random.Random(seed + 1)
    k = max(1, round(n_assets * fraction))
    return set(rng.sample(range(BIG_FILES, n_assets), k))


def generate(root: Path, n_files: int, seed: int, fraction: float) -> tuple[int, int]:
    """Writes the site into `root` (fresh files, fresh mtimes). Returns (files, bytes)."""
    if root.exists():
        shutil.rmtree(root)
    (root / "assets").mkdir(parents=True)
    plan = asset_plan(n_files, seed)
    changed = changed_set(len(plan), seed, fraction)
    names = []
    total = 0
    for i, (stem, ext, size) in enumerate(plan):
        generation = 2 if i in changed else 1
        body = random.Random(f"{seed}/{i}/{generation}").randbytes(size)
        digest = hashlib.sha256(body).hexdigest()[:8]
        name = f"assets/{stem}-{digest}.{ext}"
        (root / name).write_bytes(body)
        names.append(name)
        total += size
    scripts = "\n".join(f'<link rel="modulepreload" href="/{n}">' for n in names if n.endswith(".js"))
    html = f'<!doctype html><html><head>{scripts}</head><body><div id="root"></div></body></html>\n'
    (root / "index.html").write_text(html)
    total += len(html)
    return len(plan) + 1, total


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Runner:
    def __init__(self, args: argparse.Namespace, endpoint: str, work: Path) -> None:
        self.args = args
        self.endpoint = endpoint
        self.work = work
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DECKHAND_", "RCLONE_"))}
        env.update(
            AWS_ACCESS_KEY_ID="test",
            AWS_SECRET_ACCESS_KEY="test",
            AWS_REGION="us-east-1",
            AWS_DEFAULT_REGION="us-east-1",
            AWS_EC2_METADATA_DISABLED="true",
            CI="true",
        )
        self.env = env
        rclone_conf = work / "rclone.conf"
        rclone_conf.write_text(
            "[bench]\ntype = s3\nprovider = Other\naccess_key_id = test\nsecret_access_key = test\n"
            f"endpoint = {endpoint}\nregion = us-east-1\n"
        )
        self.rclone_conf = rclone_conf

    def make_bucket(self, bucket: str) -> None:
        subprocess.run(
            [self.args.aws, "--endpoint-url", self.endpoint, "s3api", "create-bucket", "--bucket", bucket],
            env=self.env, check=True, stdout=subprocess.DEVNULL,
        )

    def command(self, tool: str, site: Path, bucket: str) -> list[str]:
        if tool == "deckhand":
            cfg = self.work / f"{bucket}.yml"
            cfg.write_text(
                f"region: us-east-1\nfrontend:\n  dir: {site}\n  bucket: {bucket}\n  keep-releases: 5\n"
            )
            return [self.args.deckhand, "--quiet", "--endpoint-url", self.endpoint,
                    "deploy", "--only", "frontend", "--config", str(cfg)]
        if tool == "rclone":
            return [self.args.rclone, "--config", str(self.rclone_conf), "sync", "--checksum",
                    "--transfers", "32", "--checkers", "32", str(site), f"bench:{bucket}"]
        return [self.args.aws, "--endpoint-url", self.endpoint, "s3", "sync", "--delete",
                "--only-show-errors", str(site), f"s3://{bucket}/"]

    def timed(self, tool: str, site: Path, bucket: str) -> tuple[float, int]:
        """Wall seconds and peak RSS (KiB) of one sync."""
        # Release ids have one-second resolution: never start two deploys in the same second.
        time.sleep(1.0 - (time.time() % 1.0) + 0.01)
        cmd = ["/usr/bin/time", "-v", *self.command(tool, site, bucket)]
        start = time.monotonic()
        proc = subprocess.run(cmd, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        wall = time.monotonic() - start
        if proc.returncode != 0:
            log(proc.stderr[-4000:])
            raise SystemExit(f"{tool} failed on {bucket} (exit {proc.returncode})")
        rss = 0
        for line in proc.stderr.splitlines():
            if "Maximum resident set size" in line:
                rss = int(line.rsplit(":", 1)[1].strip())
        return wall, rss


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--deckhand", required=True)
    p.add_argument("--s3s-fs", required=True)
    p.add_argument("--aws", required=True)
    p.add_argument("--rclone", required=True)
    p.add_argument("--files", type=int, default=5000)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--tools", default=",".join(TOOLS))
    p.add_argument("--out")
    args = p.parse_args()
    tools = [t for t in args.tools.split(",") if t]

    work = Path(tempfile.mkdtemp(prefix="deckhand-bench-"))
    root = work / "s3"
    root.mkdir()
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    server_log = open(work / "s3s-fs.log", "w")
    server = subprocess.Popen(
        [args.s3s_fs, "--host", "127.0.0.1", "--port", str(port),
         "--access-key", "test", "--secret-key", "test", str(root)],
        stdout=server_log, stderr=subprocess.STDOUT,
    )
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        runner = Runner(args, endpoint, work)
        v1 = work / "site-v1"
        files, size = generate(v1, args.files, args.seed, 0.0)
        log(f"fixture: {files} files, {size / 2**20:.1f} MiB ({BIG_FILES} above 8 MiB); server s3s-fs at {endpoint}")
        times: dict[str, dict[str, list[float]]] = {c: {t: [] for t in tools} for c in CASES}
        rss: dict[str, int] = {t: 0 for t in tools}
        for run in range(args.runs):
            for tool in tools:
                bucket = f"{tool}-{run}"
                runner.make_bucket(bucket)
                wall, kib = runner.timed(tool, v1, bucket)
                times["cold upload"][tool].append(wall)
                rss[tool] = max(rss[tool], kib)
                rebuilt = work / f"rebuild-{tool}-{run}"
                generate(rebuilt, args.files, args.seed, 0.0)
                wall, kib = runner.timed(tool, rebuilt, bucket)
                times["CI rebuild"][tool].append(wall)
                rss[tool] = max(rss[tool], kib)
                shutil.rmtree(rebuilt)
                changed = work / f"changed-{tool}-{run}"
                generate(changed, args.files, args.seed, 0.01)
                wall, kib = runner.timed(tool, changed, bucket)
                times["1% changed"][tool].append(wall)
                rss[tool] = max(rss[tool], kib)
                shutil.rmtree(changed)
                log(f"run {run + 1}/{args.runs} {tool}: " + ", ".join(
                    f"{c} {times[c][tool][-1]:.2f}s" for c in CASES))
                shutil.rmtree(root / bucket, ignore_errors=True)

        med = {c: {t: statistics.median(v) for t, v in times[c].items()} for c in CASES}
        print(f"\nsite-sync: {files} files, {size / 2**20:.1f} MiB, median of {args.runs} runs, s3s-fs 0.14.1, {os.cpu_count()} cores")
        head = f"{'case':<13}" + "".join(f"{t:>11}" for t in tools)
        ratios = [t for t in ("rclone", "aws") if t in tools and "deckhand" in tools]
        head += "".join(f"{'dh/' + t:>11}" for t in ratios)
        print(head)
        for c in CASES:
            line = f"{c:<13}" + "".join(f"{med[c][t]:>10.2f}s" for t in tools)
            line += "".join(f"{med[c]['deckhand'] / med[c][t]:>11.3f}" for t in ratios)
            print(line)
        print("peak RSS:   " + ", ".join(f"{t} {rss[t] / 1024:.0f} MB" for t in tools))
        checks = []
        if "deckhand" in tools and "rclone" in tools:
            checks.append(("CI rebuild <= 0.4x rclone", med["CI rebuild"]["deckhand"] <= 0.4 * med["CI rebuild"]["rclone"]))
            checks.append(("cold upload <= 0.8x rclone", med["cold upload"]["deckhand"] <= 0.8 * med["cold upload"]["rclone"]))
        if "deckhand" in tools and "aws" in tools:
            checks.append(("CI rebuild <= 0.05x aws-cli", med["CI rebuild"]["deckhand"] <= 0.05 * med["CI rebuild"]["aws"]))
        if "deckhand" in tools:
            checks.append(("deckhand peak RSS <= 150 MB", rss["deckhand"] <= 150 * 1024))
        for name, ok in checks:
            print(f"target {name}: {'met' if ok else 'MISSED'}")
        if args.out:
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            Path(args.out).write_text(json.dumps(
                {"files": files, "bytes": size, "runs": args.runs, "seconds": times, "median": med,
                 "peak_rss_kib": rss, "targets": dict(checks)}, indent=2))
    finally:
        server.terminate()
        server.wait(timeout=10)
        server_log.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
