//! Hardening (issue 14) against the local AWS stack: bad site input stops a two-half deploy before
//! any write, a site that fails after the backend rolled is recorded as such, and no secret input
//! ever reaches stdout, stderr or the step summary.
#![allow(clippy::unwrap_used)]

mod common;
#[path = "common/frontend.rs"]
mod site;
#[path = "common/backend.rs"]
mod world;

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
