use std::collections::BTreeMap;

use super::*;
use crate::plan::site::LiveObject;
use crate::release::{BackendRelease, GitInfo, ManifestEntry};

const IMM: &str = "public, max-age=31536000, immutable";

fn rec(id: &str, backend: Option<ReleaseStatus>, site: Option<ReleaseStatus>) -> ReleaseRecord {
    ReleaseRecord {
        version: crate::release::RECORD_VERSION,
        id: id.into(),
        created_at: String::new(),
        status: ReleaseStatus::Succeeded,
        git: GitInfo::default(),
        previous: None,
        rollback_of: None,
        restored: None,
        promoted_from: None,
        backend: backend.map(|status| BackendRelease {
            status,
            origin: Some(id.into()),
            failure: Some("tasks failed".into()).filter(|_| status == ReleaseStatus::Failed),
            ..BackendRelease::default()
        }),
        site: site.map(|status| SiteRelease {
            status,
            ..SiteRelease::default()
        }),
        timings: None,
    }
}

#[test]
fn the_newest_release_whose_halves_succeeded_and_was_not_rolled_back_is_picked() {
    use ReleaseStatus::{Failed, InProgress, Succeeded};
    let a = rec("a", Some(Succeeded), Some(Succeeded));
    let b = rec("b", Some(Succeeded), Some(Succeeded));
    let c = rec("c", Some(Failed), Some(Succeeded));
    let d = rec("d", Some(InProgress), Some(Succeeded));
    let mut rb = rec("rb", Some(Succeeded), Some(Succeeded));
    rb.rollback_of = Some("b".into());
    let newest_first = |v: &[&ReleaseRecord]| v.iter().map(|r| (*r).clone()).collect::<Vec<_>>();
    let id = |r: Result<&ReleaseRecord, Option<String>>| r.map(|r| r.id.clone());

    let all = newest_first(&[&d, &c, &b, &a]);
    assert_eq!(id(pick(&all, None, true, true)), Ok("b".into()));
    // A failed or unfinished backend is refused by name; a site-only promotion may take it.
    assert_eq!(
        id(pick(&all, Some("c"), true, true)),
        Err(Some("its backend failed: tasks failed".into()))
    );
    assert_eq!(
        id(pick(&all, Some("d"), true, true)),
        Err(Some("its backend is in-progress, not succeeded".into()))
    );
    assert_eq!(id(pick(&all, Some("c"), false, true)), Ok("c".into()));
    assert_eq!(id(pick(&all, Some("zz"), true, true)), Err(None));
    // The rollback of b makes b unpromotable; the rollback's own record is promotable.
    let all = newest_first(&[&rb, &c, &b, &a]);
    assert_eq!(
        id(pick(&all, Some("b"), true, true)),
        Err(Some("it was rolled back by release rb".into()))
    );
    assert_eq!(id(pick(&all, None, true, true)), Ok("rb".into()));
    let all = newest_first(&[&c, &b]);
    let mut b_only_backend = b.clone();
    b_only_backend.site = None;
    let all_b = newest_first(&[&b_only_backend]);
    assert_eq!(
        id(pick(&all_b, None, true, true)),
        Err(None),
        "a release without a site half is no promotion of a site"
    );
    assert_eq!(id(pick(&all, None, true, true)), Ok("b".into()));
}

fn entry(sha: &str, size: u64, ct: &str, cc: &str, hashed: bool) -> ManifestEntry {
    ManifestEntry {
        sha256: sha.into(),
        size,
        content_type: ct.into(),
        cache_control: cc.into(),
        etag: Some(format!("e-{sha}")),
        hashed: Some(hashed),
    }
}

fn obj(size: u64, etag: &str) -> LiveObject {
    LiveObject {
        size,
        etag: etag.into(),
        last_modified: 0,
    }
}

