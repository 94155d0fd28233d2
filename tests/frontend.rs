//! Frontend publish against the local AWS stack: keys, bytes and headers; no-op re-runs; header
//! updates by copy; publish order; faults; drift.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

use crate::common;
use crate::site;

use std::collections::BTreeSet;
use std::path::Path;

use sha2::{Digest as _, Sha256};

use common::{Request, deckhand, endpoint, filters, request_mark, requests_since};
use site::{Fault, Fixture, IMMUTABLE, copy_tree, fault_proxy, get, invalidations, keys};

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn deploy(cfg: &Path, args: &[&str]) -> assert_cmd::assert::Assert {
    deploy_with(cfg, args, &[])
}

fn deploy_with(cfg: &Path, args: &[&str], env: &[(&str, &str)]) -> assert_cmd::assert::Assert {
    let mut cmd = deckhand();
    cmd.envs(env.iter().copied());
    cmd.env("CI", "true")
        .args(["deploy", "--only", "frontend", "--config"])
        .arg(cfg)
        .args(args);
    cmd.assert()
}

fn deploy_ok(cfg: &Path) -> String {
    let out = deploy(cfg, &[]).success();
    String::from_utf8_lossy(&out.get_output().stdout).to_string()
}

/// The request log since `mark`, only this bucket's S3 requests.
fn bucket_requests(mark: u64, bucket: &str) -> Vec<Request> {
    let prefix = format!("/{bucket}");
    requests_since(mark)
        .into_iter()
        .filter(|r| {
            r.service == "s3" && (r.path == prefix || r.path.starts_with(&format!("{prefix}/")))
        })
        .collect()
}

