//! The plan's reads for the ownership index beyond the index itself: rebuilding it from the
//! release records for a bucket deckhand published to before the index existed, and the
//! manifests of the site versions garbage collection keeps.

use std::collections::{BTreeMap, BTreeSet};

use super::error::FrontendError;
use crate::config::Frontend;
use crate::plan::ownership::{Owned, Ownership, SiteVersion, version_of};
use crate::plan::site::SitePlan;
use crate::release::history::History;
use crate::release::{ManifestEntry, ReleaseRecord};

/// Records fetched at once.
const READ_CONCURRENCY: usize = 32;
/// Site versions the rebuilt index remembers.
const VERSIONS: usize = 100;

/// The ownership of a bucket without an index: every key a release record's site half (published
/// to `bucket`, succeeded or failed: a failed publish may have written some) names, with the
/// sha256 and ETag of the newest record that names it; the distinct succeeded site versions in
/// the order of the records, newest first. Reads every record once, newest first, a chunk at a
/// time (an empty history: an empty index).
pub(crate) async fn from_records(
    history: &History<'_, '_>,
    bucket: &str,
) -> Result<Ownership, FrontendError> {
    let mut owned = Ownership::default();
    let newest: Vec<String> = history.ids.iter().rev().cloned().collect();
    for chunk in newest.chunks(READ_CONCURRENCY) {
        for record in history.records(chunk, READ_CONCURRENCY).await? {
            let Some(site) = record.site.as_ref().filter(|s| s.bucket == bucket) else {
                continue;
            };
            for (key, e) in &site.files {
                owned.keys.entry(key.clone()).or_insert_with(|| Owned {
                    sha256: Some(e.sha256.clone()),
                    etag: e.etag.clone(),
                    unreferenced_since: None,
                });
            }
            if crate::plan::pairing::site_out(&record) && owned.versions.len() < VERSIONS {
                let digest = version_of(&site.files);
                if !owned.versions.iter().any(|v| v.digest == digest) {
                    owned.versions.push(SiteVersion {
                        digest,
                        release: record.id.clone(),
                    });
                }
            }
        }
    }
    Ok(owned)
}

/// The site versions garbage collection keeps besides the plan's own: the live one (always: the
/// site live before this release stays restorable), then the next distinct ones the index
/// remembers, up to `keep-releases` (at least 2) in all. `complete` is false when a kept
/// version's record could not be read: then nothing is deleted this time.
pub(crate) struct Kept {
    /// (release id, manifest), newest first.
    pub(crate) versions: Vec<(String, BTreeMap<String, ManifestEntry>)>,
    pub(crate) complete: bool,
}

pub(crate) async fn kept_versions(
    history: &History<'_, '_>,
    cfg: &Frontend,
    live_release: Option<&ReleaseRecord>,
    plan: &SitePlan,
) -> Kept {
    let keep = usize::try_from(cfg.keep_releases)
        .unwrap_or(usize::MAX)
        .max(2);
    let mut seen = BTreeSet::from([version_of(&plan.manifest)]);
    let mut kept = Kept {
        versions: Vec::new(),
        complete: true,
    };
    if let Some((id, site)) = live_release
        .filter(|r| crate::plan::pairing::site_out(r))
        .and_then(|r| {
            r.site
                .as_ref()
                .filter(|s| s.bucket == cfg.bucket)
                .map(|s| (&r.id, s))
        })
        && seen.insert(version_of(&site.files))
    {
        kept.versions.push((id.clone(), site.files.clone()));
    }
    for v in &plan.live.owned.versions {
        if kept.versions.len() + 1 >= keep {
            break;
        }
        if seen.contains(&v.digest) {
            continue;
        }
        let read = history.records(std::slice::from_ref(&v.release), 1).await;
        match read.map(|mut r| r.pop()) {
            Ok(Some(r)) => match r.site {
                Some(s) if s.bucket == cfg.bucket && version_of(&s.files) == v.digest => {
                    seen.insert(v.digest.clone());
                    kept.versions.push((r.id, s.files));
                }
                _ => {
                    tracing::warn!(
                        "release {} no longer records the site version the ownership index keeps for it: garbage collection deletes nothing this time",
                        v.release
                    );
                    kept.complete = false;
                }
            },
            Ok(None) | Err(_) => {
                tracing::warn!(
                    "cannot read release {} (a kept site version): garbage collection deletes nothing this time",
                    v.release
                );
                kept.complete = false;
            }
        }
    }
    kept
}
