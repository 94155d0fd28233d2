//! Hardening (issue 14) against the local AWS stack: bad site input stops a two-half deploy before
//! any write, a site that fails after the backend rolled is recorded as such, and no secret input
//! ever reaches stdout, stderr or the step summary (deploy, plan, status, validate and their
//! failure paths).
#![allow(clippy::unwrap_used)]

use crate::common;
use crate::site;
use crate::world;

use std::path::Path;

use site::{Fault, fault_proxy};
use world::World;

/// Appends a frontend section (site in `site/`, published to the world's bucket) to the config.
fn with_frontend(w: &World, extra: &str) {
    w.write_config(&format!(
        "frontend:\n  dir: site\n  bucket: {}\n{extra}",
        w.bucket
    ));
}

fn put(root: &Path, rel: &str, body: &str) {
    common::write(&root.join(rel), body);
}

/// `deckhand deploy` (both halves) in the world: (exit code, stdout, stderr).
fn deploy_both(w: &World, env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = w.deckhand();
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.arg("deploy").output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_site_input_stops_a_deploy_of_both_halves_before_any_write() {
    use std::os::unix::ffi::OsStrExt as _;
    let w = World::new("hd-pre");
    let site = w.path().join("site");
    let outside = w.path().join("secret.txt");
    std::fs::write(&outside, "aws_secret_access_key = x").unwrap();
    let long: Vec<String> = (0..6).map(|i| format!("{i}{}", "k".repeat(199))).collect();
    type Setup<'a> = Box<dyn Fn(&Path) + 'a>;
    let cases: Vec<(&str, &str, Setup)> = vec![
        ("empty", "has no files to publish", Box::new(|_| {})),
        (
            "no index",
            "has no index.html",
            Box::new(|d| put(d, "assets/app.js", "js")),
        ),
        (
            "long key",
            "bytes; S3 allows at most 1,024",
            Box::new(|d| {
                put(d, "index.html", "<html>");
                put(d, &format!("{}/f.js", long.join("/")), "js");
            }),
        ),
        (
            "not utf-8",
            "not UTF-8",
            Box::new(|d| {
                put(d, "index.html", "<html>");
                std::fs::write(d.join(std::ffi::OsStr::from_bytes(b"caf\xe9.html")), "x").unwrap();
            }),
        ),
        (
            "too many files",
            "more than 3 files (frontend.max-files)",
            Box::new(|d| {
                for name in ["index.html", "a.js", "b.js", "c.js"] {
                    put(d, name, "x");
                }
            }),
        ),
        (
            "link outside",
            "points outside the site directory",
            Box::new(|d| {
                put(d, "index.html", "<html>");
                std::os::unix::fs::symlink(&outside, d.join("leak.txt")).unwrap();
            }),
        ),
    ];
    for (what, expect, setup) in cases {
        let _ = std::fs::remove_dir_all(&site);
        std::fs::create_dir_all(&site).unwrap();
        setup(&site);
        with_frontend(&w, "  max-files: 3\n");
        let before = w.requests().len();
        let (code, out, err) = deploy_both(&w, &[]);
        assert_eq!(code, 2, "{what}: stdout:\n{out}\nstderr:\n{err}");
        assert!(err.contains(expect), "{what}: {err}");
        let calls = w.requests();
        let writes: Vec<_> = calls[before..].iter().filter(|r| r.write).collect();
        assert!(writes.is_empty(), "{what}: wrote {writes:?}");
    }
    assert!(w.releases().is_empty());
    // The service still runs the task definition it started with: the backend never rolled.
    assert_eq!(w.service_td(), w.initial_td);
}

#[test]
fn a_site_that_fails_after_the_backend_rolled_is_recorded_as_backend_succeeded_site_failed() {
    let w = World::new("hd-half");
    let site = w.path().join("site");
    put(&site, "index.html", "<html>v1</html>");
    put(&site, "assets/broken-0a1b2c3d.js", "export default 1;\n");
    with_frontend(&w, "");
    let proxy = fault_proxy(&common::endpoint(), |_, method, path| {
        if method == "PUT" && path.contains("broken") {
            Fault::SlowDown
        } else {
            Fault::Pass
        }
    });
    let (code, out, err) = deploy_both(&w, &[("AWS_ENDPOINT_URL_S3", &proxy.url)]);
    assert_eq!(code, 1, "stdout:\n{out}\nstderr:\n{err}");
    assert!(err.contains("assets/broken-0a1b2c3d.js"), "{err}");
    // The backend rolled to a new revision.
    assert_ne!(w.service_td(), w.initial_td);
    let releases = w.releases();
    assert_eq!(releases.len(), 1, "{releases:?}");
    let r = &releases[0];
    assert_eq!(r["status"], "failed");
    assert_eq!(r["backend"]["status"], "succeeded");
    assert_eq!(r["backend"]["task_definition_arn"], w.service_td().as_str());
    assert_eq!(r["site"]["status"], "failed");
    assert!(
        r["site"]["failure"]
            .as_str()
            .unwrap()
            .contains("assets/broken-0a1b2c3d.js"),
        "{r}"
    );
}

/// One value in every secret input; it must never be printed.
const CANARY: &str = "cnry-5f0e7d1c9b3a-secret";

/// Every place a run could print to: stdout, stderr, the step summary and outputs files.
struct Seen {
    what: String,
    code: i32,
    text: String,
}

fn run_canary(w: &World, what: &str, args: &[&str], env: &[(&str, &str)]) -> Seen {
    let summary = w.path().join("step-summary.md");
    let outputs = w.path().join("github-output");
    let _ = std::fs::remove_file(&summary);
    let _ = std::fs::remove_file(&outputs);
    let mut cmd = w.deckhand();
    cmd.env("AWS_SECRET_ACCESS_KEY", CANARY)
        .env("AWS_SESSION_TOKEN", CANARY)
        .env("GITHUB_TOKEN", CANARY)
        .env("INPUT_GITHUB-TOKEN", CANARY)
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("GITHUB_OUTPUT", &outputs)
        .arg("-vv");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.args(args).output().unwrap();
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    for f in [&summary, &outputs] {
        text.push_str(&std::fs::read_to_string(f).unwrap_or_default());
    }
    Seen {
        what: what.to_string(),
        code: out.status.code().unwrap_or(-1),
        text,
    }
}

/// The ECR token (and the password inside it) may appear only in the runner's mask command.
fn ecr_secrets() -> Vec<String> {
    use base64::Engine as _;
    let token = world::ecr_token();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(&token)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let password = decoded.split_once(':').map(|(_, p)| p.to_string());
    let mut out = vec![token];
    out.extend(password.filter(|p| p.len() >= 8));
    out
}

fn assert_clean(seen: &Seen, ecr: &[String]) {
    for line in seen.text.lines() {
        assert!(
            !line.contains(CANARY),
            "{} (exit {}) printed the canary: {line}",
            seen.what,
            seen.code
        );
        for secret in ecr {
            assert!(
                !line.contains(secret.as_str()) || line.starts_with("::add-mask::"),
                "{} (exit {}) printed the ECR token: {line}",
                seen.what,
                seen.code
            );
        }
    }
}

#[test]
fn a_canary_in_every_secret_input_never_reaches_stdout_stderr_or_the_step_summary() {
    let w = World::new("hd-canary");
    world::block_on(async {
        world::clients()
            .await
            .ssm
            .put_parameter()
            .name(&w.parameter)
            .value(CANARY)
            .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
            .overwrite(true)
            .send()
            .await
            .unwrap();
    });
    let site = w.path().join("site");
    put(&site, "index.html", "<html>v1</html>");
    put(&site, "assets/app-0a1b2c3d.js", "export default 1;\n");
    let backend_extra = format!("  build-args: {{ NPM_TOKEN: {CANARY} }}\n");
    let frontend = format!("frontend:\n  dir: site\n  bucket: {}\n", w.bucket);
    w.write_config(&format!("{backend_extra}{frontend}"));
    let ecr = ecr_secrets();
    let mut runs = Vec::new();
    let mut expect = |seen: Seen, code: i32| {
        assert_eq!(seen.code, code, "{}:\n{}", seen.what, seen.text);
        assert_clean(&seen, &ecr);
        runs.push(seen.what);
    };

    expect(
        run_canary(&w, "validate --online", &["validate", "--online"], &[]),
        0,
    );
    expect(
        run_canary(&w, "deploy --dry-run", &["deploy", "--dry-run"], &[]),
        0,
    );
    expect(
        run_canary(
            &w,
            "plan --detailed-exitcode",
            &["plan", "--detailed-exitcode"],
            &[],
        ),
        6,
    );
    // A build-arg on the command line and as an action input, too.
    expect(
        run_canary(
            &w,
            "deploy",
            &["deploy", "--build-arg", &format!("FLAG_TOKEN={CANARY}")],
            &[("INPUT_BUILD-ARG", &format!("INPUT_TOKEN={CANARY}"))],
        ),
        0,
    );
    // -vv really logs the SDK (attempts, retries), just not its payloads.
    let status = run_canary(&w, "status", &["status"], &[]);
    assert!(
        status.text.contains("beginning attempt #1"),
        "{}",
        status.text
    );
    expect(status, 0);
    expect(
        run_canary(&w, "status --json", &["status", "--json"], &[]),
        0,
    );
    expect(run_canary(&w, "plan --json", &["plan", "--json"], &[]), 0);

    // A failing build quotes its command: names only.
    let dockerfile = w.context().join("Dockerfile");
    let good = std::fs::read_to_string(&dockerfile).unwrap();
    std::fs::write(
        &dockerfile,
        format!("{good}COPY missing.txt /missing.txt\n"),
    )
    .unwrap();
    expect(run_canary(&w, "deploy (build fails)", &["deploy"], &[]), 1);
    std::fs::write(&dockerfile, &good).unwrap();

    // Tasks fail: exit 3 with the evidence.
    std::fs::write(w.context().join("hello.txt"), "hello, failing\n").unwrap();
    w.sim(serde_json::json!({"scenario": "tasks-fail", "step-seconds": 0.1}));
    expect(
        run_canary(
            &w,
            "deploy (tasks fail)",
            &["deploy", "--only", "backend"],
            &[],
        ),
        3,
    );
    // A stuck rollout: exit 4.
    std::fs::write(w.context().join("hello.txt"), "hello, stuck\n").unwrap();
    w.sim(serde_json::json!({"scenario": "stuck", "step-seconds": 0.1}));
    expect(
        run_canary(
            &w,
            "deploy (stuck)",
            &["deploy", "--only", "backend", "--wait-timeout", "1s"],
            &[],
        ),
        4,
    );
    w.sim(serde_json::json!({"scenario": "healthy", "step-seconds": 0.1}));
    // A missing SSM parameter: exit 2.
    expect(
        run_canary(
            &w,
            "deploy (missing parameter)",
            &["deploy", "--secret", "OTHER=/nowhere/none"],
            &[],
        ),
        2,
    );
    // Bad site input: exit 2.
    std::os::unix::fs::symlink(w.path().join("deckhand.yml"), site.join("leak.yml")).unwrap();
    expect(run_canary(&w, "deploy (bad site)", &["deploy"], &[]), 2);
    std::fs::remove_file(site.join("leak.yml")).unwrap();
    // The release list and a rollback (planned, then applied) to the last good release.
    expect(run_canary(&w, "releases", &["releases"], &[]), 0);
    expect(
        run_canary(
            &w,
            "rollback --dry-run",
            &["rollback", "--to", "previous", "--dry-run"],
            &[],
        ),
        0,
    );
    expect(
        run_canary(&w, "rollback", &["rollback", "--to", "previous"], &[]),
        0,
    );
    // A lock held by someone else: exit 5.
    world::block_on(async {
        world::clients()
            .await
            .s3
            .put_object()
            .bucket(&w.bucket)
            .key("_deckhand/lock")
            .body(
                serde_json::json!({
                    "holder": "someone else", "release_id": "20261201T000000000Z-0000000",
                    "run_url": null, "acquired_at": "2026-12-01T00:00:00Z",
                    "expires_at": "2099-01-01T00:00:00Z"
                })
                .to_string()
                .into_bytes()
                .into(),
            )
            .send()
            .await
            .unwrap();
    });
    std::fs::write(w.context().join("hello.txt"), "hello, locked\n").unwrap();
    let locked = run_canary(&w, "deploy (locked)", &["deploy"], &[]);
    assert_clean(&locked, &ecr);
    assert_eq!(locked.code, 5, "deploy (locked):\n{}", locked.text);
    runs.push(locked.what);
    assert_eq!(runs.len(), 16, "{runs:?}");
}