fn site_key(r: &Request, bucket: &str) -> String {
    r.path
        .strip_prefix(&format!("/{bucket}/"))
        .unwrap_or("")
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn golden_path_publishes_keys_bytes_and_headers_then_a_rebuild_invalidates_only_index_html() {
    let fx = Fixture::new(true).await;
    let site = fx.build(1, true);
    let cfg = fx.config("  invalidation: { wait: true, timeout: 30s }\n");
    let stdout = deploy_ok(&cfg);
    assert!(stdout.contains("phase 1 (immutable assets)"), "{stdout}");

    // Every object: bytes, Content-Type, Cache-Control.
    let live = keys(&fx.bucket).await;
    let site_keys: BTreeSet<_> = live
        .iter()
        .filter(|k| !k.starts_with("_deckhand/"))
        .cloned()
        .collect();
    let expected: BTreeSet<_> = site.expected.iter().map(|(k, _, _)| k.clone()).collect();
    assert_eq!(site_keys, expected);
    for (key, ct, cc) in &site.expected {
        let obj = get(&fx.bucket, key).await;
        assert_eq!(obj.content_type(), Some(*ct), "{key}");
        assert_eq!(obj.cache_control(), Some(*cc), "{key}");
        let body = obj.body.collect().await.unwrap().into_bytes();
        assert_eq!(
            body.as_ref(),
            std::fs::read(fx.dist().join(key)).unwrap(),
            "{key}"
        );
    }
    assert!(
        site.expected
            .iter()
            .any(|(k, _, _)| std::fs::metadata(fx.dist().join(k)).unwrap().len() > 8 * 1024 * 1024),
        "the fixture has a multipart-sized file"
    );

    // The release record: manifest of every key; mutable files in the objects store, once.
    let ids = fx.release_ids().await;
    assert_eq!(ids.len(), 1, "{live:?}");
    let record: serde_json::Value = serde_json::from_slice(
        &get(&fx.bucket, &format!("_deckhand/releases/{}.json", ids[0]))
            .await
            .body
            .collect()
            .await
            .unwrap()
            .into_bytes(),
    )
    .unwrap();
    assert_eq!(record["status"], "succeeded");
    assert_eq!(record["site"]["bucket"], fx.bucket.as_str());
    let files = record["site"]["files"].as_object().unwrap();
    assert_eq!(files.len(), site.expected.len());
    let mut mutable_shas = BTreeSet::new();
    for (key, ct, cc) in &site.expected {
        let bytes = std::fs::read(fx.dist().join(key)).unwrap();
        let entry = &files[key];
        assert_eq!(entry["sha256"], sha(&bytes).as_str(), "{key}");
        assert_eq!(entry["size"], bytes.len(), "{key}");
        assert_eq!(entry["content_type"], *ct, "{key}");
        assert_eq!(entry["cache_control"], *cc, "{key}");
        if *cc != IMMUTABLE {
            mutable_shas.insert(sha(&bytes));
            let stored = get(&fx.bucket, &format!("_deckhand/objects/{}", sha(&bytes))).await;
            assert_eq!(
                stored.body.collect().await.unwrap().into_bytes().as_ref(),
                bytes,
                "{key}"
            );
        }
    }
    let stored: BTreeSet<_> = live
        .iter()
        .filter_map(|k| k.strip_prefix("_deckhand/objects/"))
        .map(str::to_string)
        .collect();
    assert_eq!(
        stored, mutable_shas,
        "only mutable files are stored, each once"
    );

    let dist = fx.distribution.clone().unwrap();
    let first = invalidations(&dist).await;
    assert_eq!(
        first,
        [vec![
            "/favicon.svg",
            "/index.html",
            "/manifest.webmanifest",
            "/robots.txt"
        ]]
    );

    // A typical rebuild: new entry chunk + CSS + index.html -> exactly one path.
    fx.build(2, true);
    let stdout = deploy_ok(&cfg);
    assert!(stdout.contains("invalidate"), "{stdout}");
    let all = invalidations(&dist).await;
    assert_eq!(all.len(), 2, "{all:?}");
    assert_eq!(all[1], ["/index.html"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rebuilt_copy_with_fresh_mtimes_makes_no_writes_and_dry_run_writes_nothing() {
    let fx = Fixture::new(true).await;
    fx.build(1, false);
    let cfg = fx.config("");
    deploy_ok(&cfg);

    // Same bytes, every mtime new.
    let old = fx.tmp.path().join("old");
    std::fs::rename(fx.dist(), &old).unwrap();
    copy_tree(&old, &fx.dist());
    let mark = request_mark();
    // The listing split into concurrent ranges (StartAfter) must still see every key.
    let out = deploy_with(&cfg, &[], &[("DECKHAND_LIST_RANGE_KEYS", "3")]).success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(stdout.contains("no changes"), "{stdout}");
    let reqs = bucket_requests(mark, &fx.bucket);
    let writes: Vec<_> = reqs.iter().filter(|r| r.write).collect();
    assert!(writes.is_empty(), "{writes:?}");
    let lists = reqs
        .iter()
        .filter(|r| r.operation == "ListObjectsV2")
        .count();
    assert!(lists >= 4, "11 keys in ranges of 3 known keys: {reqs:?}");
    assert!(
        reqs.iter().all(|r| r.operation != "HeadObject"),
        "no HEAD per object: {reqs:?}"
    );
    assert_eq!(
        invalidations(fx.distribution.as_deref().unwrap())
            .await
            .len(),
        1
    );

    // A real change, planned with --dry-run: printed, not written.
    std::fs::write(fx.dist().join("robots.txt"), "User-agent: *\nDisallow: /\n").unwrap();
    let mark = request_mark();
    let out = deploy(&cfg, &["--dry-run"]).success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(stdout.contains("+ robots.txt"), "{stdout}");
    assert!(stdout.contains("invalidate"), "{stdout}");
    let writes: Vec<_> = requests_since(mark)
        .into_iter()
        .filter(|r| r.write)
        .filter(|r| {
            r.path.contains(&fx.bucket) || r.path.contains(fx.distribution.as_deref().unwrap())
        })
        .collect();
    assert!(writes.is_empty(), "{writes:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_header_rule_change_is_a_copy_and_a_same_size_change_is_uploaded() {
    let fx = Fixture::new(true).await;
    fx.build(1, false);
    deploy_ok(&fx.config(""));
    let robots = std::fs::read(fx.dist().join("robots.txt")).unwrap();

    let cfg = fx.config(
        "  headers:\n    - { match: \"robots.txt\", cache-control: \"public, max-age=300\" }\n",
    );
    let mark = request_mark();
    let stdout = deploy_ok(&cfg);
    assert!(
        stdout.contains("robots.txt cache-control: no-cache -> public, max-age=300"),
        "{stdout}"
    );
    let reqs = bucket_requests(mark, &fx.bucket);
    let copies: Vec<_> = reqs
        .iter()
        .filter(|r| r.operation == "CopyObject")
        .map(|r| site_key(r, &fx.bucket))
        .collect();
    assert_eq!(copies, ["robots.txt"]);
    let site_puts: Vec<_> = reqs
        .iter()
        .filter(|r| {
            matches!(
                r.operation.as_str(),
                "PutObject" | "UploadPart" | "CreateMultipartUpload"
            )
        })
        .map(|r| site_key(r, &fx.bucket))
        .filter(|k| !k.starts_with("_deckhand/"))
        .collect();
    assert!(site_puts.is_empty(), "no bytes uploaded: {site_puts:?}");
    let obj = get(&fx.bucket, "robots.txt").await;
    assert_eq!(obj.cache_control(), Some("public, max-age=300"));
    assert_eq!(obj.content_type(), Some("text/plain; charset=utf-8"));
    assert_eq!(
        obj.body.collect().await.unwrap().into_bytes().as_ref(),
        robots
    );
    let inv = invalidations(fx.distribution.as_deref().unwrap()).await;
    assert_eq!(inv.last().unwrap(), &["/robots.txt"]);

    // Same size, other bytes: uploaded (never skipped by size or mtime).
    let changed = String::from_utf8(robots.clone())
        .unwrap()
        .replace("Allow", "Avoid");
    assert_eq!(changed.len(), robots.len());
    std::fs::write(fx.dist().join("robots.txt"), &changed).unwrap();
    let mark = request_mark();
    deploy_ok(&cfg);
    let puts: Vec<_> = bucket_requests(mark, &fx.bucket)
        .iter()
        .filter(|r| r.operation == "PutObject")
        .map(|r| site_key(r, &fx.bucket))
        .filter(|k| !k.starts_with("_deckhand/"))
        .collect();
    assert_eq!(puts, ["robots.txt"]);
    let obj = get(&fx.bucket, "robots.txt").await;
    assert_eq!(
        obj.body.collect().await.unwrap().into_bytes().as_ref(),
        changed.as_bytes()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn html_goes_last_and_nothing_is_deleted_before_the_record_nor_any_record() {
    let fx = Fixture::new(false).await;
    let v1 = fx.build(1, false);
    let cfg = fx.config("  keep-releases: 1\n  gc-grace: 0s\n");
    deploy_ok(&cfg);
    let v1_index = sha(&std::fs::read(fx.dist().join("index.html")).unwrap());
    let v1_keys: BTreeSet<String> = v1.expected.iter().map(|(k, _, _)| k.clone()).collect();
    // v2: the site live before v3 (kept whatever keep-releases says: it stays restorable).
    let v2 = fx.build(2, false);
    let v2_keys: BTreeSet<String> = v2.expected.iter().map(|(k, _, _)| k.clone()).collect();
    deploy_ok(&cfg);
    let live = keys(&fx.bucket).await;
    assert!(
        v1_keys.iter().all(|k| live.contains(k)),
        "v1 is the previous site: {live:?}"
    );

    let v3 = fx.build(3, false);
    let v3_keys: BTreeSet<String> = v3.expected.iter().map(|(k, _, _)| k.clone()).collect();
    let mark = request_mark();
    deploy_ok(&cfg);
    let reqs = bucket_requests(mark, &fx.bucket);
    let pos = |pred: &dyn Fn(&Request) -> bool| -> Vec<usize> {
        reqs.iter()
            .enumerate()
            .filter(|(_, r)| pred(r))
            .map(|(i, _)| i)
            .collect()
    };
    let asset_puts =
        pos(&|r| r.operation == "PutObject" && site_key(r, &fx.bucket).starts_with("assets/"));
    let html_puts =
        pos(&|r| r.operation == "PutObject" && site_key(r, &fx.bucket).ends_with(".html"));
    let record_puts = pos(&|r| {
        r.operation == "PutObject" && site_key(r, &fx.bucket).starts_with("_deckhand/releases/")
    });
    let index_puts = pos(&|r| {
        r.operation == "PutObject" && site_key(r, &fx.bucket) == "_deckhand/ownership.json"
    });
    let deletes = pos(&|r| {
        matches!(r.operation.as_str(), "DeleteObjects" | "DeleteObject")
            && !r.path.ends_with("/_deckhand/lock")
    });
    assert_eq!(asset_puts.len(), 2, "new entry chunk and CSS: {reqs:?}");
    assert_eq!(html_puts.len(), 1);
    assert!(
        asset_puts.iter().max() < html_puts.iter().min(),
        "HTML before an asset: {reqs:?}"
    );
    assert!(
        index_puts.len() == 2 && index_puts[0] < asset_puts[0] && index_puts[1] > html_puts[0],
        "the ownership index names the keys before they are written, and gets their ETags after: {reqs:?}"
    );
    // The record with what is pending (the GC), then the record without it.
    assert_eq!(record_puts.len(), 2, "{reqs:?}");
    assert!(!deletes.is_empty(), "GC ran: {reqs:?}");
    assert!(
        record_puts[0] < deletes[0] && deletes[0] < record_puts[1],
        "DELETE before the record: {reqs:?}"
    );
    assert!(
        reqs.iter().all(
            |r| !(matches!(r.operation.as_str(), "DeleteObject" | "DeleteObjects")
                && r.path.contains("_deckhand/releases"))
        ),
        "a release record deleted: {reqs:?}"
    );

    // v1-only keys and objects are collected; v2 (previous) and v3 stay; every record stays.
    let live = keys(&fx.bucket).await;
    let site_keys: BTreeSet<_> = live
        .iter()
        .filter(|k| !k.starts_with("_deckhand/"))
        .cloned()
        .collect();
    let want: BTreeSet<String> = v2_keys.union(&v3_keys).cloned().collect();
    assert_eq!(site_keys, want);
    assert_eq!(
        v1_keys.difference(&want).count(),
        2,
        "v1's entry chunk and CSS are gone"
    );
    assert_eq!(
        fx.release_ids().await.len(),
        3,
        "records are history: {live:?}"
    );
    assert!(
        !live.contains(&format!("_deckhand/objects/{v1_index}")),
        "{live:?}"
    );
    let v3_index = sha(&std::fs::read(fx.dist().join("index.html")).unwrap());
    assert!(
        live.contains(&format!("_deckhand/objects/{v3_index}")),
        "{live:?}"
    );
    assert!(fx.newest_record().await["site"].get("pending").is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn transient_503s_and_resets_are_retried_to_completion() {
    let fx = Fixture::new(false).await;
    let site = fx.build(1, false);
    let cfg = fx.config("  concurrency: 8\n");
    let bucket = fx.bucket.clone();
    let proxy = fault_proxy(&endpoint(), move |n, _method, path| {
        if !path.starts_with(&format!("/{bucket}")) {
            Fault::Pass
        } else if n % 4 == 1 {
            Fault::SlowDown
        } else if n % 9 == 2 {
            Fault::Reset
        } else {
            Fault::Pass
        }
    });
    let mut cmd = deckhand();
    cmd.env("CI", "true")
        .env("AWS_ENDPOINT_URL_S3", &proxy.url)
        .args(["deploy", "--only", "frontend", "--config"])
        .arg(&cfg);
    cmd.assert().success();
    assert!(proxy.faults.load(std::sync::atomic::Ordering::SeqCst) >= 5);
    for (key, ct, _) in &site.expected {
        let obj = get(&fx.bucket, key).await;
        assert_eq!(obj.content_type(), Some(*ct), "{key}");
        let body = obj.body.collect().await.unwrap().into_bytes();
        assert_eq!(
            body.as_ref(),
            std::fs::read(fx.dist().join(key)).unwrap(),
            "{key}"
        );
    }
    assert_eq!(fx.release_ids().await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_permanent_failure_changes_no_html_deletes_nothing_and_names_the_file() {
    let fx = Fixture::new(false).await;
    fx.build(1, false);
    let cfg = fx.config("  keep-releases: 1\n  gc-grace: 0s\n");
    deploy_ok(&cfg);
    let before = keys(&fx.bucket).await;
    let index_v1 = get(&fx.bucket, "index.html")
        .await
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();

    fx.build(2, false);
    std::fs::write(
        fx.dist().join("assets/broken-0a1b2c3d.js"),
        "export default 1;\n",
    )
    .unwrap();
    let proxy = fault_proxy(&endpoint(), |_, _, path| {
        if path.contains("broken") {
            Fault::SlowDown
        } else {
            Fault::Pass
        }
    });
    let mark = request_mark();
    let mut cmd = deckhand();
    cmd.env("CI", "true")
        .env("AWS_ENDPOINT_URL_S3", &proxy.url)
        .args(["deploy", "--only", "frontend", "--config"])
        .arg(&cfg);
    let out = cmd.assert().code(1);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    let message = &stderr[stderr.find("error:").expect("an error line")..];
    insta::with_settings!({ filters => filters() }, {
        insta::assert_snapshot!("permanent_upload_failure", message);
    });

    let reqs = bucket_requests(mark, &fx.bucket);
    assert!(
        reqs.iter()
            .all(|r| !(r.write && site_key(r, &fx.bucket).ends_with(".html"))),
        "HTML written: {reqs:?}"
    );
    assert!(
        reqs.iter().all(|r| r.operation != "DeleteObjects"
            && (r.operation != "DeleteObject" || r.path.ends_with("/_deckhand/lock"))),
        "deleted: {reqs:?}"
    );
    let index_now = get(&fx.bucket, "index.html")
        .await
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();
    assert_eq!(index_now, index_v1, "the live site is still v1");
    let after = keys(&fx.bucket).await;
    for k in &before {
        if !k.starts_with("_deckhand/lock") {
            assert!(after.contains(k), "{k} was deleted");
        }
    }
    assert_eq!(
        fx.release_ids().await.len(),
        1,
        "no record for the failed publish"
    );
    assert!(
        !after.contains(&"_deckhand/lock".to_string()),
        "the lock is released"
    );

    // The next run without the fault finishes the job.
    deploy_ok(&cfg);
    get(&fx.bucket, "assets/broken-0a1b2c3d.js").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn drift_deleted_or_overwritten_by_hand_is_caught_and_repaired() {
    let fx = Fixture::new(false).await;
    let site = fx.build(1, false);
    let cfg = fx.config("");
    deploy_ok(&cfg);
    let vendor = site
        .expected
        .iter()
        .map(|(k, _, _)| k.clone())
        .find(|k| k.contains("vendor-"))
        .unwrap();
    let s3 = common::s3().await;
    s3.delete_object()
        .bucket(&fx.bucket)
        .key(&vendor)
        .send()
        .await
        .unwrap();
    // Same size, other bytes, put by hand.
    let robots = std::fs::read(fx.dist().join("robots.txt")).unwrap();
    s3.put_object()
        .bucket(&fx.bucket)
        .key("robots.txt")
        .body(vec![b'x'; robots.len()].into())
        .send()
        .await
        .unwrap();

    let out = deploy(&cfg, &["--dry-run"]).success();
    let plan = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(
        plan.contains(&format!("+ {vendor} (")) && plan.contains("deleted from the bucket by hand"),
        "{plan}"
    );
    assert!(
        plan.contains("+ robots.txt (") && plan.contains("changed in the bucket by hand"),
        "{plan}"
    );
    assert!(
        plan.contains("no invalidation: no CloudFront distribution configured"),
        "{plan}"
    );
    let json = deploy(&cfg, &["--dry-run", "--json"]).success();
    let json: serde_json::Value = serde_json::from_slice(&json.get_output().stdout).unwrap();
    assert_eq!(json["frontend"]["invalidation"]["kind"], "no-distribution");
    assert_eq!(json["frontend"]["uploads"].as_array().unwrap().len(), 2);

    deploy_ok(&cfg);
    let body = get(&fx.bucket, &vendor)
        .await
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();
    assert_eq!(
        body.as_ref(),
        std::fs::read(fx.dist().join(&vendor)).unwrap()
    );
    let body = get(&fx.bucket, "robots.txt")
        .await
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();
    assert_eq!(body.as_ref(), robots);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_invalidation_stays_pending_in_the_record_and_the_next_deploy_retries_it() {
    let fx = Fixture::new(true).await;
    let v1 = fx.build(1, false);
    let dist = fx.distribution.clone().unwrap();
    let busy = |times: u64| {
        fault_proxy(&endpoint(), move |n, method, path| {
            if method == "POST" && path.ends_with("/invalidation") && n < times {
                Fault::TooManyInvalidations
            } else {
                Fault::Pass
            }
        })
    };
    // Two refusals, then CloudFront has room: the deploy backs off and succeeds.
    let proxy = busy(2);
    let cfg = fx.config("  keep-releases: 1\n  gc-grace: 0s\n");
    let out = deploy_with(
        &cfg,
        &[],
        &[("AWS_ENDPOINT_URL_CLOUDFRONT", proxy.url.as_str())],
    )
    .success();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        stderr.contains("too many invalidations in progress"),
        "{stderr}"
    );
    assert_eq!(proxy.faults.load(std::sync::atomic::Ordering::SeqCst), 2);
    assert_eq!(invalidations(&dist).await.len(), 1);
    assert!(fx.newest_record().await["site"].get("pending").is_none());
    fx.build(2, false);
    deploy_ok(&cfg);
    assert_eq!(invalidations(&dist).await.len(), 2);

    // Always busy, short patience: exit 1 after the record, no garbage collection (v1's files
    // would go: v2 is the previous site, v1 no longer kept), and the record says what is pending.
    fx.build(3, false);
    let v1_chunk = site::key_of(&v1, "assets/index-", ".js");
    let proxy = busy(u64::MAX);
    let slow = fx.config("  keep-releases: 1\n  gc-grace: 0s\n  invalidation: { timeout: 1s }\n");
    let mark = request_mark();
    let out = deploy_with(
        &slow,
        &[],
        &[("AWS_ENDPOINT_URL_CLOUDFRONT", proxy.url.as_str())],
    )
    .code(1);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        stderr.contains("error: cannot invalidate /index.html on CloudFront distribution")
            && stderr.contains("TooManyInvalidationsInProgress"),
        "{stderr}"
    );
    assert!(
        stderr.contains("help: the release is recorded with its invalidation pending"),
        "{stderr}"
    );
    assert_eq!(
        fx.release_ids().await.len(),
        3,
        "the record was written first"
    );
    let record = fx.newest_record().await;
    assert_eq!(record["status"], "succeeded", "{record}");
    let pending = &record["site"]["pending"];
    assert_eq!(pending["distribution"], dist.as_str(), "{record}");
    assert_eq!(
        pending["paths"],
        serde_json::json!(["/index.html"]),
        "{record}"
    );
    assert_eq!(pending["gc"], true, "{record}");
    let failed_id = record["id"].as_str().unwrap().to_string();
    let deletes: Vec<_> = bucket_requests(mark, &fx.bucket)
        .into_iter()
        .filter(|r| r.operation == "DeleteObjects")
        .collect();
    assert!(
        deletes.is_empty(),
        "GC ran after a failed invalidation: {deletes:?}"
    );
    assert!(keys(&fx.bucket).await.contains(&v1_chunk));

    // The same build again, CloudFront free: not "no changes" — the pending invalidation and
    // GC are this deploy's; then the record says nothing is pending.
    let before = invalidations(&dist).await.len();
    let stdout = deploy_ok(&cfg);
    assert!(
        stdout.contains(&format!(
            "pending from release {failed_id}: its invalidation (/index.html) and its garbage collection did not complete"
        )),
        "{stdout}"
    );
    let all = invalidations(&dist).await;
    assert_eq!(all.len(), before + 1, "{all:?}");
    assert_eq!(all.last().unwrap(), &["/index.html"]);
    assert!(!keys(&fx.bucket).await.contains(&v1_chunk), "the GC ran");
    assert!(fx.newest_record().await["site"].get("pending").is_none());
    // Now it is done: the next deploy of that build writes nothing.
    let mark = request_mark();
    let stdout = deploy_ok(&cfg);
    assert!(stdout.contains("no changes"), "{stdout}");
    let writes: Vec<_> = bucket_requests(mark, &fx.bucket)
        .into_iter()
        .filter(|r| r.write)
        .collect();
    assert!(writes.is_empty(), "{writes:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_invalidation_that_does_not_complete_in_time_warns_or_fails_when_required() {
    let fx = Fixture::new(true).await;
    fx.build(1, false);
    let proxy = fault_proxy(&endpoint(), |_, method, path| {
        if method == "GET" && path.contains("/invalidation/") {
            Fault::StillInProgress
        } else {
            Fault::Pass
        }
    });
    let env = [("AWS_ENDPOINT_URL_CLOUDFRONT", proxy.url.as_str())];
    let cfg = fx.config("  invalidation: { wait: true, timeout: 1s }\n");
    let out = deploy_with(&cfg, &[], &env).success();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(stderr.contains("WARN"), "{stderr}");
    assert!(stderr.contains("did not complete within 1s"), "{stderr}");
    assert!(
        proxy.faults.load(std::sync::atomic::Ordering::SeqCst) >= 2,
        "it polled"
    );

    fx.build(2, false);
    let cfg = fx.config("  invalidation: { wait: true, timeout: 1s, required: true }\n");
    let out = deploy_with(&cfg, &[], &env).code(4);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        stderr.contains("error: invalidation ") && stderr.contains("did not complete within 1s"),
        "{stderr}"
    );
    assert!(
        stderr.contains("help: the invalidation keeps running"),
        "{stderr}"
    );
    // --no-wait skips the wait even when the config asks for it.
    fx.build(3, false);
    deploy_with(&cfg, &["--no-wait"], &env).success();
}

/// Lines of a run's stderr that are neither a warning nor an error.
fn chatter(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| !(l.contains("WARN") || l.contains("ERROR") || l.starts_with("error:")))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn quiet_leaves_only_data_on_stdout_and_a_plain_run_logs_each_phase() {
    let fx = Fixture::new(true).await;
    fx.build(1, false);
    let cfg = fx.config("");

    // --quiet: a whole deploy (three phases, the record, an invalidation) and a dry run say
    // nothing on stderr; the data (release id, plan) is still on stdout.
    let out = deploy(&cfg, &["--quiet"]).success();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(chatter(&stderr).is_empty(), "{stderr}");
    assert!(!stdout.trim().is_empty(), "no data on stdout");
    assert_eq!(fx.release_ids().await.len(), 1);
    fx.build(2, false);
    let out = deploy(&cfg, &["--quiet", "--dry-run"]).success();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    let plan = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(chatter(&stderr).is_empty(), "{stderr}");
    assert!(plan.contains("index.html"), "{plan}");

    // Without it: one line per phase, the summary and the invalidation, as log lines.
    let out = deploy(&cfg, &[]).success();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    for line in [
        "phase 1/3 ",
        "phase 2/3 ",
        "phase 3/3 ",
        "frontend: uploaded ",
    ] {
        assert!(
            stderr
                .lines()
                .any(|l| l.contains(" INFO ") && l.contains(line)),
            "no {line:?} line in {stderr}"
        );
    }
}
