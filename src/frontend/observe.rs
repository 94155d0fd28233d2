//! The plan's reads: the built directory (scanned and hashed) and the bucket (one ListObjectsV2
//! pass, split at the last release's keys), at once.

use super::error::FrontendError;
use crate::aws::AwsContext;
use crate::config::Frontend;
use crate::plan::ownership::OwnedFrom;
use crate::plan::ownership::Ownership;
use crate::plan::site::Live;
use crate::release::{ReleaseRecord, SiteRelease};
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
    let mut desired: Vec<Desired> = files
        .into_iter()
        .map(|f| Desired {
            headers: rules.headers(&f.key),
            hashed: rules.hashed(&f.key),
            key: f.key,
            path: f.path,
            size: f.size,
            sha256: f.sha256,
        })
        .collect();
    super::runtime::add(cfg, &mut desired)?;
    Ok(desired)
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
    let mut desired = desired?;
    let mut live = live?;
    if let Some((etag, owned)) = index? {
        // The version parsed stands in the fingerprint (the listing may have seen another).
        live.ownership = Some(etag);
        live.owned = owned;
        live.owned_from = OwnedFrom::Index;
    }
    let rules = HeaderRules::new(&cfg.headers, &cfg.hashed_names)?;
    let last_site = last
        .and_then(|r| r.site.as_ref())
        .filter(|s| s.bucket == cfg.bucket);
    warn_looks_hashed(&not_hashed_after_all(
        &mut desired,
        last_site,
        &live.owned,
        &rules,
    ));
    warn_immutable_unhashed(&desired);
    Ok(Observed { desired, live })
}

/// Files whose name looks content-hashed (`frontend.hashed-names`) but whose bytes changed under
/// that name since deckhand published it (the last release's manifest or the ownership index say
/// other bytes; Vite's hashed names never do: `public/assets/og-1200x630.png`,
/// `assets/fonts/Inter-SemiBold.woff2` merely look so) are mutable: stored for rollback, restored
/// by sha256, invalidated, and their cache rule is the one for an unhashed name. Once the last
/// release recorded such a name as mutable it stays so. Returns the keys.
pub(crate) fn not_hashed_after_all(
    desired: &mut [Desired],
    last: Option<&SiteRelease>,
    owned: &Ownership,
    rules: &HeaderRules,
) -> Vec<String> {
    let mut out = Vec::new();
    for d in desired.iter_mut().filter(|d| d.hashed) {
        let recorded = last.and_then(|l| l.files.get(&d.key));
        let before = recorded
            .map(|e| e.sha256.as_str())
            .into_iter()
            .chain(owned.keys.get(&d.key).and_then(|o| o.sha256.as_deref()));
        let changed = before.into_iter().any(|sha| sha != d.sha256);
        if changed || recorded.is_some_and(|e| e.hashed == Some(false)) {
            d.hashed = false;
            d.headers = rules.headers_as(&d.key, false);
            out.push(d.key.clone());
        }
    }
    out
}

fn warn_looks_hashed(keys: &[String]) {
    if let Some(first) = keys.first() {
        let line = format!(
            "{} file(s) whose name looks content-hashed (frontend.hashed-names) changed bytes under the same name (e.g. {first}): deckhand treats them as mutable (stored for rollback, invalidated, the cache rule of an unhashed name); browsers that cached earlier bytes as immutable may keep them: rename such files or narrow frontend.hashed-names",
            keys.len()
        );
        tracing::warn!("{line}");
        crate::github::warning_annotation(&line);
    }
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
