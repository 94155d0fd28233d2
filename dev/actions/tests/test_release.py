"""release.yml, started by hand (workflow_dispatch, input `version`) on the default branch: its first
job (`check`) rehearsed against a repository made of this checkout's Cargo.toml, action.yml,
dev/action-image/set-version and release.yml. It must agree the version, Cargo.toml's version and the
branch, and find the tag new, or stop the release before anything is built or pushed; its outputs name
the version, the major, whether this is the newest of its major (the one that moves `v1`) and the
image's name. dev/action-image/set-version, which the `tag` job runs after the push, writes the image
by digest. The jobs between (native builds on two architectures, the GHCR push with provenance, the
anonymous pull of dev/action-image/public -- tested in test_public_image.py --, the release commit
through the Git database API, the GitHub release) need Docker, an arm64 runner and GitHub: they are
linted (stage 65), not rehearsed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path.insert(0, str(HERE.parent))
import rehearse  # noqa: E402

OWNER = "deckhand-local"  # the rehearsal's default repository is deckhand-local/spa-ecs
GIT_ENV = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@x"}
VERSION = "v" + next(line.split('"')[1] for line in (ROOT / "Cargo.toml").read_text().splitlines() if line.startswith("version = "))
DIGEST = "sha256:" + "0123456789abcdef" * 4


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, text=True, capture_output=True, env=GIT_ENV).stdout.strip()


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    """Cargo.toml, action.yml, set-version and release.yml as committed, on main."""
    r = tmp_path / "repo"
    for rel in ("Cargo.toml", "action.yml", "dev/action-image/set-version", ".github/workflows/release.yml"):
        (r / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, r / rel)
    git(tmp_path, "init", "-q", "-b", "main", str(r))
    git(r, "add", ".")
    git(r, "commit", "-qm", "release candidate")
    return r


def release(repo: Path, tmp_path: Path, version: str, name: str, ref: str = "refs/heads/main"):
    work = tmp_path / name
    code = rehearse.main([str(repo / ".github/workflows/release.yml"), "--event", "workflow_dispatch", "--ref", ref,
                          "--input", f"version={version}", "--sha", git(repo, "rev-parse", "HEAD"), "--repo-dir", str(repo),
                          "--job", "check", "--work", str(work), "--quiet"])
    result = json.loads((work / "result.json").read_text())
    return code, result["jobs"]["check"], (work / "logs" / "rehearsal.log").read_text()


def test_a_new_version_of_cargo_s_on_the_default_branch_is_released(repo, tmp_path):
    code, job, _ = release(repo, tmp_path, VERSION, "ok")
    assert code == 0 and job["result"] == "success", job
    assert job["permissions"] == {"contents": "read"}
    assert job["outputs"] == {"version": VERSION, "major": VERSION.split(".")[0], "newest-in-major": "true",
                              "image": f"ghcr.io/{OWNER}/deckhand"}, job["outputs"]


def test_an_older_version_of_the_major_does_not_move_it(repo, tmp_path):
    major = VERSION.split(".")[0]
    git(repo, "tag", f"{major}.999.0")  # a newer release of the same major already out
    git(repo, "tag", f"{major}.999.1-rc1")  # not a release tag: does not count
    code, job, _ = release(repo, tmp_path, VERSION, "older")
    assert code == 0 and job["outputs"]["newest-in-major"] == "false", job


def test_a_version_already_tagged_is_refused(repo, tmp_path):
    git(repo, "tag", VERSION)
    code, job, log = release(repo, tmp_path, VERSION, "again")
    assert code != 0 and job["result"] == "failure", job
    assert f"the tag {VERSION} exists already" in log, log[-2000:]
    assert "version=" not in json.dumps(job.get("outputs", {})), job


def test_a_release_from_another_branch_is_refused(repo, tmp_path):
    git(repo, "checkout", "-q", "-b", "feature")
    code, job, log = release(repo, tmp_path, VERSION, "branch", ref="refs/heads/feature")
    assert code != 0 and job["result"] == "failure", job
    assert "a release is made from the default branch (main), not refs/heads/feature" in log, log[-2000:]


def test_a_version_that_is_not_cargo_s_is_refused(repo, tmp_path):
    major, minor, _ = VERSION[1:].split(".")
    other = f"v{major}.{int(minor) + 1}.0"
    code, job, log = release(repo, tmp_path, other, "not-cargo")
    assert code != 0 and job["result"] == "failure", job
    assert f"Cargo.toml says version {VERSION[1:]}, the tag is {other}" in log, log[-2000:]


def test_releases_are_started_by_hand_only():
    d = rehearse.load_workflow(ROOT / ".github/workflows/release.yml")
    assert set(rehearse.triggers(d)) == {"workflow_dispatch"}
    assert rehearse.triggers(d)["workflow_dispatch"]["inputs"]["version"]["required"] is True


def set_version(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(repo / "dev/action-image/set-version"), *args], capture_output=True, text=True,
                          env={**os.environ, "GITHUB_REPOSITORY_OWNER": ""})


def test_the_release_commit_names_the_pushed_image_by_digest(repo):
    """What the `tag` job writes after the push: the digest, never a tag; the rest of action.yml as it was."""
    before = (repo / "action.yml").read_text()
    r = set_version(repo, "--owner", "Octo-Org", "--digest", DIGEST, VERSION)
    assert r.returncode == 0, r.stderr
    after = (repo / "action.yml").read_text()
    assert f"  image: docker://ghcr.io/octo-org/deckhand@{DIGEST} # {VERSION}\n" in after
    changed = [(a, b) for a, b in zip(before.splitlines(), after.splitlines()) if a != b]
    assert len(changed) == 1 and len(before.splitlines()) == len(after.splitlines()), changed
    # the runner reads it as the image reference (YAML: the comment is not part of the value)
    import yaml
    assert yaml.safe_load(after)["runs"]["image"] == f"docker://ghcr.io/octo-org/deckhand@{DIGEST}"
    # back to the default branch's own image
    assert set_version(repo, "--source").returncode == 0
    assert (repo / "action.yml").read_text() == before


@pytest.mark.parametrize("args,message", [
    (["--owner", "o", "--digest", "sha256:abc", VERSION], "--digest: sha256:<64 lowercase hex>"),
    (["--owner", "o", "--digest", DIGEST.replace("sha256:", "sha512:"), VERSION], "--digest: sha256:<64 lowercase hex>"),
    (["--owner", "o", "--digest", DIGEST, "v1.2"], "is not vMAJOR.MINOR.PATCH"),
    (["--digest", DIGEST, VERSION], "no owner"),
    (["--owner", "o/x", "--digest", DIGEST, VERSION], "is not a GitHub account name"),
])
def test_set_version_refuses_what_is_not_a_release(repo, args, message):
    before = (repo / "action.yml").read_text()
    r = set_version(repo, *args)
    assert r.returncode == 2 and message in r.stderr, r.stderr
    assert (repo / "action.yml").read_text() == before


def test_the_default_branch_runs_its_own_commit_s_image():
    """action.yml on the default branch builds Dockerfile.source (the image of that commit), so the
    repository's workflows (`uses: ./`) never run the last release; Dockerfile.source is the top-level
    Dockerfile with deckhand compiled from the checkout, as dev/action-image/source-dockerfile writes it."""
    import yaml
    assert yaml.safe_load((ROOT / "action.yml").read_text())["runs"]["image"] == "Dockerfile.source"
    r = subprocess.run([str(ROOT / "dev/action-image/source-dockerfile"), "--check"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    source = (ROOT / "Dockerfile.source").read_text()
    assert "RUN cargo build --release --locked --bin deckhand" in source
    assert "COPY --from=build --chmod=0755 /out/dist/${TARGETARCH}/deckhand /rootfs/usr/local/bin/deckhand" in source
    ignore = (ROOT / "Dockerfile.source.dockerignore").read_text().split()
    assert {"*", "!Cargo.toml", "!Cargo.lock", "!src/**"} <= set(ignore)
    for wf in ("deploy.yml", "preview.yml", "rollback.yml"):
        doc = rehearse.load_workflow(ROOT / ".github/workflows" / wf)
        uses = [s.get("uses") for j in doc["jobs"].values() for s in j.get("steps") or [] if str(s.get("uses", "")).startswith(("./", "docker://"))]
        assert uses and set(uses) == {"./"}, (wf, uses)
