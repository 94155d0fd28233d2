//! The promotion planner (pure): which release of the source environment is promoted, and what
//! this environment's bucket needs to serve its site — every file copied server-side from the
//! source bucket (a hashed asset from its own key, a mutable file from the source's stored copy
//! `_deckhand/objects/<sha256>`, which is copied into this bucket's store too, so a rollback here
//! can restore it), in the safe order (immutable assets, other files, HTML last). Nothing is
//! read from disk and nothing is rebuilt.

use std::collections::BTreeSet;

use crate::commands::releases::Checks;
use crate::frontend::runtime;
use crate::plan::site::{
    FileAction, FileSource, GcPolicy, Live, Phase, PromotedSite, Reason, SitePlan, StoreObject,
    in_place,
};
use crate::release::{
    ManifestEntry, OBJECTS_PREFIX, ReleaseRecord, ReleaseStatus, SitePending, SiteRelease,
};
use crate::site::plan::Desired;

/// Why a release of the source environment cannot be promoted.
pub(crate) fn refusal(
    r: &ReleaseRecord,
    records: &[ReleaseRecord],
    want_backend: bool,
    want_site: bool,
) -> Option<String> {
    if let Some(by) = records
        .iter()
        .find(|n| n.id > r.id && n.rollback_of.as_deref() == Some(r.id.as_str()))
    {
        return Some(format!("it was rolled back by release {}", by.id));
    }
    let half = |name: &str, status: Option<ReleaseStatus>, failure: Option<&str>| match status {
        None => Some(format!("it recorded no {name}")),
        Some(ReleaseStatus::Succeeded) => None,
        Some(ReleaseStatus::Failed) => Some(format!(
            "its {name} failed: {}",
            failure.unwrap_or("no reason recorded")
        )),
        Some(s) => Some(format!("its {name} is {s}, not succeeded")),
    };
    // A `--no-wait` rollout that a newer record found failed (ECS's circuit breaker took it
    // back).
    let mut learnt = Checks::default();
    learnt.learn(records);
    if want_backend && let Some((by, why)) = learnt.failed_later(r) {
        return Some(crate::commands::releases::failed_later_text(by, why));
    }
    let backend = r.backend.as_ref();
    let site = r.site.as_ref();
    let why = want_backend
        .then(|| {
            half(
                "backend",
                backend.map(|b| b.status),
                backend.and_then(|b| b.failure.as_deref()),
            )
        })
        .flatten()
        .or_else(|| {
            want_site
                .then(|| {
                    half(
                        "site",
                        site.map(|s| s.status),
                        site.and_then(|s| s.failure.as_deref()),
                    )
                })
                .flatten()
        });
    if why.is_some() {
        return why;
    }
    if r.status == ReleaseStatus::Failed {
        return Some("it failed".into());
    }
    None
}

/// The release to promote among `records` (newest first): `wanted`, or the newest one that can
/// be. Err: why `wanted` cannot be, or None when no release can.
pub(crate) fn pick<'r>(
    records: &'r [ReleaseRecord],
    wanted: Option<&str>,
    want_backend: bool,
    want_site: bool,
) -> Result<&'r ReleaseRecord, Option<String>> {
    match wanted {
        Some(id) => {
            let r = records.iter().find(|r| r.id == id).ok_or(None)?;
            match refusal(r, records, want_backend, want_site) {
                Some(why) => Err(Some(why)),
                None => Ok(r),
            }
        }
        None => records
            .iter()
            .find(|r| refusal(r, records, want_backend, want_site).is_none())
            .ok_or(None),
    }
}

/// Files of the source release the source bucket no longer has (collected): how many, an
/// example.
pub(crate) fn collected(source: &SiteRelease, source_live: &Live) -> Option<(usize, String)> {
    let missing: Vec<&String> = source
        .files
        .iter()
        .filter(|(key, e)| {
            if e.in_place(key) {
                !in_place(e, source_live.site.get(*key))
            } else {
                !source_live.objects.contains_key(&e.sha256)
            }
        })
        .map(|(k, _)| k)
        .collect();
    missing.first().map(|k| (missing.len(), (*k).clone()))
}

/// Where this environment's bucket is, for the site plan.
pub(crate) struct Here<'a> {
    pub(crate) bucket: &'a str,
    pub(crate) distribution: Option<&'a str>,
    pub(crate) spa_router: bool,
    /// The manifest live here now (the newest published site), and the release that left
    /// something pending.
    pub(crate) current: Option<&'a SiteRelease>,
    pub(crate) pending: Option<(&'a str, &'a SitePending)>,
    /// With `frontend.runtime-config`: this environment's `config.json` (it replaces the
    /// source release's), and the keys that differ from the source environment's.
    pub(crate) config: Option<(&'a Desired, Vec<String>)>,
}

