//! The executor: [`upload`] (the ownership index naming every key about to be written, then
//! phases 1-3), then, after `deploy` wrote the record (saying what is pending), [`finish`]: the
//! CloudFront invalidation, garbage collection, the index with the upload's ETags, and the record
//! again without `pending`.

use std::collections::BTreeMap;
use std::time::Duration;

use sha2::Digest as _;

use super::error::FrontendError;
use crate::aws::AwsContext;
use crate::cdn::{self, CdnError};
use crate::config::Frontend;
use crate::plan::DeployOptions;
use crate::plan::ownership::{OwnedFrom, Ownership};
use crate::plan::site::{InvalidationPlan, SitePlan, human_bytes};
use crate::release::store::ReleaseStore;
use crate::release::{ReleaseMeta, ReleaseRecord, ReleaseStatus, SitePending, SiteRelease};
use crate::site;
use crate::site::upload::Part;

/// The ownership index as this release last wrote it (None: this apply keeps no index: the plan
/// came from a file, or a rollback found none), for the write after the publish.
#[derive(Debug)]
pub(crate) struct Index(Option<(Ownership, Option<String>)>);

impl Index {
    /// No index write after the publish (a restore: the index written before the upload names
    /// every key written, which garbage collection later finds unreferenced).
    pub(crate) fn none() -> Self {
        Self(None)
    }
}

/// Before the first upload, the ownership index names every key this release writes (and the
/// adopted ones): a deploy killed mid-upload leaves nothing deckhand wrote outside it. Then phases
/// 1-3 (immutable assets, other files and the objects store, HTML last). Returns the site part of
/// the release record — with what is still to do after it is written — which `deploy` writes
/// before calling [`finish`] with the index state returned beside it. `written` gets the ETag of
/// each key as it is written, so after a failure it says which keys are live with their new bytes
/// ([`live_site`]).
pub(crate) async fn upload(
    ctx: &AwsContext,
    cfg: &Frontend,
    plan: &SitePlan,
    _meta: &ReleaseMeta,
    opts: &DeployOptions,
    written: &mut BTreeMap<String, String>,
) -> Result<(SiteRelease, Index), FrontendError> {
    let index = prepare(ctx, plan, opts).await?;
    publish(ctx, cfg, plan, opts, written, Part::All).await?;
    Ok((published(plan, written), index))
}

/// The ownership index written before the first upload (see [`upload`]).
pub(crate) async fn prepare(
    ctx: &AwsContext,
    plan: &SitePlan,
    opts: &DeployOptions,
) -> Result<Index, FrontendError> {
    if opts.dry_run {
        return Ok(Index(None));
    }
    let etag = match plan.live.owned_from {
        OwnedFrom::Unknown => None,
        OwnedFrom::Index => Some(plan.live.ownership.clone()),
        // Rebuilt from the records: there is none yet.
        OwnedFrom::Records => Some(None),
    };
    let Some(mut etag) = etag else {
        return Ok(Index(None));
    };
    let mut owned = plan.live.owned.clone();
    if owned.before_upload(
        &plan.manifest,
        &plan.gc.adopt,
        &plan.gc.disown,
        plan.live.live_version.as_ref(),
    ) || etag.is_none()
    {
        etag = Some(site::ownership::write(ctx, &plan.bucket, &owned, etag.as_deref()).await?);
    }
    Ok(Index(Some((owned, etag))))
}

/// Writes `part` of the plan's files (after [`prepare`]); `written` gets each key's ETag.
pub(crate) async fn publish(
    ctx: &AwsContext,
    cfg: &Frontend,
    plan: &SitePlan,
    opts: &DeployOptions,
    written: &mut BTreeMap<String, String>,
    part: Part,
) -> Result<(), FrontendError> {
    if !opts.dry_run {
        site::upload::run(ctx, plan, cfg.concurrency, written, part).await?;
        if part != Part::Early {
            // Its last file is out (the HTML entry points go last): live. Files are `no-cache`
            // unless a header rule says otherwise, so CloudFront revalidates them with the bucket
            // on each request (Managed-CachingOptimized's minimum TTL is 1 s: "Using the managed
            // cache policies", CloudFront developer guide); the invalidation is timed on its own.
            crate::timing::live(crate::timing::Half::Site, chrono::Utc::now());
        }
    }
    Ok(())
}

