//! The plan's reads: the built directory (scanned and hashed) and the bucket (one ListObjectsV2
//! pass, split at the last release's keys), at once.

use super::error::FrontendError;
use crate::aws::AwsContext;
use crate::config::Frontend;
use crate::plan::ownership::OwnedFrom;
use crate::plan::site::Live;
use crate::release::ReleaseRecord;
use crate::site::headers::HeaderRules;
use crate::site::plan::Desired;
use crate::site::{observe, scan};

/// What the plan read: the desired files with their intended headers, and the live bucket.
#[derive(Debug, Clone)]
pub(crate) struct Observed {
    pub(crate) desired: Vec<Desired>,
    pub(crate) live: Live,
}

/// Scans and hashes `cfg.dir` alone (no AWS call).
pub(crate) async fn scan_only(cfg: &Frontend) -> Result<Vec<Desired>, FrontendError> {
    let rules = HeaderRules::new(&cfg.headers, &cfg.hashed_names)?;
    let dir = cfg.dir.clone();
    let exclude = cfg.exclude.clone();
    let limits = scan::Limits {
        max_files: cfg.max_files,
        require_index: cfg.require_index,
    };
    let files = tokio::task::spawn_blocking(move || {
        scan::walk(&dir, &exclude, limits).and_then(scan::hash_all)
    })
    .await
    .map_err(|e| FrontendError::Scan(e.to_string()))??;
    Ok(files
        .into_iter()
        .map(|f| Desired {
            headers: rules.headers(&f.key),
            hashed: rules.hashed(&f.key),
            key: f.key,
            path: f.path,
            size: f.size,
            sha256: f.sha256,
        })
        .collect())
}

/// Scans `cfg.dir` and lists `cfg.bucket` concurrently. `last` is the newest release whose site
/// part was published (its keys split the listing into ranges).
pub(crate) async fn observe(
    ctx: &AwsContext,
    cfg: &Frontend,
    last: Option<&ReleaseRecord>,
) -> Result<Observed, FrontendError> {
    let known: Vec<&str> = last
        .and_then(|r| r.site.as_ref())
        .filter(|s| s.bucket == cfg.bucket)
        .map(|s| s.files.keys().map(String::as_str).collect())
        .unwrap_or_default();
    let (desired, live, index) = tokio::join!(
        scan_only(cfg),
        observe::list(ctx, &cfg.bucket, &known),
        crate::site::ownership::read(ctx, &cfg.bucket)
    );
    let desired = desired?;
    let mut live = live?;
    if let Some((etag, owned)) = index? {
        // The version parsed stands in the fingerprint (the listing may have seen another).
        live.ownership = Some(etag);
        live.owned = owned;
        live.owned_from = OwnedFrom::Index;
    }
    warn_immutable_unhashed(&desired);
    Ok(Observed { desired, live })
}

/// A header rule that makes a file without a content hash in its name immutable: browsers keep
/// their copy for as long as the rule says, whatever a later release publishes under that name
/// (deckhand still treats it as mutable: stored for rollback, invalidated when it changes).
fn warn_immutable_unhashed(desired: &[Desired]) {
    let odd: Vec<&str> = desired
        .iter()
        .filter(|d| !d.hashed && d.headers.cache_control.contains("immutable"))
        .map(|d| d.key.as_str())
        .collect();
    if let Some(first) = odd.first() {
        let line = format!(
            "frontend.headers makes {} file(s) whose name carries no content hash immutable (e.g. {first}): browsers keep them even after a release changes them; give them another cache-control, or set frontend.hashed-names if their names do carry a hash",
            odd.len()
        );
        tracing::warn!("{line}");
        crate::github::warning_annotation(&line);
    }
}
