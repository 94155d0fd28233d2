"""release.yml's first job (`check`), rehearsed on a version tag push (no AWS, no registry): the job
as committed runs against a repository made of this checkout's Cargo.toml, action.yml and
dev/action-image/set-version. It must agree the tag, Cargo.toml's version and the image action.yml
runs, or fail the release before anything is built or pushed; its outputs name the version, the
major and whether this tag is the newest of its major (the one that moves `v1`). The later jobs
(native builds on two architectures, the GHCR push with provenance, the GitHub release) need
Docker, an arm64 runner and GitHub: they are linted (stage 65), not rehearsed."""

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


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, text=True, capture_output=True, env=GIT_ENV).stdout.strip()


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    """Cargo.toml, action.yml (as committed: it names this project's owner), set-version and
    release.yml, committed on main."""
    r = tmp_path / "repo"
    for rel in ("Cargo.toml", "action.yml", "dev/action-image/set-version", ".github/workflows/release.yml"):
        (r / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, r / rel)
    git(tmp_path, "init", "-q", "-b", "main", str(r))
    git(r, "add", ".")
    git(r, "commit", "-qm", "release candidate")
    return r


def point_action_at(repo: Path, owner: str, tag: str) -> None:
    """What a maintainer runs before tagging: action.yml runs ghcr.io/<owner>/deckhand:<tag>."""
    subprocess.run([str(repo / "dev/action-image/set-version"), "--owner", owner, tag], check=True, capture_output=True)
    git(repo, "commit", "-qam", f"action.yml runs {tag}")


def release(repo: Path, tmp_path: Path, tag: str, name: str):
    git(repo, "tag", tag)
    work = tmp_path / name
    code = rehearse.main([str(repo / ".github/workflows/release.yml"), "--event", "push", "--ref", f"refs/tags/{tag}",
                          "--sha", git(repo, "rev-parse", "HEAD"), "--repo-dir", str(repo), "--job", "check",
                          "--work", str(work), "--quiet"])
    result = json.loads((work / "result.json").read_text())
    return code, result["jobs"]["check"], (work / "logs" / "rehearsal.log").read_text()


def test_a_tag_that_agrees_with_cargo_and_action_yml_is_released(repo, tmp_path):
    point_action_at(repo, OWNER, VERSION)
    code, job, _ = release(repo, tmp_path, VERSION, "ok")
    assert code == 0 and job["result"] == "success", job
    assert job["permissions"] == {"contents": "read"}
    assert job["outputs"] == {"version": VERSION, "major": VERSION.split(".")[0], "newest-in-major": "true",
                              "image": f"ghcr.io/{OWNER}/deckhand:{VERSION}"}, job["outputs"]


def test_an_older_tag_of_the_major_does_not_move_it(repo, tmp_path):
    major = VERSION.split(".")[0]
    git(repo, "tag", f"{major}.999.0")  # a newer release of the same major already out
    git(repo, "tag", f"{major}.999.1-rc1")  # not a release tag: does not count
    point_action_at(repo, OWNER, VERSION)
    code, job, _ = release(repo, tmp_path, VERSION, "older")
    assert code == 0 and job["outputs"]["newest-in-major"] == "false", job


def test_a_tag_whose_action_yml_runs_another_image_is_refused(repo, tmp_path):
    # action.yml as committed names the project's own owner, not this fork's
    code, job, log = release(repo, tmp_path, VERSION, "other-image")
    assert code != 0 and job["result"] == "failure", job
    [step] = [s for s in job["steps"].values() if s["name"] == "Tag, Cargo.toml and action.yml agree"]
    assert step["outcome"] == "failure"
    assert f"the release {VERSION} needs docker://ghcr.io/{OWNER}/deckhand:{VERSION}" in log, log[-2000:]
    assert "version=" not in json.dumps(job.get("outputs", {})), job


def test_a_tag_that_is_not_cargos_version_is_refused(repo, tmp_path):
    major, minor, _ = VERSION[1:].split(".")
    other = f"v{major}.{int(minor) + 1}.0"
    point_action_at(repo, OWNER, VERSION)
    code, job, log = release(repo, tmp_path, other, "not-cargo")
    assert code != 0 and job["result"] == "failure", job
    assert f"Cargo.toml says version {VERSION[1:]}, the tag is {other}" in log, log[-2000:]


def test_only_version_tags_start_a_release():
    d = rehearse.load_workflow(ROOT / ".github/workflows/release.yml")
    assert rehearse.workflow_runs_for(d, "push", f"refs/tags/{VERSION}", None)
    for ref in ("refs/heads/main", "refs/tags/v1", "refs/tags/v1.2", f"refs/tags/{VERSION}-rc1", "refs/tags/release-1.0.0"):
        assert not rehearse.workflow_runs_for(d, "push", ref, None), ref
    assert not rehearse.workflow_runs_for(d, "pull_request", "refs/pull/1/merge", "main")
