"""A container action as the runner runs it (dev/actions/rehearse --action-runtime image, through
dev/action-image/run and buildah): a probe image (busybox, FROM scratch) reports what it sees. No AWS.

ContainerActionHandler.cs (actions/runner >= 2.329): the job's temp directory is mounted at
/github/runner_temp, beside /github/home, /github/workflow, /github/file_commands and
/github/workspace, and every environment value naming a host path under one of them is translated
(ContainerInfo.TranslateToContainerPath): RUNNER_TEMP=/github/runner_temp, and a workflow's
`DOCKER_CONFIG: ${{ runner.temp }}/docker` arrives as /github/runner_temp/docker. The action's
post-entrypoint runs in the same image at the end of the job, with the main step's state."""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
REHEARSE = ROOT / "dev" / "actions" / "rehearse"
GIT_ENV = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@x"}

PROBE = """\
#!/bin/busybox sh
/bin/busybox env | /bin/busybox sort > /github/runner_temp/probe-env-$1
echo "written in the container" > "$RUNNER_TEMP/from-the-container"
echo "seen=yes" >> "$GITHUB_OUTPUT"
echo "lock=held-by-$GITHUB_RUN_ID" >> "$GITHUB_STATE"
"""
POST = """\
#!/bin/busybox sh
echo "post $1 $STATE_lock" > /github/runner_temp/post-ran
"""


@pytest.fixture(scope="module")
def probe_image(tmp_path_factory) -> str:
    d = tmp_path_factory.mktemp("probe")
    (d / "probe").write_text(PROBE)
    (d / "post").write_text(POST)
    for f in ("probe", "post"):
        (d / f).chmod(0o755)
    name = "localhost/deckhand-rehearsal-probe:1"
    env = {**os.environ, "STORAGE_DRIVER": os.environ.get("STORAGE_DRIVER", "vfs"),
           "BUILDAH_ISOLATION": os.environ.get("BUILDAH_ISOLATION", "chroot")}
    ctr = subprocess.run(["buildah", "from", "scratch"], check=True, capture_output=True, text=True, env=env).stdout.strip()
    try:
        for src, dst in (("/bin/busybox", "/bin/busybox"), (str(d / "probe"), "/probe"), (str(d / "post"), "/post")):
            subprocess.run(["buildah", "copy", "--quiet", ctr, src, dst], check=True, capture_output=True, env=env)
        subprocess.run(["buildah", "config", "--entrypoint", '["/probe"]', ctr], check=True, capture_output=True, env=env)
        subprocess.run(["buildah", "commit", "--quiet", ctr, name], check=True, capture_output=True, env=env)
    finally:
        subprocess.run(["buildah", "rm", ctr], capture_output=True, env=env)
    return name


def test_a_container_action_sees_the_runners_mounts_and_translated_paths(probe_image, tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "action.yml").write_text(textwrap.dedent("""\
        name: probe
        description: reports what the container sees
        runs:
          using: docker
          image: docker://example/probe:1
          post-entrypoint: /post
          env:
            FROM_STEP: action
            ONLY_ACTION: action
          args: [main]
        """))
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    subprocess.run(["git", "-C", str(repo), "add", "."], check=True, env=GIT_ENV)
    subprocess.run(["git", "-C", str(repo), "commit", "-qm", "probe"], check=True, env=GIT_ENV)
    wf = tmp_path / ".github" / "workflows" / "probe.yml"
    wf.parent.mkdir(parents=True)
    wf.write_text(textwrap.dedent("""\
        on: push
        permissions: {contents: read}
        jobs:
          j:
            runs-on: ubuntu-24.04
            steps:
              - uses: actions/checkout@0000000000000000000000000000000000000000
              - id: probe
                uses: ./
                env:
                  FROM_STEP: step
                  DOCKER_CONFIG: ${{ runner.temp }}/docker
                  WORKSPACE_FILE: ${{ github.workspace }}/action.yml
        """))
    work = tmp_path / "work"
    proc = subprocess.run([str(REHEARSE), str(wf), "--event", "push", "--repo-dir", str(repo), "--work", str(work), "--quiet",
                           "--action-runtime", "image", "--action-image", probe_image,
                           "--runner-env", "AWS_ENDPOINT_URL=http://127.0.0.1:1", "--runner-env", "DECKHAND_BUILDER=buildah"],
                          capture_output=True, text=True)
    log = (work / "logs" / "rehearsal.log").read_text() if (work / "logs" / "rehearsal.log").exists() else proc.stderr
    assert proc.returncode == 0, log[-4000:]
    result = json.loads((work / "result.json").read_text())
    assert result["jobs"]["j"]["steps"]["probe"]["outputs"] == {"seen": "yes"}
    temp = work / "runner" / "j" / "_temp"
    env = dict(line.split("=", 1) for line in (temp / "probe-env-main").read_text().splitlines() if "=" in line)
    assert env["RUNNER_TEMP"] == "/github/runner_temp"
    assert env["DOCKER_CONFIG"] == "/github/runner_temp/docker"
    assert env["WORKSPACE_FILE"] == "/github/workspace/action.yml"
    assert (env["HOME"], env["GITHUB_WORKSPACE"], env["GITHUB_EVENT_PATH"]) == \
        ("/github/home", "/github/workspace", "/github/workflow/event.json")
    assert env["GITHUB_OUTPUT"].startswith("/github/file_commands/")
    # runs.env fills only what the workflow did not set; the machine's environment stays outside
    assert (env["FROM_STEP"], env["ONLY_ACTION"]) == ("step", "action")
    assert "AWS_ENDPOINT_URL" not in env and "DECKHAND_BUILDER" not in env
    # the mount is the job's temp directory itself
    assert (temp / "from-the-container").read_text() == "written in the container\n"
    # the post step ran in the image, with the main step's state
    assert (temp / "post-ran").read_text() == f"post main held-by-{result['run_id']}\n"


