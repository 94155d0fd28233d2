//! Garbage collection against the local stack: it deletes only what deckhand published (the
//! ownership index, written before the upload), keeps distinct site versions counting the grace
//! from when a key stopped being live, adopts a bucket only when asked; unhashed files are mutable.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

use crate::common;
use crate::site;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use common::{deckhand, request_mark, requests_since};
use site::{Fault, Fixture, body, fault_proxy, key_of, keys, owned_keys, put_foreign};

fn run(cfg: &Path, args: &[&str]) -> (i32, String, String) {
    let out = deckhand()
        .env("CI", "true")
        .arg("--config")
        .arg(cfg)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `deckhand deploy --only frontend <args>`, which must succeed: its stdout.
fn deploy(cfg: &Path, args: &[&str]) -> String {
    let mut all = vec!["deploy", "--only", "frontend"];
    all.extend_from_slice(args);
    let (code, out, err) = run(cfg, &all);
    assert_eq!(code, 0, "{args:?}\nstdout:\n{out}\nstderr:\n{err}");
    out
}

fn rollback_previous(cfg: &Path) -> String {
    let (code, out, err) = run(cfg, &["rollback", "--to", "previous", "--only", "frontend"]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    out
}

fn site_keys(all: &[String]) -> BTreeSet<String> {
    all.iter()
        .filter(|k| !k.starts_with("_deckhand/"))
        .cloned()
        .collect()
}

const FOREIGN: [(&str, &[u8]); 3] = [
    ("downloads/app.zip", b"PK\x03\x04 an installer"),
    (
        ".well-known/security.txt",
        b"Contact: mailto:security@example.com\n",
    ),
    (
        "assets/other-tool.js",
        b"console.log('uploaded by another tool')\n",
    ),
];

#[tokio::test(flavor = "multi_thread")]
async fn gc_deletes_only_what_deckhand_published_and_names_the_rest() {
    let fx = Fixture::new(false).await;
    for (key, bytes) in FOREIGN {
        put_foreign(&fx.bucket, key, bytes).await;
    }
    let cfg = fx.config("  keep-releases: 1\n  gc-grace: 0s\n");
    let v1 = fx.build(1, false);
    deploy(&cfg, &[]);
    let v2 = fx.build(2, false);
    deploy(&cfg, &[]);
    // A person overwrites v1's CSS by hand (a hotfix), after deckhand published it.
    let v1_css = key_of(&v1, "assets/index-", ".css");
    put_foreign(&fx.bucket, &v1_css, b"body{color:red}\n").await;

    fx.build(3, false);
    let (code, plan, err) = run(&cfg, &["deploy", "--only", "frontend", "--dry-run"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        plan.contains(
            "not managed by deckhand (kept): 3 keys: .well-known/security.txt, assets/other-tool.js, downloads/app.zip"
        ),
        "{plan}"
    );
    assert!(
        plan.contains(
            "changed by hand after deckhand published them (kept, no longer managed): 1 key"
        ) && plan.contains(&format!("      - {v1_css}")),
        "{plan}"
    );
    let v1_chunk = key_of(&v1, "assets/index-", ".js");
    assert!(plan.contains(&format!("      - {v1_chunk}")), "{plan}");
    let (code, json, err) = run(
        &cfg,
        &["deploy", "--only", "frontend", "--dry-run", "--json"],
    );
    assert_eq!(code, 0, "{err}");
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["frontend"]["gc"]["foreign"]["count"], 3, "{json}");
    let delete: Vec<&str> = json["frontend"]["gc"]["delete"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(delete.contains(&v1_chunk.as_str()), "{delete:?}");
    assert!(
        FOREIGN.iter().all(|(k, _)| !delete.contains(k)) && !delete.contains(&v1_css.as_str()),
        "{delete:?}"
    );

    let out = deploy(&cfg, &["--json"]);
    // The collection is a phase of its own in the timings.
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(
        doc["timings"]["phases"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "garbage collection"),
        "{out}"
    );
    // v1's own files are gone (GC ran), the others' files are untouched, byte for byte.
    let live = keys(&fx.bucket).await;
    assert!(!live.contains(&v1_chunk), "{live:?}");
    for (key, bytes) in FOREIGN {
        assert_eq!(body(&fx.bucket, key).await, bytes, "{key}");
    }
    assert_eq!(body(&fx.bucket, &v1_css).await, b"body{color:red}\n");
    // The overwritten key is no longer deckhand's; the previous site (v2) is all there.
    assert!(!owned_keys(&fx.bucket).await.contains(&v1_css));
    for (key, _, _) in &v2.expected {
        assert!(live.contains(key), "{key} of the previous site");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deploy_killed_mid_upload_leaves_no_key_deckhand_does_not_own() {
    let fx = Fixture::new(false).await;
    put_foreign(&fx.bucket, FOREIGN[0].0, FOREIGN[0].1).await;
    let cfg = fx.config("  keep-releases: 1\n  gc-grace: 0s\n");
    fx.build(1, false);
    deploy(&cfg, &[]);

    // v2 stalls on its HTML (phase 3): every asset and rollback copy is up, then SIGKILL.
    let v2 = fx.build(2, false);
    let bucket = fx.bucket.clone();
    let stalled = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = stalled.clone();
    let proxy = fault_proxy(&common::endpoint(), move |_, method, path| {
        if method == "PUT" && path.split('?').next() == Some(&format!("/{bucket}/index.html")) {
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
            std::thread::sleep(Duration::from_secs(60));
        }
        Fault::Pass
    });
    let cfg_path = cfg.display().to_string();
    let mut child = site::spawn_deckhand(
        &["deploy", "--only", "frontend", "--config", &cfg_path],
        &[("AWS_ENDPOINT_URL_S3", proxy.url.as_str())],
    );
    let started = std::time::Instant::now();
    while !stalled.load(std::sync::atomic::Ordering::SeqCst) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the deploy never reached its HTML"
        );
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the deploy ended before its HTML: {status}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();

    let v2_chunk = key_of(&v2, "assets/index-", ".js");
    let live = keys(&fx.bucket).await;
    assert!(live.contains(&v2_chunk), "v2's assets went up: {live:?}");
    let owned = owned_keys(&fx.bucket).await;
    let unowned: Vec<String> = site_keys(&live)
        .into_iter()
        .filter(|k| !owned.contains(k) && k.as_str() != FOREIGN[0].0)
        .collect();
    assert!(unowned.is_empty(), "written, not owned: {unowned:?}");
    assert_eq!(
        fx.release_ids().await.len(),
        1,
        "no record for the killed deploy"
    );

    // The killed deploy still holds the lock: an operator removes it; v3 publishes, and v2's
    // orphans (never live, deckhand's bytes: confirmed by HEAD) are collected, the foreign file
    // is not.
    let (code, _, err) = run(&cfg, &["unlock", "--force"]);
    assert_eq!(code, 0, "{err}");
    fx.build(3, false);
    let mark = request_mark();
    deploy(&cfg, &[]);
    assert!(
        requests_since(mark)
            .iter()
            .any(|r| r.operation == "HeadObject" && r.path.ends_with(&v2_chunk)),
        "the orphan was checked"
    );
    let live = keys(&fx.bucket).await;
    assert!(!live.contains(&v2_chunk), "{live:?}");
    assert_eq!(body(&fx.bucket, FOREIGN[0].0).await, FOREIGN[0].1);
}

#[tokio::test(flavor = "multi_thread")]
async fn keep_releases_counts_distinct_site_versions_not_rollbacks() {
    let fx = Fixture::new(false).await;
    let cfg = fx.config("  keep-releases: 4\n  gc-grace: 0s\n");
    let v1 = fx.build(1, false);
    deploy(&cfg, &[]);
    let v1_id = fx.release_ids().await.pop().unwrap();
    fx.build(2, false);
    deploy(&cfg, &[]);
    fx.build(3, false);
    deploy(&cfg, &[]);
    // Two rollbacks (to v2, then back to v3): records, but no new site version.
    rollback_previous(&cfg);
    rollback_previous(&cfg);
    fx.build(4, false);
    deploy(&cfg, &[]);
    // Kept: v4, v3, v2, v1 — four distinct versions.
    let v1_chunk = key_of(&v1, "assets/index-", ".js");
    assert!(keys(&fx.bucket).await.contains(&v1_chunk));
    let (code, out, err) = run(&cfg, &["releases", "--json"]);
    assert_eq!(code, 0, "{err}");
    let rows: serde_json::Value = serde_json::from_str(&out).unwrap();
    let row = rows["releases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == v1_id.as_str())
        .unwrap()
        .clone();
    assert_eq!(row["restorable"], true, "{row}");
    // A fifth version pushes v1 out.
    fx.build(5, false);
    deploy(&cfg, &[]);
    assert!(!keys(&fx.bucket).await.contains(&v1_chunk));
    assert_eq!(fx.release_ids().await.len(), 7, "every record stays");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_grace_counts_from_when_a_file_stopped_being_live() {
    let fx = Fixture::new(false).await;
    // v3 is planned right after v2: well within the grace even on a loaded machine.
    let cfg = fx.config("  keep-releases: 1\n  gc-grace: 8s\n");
    let v1 = fx.build(1, false);
    deploy(&cfg, &[]);
    // v1's files were uploaded more than the grace ago, but were live until v2.
    std::thread::sleep(Duration::from_secs(9));
    fx.build(2, false);
    deploy(&cfg, &[]);
    fx.build(3, false);
    let plan = deploy(&cfg, &[]);
    let v1_chunk = key_of(&v1, "assets/index-", ".js");
    assert!(
        keys(&fx.bucket).await.contains(&v1_chunk),
        "v1 stopped being live seconds ago: an open tab may still load it\n{plan}"
    );
    assert!(plan.contains("unreferenced for less than that"), "{plan}");
}

#[tokio::test(flavor = "multi_thread")]
async fn adopt_takes_over_a_bucket_aws_s3_sync_filled_and_shows_what_it_deletes() {
    let fx = Fixture::new(false).await;
    // What an earlier `aws s3 sync dist s3://bucket` left.
    put_foreign(&fx.bucket, "index.html", b"<!doctype html><p>old").await;
    put_foreign(
        &fx.bucket,
        "assets/index-Old1Abcd.js",
        b"console.log('old')",
    )
    .await;
    put_foreign(&fx.bucket, "downloads/app.zip", b"PK").await;
    let cfg = fx.config("  gc-grace: 0s\n");
    fx.build(1, false);
    let plan = deploy(&cfg, &[]);
    assert!(
        plan.contains(
            "not managed by deckhand (kept): 2 keys: assets/index-Old1Abcd.js, downloads/app.zip"
        ),
        "{plan}"
    );
    // The same build: nothing to do, unless adopting.
    let plan = deploy(&cfg, &["--dry-run"]);
    assert!(plan.contains("no changes"), "{plan}");
    let mark = request_mark();
    let plan = deploy(&cfg, &["--adopt", "--dry-run"]);
    assert!(
        plan.contains(
            "adopt 2 keys deckhand did not publish (frontend.adopt): 2 in no kept site version, garbage-collected once unreferenced for 0s"
        ) && plan.contains("      - assets/index-Old1Abcd.js")
            && plan.contains("      - downloads/app.zip"),
        "{plan}"
    );
    let writes: Vec<_> = requests_since(mark)
        .into_iter()
        .filter(|r| r.write && r.path.contains(&fx.bucket))
        .collect();
    assert!(writes.is_empty(), "{writes:?}");
    // The env var (and the action input) say the same as the flag.
    let out = deckhand()
        .env("CI", "true")
        .env("DECKHAND_ADOPT", "true")
        .args(["deploy", "--only", "frontend", "--config"])
        .arg(&cfg)
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(stdout.contains("adopt 2 keys"), "{stdout}");
    let live = keys(&fx.bucket).await;
    assert!(
        !live.contains(&"assets/index-Old1Abcd.js".to_string())
            && !live.contains(&"downloads/app.zip".to_string()),
        "{live:?}"
    );
    assert!(live.contains(&"index.html".to_string()));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unhashed_file_under_assets_is_mutable_and_restored_by_sha256() {
    let fx = Fixture::new(true).await;
    let cfg = fx.config("");
    let logo = fx.dist().join("assets/logo.png");
    fx.build(1, false);
    std::fs::write(&logo, b"PNG logo one").unwrap();
    deploy(&cfg, &[]);
    let obj = site::get(&fx.bucket, "assets/logo.png").await;
    assert_eq!(obj.cache_control(), Some("no-cache"), "not immutable");
    let one = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(b"PNG logo one"));
    assert!(
        keys(&fx.bucket)
            .await
            .contains(&format!("_deckhand/objects/{one}"))
    );
    let record = fx.newest_record().await;
    assert_eq!(record["site"]["files"]["assets/logo.png"]["hashed"], false);

    // v2: new bytes of the same size under the same name: uploaded and invalidated.
    fx.build(2, false);
    std::fs::write(&logo, b"PNG logo two").unwrap();
    deploy(&cfg, &[]);
    let dist = fx.distribution.clone().unwrap();
    let last = site::invalidations(&dist).await.pop().unwrap();
    assert!(last.contains(&"/assets/logo.png".to_string()), "{last:?}");
    assert_eq!(body(&fx.bucket, "assets/logo.png").await, b"PNG logo two");

    // Rollback: v1's bytes come back (from _deckhand/objects/, by sha256).
    let out = rollback_previous(&cfg);
    assert!(out.contains("assets/logo.png"), "{out}");
    assert_eq!(body(&fx.bucket, "assets/logo.png").await, b"PNG logo one");
    let obj = site::get(&fx.bucket, "assets/logo.png").await;
    assert_eq!(obj.cache_control(), Some("no-cache"));
}