#[test]
fn the_site_is_copied_from_the_source_bucket_hashed_assets_first_html_last() {
    let mut files = BTreeMap::new();
    files.insert(
        "assets/app-1.js".to_string(),
        entry("js1", 10, "text/javascript", IMM, true),
    );
    files.insert(
        "assets/vendor-1.js".to_string(),
        entry("vendor", 20, "text/javascript", IMM, true),
    );
    files.insert(
        "index.html".to_string(),
        entry("html1", 5, "text/html", "no-cache", false),
    );
    files.insert(
        "robots.txt".to_string(),
        entry("robots", 3, "text/plain", "no-cache", false),
    );
    let source = SiteRelease {
        bucket: "stg-site".into(),
        files,
        status: ReleaseStatus::Succeeded,
        ..SiteRelease::default()
    };
    let mut source_live = Live::default();
    source_live
        .site
        .insert("assets/app-1.js".into(), obj(10, "e-js1"));
    source_live
        .site
        .insert("assets/vendor-1.js".into(), obj(20, "e-vendor"));
    source_live
        .objects
        .insert("html1".into(), obj(5, "s-html1"));
    source_live
        .objects
        .insert("robots".into(), obj(3, "s-robots"));
    assert_eq!(collected(&source, &source_live), None);

    // Production has the vendor chunk and robots.txt (same bytes, same headers) and an old page.
    let mut current = SiteRelease {
        bucket: "prd-site".into(),
        ..SiteRelease::default()
    };
    current.files.insert(
        "assets/vendor-1.js".into(),
        entry("vendor", 20, "text/javascript", IMM, true),
    );
    current.files.insert(
        "robots.txt".into(),
        entry("robots", 3, "text/plain", "no-cache", false),
    );
    current.files.insert(
        "assets/old-0.js".into(),
        entry("old", 9, "text/javascript", IMM, true),
    );
    let mut live = Live::default();
    live.site
        .insert("assets/vendor-1.js".into(), obj(20, "e-vendor"));
    live.site.insert("robots.txt".into(), obj(3, "s-robots"));
    live.objects.insert("robots".into(), obj(3, "s-robots"));
    let here = Here {
        bucket: "prd-site",
        distribution: Some("E1"),
        spa_router: false,
        current: Some(&current),
        pending: None,
        config: None,
    };
    let p = site(&source, &source_live, "staging/R", &here, &live);
    let copies: Vec<(&str, Phase, &FileSource)> = p
        .uploads
        .iter()
        .map(|a| (a.key.as_str(), a.phase, &a.source))
        .collect();
    let from = |key: &str| FileSource::Promoted {
        bucket: "stg-site".into(),
        key: key.into(),
    };
    assert_eq!(
        copies,
        vec![
            (
                "assets/app-1.js",
                Phase::Immutable,
                &from("assets/app-1.js")
            ),
            ("index.html", Phase::Html, &from("_deckhand/objects/html1")),
        ]
    );
    // index.html's bytes are stored for a rollback here, copied from the source's store.
    assert_eq!(p.objects.len(), 1);
    assert_eq!(p.objects[0].sha256, "html1");
    assert_eq!(p.objects[0].from_bucket.as_deref(), Some("stg-site"));
    assert_eq!(p.unchanged, 2);
    assert_eq!(p.removed, vec!["assets/old-0.js".to_string()]);
    assert_eq!(p.bucket, "prd-site");
    assert_eq!(p.manifest.len(), 4);
    let text = p.to_string();
    assert!(
        text.starts_with(
            "frontend: s3://prd-site = the site of staging/R: 4 files (38 B), 0 rebuilt\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("  copy 1 immutable assets (10 B) server-side from s3://stg-site\n"),
        "{text}"
    );

    // With a runtime config here, the source's config.json is not copied: this environment's is
    // written (from its file) and stored for a rollback.
    let mut with_config = source.clone();
    with_config.files.insert(
        "config.json".into(),
        entry("stgcfg", 30, "application/json", "no-cache", false),
    );
    source_live
        .objects
        .insert("stgcfg".into(), obj(30, "s-stgcfg"));
    let own = crate::site::plan::Desired {
        key: "config.json".into(),
        path: "/tmp/deckhand-config-prd.json".into(),
        size: 28,
        sha256: "prdcfg".into(),
        headers: crate::plan::site::Headers {
            content_type: "application/json".into(),
            cache_control: "no-cache".into(),
        },
        hashed: false,
    };
    let here = Here {
        config: Some((&own, vec!["apiBase".into()])),
        ..here
    };
    let p = site(&with_config, &source_live, "staging/R", &here, &live);
    let cfg = p
        .uploads
        .iter()
        .find(|a| a.key == "config.json")
        .expect("config.json is written");
    assert_eq!(
        cfg.source,
        FileSource::Local {
            path: "/tmp/deckhand-config-prd.json".into()
        }
    );
    assert_eq!(p.manifest["config.json"].sha256, "prdcfg");
    assert!(
        p.objects
            .iter()
            .any(|o| o.sha256 == "prdcfg" && o.from_bucket.is_none())
    );
    assert!(!p.objects.iter().any(|o| o.sha256 == "stgcfg"));
    let text = p.to_string();
    assert!(
        text.contains("  write config.json: this environment's runtime-config (differs from the source environment's: apiBase)\n"),
        "{text}"
    );
    assert!(
        !text.contains("    config.json\n"),
        "config.json is not copied from the source: {text}"
    );

    // A file the source bucket lost (collected) is named.
    source_live.objects.remove("html1");
    assert_eq!(
        collected(&source, &source_live),
        Some((1, "index.html".to_string()))
    );
}