def publish(image: str, name: str) -> str:
    """Pushes a local image to the local stack's registry under NAME; returns its digest."""
    registry = os.environ["DECKHAND_REGISTRY"]
    digest_file = Path(subprocess.run(["mktemp"], check=True, capture_output=True, text=True).stdout.strip())
    subprocess.run(["buildah", "push", "--quiet", "--tls-verify=false", "--digestfile", str(digest_file), image,
                    f"docker://{registry}/{name}:published"], check=True, capture_output=True)
    return digest_file.read_text().strip()


@pytest.mark.parametrize("published", [True, False])
def test_the_action_image_is_pulled_by_the_reference_action_yml_names(probe_image, tmp_path, published):
    """ActionManager.cs / `docker run`: the image a `runs.using: docker` action names is pulled by that
    reference, without credentials; nothing local stands in for it. Here the local stack's registry
    stands for ghcr.io: the probe published under deckhand-local/probe runs by its digest; a digest
    that was never pushed fails the step with the pull's error, as on GitHub."""
    digest = publish(probe_image, "deckhand-local/probe")
    if not published:
        digest = "sha256:" + "0" * 64
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "action.yml").write_text(f"name: probe\ndescription: p\nruns:\n  using: docker\n"
                                     f"  image: docker://ghcr.io/deckhand-local/probe@{digest}\n  args: [main]\n")
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    subprocess.run(["git", "-C", str(repo), "add", "."], check=True, env=GIT_ENV)
    subprocess.run(["git", "-C", str(repo), "commit", "-qm", "probe"], check=True, env=GIT_ENV)
    wf = tmp_path / ".github" / "workflows" / "probe.yml"
    wf.parent.mkdir(parents=True)
    wf.write_text("on: push\njobs:\n  j:\n    runs-on: x\n    steps:\n"
                  "      - uses: actions/checkout@0000000000000000000000000000000000000000\n      - id: probe\n        uses: ./\n")
    work = tmp_path / "work"
    proc = subprocess.run([str(REHEARSE), str(wf), "--event", "push", "--repo-dir", str(repo), "--work", str(work), "--quiet",
                           "--action-runtime", "image", f"--registry-mirror=ghcr.io={os.environ['DECKHAND_REGISTRY']}"],
                          capture_output=True, text=True)
    log = (work / "logs" / "rehearsal.log").read_text()
    result = json.loads((work / "result.json").read_text())
    step = result["jobs"]["j"]["steps"]["probe"]
    if published:
        assert proc.returncode == 0 and step["outputs"] == {"seen": "yes"}, log[-3000:]
        assert f"pulling ghcr.io/deckhand-local/probe@{digest}" in log
    else:
        assert proc.returncode == 1 and step["outcome"] == "failure", log[-3000:]
        assert f"Docker pull failed for ghcr.io/deckhand-local/probe@{digest}" in log
