//! Garbage collection and the ownership index at the edges a review found: a deploy that stops
//! after its record (SIGKILL, a cancel) still counts as a site version, and what the world does to
//! the bucket meanwhile.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

use crate::common;
use crate::site;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::deckhand;
use site::{Fault, Fixture, fault_proxy, key_of, keys};

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

fn deploy(cfg: &Path) -> String {
    let (code, out, err) = run(cfg, &["deploy", "--only", "frontend"]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    out
}

/// Runs `deckhand deploy --only frontend` with S3 behind a proxy that holds the `nth` (from 1)
/// PutObject of `key` until the deploy is killed (SIGKILL), then kills it there.
fn deploy_killed_at_put(fx: &Fixture, cfg: &Path, key: &str, nth: usize) {
    let path = format!("/{}/{key}", fx.bucket);
    let seen = AtomicUsize::new(0);
    deploy_killed_at(cfg, &format!("PutObject #{nth} of {key}"), move |p| {
        p == path && seen.fetch_add(1, Ordering::SeqCst) + 1 == nth
    });
}

/// Runs `deckhand deploy --only frontend` with S3 behind a proxy that holds the first PutObject
/// whose path (`/bucket/key`) `hold` picks until the deploy is killed (SIGKILL), kills it there
/// and removes its lock (`unlock --force`).
fn deploy_killed_at(cfg: &Path, what: &str, hold: impl Fn(&str) -> bool + Send + Sync + 'static) {
    let stalled = Arc::new(AtomicBool::new(false));
    let flag = stalled.clone();
    let proxy = fault_proxy(&common::endpoint(), move |_, method, p| {
        if method == "PUT" && !flag.load(Ordering::SeqCst) && hold(p.split('?').next().unwrap_or(p))
        {
            flag.store(true, Ordering::SeqCst);
            std::thread::sleep(Duration::from_secs(60));
        }
        Fault::Pass
    });
    let cfg = cfg.display().to_string();
    let mut child = site::spawn_deckhand(
        &["deploy", "--only", "frontend", "--config", &cfg],
        &[("AWS_ENDPOINT_URL_S3", proxy.url.as_str())],
    );
    let started = Instant::now();
    while !stalled.load(Ordering::SeqCst) {
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "the deploy never reached {what}"
        );
        if let Some(status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            panic!(
                "the deploy ended ({status}) before {what}:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let (code, _, err) = run(Path::new(&cfg), &["unlock", "--force"]);
    assert_eq!(code, 0, "{err}");
}

/// History I1 (run seed 451825623307, shrunk to 4 steps): a deploy killed after its HTML went up
/// and before its record leaves live a site no record names; open tabs load its assets. With
/// keep-releases 1 and gc-grace 0s the next publish kept only its own version and the recorded
/// one, and collected the live site's assets (the ownership index names them, none of the kept
/// manifests does) — the previously live index.html then referenced a file the bucket no longer
/// had. They stay for that publish, and go at the one after it.
#[tokio::test(flavor = "multi_thread")]
async fn the_assets_of_a_site_left_live_by_a_killed_deploy_outlive_the_next_publish() {
    let fx = Fixture::new(false).await;
    let cfg = fx.config("  keep-releases: 1\n  gc-grace: 0s\n");
    let v1 = fx.build(1, false);
    deploy(&cfg);
    // v2: every file is up, index.html last; killed as it writes its record.
    let v2 = fx.build(2, false);
    let records = format!("/{}/_deckhand/releases/", fx.bucket);
    deploy_killed_at(&cfg, "the record", move |p| p.starts_with(&records));
    assert_eq!(fx.release_ids().await.len(), 1, "v2 has no record");
    let v2_index = std::fs::read(fx.dist().join("index.html")).unwrap();
    assert_eq!(
        site::body(&fx.bucket, "index.html").await,
        v2_index,
        "v2 is live"
    );
    let v2_chunk = key_of(&v2, "assets/index-", ".js");
    let v1_chunk = key_of(&v1, "assets/index-", ".js");
    fx.build(3, false);
    let out = deploy(&cfg);
    let live = keys(&fx.bucket).await;
    assert!(
        live.contains(&v2_chunk),
        "v2 was live until v3: {v2_chunk} must stay\n{out}"
    );
    assert!(
        live.contains(&v1_chunk),
        "v1 is the recorded version before v3"
    );
    // v4: v2 was never recorded and is two versions back now; v1 is not kept either.
    fx.build(4, false);
    let out = deploy(&cfg);
    let live = keys(&fx.bucket).await;
    assert!(!live.contains(&v2_chunk), "{v2_chunk} goes at v4\n{out}");
    assert!(!live.contains(&v1_chunk), "{v1_chunk} goes at v4\n{out}");
}

/// keep-releases counts the distinct site versions in the order they were live. A deploy killed
/// after writing its record but before rewriting the ownership index (where the list of site
/// versions lives) was live all the same: it must keep its place in that order. Before the fix,
/// the index never learnt of it; two deploys later it was neither the live site nor in the
/// index's list, so its files were collected while an older version's were kept.
#[tokio::test(flavor = "multi_thread")]
async fn a_site_version_killed_after_its_record_keeps_its_place_among_the_kept() {
    let fx = Fixture::new(false).await;
    let cfg = fx.config("  keep-releases: 3\n  gc-grace: 0s\n");
    let v1 = fx.build(1, false);
    deploy(&cfg);
    // v2: its record is written, then it is killed at its second index write (after the record).
    let v2 = fx.build(2, false);
    deploy_killed_at_put(&fx, &cfg, "_deckhand/ownership.json", 2);
    assert_eq!(fx.release_ids().await.len(), 2, "v2 is recorded");
    fx.build(3, false);
    deploy(&cfg);
    fx.build(4, false);
    let out = deploy(&cfg);
    // Live order: v4, v3, v2, v1. keep-releases 3: v4, v3 and v2 stay; v1 goes.
    let live = keys(&fx.bucket).await;
    let v2_chunk = key_of(&v2, "assets/index-", ".js");
    let v1_chunk = key_of(&v1, "assets/index-", ".js");
    assert!(
        live.contains(&v2_chunk),
        "v2 was live two versions ago: {v2_chunk} must stay\n{out}"
    );
    assert!(
        !live.contains(&v1_chunk),
        "v1 is the fourth version back: {v1_chunk} goes\n{out}"
    );
}

/// Garbage collection decides when planning which of deckhand's files to delete; it deletes them
/// after the upload, the record and the invalidation (minutes, with `invalidation.wait`). A person
/// who overwrites one of them meanwhile (a hotfix) made it theirs: the delete is conditional on the
/// ETag deckhand planned with (S3's conditional deletes), so their bytes stay, and the index no
/// longer claims the key. Before the fix, DeleteObjects deleted whatever was there.
#[tokio::test(flavor = "multi_thread")]
async fn a_file_overwritten_by_hand_while_the_deploy_runs_is_not_collected() {
    let fx = Fixture::new(false).await;
    let cfg = fx.config("  keep-releases: 1\n  gc-grace: 0s\n");
    let v1 = fx.build(1, false);
    deploy(&cfg);
    fx.build(2, false);
    deploy(&cfg);
    fx.build(3, false);
    let v1_chunk = key_of(&v1, "assets/index-", ".js");
    let (code, plan, err) = run(&cfg, &["deploy", "--only", "frontend", "--dry-run"]);
    assert_eq!(code, 0, "{err}");
    assert!(plan.contains(&format!("      - {v1_chunk}")), "{plan}");

    // v3 holds on its record's PutObject (after the lock, the re-read and the upload).
    let records = format!("/{}/_deckhand/releases/", fx.bucket);
    let stalled = Arc::new(AtomicBool::new(false));
    let go = Arc::new(AtomicBool::new(false));
    let (flag, gate) = (stalled.clone(), go.clone());
    let proxy = fault_proxy(&common::endpoint(), move |_, method, p| {
        if method == "PUT" && p.starts_with(&records) && !flag.swap(true, Ordering::SeqCst) {
            while !gate.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Fault::Pass
    });
    let cfg_path = cfg.display().to_string();
    let child = site::spawn_deckhand(
        &["deploy", "--only", "frontend", "--config", &cfg_path],
        &[("AWS_ENDPOINT_URL_S3", proxy.url.as_str())],
    );
    let started = Instant::now();
    while !stalled.load(Ordering::SeqCst) {
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "never wrote its record"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    site::put_foreign(&fx.bucket, &v1_chunk, b"console.log('hotfix')\n").await;
    go.store(true, Ordering::SeqCst);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        keys(&fx.bucket).await.contains(&v1_chunk),
        "the person's file was deleted\n{stderr}"
    );
    assert_eq!(
        site::body(&fx.bucket, &v1_chunk).await,
        b"console.log('hotfix')\n"
    );
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&v1_chunk) && stderr.contains("changed since"),
        "the deploy says which file it kept and why\n{stderr}"
    );
    assert!(!site::owned_keys(&fx.bucket).await.contains(&v1_chunk));
}

/// Both writes of the ownership index are conditional (`If-None-Match: *` for the first, then
/// `If-Match` on the ETag read). When a write lands but its answer is lost (a reset connection),
/// the SDK retries it and S3 answers 412: the index is the one this deploy wrote, not another's.
/// Before the fix the deploy failed there ("it changed since this deploy read it") — before the
/// upload for the first write, after the GC for the second (the record then said pending).
#[tokio::test(flavor = "multi_thread")]
async fn an_index_write_whose_answer_was_lost_is_not_taken_for_another_writer() {
    let fx = Fixture::new(false).await;
    let cfg = fx.config("  keep-releases: 1\n  gc-grace: 0s\n");
    let index = format!("/{}/_deckhand/ownership.json", fx.bucket);
    let puts = AtomicUsize::new(0);
    // Every first attempt of an index write lands unheard; its retry gets S3's answer.
    let proxy = fault_proxy(&common::endpoint(), move |_, method, p| {
        if method == "PUT"
            && p.split('?').next() == Some(index.as_str())
            && puts.fetch_add(1, Ordering::SeqCst).is_multiple_of(2)
        {
            Fault::Landed
        } else {
            Fault::Pass
        }
    });
    for version in [1, 2] {
        let v = fx.build(version, false);
        let out = deckhand()
            .env("CI", "true")
            .env("AWS_ENDPOINT_URL_S3", &proxy.url)
            .env("DECKHAND_RETRY_BACKOFF_MS", "20")
            .args(["deploy", "--only", "frontend", "--config"])
            .arg(&cfg)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "v{version}:\n{stderr}");
        let owned = site::owned_keys(&fx.bucket).await;
        let chunk = key_of(&v, "assets/index-", ".js");
        assert!(owned.contains(&chunk), "v{version}: {owned:?}");
        let record = fx.newest_record().await;
        assert!(
            record["site"].get("pending").is_none(),
            "v{version}: {record}"
        );
    }
    assert!(
        proxy.faults.load(Ordering::SeqCst) >= 3,
        "the answers were lost"
    );
}

/// `frontend.hashed-names` (Vite's `name-HASH.ext`) is a pattern: a file copied from `public/`
/// whose name merely looks like one (`og-1200x630.png`) is taken for content-hashed — immutable,
/// no rollback copy. Once its bytes change under that name, it is not: deckhand treats it as
/// mutable from then on (stored, restored by sha256, its cache rule an unhashed name's). Before
/// the fix v2's new bytes went up immutable with no rollback copy, and a rollback to v2 (from v3)
/// refused: "garbage-collected".
#[tokio::test(flavor = "multi_thread")]
async fn a_name_that_only_looks_hashed_is_mutable_once_its_bytes_change() {
    let fx = Fixture::new(true).await;
    let cfg = fx.config("");
    let og = "assets/og-1200x630.png";
    let publish = |version: u32, bytes: &'static [u8]| {
        fx.build(version, false);
        std::fs::write(fx.dist().join(og), bytes).unwrap();
        deploy(&cfg)
    };
    publish(1, b"PNG social card one");
    assert_eq!(
        site::get(&fx.bucket, og).await.cache_control(),
        Some(site::IMMUTABLE),
        "it looks hashed: immutable until shown otherwise"
    );
    let out = publish(2, b"PNG social card two");
    let obj = site::get(&fx.bucket, og).await;
    assert_eq!(obj.cache_control(), Some("no-cache"), "{out}");
    let two = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
        b"PNG social card two",
    ));
    assert!(
        keys(&fx.bucket)
            .await
            .contains(&format!("_deckhand/objects/{two}")),
        "a rollback copy"
    );
    assert_eq!(
        fx.newest_record().await["site"]["files"][og]["hashed"],
        false
    );
    let v2 = fx.release_ids().await.pop().unwrap();
    let last = site::invalidations(fx.distribution.as_deref().unwrap())
        .await
        .pop()
        .unwrap();
    assert!(last.contains(&format!("/{og}")), "{last:?}");

    // v3 changes it again; a rollback to v2 brings v2's bytes back.
    publish(3, b"PNG social card three");
    let (code, out, err) = run(&cfg, &["rollback", "--to", &v2, "--only", "frontend"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(site::body(&fx.bucket, og).await, b"PNG social card two");
    // The same bytes again: still mutable (no flip back to immutable).
    let out = publish(4, b"PNG social card two");
    assert_eq!(
        site::get(&fx.bucket, og).await.cache_control(),
        Some("no-cache"),
        "{out}"
    );
}