/// The site half of a publish that wrote every file (`written`: their ETags).
pub(crate) fn published(plan: &SitePlan, written: &BTreeMap<String, String>) -> SiteRelease {
    let mut files = plan.manifest.clone();
    for (key, etag) in written {
        if let Some(entry) = files.get_mut(key) {
            entry.etag = Some(etag.clone());
        }
    }
    SiteRelease {
        bucket: plan.bucket.clone(),
        files,
        status: ReleaseStatus::Succeeded,
        failure: None,
        pending: pending(plan),
        origin: None,
    }
}

/// What is left after the files are live: the invalidation's paths and the garbage collection
/// (None when neither has anything to do).
pub(crate) fn pending(plan: &SitePlan) -> Option<SitePending> {
    let (distribution, paths) = match &plan.invalidation {
        InvalidationPlan::Paths {
            distribution,
            paths,
        } => (Some(distribution.clone()), paths.clone()),
        _ => (None, Vec::new()),
    };
    let p = SitePending {
        distribution,
        paths,
        gc: !plan.gc.delete.is_empty(),
    };
    (!p.is_done()).then_some(p)
}

/// The site live after a publish that stopped part way (the write gate closed): the manifest
/// live before (`before`), with each key the publish wrote (`written`: key -> ETag) as planned.
/// Keys not written yet keep what was live. `None` when nothing was live before and nothing was
/// written.
pub(crate) fn live_site(
    plan: &SitePlan,
    before: Option<&SiteRelease>,
    written: &BTreeMap<String, String>,
    status: ReleaseStatus,
    failure: String,
) -> Option<SiteRelease> {
    let mut files = before
        .filter(|b| b.bucket == plan.bucket)
        .map(|b| b.files.clone())
        .unwrap_or_default();
    for (key, etag) in written {
        if let Some(entry) = plan.manifest.get(key) {
            let mut entry = entry.clone();
            entry.etag = Some(etag.clone());
            files.insert(key.clone(), entry);
        }
    }
    if files.is_empty() {
        return None;
    }
    Some(SiteRelease {
        bucket: plan.bucket.clone(),
        files,
        status,
        failure: Some(failure),
        pending: None,
        origin: None,
    })
}

/// After the record is written: the CloudFront invalidation, then garbage collection (never
/// after a failed invalidation), then the ownership index (the ETags the upload returned, when
/// each key stopped being live, the deleted keys gone), then — once nothing is pending — the
/// record again without `pending`. On a failure the record keeps saying what is pending.
pub(crate) async fn finish(
    ctx: &AwsContext,
    cfg: &Frontend,
    plan: &SitePlan,
    index: Index,
    store: &ReleaseStore<'_>,
    record: &mut ReleaseRecord,
    opts: &DeployOptions,
) -> Result<(), FrontendError> {
    if opts.dry_run {
        return Ok(());
    }
    let was_pending = record.site.as_ref().and_then(|s| s.pending.clone());
    let mut left = was_pending.clone();
    let outcome = async {
        let invalidated = match invalidate(ctx, cfg, plan, &record.id, opts).await {
            Ok(text) => text,
            Err(Invalidation::NotCreated(e)) => return Err(e),
            Err(Invalidation::NotCompleted(e)) => {
                // Created: nothing to retry there; the garbage collection still waits.
                if let Some(p) = left.as_mut() {
                    p.paths.clear();
                    p.distribution = None;
                }
                return Err(e);
            }
        };
        if let Some(p) = left.as_mut() {
            p.paths.clear();
            p.distribution = None;
        }
        let collected = collect(ctx, cfg, plan).await?;
        left = None;
        Ok((invalidated, collected))
    }
    .await;
    let deleted: &[String] = if outcome.is_ok() {
        &plan.gc.delete
    } else {
        &[]
    };
    // After the write gate closed (a signal, a lost lock) the index is left as written before
    // the upload (it names every key written): safe, only later to collect.
    if let (Index(Some((mut owned, etag))), Some(site), None) =
        (index, &record.site, crate::aws::gate::closed())
    {
        let now = chrono::Utc::now().timestamp();
        if owned.after_publish(&site.files, &record.id, deleted, now) {
            site::ownership::write(ctx, &plan.bucket, &owned, etag.as_deref()).await?;
        }
    }
    if left != was_pending
        && let Some(site) = record.site.as_mut()
    {
        site.pending = left.filter(|p| !p.is_done());
        // The record says what is still pending, after a signal too.
        crate::aws::gate::cleanup(store.write(record)).await?;
    }
    let (invalidated, collected) = outcome?;
    tracing::info!(
        "frontend: uploaded {} files ({}), updated headers of {}, stored {} rollback copies, {} unchanged; {invalidated}; {collected}",
        plan.uploads.len(),
        human_bytes(plan.upload_bytes),
        plan.header_updates.len(),
        plan.objects.len(),
        plan.unchanged,
    );
    Ok(())
}

