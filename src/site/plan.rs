//! The site planner (pure): desired files vs the last release manifest and the live listing.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use crate::cdn::paths;
use crate::plan::ownership::OwnedFrom;
use crate::plan::site::{
    FileAction, FileSource, GcPolicy, Headers, InvalidationPlan, Live, Phase, Reason, Retry,
    SitePlan, StoreObject,
};
use crate::release::{SitePending, SiteRelease};

/// One desired file: scanned, hashed, with its intended headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Desired {
    pub(crate) key: String,
    pub(crate) path: PathBuf,
    pub(crate) size: u64,
    pub(crate) sha256: String,
    pub(crate) headers: Headers,
    /// Its name carries a content hash (`frontend.hashed-names`): immutable.
    pub(crate) hashed: bool,
}

/// Everything the planner looks at.
pub(crate) struct PlanInput<'a> {
    pub(crate) bucket: &'a str,
    pub(crate) dir: String,
    pub(crate) desired: Vec<Desired>,
    /// The manifest of the last release that published the site (to this bucket).
    pub(crate) last: Option<&'a SiteRelease>,
    pub(crate) live: Live,
    pub(crate) distribution: Option<&'a str>,
    pub(crate) spa_router: bool,
    pub(crate) keep_releases: u32,
    pub(crate) grace_seconds: u64,
    pub(crate) max_delete: usize,
    /// `frontend.adopt`: the keys in the bucket deckhand did not publish become its own.
    pub(crate) adopt: bool,
    /// What the live site's release left pending (its id and what), carried by this plan.
    pub(crate) pending: Option<(&'a str, &'a SitePending)>,
}