/// Plans the site: `source` is the promoted release's site (`from` = `env/release`), listed in
/// `source_live`; `live` is this bucket's listing. A file is copied unless this bucket serves its
/// bytes with its headers already.
pub(crate) fn site(
    source: &SiteRelease,
    source_live: &Live,
    from: &str,
    here: &Here<'_>,
    live: &Live,
) -> SitePlan {
    let mut uploads = Vec::new();
    let mut objects = Vec::new();
    let mut unchanged = 0;
    let mut manifest = source.files.clone();
    let mut stored: BTreeSet<&str> = BTreeSet::new();
    for (key, entry) in &source.files {
        if here.config.is_some() && key == runtime::KEY {
            manifest.remove(key);
            continue;
        }
        let hashed = entry.in_place(key);
        // The bytes in the source bucket: the file itself, or its stored copy.
        let (from_key, from_obj) = if hashed {
            (key.clone(), source_live.site.get(key))
        } else {
            (
                format!("{OBJECTS_PREFIX}{}", entry.sha256),
                source_live.objects.get(&entry.sha256),
            )
        };
        let same_headers = here
            .current
            .and_then(|c| c.files.get(key))
            .is_some_and(|c| {
                c.sha256 == entry.sha256
                    && c.content_type == entry.content_type
                    && c.cache_control == entry.cache_control
            });
        let there = live.site.get(key);
        let same_bytes = there.is_some_and(|o| {
            o.size == entry.size && !o.etag.is_empty() && from_obj.is_some_and(|s| s.etag == o.etag)
        });
        if !hashed && !live.objects.contains_key(&entry.sha256) && stored.insert(&entry.sha256) {
            objects.push(StoreObject {
                sha256: entry.sha256.clone(),
                key: key.clone(),
                size: entry.size,
                path: Default::default(),
                from_bucket: Some(source.bucket.clone()),
            });
        }
        if same_bytes && same_headers {
            unchanged += 1;
            if let Some(e) = manifest.get_mut(key) {
                e.etag = there.map(|o| o.etag.clone());
            }
            continue;
        }
        uploads.push(FileAction {
            key: key.clone(),
            size: entry.size,
            sha256: entry.sha256.clone(),
            content_type: entry.content_type.clone(),
            cache_control: entry.cache_control.clone(),
            phase: Phase::of(key, hashed),
            reason: Reason::Restored,
            previous: None,
            source: FileSource::Promoted {
                bucket: source.bucket.clone(),
                key: from_key,
            },
        });
    }
    if let Some((own, _)) = &here.config {
        let (upload, entry) = own_config(own, here.current, live);
        if !live.objects.contains_key(&own.sha256) && stored.insert(&own.sha256) {
            objects.push(StoreObject {
                sha256: own.sha256.clone(),
                key: own.key.clone(),
                size: own.size,
                path: own.path.clone(),
                from_bucket: None,
            });
        }
        match upload {
            Some(u) => uploads.push(u),
            None => unchanged += 1,
        }
        manifest.insert(own.key.clone(), entry);
    }
    uploads.sort_by(|a, b| (a.phase.number(), &a.key).cmp(&(b.phase.number(), &b.key)));
    let removed: Vec<String> = here
        .current
        .map(|c| {
            c.files
                .keys()
                .filter(|k| !source.files.contains_key(*k))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    let retry = crate::site::plan::retry(here.pending, here.distribution);
    let invalidation = crate::site::plan::invalidation(
        here.distribution,
        uploads.iter().map(|c| c.key.as_str()),
        retry.as_ref().map_or(&[][..], |r| &r.paths),
        here.spa_router,
    );
    SitePlan {
        bucket: here.bucket.to_string(),
        dir: format!("the site of {from}"),
        files: manifest.len(),
        bytes: manifest.values().map(|e| e.size).sum(),
        upload_bytes: uploads.iter().map(|c| c.size).sum(),
        uploads,
        header_updates: Vec::new(),
        objects,
        unchanged,
        removed,
        invalidation,
        retry,
        // A promotion collects nothing; the next deploy does.
        gc: GcPolicy::default(),
        manifest,
        live: live.clone(),
        restore: None,
        verified: 0,
        promoted: Some(PromotedSite {
            from: from.to_string(),
            bucket: source.bucket.clone(),
            config_differs: here.config.as_ref().map(|(_, keys)| keys.clone()),
        }),
    }
}

/// This environment's `config.json`: its upload (None: live already, with these bytes and
/// headers) and its manifest entry.
fn own_config(
    own: &Desired,
    current: Option<&SiteRelease>,
    live: &Live,
) -> (Option<FileAction>, ManifestEntry) {
    let mut entry = ManifestEntry {
        sha256: own.sha256.clone(),
        size: own.size,
        content_type: own.headers.content_type.clone(),
        cache_control: own.headers.cache_control.clone(),
        etag: None,
        hashed: Some(false),
    };
    let recorded = current.and_then(|c| c.files.get(&own.key));
    let there = live.site.get(&own.key);
    let same = recorded.zip(there).is_some_and(|(r, o)| {
        r.sha256 == own.sha256
            && r.content_type == entry.content_type
            && r.cache_control == entry.cache_control
            && o.size == own.size
            && r.etag.as_ref().is_none_or(|e| *e == o.etag)
    });
    if same {
        entry.etag = there.map(|o| o.etag.clone());
        return (None, entry);
    }
    let upload = FileAction {
        key: own.key.clone(),
        size: own.size,
        sha256: own.sha256.clone(),
        content_type: entry.content_type.clone(),
        cache_control: entry.cache_control.clone(),
        phase: Phase::of(&own.key, false),
        reason: if recorded.is_some() {
            Reason::Changed
        } else {
            Reason::New
        },
        previous: None,
        source: FileSource::Local {
            path: own.path.clone(),
        },
    };
    (Some(upload), entry)
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