/// Why the invalidation did not succeed: not created (to retry), or created but not completed
/// within the configured wait (`required`).
enum Invalidation {
    NotCreated(FrontendError),
    NotCompleted(FrontendError),
}

async fn invalidate(
    ctx: &AwsContext,
    cfg: &Frontend,
    plan: &SitePlan,
    release_id: &str,
    opts: &DeployOptions,
) -> Result<String, Invalidation> {
    let (distribution, paths) = match &plan.invalidation {
        InvalidationPlan::NoDistribution => return Ok("no CloudFront distribution".into()),
        InvalidationPlan::Nothing { distribution } => {
            return Ok(format!("no invalidation of {distribution} needed"));
        }
        InvalidationPlan::Paths {
            distribution,
            paths,
        } => (distribution, paths),
    };
    let phase = crate::timing::phase("invalidation");
    // Derived from the release and its paths: a retried step gets the same invalidation back,
    // while two batches never share a reference.
    let digest = sha2::Sha256::digest(paths.join("\n").as_bytes());
    let reference = format!("deckhand-{release_id}-{}", &hex::encode(digest)[..12]);
    let id = cdn::create(
        ctx,
        distribution,
        paths,
        &reference,
        cfg.invalidation.timeout,
    )
    .await
    .map_err(|e| Invalidation::NotCreated(e.into()))?;
    tracing::info!("invalidation {id} on {distribution}: {}", paths.join(" "));
    if cfg.invalidation.wait && !opts.no_wait {
        let timeout = cfg.invalidation.timeout;
        let done = cdn::wait(ctx, distribution, &id, timeout)
            .await
            .map_err(|e| Invalidation::NotCompleted(e.into()))?;
        if !done {
            let err = CdnError::Timeout {
                distribution: distribution.clone(),
                id: id.clone(),
                waited: timeout,
            };
            if cfg.invalidation.required {
                return Err(Invalidation::NotCompleted(err.into()));
            }
            tracing::warn!("{err}");
            crate::github::warning_annotation(&err.to_string());
            return Ok(format!("invalidation {id} still in progress"));
        }
        drop(phase);
        return Ok(format!("invalidation {id} completed"));
    }
    drop(phase);
    Ok(format!("invalidation {id} created"))
}

/// Deletes what the plan's garbage collection selected (never a release record).
async fn collect(
    ctx: &AwsContext,
    cfg: &Frontend,
    plan: &SitePlan,
) -> Result<String, FrontendError> {
    let gc = &plan.gc;
    let mut kept = Vec::new();
    if !gc.delete.is_empty() {
        let _timed = crate::timing::phase("garbage collection");
        // Each delete is conditional on the ETag the plan saw (the listing's).
        let keys: Vec<(String, Option<String>)> = gc
            .delete
            .iter()
            .map(|k| {
                let listed = match k.strip_prefix(crate::release::OBJECTS_PREFIX) {
                    Some(sha) => plan.live.objects.get(sha),
                    None => plan.live.site.get(k),
                };
                (k.clone(), listed.map(|o| o.etag.clone()))
            })
            .collect();
        kept = site::gc::delete(ctx, &plan.bucket, &keys).await?;
    }
    for (key, why) in &kept {
        let line = format!(
            "garbage collection kept {key}: it changed since this deploy planned (someone else's now, no longer deckhand's; {why})"
        );
        tracing::warn!("{line}");
        crate::github::warning_annotation(&line);
    }
    let mut text = format!(
        "garbage collection deleted {} keys",
        gc.delete.len() - kept.len()
    );
    if gc.young > 0 {
        text.push_str(&format!(
            ", kept {} keys unreferenced for less than {}",
            gc.young,
            humantime::format_duration(Duration::from_secs(cfg.gc_grace.as_secs()))
        ));
    }
    if gc.foreign.count > 0 {
        text.push_str(&format!(
            ", left {} keys deckhand did not publish",
            gc.foreign.count
        ));
    }
    if gc.deferred > 0 {
        text.push_str(&format!(
            ", left {} for the next run (max-delete {})",
            gc.deferred, cfg.max_delete
        ));
    }
    Ok(text)
}