pub(crate) fn plan(input: PlanInput<'_>) -> SitePlan {
    let last = input.last.filter(|l| l.bucket == input.bucket);
    let mut uploads = Vec::new();
    let mut header_updates = Vec::new();
    let mut objects: Vec<StoreObject> = Vec::new();
    let mut stored: BTreeSet<&str> = input.live.objects.keys().map(String::as_str).collect();
    let mut manifest = BTreeMap::new();
    let mut unchanged = 0;
    let mut bytes = 0;
    for d in &input.desired {
        bytes += d.size;
        let phase = Phase::of(&d.key, d.hashed);
        let prev = last.and_then(|l| l.files.get(&d.key));
        let live = input.live.site.get(&d.key);
        let action = |reason: Reason, previous: Option<Headers>| FileAction {
            key: d.key.clone(),
            size: d.size,
            sha256: d.sha256.clone(),
            content_type: d.headers.content_type.clone(),
            cache_control: d.headers.cache_control.clone(),
            phase,
            reason,
            previous,
            source: FileSource::Local {
                path: d.path.clone(),
            },
        };
        let mut etag = None;
        match (prev, live) {
            (None, None) => uploads.push(action(Reason::New, None)),
            (Some(_), None) => uploads.push(action(Reason::Missing, None)),
            (None, Some(_)) => uploads.push(action(Reason::Untracked, None)),
            // The bucket differs from what the last release recorded (drift: a person, or a
            // deploy killed after this upload and before its record), whether or not the build
            // changes the file too: the upload is the same, the plan reports the drift.
            (Some(p), Some(l))
                // Servers that list no ETag (some S3 look-alikes) are compared by size.
                if l.size != p.size
                    || p.etag.as_deref().is_some_and(|e| !l.etag.is_empty() && e != l.etag) =>
            {
                uploads.push(action(Reason::Modified, None));
            }
            (Some(p), Some(_)) if p.sha256 != d.sha256 || p.size != d.size => {
                uploads.push(action(Reason::Changed, None));
            }
            (Some(p), Some(l))
                if p.content_type != d.headers.content_type
                    || p.cache_control != d.headers.cache_control =>
            {
                header_updates.push(action(
                    Reason::Headers,
                    Some(Headers {
                        content_type: p.content_type.clone(),
                        cache_control: p.cache_control.clone(),
                    }),
                ));
                etag = Some(l.etag.clone());
            }
            (Some(p), Some(_)) => {
                unchanged += 1;
                etag = p.etag.clone();
            }
        }
        if phase != Phase::Immutable && stored.insert(&d.sha256) {
            objects.push(StoreObject {
                sha256: d.sha256.clone(),
                key: d.key.clone(),
                size: d.size,
                path: d.path.clone(),
                from_bucket: None,
            });
        }
        manifest.insert(
            d.key.clone(),
            crate::release::ManifestEntry {
                sha256: d.sha256.clone(),
                size: d.size,
                content_type: d.headers.content_type.clone(),
                cache_control: d.headers.cache_control.clone(),
                etag,
                hashed: Some(phase == Phase::Immutable),
            },
        );
    }
    let retry = retry(input.pending, input.distribution);
    // Mutable files that changed (or are new: a cached error may stand for them), and immutable
    // ones whose existing key now holds other bytes or headers; and what is still pending.
    let invalidation = invalidation(
        input.distribution,
        uploads
            .iter()
            .chain(&header_updates)
            .filter(|a| a.phase != Phase::Immutable || a.reason != Reason::New)
            .map(|a| a.key.as_str()),
        retry.as_ref().map_or(&[][..], |r| &r.paths),
        input.spa_router,
    );
    // Adoption needs to know what deckhand owns: not from a plan file's empty listing.
    let adopt = if input.adopt && input.live.owned_from != OwnedFrom::Unknown {
        input
            .live
            .site
            .iter()
            .filter(|(k, _)| !input.live.owned.keys.contains_key(*k) && !manifest.contains_key(*k))
            .map(|(k, o)| (k.clone(), o.etag.clone()))
            .collect()
    } else {
        std::collections::BTreeMap::new()
    };
    let unreferenced = input
        .live
        .site
        .keys()
        .filter(|k| !manifest.contains_key(*k))
        .count();
    let upload_bytes = uploads.iter().map(|a| a.size).sum();
    let removed: Vec<String> = last
        .map(|l| {
            l.files
                .keys()
                .filter(|k| !manifest.contains_key(*k))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    SitePlan {
        bucket: input.bucket.to_string(),
        dir: input.dir,
        files: input.desired.len(),
        bytes,
        uploads,
        upload_bytes,
        header_updates,
        objects,
        unchanged,
        removed,
        invalidation,
        retry,
        gc: GcPolicy {
            keep_releases: input.keep_releases.max(2),
            grace_seconds: input.grace_seconds,
            max_delete: input.max_delete,
            unreferenced,
            adopt,
            ..GcPolicy::default()
        },
        manifest,
        live: input.live,
        restore: None,
        verified: 0,
        promoted: None,
    }
}

/// What `pending` (the live site's release's unfinished work) leaves to this plan: its paths
/// when they are for this distribution (another one's are moot now), and its GC.
pub(crate) fn retry(
    pending: Option<(&str, &SitePending)>,
    distribution: Option<&str>,
) -> Option<Retry> {
    let (release, p) = pending.filter(|(_, p)| !p.is_done())?;
    let paths = if p.distribution.as_deref() == distribution {
        p.paths.clone()
    } else {
        Vec::new()
    };
    Some(Retry {
        release: release.to_string(),
        paths,
        gc: p.gc,
    })
}

/// The invalidation of the paths of `keys` and the `pending` paths on `distribution` (collapsed
/// past the limits).
pub(crate) fn invalidation<'k>(
    distribution: Option<&str>,
    keys: impl Iterator<Item = &'k str>,
    pending: &[String],
    spa_router: bool,
) -> InvalidationPlan {
    let Some(id) = distribution else {
        return InvalidationPlan::NoDistribution;
    };
    let changed: BTreeSet<String> = keys
        .flat_map(|k| paths::paths_of(k, spa_router))
        .chain(pending.iter().cloned())
        .collect();
    if changed.is_empty() {
        return InvalidationPlan::Nothing {
            distribution: id.to_string(),
        };
    }
    InvalidationPlan::Paths {
        distribution: id.to_string(),
        paths: paths::collapse(
            &changed,
            paths::COLLAPSE_AT,
            paths::MAX_PATHS,
            paths::MAX_WILDCARDS,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::site::LiveObject;
    use crate::release::{ManifestEntry, ReleaseStatus};

    fn headers(cc: &str) -> Headers {
        Headers {
            content_type: "text/javascript; charset=utf-8".into(),
            cache_control: cc.into(),
        }
    }

    fn desired(key: &str, body: &str, cc: &str) -> Desired {
        Desired {
            key: key.into(),
            path: PathBuf::from(format!("/dist/{key}")),
            size: body.len() as u64,
            sha256: format!("sha-{body}"),
            headers: headers(cc),
            hashed: cc == IMM,
        }
    }

    fn entry(d: &Desired, etag: &str) -> ManifestEntry {
        ManifestEntry {
            sha256: d.sha256.clone(),
            size: d.size,
            content_type: d.headers.content_type.clone(),
            cache_control: d.headers.cache_control.clone(),
            etag: Some(etag.into()),
            hashed: Some(d.hashed),
        }
    }

    fn live_of(items: &[(&Desired, &str)]) -> Live {
        let mut live = Live::default();
        for (d, etag) in items {
            live.site.insert(
                d.key.clone(),
                LiveObject {
                    size: d.size,
                    etag: (*etag).into(),
                    last_modified: 0,
                },
            );
        }
        live
    }

    fn input<'a>(
        desired: Vec<Desired>,
        last: Option<&'a SiteRelease>,
        live: Live,
        distribution: Option<&'a str>,
    ) -> PlanInput<'a> {
        PlanInput {
            bucket: "site",
            dir: "dist".into(),
            desired,
            last,
            live,
            distribution,
            spa_router: true,
            keep_releases: 5,
            grace_seconds: 3600,
            max_delete: 1000,
            adopt: false,
            pending: None,
        }
    }

    fn release(entries: &[(&Desired, &str)]) -> SiteRelease {
        SiteRelease {
            bucket: "site".into(),
            files: entries
                .iter()
                .map(|(d, e)| (d.key.clone(), entry(d, e)))
                .collect(),
            status: ReleaseStatus::Succeeded,
            failure: None,
            pending: None,
            origin: None,
        }
    }

    const IMM: &str = crate::config::IMMUTABLE;

    #[test]
    fn first_deploy_uploads_everything_in_phases_and_stores_mutable_files() {
        let a = desired("assets/a-1.js", "a", IMM);
        let i = desired("index.html", "<html>", "no-cache");
        let r = desired("robots.txt", "robots", "no-cache");
        let p = plan(input(vec![a, i, r], None, Live::default(), Some("E1")));
        let phases: Vec<_> = p
            .uploads
            .iter()
            .map(|u| (u.key.as_str(), u.phase))
            .collect();
        assert_eq!(
            phases,
            [
                ("assets/a-1.js", Phase::Immutable),
                ("index.html", Phase::Html),
                ("robots.txt", Phase::Other)
            ]
        );
        assert!(p.uploads.iter().all(|u| u.reason == Reason::New));
        let stored: Vec<_> = p.objects.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(stored, ["index.html", "robots.txt"]);
        assert_eq!(
            p.invalidation,
            InvalidationPlan::Paths {
                distribution: "E1".into(),
                paths: vec!["/index.html".into(), "/robots.txt".into()]
            }
        );
        assert_eq!(p.upload_bytes, 1 + 6 + 6);
        assert!(!p.is_empty());
    }

    #[test]
    fn same_bytes_and_headers_is_an_empty_plan() {
        let a = desired("assets/a-1.js", "a", IMM);
        let i = desired("index.html", "<html>", "no-cache");
        let last = release(&[(&a, "e-a"), (&i, "e-i")]);
        let mut live = live_of(&[(&a, "e-a"), (&i, "e-i")]);
        live.objects.insert(
            i.sha256.clone(),
            LiveObject {
                size: 6,
                etag: "x".into(),
                last_modified: 0,
            },
        );
        let p = plan(input(vec![a, i], Some(&last), live, Some("E1")));
        assert!(p.is_empty(), "{p}");
        assert_eq!(p.unchanged, 2);
        assert_eq!(
            p.invalidation,
            InvalidationPlan::Nothing {
                distribution: "E1".into()
            }
        );
        assert_eq!(p.manifest["index.html"].etag.as_deref(), Some("e-i"));
        assert!(p.to_string().contains("no changes"), "{p}");
    }

    #[test]
    fn a_build_that_only_drops_files_is_a_change_that_deletes_nothing_now() {
        let a = desired("assets/a-1.js", "a", IMM);
        let i = desired("index.html", "<html>", "no-cache");
        let old = desired("old.html", "<old>", "no-cache");
        let last = release(&[(&a, "e-a"), (&i, "e-i"), (&old, "e-o")]);
        let mut live = live_of(&[(&a, "e-a"), (&i, "e-i"), (&old, "e-o")]);
        live.objects.insert(
            i.sha256.clone(),
            LiveObject {
                size: 6,
                etag: "x".into(),
                last_modified: 0,
            },
        );
        let p = plan(input(vec![a, i], Some(&last), live, Some("E1")));
        assert_eq!(p.removed, ["old.html"]);
        assert!(!p.is_empty(), "a new manifest must be recorded");
        assert!(p.uploads.is_empty() && p.header_updates.is_empty());
        assert!(!p.manifest.contains_key("old.html"));
        let text = p.to_string();
        assert!(text.contains("no longer in the build: 1 files"), "{text}");
        assert!(text.contains("      - old.html"), "{text}");
    }

    #[test]
    fn same_size_content_change_is_uploaded() {
        let old = desired("index.html", "<html>A", "no-cache");
        let new = desired("index.html", "<html>B", "no-cache");
        let last = release(&[(&old, "e1")]);
        let p = plan(input(
            vec![new],
            Some(&last),
            live_of(&[(&old, "e1")]),
            None,
        ));
        assert_eq!(p.uploads.len(), 1);
        assert_eq!(p.uploads[0].reason, Reason::Changed);
        assert_eq!(p.invalidation, InvalidationPlan::NoDistribution);
        assert!(p.to_string().contains("no CloudFront distribution"), "{p}");
    }

    #[test]
    fn header_only_change_is_a_copy_and_is_invalidated() {
        let old = desired("robots.txt", "r", "no-cache");
        let new = desired("robots.txt", "r", "public, max-age=60");
        let last = release(&[(&old, "e1")]);
        let p = plan(input(
            vec![new],
            Some(&last),
            live_of(&[(&old, "e1")]),
            Some("E1"),
        ));
        assert!(p.uploads.is_empty());
        assert_eq!(p.header_updates.len(), 1);
        assert_eq!(
            p.header_updates[0]
                .previous
                .as_ref()
                .map(|h| h.cache_control.as_str()),
            Some("no-cache")
        );
        assert!(
            p.to_string()
                .contains("robots.txt cache-control: no-cache -> public, max-age=60"),
            "{p}"
        );
        assert_eq!(
            p.invalidation,
            InvalidationPlan::Paths {
                distribution: "E1".into(),
                paths: vec!["/robots.txt".into()]
            }
        );
    }

    #[test]
    fn drift_is_caught_from_the_listing() {
        let a = desired("assets/a-1.js", "a", IMM);
        let b = desired("assets/b-1.js", "b", IMM);
        let c = desired("assets/c-1.js", "c", IMM);
        let last = release(&[(&a, "ea"), (&b, "eb"), (&c, "ec")]);
        // a deleted by hand, b overwritten by hand (same size, other ETag), c fine.
        let live = live_of(&[(&b, "other"), (&c, "ec")]);
        let p = plan(input(vec![a, b, c], Some(&last), live, Some("E1")));
        let reasons: Vec<_> = p
            .uploads
            .iter()
            .map(|u| (u.key.as_str(), u.reason))
            .collect();
        assert_eq!(
            reasons,
            [
                ("assets/a-1.js", Reason::Missing),
                ("assets/b-1.js", Reason::Modified)
            ]
        );
        // Existing immutable keys that change are invalidated; new ones never are.
        assert_eq!(
            p.invalidation,
            InvalidationPlan::Paths {
                distribution: "E1".into(),
                paths: vec!["/assets/a-1.js".into(), "/assets/b-1.js".into()]
            }
        );
    }

    #[test]
    fn typical_vite_rebuild_invalidates_exactly_index_html() {
        let a1 = desired("assets/index-1.js", "one", IMM);
        let i1 = desired("index.html", "<script src=1>", "no-cache");
        let a2 = desired("assets/index-2.js", "two", IMM);
        let i2 = desired("index.html", "<script src=2>", "no-cache");
        let last = release(&[(&a1, "e1"), (&i1, "e2")]);
        let live = live_of(&[(&a1, "e1"), (&i1, "e2")]);
        let p = plan(input(vec![a2, i2], Some(&last), live, Some("E1")));
        assert_eq!(
            p.invalidation,
            InvalidationPlan::Paths {
                distribution: "E1".into(),
                paths: vec!["/index.html".into()]
            }
        );
        assert_eq!(p.gc.unreferenced, 1);
        let json = serde_json::to_value(&p).expect("json");
        assert_eq!(json["uploads"][0]["key"], "assets/index-2.js");
        assert_eq!(json["invalidation"]["kind"], "paths");
    }

    #[test]
    fn an_unhashed_file_under_assets_is_mutable_stored_and_invalidated() {
        // Vite copies public/assets/logo.png as it is: no hash in its name.
        let mut logo = desired("assets/logo.png", "logo-1", "no-cache");
        logo.hashed = false;
        let a = desired("assets/a-1.js", "a", IMM);
        let p = plan(input(
            vec![a.clone(), logo.clone()],
            None,
            Live::default(),
            Some("E1"),
        ));
        let phases: Vec<_> = p
            .uploads
            .iter()
            .map(|u| (u.key.as_str(), u.phase))
            .collect();
        assert_eq!(
            phases,
            [
                ("assets/a-1.js", Phase::Immutable),
                ("assets/logo.png", Phase::Other)
            ]
        );
        let stored: Vec<_> = p.objects.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(stored, ["assets/logo.png"], "a rollback copy, by sha256");
        assert_eq!(p.manifest["assets/logo.png"].hashed, Some(false));
        assert_eq!(p.manifest["assets/a-1.js"].hashed, Some(true));
        // The next build changes its bytes (same size): uploaded, stored again, invalidated.
        let last = release(&[(&a, "ea"), (&logo, "el")]);
        let mut live = live_of(&[(&a, "ea"), (&logo, "el")]);
        live.objects.insert(
            logo.sha256.clone(),
            LiveObject {
                size: logo.size,
                etag: "x".into(),
                last_modified: 0,
            },
        );
        let mut logo2 = desired("assets/logo.png", "logo-2", "no-cache");
        logo2.hashed = false;
        let p = plan(input(vec![a, logo2.clone()], Some(&last), live, Some("E1")));
        assert_eq!(p.uploads.len(), 1);
        assert_eq!(p.uploads[0].reason, Reason::Changed);
        assert_eq!(p.objects[0].sha256, logo2.sha256);
        assert_eq!(
            p.invalidation,
            InvalidationPlan::Paths {
                distribution: "E1".into(),
                paths: vec!["/assets/logo.png".into()]
            }
        );
    }

    #[test]
    fn adopt_takes_over_only_keys_deckhand_does_not_own_and_makes_the_plan_non_empty() {
        let i = desired("index.html", "<html>", "no-cache");
        let last = release(&[(&i, "e-i")]);
        let mut live = live_of(&[(&i, "e-i")]);
        live.objects.insert(
            i.sha256.clone(),
            LiveObject {
                size: 6,
                etag: "x".into(),
                last_modified: 0,
            },
        );
        for (k, e) in [("assets/synced-1.js", "e-s"), ("downloads/app.zip", "e-z")] {
            live.site.insert(
                k.into(),
                LiveObject {
                    size: 1,
                    etag: e.into(),
                    last_modified: 0,
                },
            );
        }
        live.owned_from = OwnedFrom::Index;
        live.owned
            .keys
            .insert("index.html".into(), Default::default());
        let without = plan(input(vec![i.clone()], Some(&last), live.clone(), None));
        assert!(without.is_empty(), "{without}");
        assert!(without.gc.adopt.is_empty());
        let mut with = input(vec![i.clone()], Some(&last), live.clone(), None);
        with.adopt = true;
        let p = plan(with);
        assert!(!p.is_empty());
        assert_eq!(
            p.gc.adopt,
            std::collections::BTreeMap::from([
                ("assets/synced-1.js".to_string(), "e-s".to_string()),
                ("downloads/app.zip".to_string(), "e-z".to_string()),
            ])
        );
        // A plan read from a file knows no ownership: it adopts nothing.
        live.owned_from = OwnedFrom::Unknown;
        let mut blind = input(vec![i], Some(&last), live, None);
        blind.adopt = true;
        assert!(plan(blind).gc.adopt.is_empty());
    }

    #[test]
    fn a_pending_invalidation_is_carried_into_an_otherwise_empty_plan() {
        let a = desired("assets/a-1.js", "a", IMM);
        let i = desired("index.html", "<html>", "no-cache");
        let last = release(&[(&a, "e-a"), (&i, "e-i")]);
        let mut live = live_of(&[(&a, "e-a"), (&i, "e-i")]);
        live.objects.insert(
            i.sha256.clone(),
            LiveObject {
                size: 6,
                etag: "x".into(),
                last_modified: 0,
            },
        );
        let pending = SitePending {
            distribution: Some("E1".into()),
            paths: vec!["/index.html".into()],
            gc: true,
        };
        let mut with = input(
            vec![a.clone(), i.clone()],
            Some(&last),
            live.clone(),
            Some("E1"),
        );
        with.pending = Some(("r1", &pending));
        let p = plan(with);
        assert!(!p.is_empty(), "the pending work is this plan's");
        assert_eq!(
            p.retry,
            Some(Retry {
                release: "r1".into(),
                paths: vec!["/index.html".into()],
                gc: true
            })
        );
        assert_eq!(
            p.invalidation,
            InvalidationPlan::Paths {
                distribution: "E1".into(),
                paths: vec!["/index.html".into()]
            }
        );
        assert!(p.uploads.is_empty());
        let text = p.to_string();
        assert!(
            text.contains("pending from release r1: its invalidation (/index.html) and its garbage collection did not complete"),
            "{text}"
        );
        // For another distribution the paths are moot; done work is no work.
        let mut moved = input(
            vec![a.clone(), i.clone()],
            Some(&last),
            live.clone(),
            Some("E2"),
        );
        moved.pending = Some(("r1", &pending));
        let p = plan(moved);
        assert_eq!(p.retry.as_ref().map(|r| r.paths.len()), Some(0));
        assert_eq!(
            p.invalidation,
            InvalidationPlan::Nothing {
                distribution: "E2".into()
            }
        );
        let done = SitePending {
            distribution: None,
            paths: Vec::new(),
            gc: false,
        };
        let mut finished = input(vec![a, i], Some(&last), live, Some("E1"));
        finished.pending = Some(("r1", &done));
        assert!(plan(finished).is_empty());
    }

    /// Found by tests/history (I2, seed 188014722 shrunk to 5 steps): a deploy killed after it
    /// uploaded robots.txt's new bytes and before its record. The next plan's build has those
    /// bytes too, so it was "changed" (build vs record) and the drift — the bucket no longer
    /// holds what the newest record says — went unreported. The bucket's side wins.
    #[test]
    fn a_file_the_bucket_and_the_build_both_changed_is_reported_as_drift() {
        let old = desired("robots.txt", "robots v0", "no-cache");
        let new = desired("robots.txt", "robots v1", "no-cache");
        let last = release(&[(&old, "e0")]);
        let p = plan(input(
            vec![new.clone()],
            Some(&last),
            live_of(&[(&new, "e1")]),
            None,
        ));
        assert_eq!(p.uploads.len(), 1, "{p}");
        assert_eq!(p.uploads[0].reason, Reason::Modified);
        // The bucket as the record says: a plain change.
        let p = plan(input(
            vec![new],
            Some(&last),
            live_of(&[(&old, "e0")]),
            None,
        ));
        assert_eq!(p.uploads[0].reason, Reason::Changed);
    }

    #[test]
    fn a_listing_without_etags_is_compared_by_size() {
        let a = desired("index.html", "x", "no-cache");
        let last = release(&[(&a, "e")]);
        let p = plan(input(
            vec![a.clone()],
            Some(&last),
            live_of(&[(&a, "")]),
            None,
        ));
        assert!(p.uploads.is_empty(), "{p}");
        let mut grown = live_of(&[(&a, "")]);
        grown.site.get_mut("index.html").expect("listed").size = 2;
        let p = plan(input(vec![a], Some(&last), grown, None));
        assert_eq!(p.uploads[0].reason, Reason::Modified);
    }

    #[test]
    fn a_release_for_another_bucket_is_ignored() {
        let a = desired("index.html", "x", "no-cache");
        let mut last = release(&[(&a, "e")]);
        last.bucket = "other".into();
        let p = plan(input(
            vec![a.clone()],
            Some(&last),
            live_of(&[(&a, "e")]),
            None,
        ));
        assert_eq!(p.uploads[0].reason, Reason::Untracked);
    }
}
