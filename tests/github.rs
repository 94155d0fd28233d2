//! The GitHub Actions surface, read back from the files the runner would read: every declared
//! output on every path (GITHUB_OUTPUT), one Markdown summary document per command
//! (GITHUB_STEP_SUMMARY), a `::group::` per phase, config errors annotated at their line and
//! column, secret-like values masked before anything prints them.
#![allow(clippy::unwrap_used)]

use crate::common;
use crate::site;

use std::path::{Path, PathBuf};

use common::{deckhand, deckhand_offline, unique, write};

/// The files and variables of one Actions step.
struct Step {
    dir: PathBuf,
}

impl Step {
    fn new(dir: &Path, n: u32) -> Self {
        let d = dir.join(format!("step{n}"));
        std::fs::create_dir_all(&d).unwrap();
        Self { dir: d }
    }
    fn env(&self, cmd: &mut assert_cmd::Command, workspace: &Path) {
        cmd.env("GITHUB_ACTIONS", "true")
            .env("GITHUB_WORKSPACE", workspace)
            .env("GITHUB_OUTPUT", self.dir.join("output"))
            .env("GITHUB_STEP_SUMMARY", self.dir.join("summary"))
            .current_dir(workspace);
    }
    fn outputs(&self) -> String {
        std::fs::read_to_string(self.dir.join("output")).unwrap_or_default()
    }
    fn summary(&self) -> String {
        std::fs::read_to_string(self.dir.join("summary")).unwrap_or_default()
    }
    fn output(&self, name: &str) -> String {
        self.outputs()
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")).map(str::to_string))
            .unwrap_or_else(|| panic!("no output {name}:\n{}", self.outputs()))
    }
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Every action output is written exactly once.
fn assert_every_output_once(step: &Step) {
    let out = step.outputs();
    for name in [
        "has-changes",
        "plan-json",
        "comment-url",
        "changed",
        "release-id",
        "restored",
        "image",
        "task-definition",
    ] {
        let n = out
            .lines()
            .filter(|l| l.starts_with(&format!("{name}=")))
            .count();
        assert_eq!(n, 1, "output {name} written {n} times:\n{out}");
    }
}

/// One document: one `## deckhand <command>` heading, first, and one result line, last.
fn assert_one_document(step: &Step, command: &str) {
    let doc = step.summary();
    assert!(
        doc.starts_with(&format!("## deckhand {command}\n")),
        "{doc}"
    );
    assert_eq!(
        doc.lines().filter(|l| l.starts_with("## ")).count(),
        1,
        "{doc}"
    );
    assert_eq!(doc.matches("**Result:**").count(), 1, "{doc}");
}

/// The `::group::` titles, checking they are balanced and never nested (GitHub does not nest).
fn groups(stderr: &str) -> Vec<String> {
    let mut open = false;
    let mut titles = Vec::new();
    for line in stderr.lines() {
        if let Some(t) = line.strip_prefix("::group::") {
            assert!(!open, "nested group {t}:\n{stderr}");
            open = true;
            titles.push(t.to_string());
        } else if line == "::endgroup::" {
            assert!(open, "endgroup without group:\n{stderr}");
            open = false;
        }
    }
    assert!(!open, "unclosed group:\n{stderr}");
    titles
}

#[test]
fn a_config_error_is_annotated_at_its_line_and_column_with_every_output_and_one_summary() {
    let dir = tempfile::tempdir().unwrap();
    write(
        &dir.path().join("deckhand.yml"),
        "region: us-east-1\nbackend:\n  clustr: spa-ecs\n",
    );
    let step = Step::new(dir.path(), 1);
    let mut cmd = deckhand_offline();
    step.env(&mut cmd, dir.path());
    let out = cmd.arg("validate").output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    let annotation = err.lines().find(|l| l.starts_with("::error ")).unwrap();
    assert!(
        annotation.starts_with(
            "::error file=deckhand.yml,line=3,col=3,title=deckhand%3A configuration::"
        ),
        "{annotation}"
    );
    assert!(
        annotation.contains("unknown field `clustr`"),
        "{annotation}"
    );
    assert_every_output_once(&step);
    insta::assert_snapshot!(step.outputs(), @r"
    has-changes=
    plan-json=
    comment-url=
    changed=false
    release-id=
    restored=
    image=
    task-definition=
    url=
    ");
    assert_one_document(&step, "validate");
    let doc = step.summary();
    assert!(doc.contains("**Result:** failed (exit 2)"), "{doc}");
    assert!(doc.contains("unknown field `clustr`"), "{doc}");
}

#[test]
fn an_invalid_value_is_annotated_at_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("deploy");
    write(
        &sub.join("deckhand.yml"),
        "region: us-east-1\nbackend:\n  cluster: spa-ecs\n  service: api\n  repository: spa-ecs-api\n  secrets:\n    API_TOKEN: not-a-parameter\n",
    );
    let step = Step::new(dir.path(), 1);
    let mut cmd = deckhand_offline();
    step.env(&mut cmd, dir.path());
    let out = cmd
        .args(["validate", "--config", "deploy/deckhand.yml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    let annotation = err.lines().find(|l| l.starts_with("::error ")).unwrap();
    assert!(
        annotation.starts_with("::error file=deploy/deckhand.yml,line=7,col=5,title="),
        "{annotation}"
    );
    assert!(
        annotation.contains("backend.secrets.API_TOKEN"),
        "{annotation}"
    );
}

#[test]
fn an_invalid_action_input_is_a_usage_error_with_every_output_and_one_summary() {
    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join("deckhand.yml"), "frontend:\n  bucket: b\n");
    let step = Step::new(dir.path(), 1);
    let mut cmd = deckhand_offline();
    step.env(&mut cmd, dir.path());
    let out = cmd
        .env("INPUT_KEEP-RELEASES", "lots")
        .arg("deploy")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    let annotation = err.lines().find(|l| l.starts_with("::error ")).unwrap();
    assert!(annotation.contains("--keep-releases"), "{annotation}");
    assert!(annotation.contains("INPUT_KEEP-RELEASES"), "{annotation}");
    assert_every_output_once(&step);
    assert_eq!(step.output("changed"), "false");
    assert_one_document(&step, "deploy");
    let doc = step.summary();
    assert!(doc.contains("**Result:** failed (exit 2)"), "{doc}");
    assert!(doc.contains("invalid value 'lots'"), "{doc}");
}

#[test]
fn secret_like_environment_values_are_masked_before_anything_prints_them() {
    let dir = tempfile::tempdir().unwrap();
    write(
        &dir.path().join("deckhand.yml"),
        "region: us-east-1\nbackend:\n  cluster: spa-ecs\n  service: api\n  repository: spa-ecs-api\n  environment:\n    NODE_ENV: production\n    UPSTREAM_API_TOKEN: tok-3f9a1c77\n",
    );
    let step = Step::new(dir.path(), 1);
    let mut cmd = deckhand_offline();
    step.env(&mut cmd, dir.path());
    let out = cmd
        .env(
            "INPUT_ENV",
            "SESSION_SECRET=from-input-8d2e\nLOG_LEVEL=debug",
        )
        .args(["validate", "-v"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    for secret in ["tok-3f9a1c77", "from-input-8d2e"] {
        let first = err.lines().position(|l| l.contains(secret));
        let mask = err
            .lines()
            .position(|l| l == format!("::add-mask::{secret}"));
        assert!(
            mask.is_some() && first == mask,
            "{secret} not masked first:\n{err}"
        );
    }
    assert!(!err.contains("::add-mask::production"), "{err}");
    assert!(!err.contains("::add-mask::debug"), "{err}");
    assert_one_document(&step, "validate");
}

#[tokio::test(flavor = "multi_thread")]
async fn deploy_no_op_and_dry_run_set_every_output_and_write_one_document_each() {
    let dir = tempfile::tempdir().unwrap();
    let bucket = unique("gh");
    site::create_bucket(&bucket).await;
    let distribution = site::create_distribution(&bucket).await;
    site::vite_site(&dir.path().join("dist"), 1, false);
    site::config(
        dir.path(),
        &bucket,
        Some(&distribution),
        "  invalidation: { wait: false }\n",
    );
    let run = |n: u32, args: &[&str]| {
        let step = Step::new(dir.path(), n);
        let mut cmd = deckhand();
        step.env(&mut cmd, dir.path());
        let out = cmd.arg("deploy").args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        (step, stderr(&out))
    };

    // 1. A release.
    let (s1, err1) = run(1, &[]);
    assert_every_output_once(&s1);
    assert_eq!(s1.output("changed"), "true");
    let release = s1.output("release-id");
    assert!(
        regex_like_release_id(&release),
        "release-id {release:?}:\n{}",
        s1.outputs()
    );
    assert_eq!(s1.output("image"), "");
    assert_one_document(&s1, "deploy");
    assert!(
        s1.summary()
            .contains(&format!("### deckhand release `{release}`")),
        "{}",
        s1.summary()
    );
    assert_eq!(
        groups(&err1),
        [
            "deckhand: configuration",
            "deckhand: plan",
            "deckhand: frontend",
            "deckhand: invalidate and clean up"
        ]
    );

    // 2. Nothing changed: the live release, changed=false.
    let (s2, err2) = run(2, &[]);
    assert_every_output_once(&s2);
    assert_eq!(s2.output("changed"), "false");
    assert_eq!(s2.output("release-id"), release);
    assert_one_document(&s2, "deploy");
    assert!(
        s2.summary().contains("### deckhand: no changes"),
        "{}",
        s2.summary()
    );
    assert_eq!(groups(&err2), ["deckhand: configuration", "deckhand: plan"]);

    // 3. A dry run of a change: changed=true (it would), release-id still the live one.
    site::vite_site(&dir.path().join("dist"), 2, false);
    let (s3, _) = run(3, &["--dry-run"]);
    assert_every_output_once(&s3);
    assert_eq!(s3.output("changed"), "true");
    assert_eq!(s3.output("release-id"), release);
    assert_one_document(&s3, "deploy");
    assert!(
        s3.summary().contains("### deckhand plan (dry run)"),
        "{}",
        s3.summary()
    );

    // 4. status: the live release too, and its summary.
    let s4 = Step::new(dir.path(), 4);
    let mut cmd = deckhand();
    s4.env(&mut cmd, dir.path());
    let out = cmd.arg("status").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_every_output_once(&s4);
    assert_eq!(s4.output("release-id"), release);
    assert_eq!(s4.output("changed"), "false");
    assert_one_document(&s4, "status");
    assert!(
        s4.summary().contains("### deckhand status"),
        "{}",
        s4.summary()
    );
}

/// `20261201T092042315Z-e2a7491`: UTC timestamp with milliseconds, then the short git sha (or a
/// marker when there is none).
fn regex_like_release_id(id: &str) -> bool {
    let Some((ts, rest)) = id.split_once('-') else {
        return false;
    };
    ts.len() >= 16 && ts.ends_with('Z') && ts.chars().nth(8) == Some('T') && !rest.is_empty()
}
