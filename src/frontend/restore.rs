//! Putting the previous site's files back after ECS rolled the backend back once this release's
//! HTML was out (an alarm during the bake time): the files the release's late part wrote under
//! names the previous site had are copied back server-side from `_deckhand/objects/<sha256>`, as
//! `rollback` does ([`crate::plan::site::FileSource::Stored`]); nothing is read from disk.

use std::collections::BTreeMap;

use super::error::FrontendError;
use crate::aws::AwsContext;
use crate::config::Frontend;
use crate::plan::gc::GcPolicy;
use crate::plan::site::{FileAction, FileSource, Phase, Reason, SitePlan};
use crate::release::SiteRelease;
use crate::site;
use crate::site::upload::Part;

/// What [`plan`] puts back, and what it cannot.
#[derive(Debug)]
pub(crate) struct Restore {
    pub(crate) plan: SitePlan,
    /// Keys this release added (the previous site had none): left to garbage collection.
    pub(crate) added: Vec<String>,
    /// Keys whose previous bytes the objects store does not hold: they keep this release's.
    pub(crate) missing: Vec<String>,
}

/// Plans the restore of `before` (the site live before this release) over what this release
/// wrote (`written`: key -> ETag) from its plan `sp`: each key whose previous entry (bytes and
/// headers) differs from this release's. New content-hashed files are left: nothing names them
/// once the HTML is back. Pure.
pub(crate) fn plan(
    cfg: &Frontend,
    sp: &SitePlan,
    before: &SiteRelease,
    written: &BTreeMap<String, String>,
) -> Restore {
    let mut uploads = Vec::new();
    let mut added = Vec::new();
    let mut missing = Vec::new();
    let stored =
        |sha: &str| sp.live.objects.contains_key(sha) || sp.objects.iter().any(|o| o.sha256 == sha);
    for key in written.keys() {
        let now = sp.manifest.get(key);
        let Some(entry) = before.files.get(key).filter(|_| before.bucket == sp.bucket) else {
            // A new content-hashed name: nothing names it once the HTML is back.
            if now.is_none_or(|e| e.hashed != Some(true)) {
                added.push(key.clone());
            }
            continue;
        };
        // What the key served before this release is what it serves again: nothing to do. A key
        // this release rewrote is put back even when either entry is content-hashed (in place):
        // a header rule or `hashed-names` change rewrites a hashed name with other headers (or
        // makes it mutable), and the record names the previous entry for it.
        if now.is_some_and(|e| {
            e.sha256 == entry.sha256
                && e.content_type == entry.content_type
                && e.cache_control == entry.cache_control
        }) {
            continue;
        }
        if !stored(&entry.sha256) {
            missing.push(key.clone());
            continue;
        }
        uploads.push(FileAction {
            key: key.clone(),
            size: entry.size,
            sha256: entry.sha256.clone(),
            content_type: entry.content_type.clone(),
            cache_control: entry.cache_control.clone(),
            phase: Phase::of(key, false),
            reason: Reason::Restored,
            previous: None,
            source: FileSource::Stored,
        });
    }
    uploads.sort_by(|a, b| (a.phase.number(), &a.key).cmp(&(b.phase.number(), &b.key)));
    let invalidation = site::plan::invalidation(
        cfg.distribution.as_deref(),
        uploads.iter().map(|u| u.key.as_str()),
        &[],
        cfg.spa_router,
    );
    let upload_bytes = uploads.iter().map(|u| u.size).sum();
    let origin = before
        .origin
        .clone()
        .unwrap_or_else(|| "the previous release".into());
    Restore {
        plan: SitePlan {
            bucket: sp.bucket.clone(),
            dir: format!("release {origin}"),
            files: before.files.len(),
            bytes: before.files.values().map(|e| e.size).sum(),
            uploads,
            upload_bytes,
            header_updates: Vec::new(),
            objects: Vec::new(),
            unchanged: 0,
            removed: Vec::new(),
            invalidation,
            retry: None,
            gc: GcPolicy::default(),
            manifest: before.files.clone(),
            live: sp.live.clone(),
            restore: before.origin.clone(),
            verified: 0,
            promoted: None,
        },
        added,
        missing,
    }
}

/// Copies the planned files back (HTML last); `written` gets each key's ETag. Returns the site
/// half: the previous manifest with the copies' ETags, and the invalidation still to do.
pub(crate) async fn run(
    ctx: &AwsContext,
    cfg: &Frontend,
    restore: &Restore,
    written: &mut BTreeMap<String, String>,
) -> Result<SiteRelease, FrontendError> {
    site::upload::run(ctx, &restore.plan, cfg.concurrency, written, Part::All).await?;
    Ok(super::apply::published(&restore.plan, written))
}
