"""dev/demo/getting-started refuses a guide it cannot run in full (no AWS needed: the guides here have
no AWS command). Run by dev/ci/stages/80-demo.sh before the newcomer's run itself."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPT = HERE.parent / "getting-started"
loader = importlib.machinery.SourceFileLoader("getting_started", str(SCRIPT))
gs = importlib.util.module_from_spec(importlib.util.spec_from_loader("getting_started", loader))
loader.exec_module(gs)

# The texts the run checks must be the guide's own: a drifted guide quotes them all.
QUOTED = " ".join(f"`{t}`" for texts in [*gs.SUCCESS.values(), *gs.BLOCK_OUTPUT.values(), [gs.SCALED]] for t in texts)


def run(tmp_path: Path, body: str) -> subprocess.CompletedProcess:
    guide = tmp_path / "guide.md"
    guide.write_text(f"# A guide\n\n{QUOTED}\n\n{body}")
    return subprocess.run([sys.executable, str(SCRIPT), "--guide", str(guide), "--deckhand", "/bin/false",
                           "--node-image", "none"], capture_output=True, text=True,
                          # nothing listens there: these guides name no AWS command
                          env={**os.environ, "AWS_ENDPOINT_URL": "http://127.0.0.1:9"})


def test_a_command_of_an_untagged_block_that_did_not_run_fails_the_run(tmp_path):
    # A failing command cuts the && list short, and bash goes on (set -e ignores a && list's failure but
    # its last command's): the third node never runs.
    p = run(tmp_path, "```sh\nnode --version && node -e 'process.exit(3)' && node --version\nnode --version\n```\n")
    assert p.returncode == 1, p.stderr
    assert "a command did not run" in p.stderr, p.stderr


def test_an_untagged_command_the_run_does_not_know_fails_the_run(tmp_path):
    p = run(tmp_path, "```sh\nsha256sum --check SHA256SUMS\n```\n")
    assert p.returncode == 1 and "`sha256sum --check SHA256SUMS` is not a command the newcomer run knows" in p.stderr, p.stderr


def test_an_untagged_gh_command_fails_the_run(tmp_path):
    p = run(tmp_path, "```sh\ngh auth status\n```\n")
    assert p.returncode == 1 and "gh cannot run here: tag the block" in p.stderr, p.stderr


def test_a_tagged_block_is_not_run_and_a_tagged_program_is_skipped(tmp_path):
    body = ("<!-- newcomer-run: not run (a download) -->\n```sh\nsha256sum --check SHA256SUMS\n```\n\n"
            "<!-- newcomer-run: gh not run (GitHub) -->\n```sh\nnode --version\ngh auth status\n```\n")
    p = run(tmp_path, body)
    # Both blocks pass; the run then fails only at its end: this guide runs no deckhand, npx, git or aws.
    assert "guide.md:6 (A guide): not run here (a download)" in p.stderr, p.stderr
    assert "guide.md:11 (A guide): ok" in p.stderr, p.stderr
    assert "not run here (tagged): gh auth status" in p.stderr, p.stderr
    assert p.returncode == 1 and "the guide ran no `deckhand` command" in p.stderr, p.stderr


def test_a_tag_no_block_follows_fails_the_run(tmp_path):
    p = run(tmp_path, "<!-- newcomer-run: not run (a download) -->\nsome prose\n\n```sh\nnode --version\n```\n")
    assert p.returncode == 1 and "guide.md:6: a newcomer-run tag that no ```sh block follows" in p.stderr, p.stderr


def test_a_block_that_exits_otherwise_than_its_tag_says_fails_the_run(tmp_path):
    p = run(tmp_path, "<!-- newcomer-run: exits 2 (why) -->\n```sh\nnode --version\n```\n")
    assert p.returncode == 1 and "the block exited 0, not 2" in p.stderr, p.stderr


def test_a_shell_block_fenced_otherwise_than_sh_fails_the_run(tmp_path):
    # GitHub renders each of these as a command to copy; the run extracted ```sh blocks only, so a
    # command in one of them was shown to the newcomer and never run.
    for fence, close in [("```bash", "```"), ("~~~sh", "~~~"), ("``` sh", "```"), ("````console", "````")]:
        p = run(tmp_path, f"{fence}\nnode --version\n{close}\n")
        assert p.returncode == 1 and f"guide.md:5: a shell block fenced `{fence}`" in p.stderr, (fence, p.stderr)


def test_a_comment_inside_another_block_is_no_heading():
    # The GitHub section's gh lines are compared with init's by the heading above their block: a `#`
    # line inside a YAML block was read as a heading, and the gh lines after it escaped the comparison.
    md = ("### GitHub\n\n```yaml\n# what the environment looks like\nname: production\n```\n\n"
          "```sh\ngh api -X PUT repos/acme/shop/environments/production\n```\n")
    assert [b.heading for b in gs.shell_blocks(md)] == ["GitHub"]


def test_a_gh_api_call_with_fields_writes_even_without_a_method():
    # gh api: "The default HTTP request method is GET normally and POST if any parameters were added"
    # (gh-api(1)); --input is a body too. Such a line is a setting init must print, not a read-back.
    assert gs.gh_api_writes("gh api repos/acme/shop/environments/production/deployment-branch-policies -f name=main -f type=branch")
    assert gs.gh_api_writes("gh api repos/acme/shop/actions/oidc/customization/sub --input - <<'JSON'")
    assert gs.gh_api_writes("gh api --method=PUT repos/acme/shop/environments/production")
    assert not gs.gh_api_writes("gh api repos/acme/shop/environments/production --jq '.protection_rules'")
    assert not gs.gh_api_writes("gh api --method GET repos/acme/shop/environments -F per_page=100")
