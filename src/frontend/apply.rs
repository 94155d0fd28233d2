//! The executor: phases 1-3 ([`upload`]), then, after `deploy` wrote the record, [`finish`]:
//! the CloudFront invalidation and garbage collection.

use std::time::Duration;

use sha2::Digest as _;

use super::error::FrontendError;
use crate::aws::AwsContext;
use crate::cdn::{self, CdnError};
use crate::config::Frontend;
use crate::plan::DeployOptions;
use crate::plan::site::{InvalidationPlan, SitePlan, human_bytes};
use crate::release::store::ReleaseStore;
use crate::release::{ReleaseMeta, ReleaseStatus, SiteRelease};
use crate::site;

/// Phases 1-3 (immutable assets, other files and the objects store, HTML last). Returns the
/// site part of the release record, which `deploy` writes before calling [`finish`].
pub(crate) async fn upload(
    ctx: &AwsContext,
    cfg: &Frontend,
    plan: &SitePlan,
    _meta: &ReleaseMeta,
    opts: &DeployOptions,
) -> Result<SiteRelease, FrontendError> {
    let mut files = plan.manifest.clone();
    if !opts.dry_run {
        let etags = site::upload::run(ctx, plan, cfg.concurrency).await?;
        for (key, etag) in etags {
            if let Some(entry) = files.get_mut(&key) {
                entry.etag = Some(etag);
            }
        }
    }
    Ok(SiteRelease {
        bucket: plan.bucket.clone(),
        files,
        status: ReleaseStatus::Succeeded,
        failure: None,
    })
}

/// The site part of a release whose publish failed: what it tried to publish, marked failed
/// with the reason (never a baseline for the next plan, never kept by garbage collection).
pub(crate) fn failed_site(plan: &SitePlan, err: &FrontendError) -> SiteRelease {
    SiteRelease {
        bucket: plan.bucket.clone(),
        files: plan.manifest.clone(),
        status: ReleaseStatus::Failed,
        failure: Some(err.to_string()),
    }
}

/// After the record is written: CloudFront invalidation, then garbage collection.
pub(crate) async fn finish(
    ctx: &AwsContext,
    cfg: &Frontend,
    plan: &SitePlan,
    store: &ReleaseStore<'_>,
    meta: &ReleaseMeta,
    opts: &DeployOptions,
) -> Result<(), FrontendError> {
    if opts.dry_run {
        return Ok(());
    }
    let invalidated = invalidate(ctx, cfg, plan, meta, opts).await?;
    let collected = collect(ctx, cfg, plan, store).await?;
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

async fn invalidate(
    ctx: &AwsContext,
    cfg: &Frontend,
    plan: &SitePlan,
    meta: &ReleaseMeta,
    opts: &DeployOptions,
) -> Result<String, FrontendError> {
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
    // Derived from the release and its paths: a retried step gets the same invalidation back,
    // while two batches never share a reference.
    let digest = sha2::Sha256::digest(paths.join("\n").as_bytes());
    let reference = format!("deckhand-{}-{}", meta.id, &hex::encode(digest)[..12]);
    let id = cdn::create(
        ctx,
        distribution,
        paths,
        &reference,
        cfg.invalidation.timeout,
    )
    .await?;
    tracing::info!("invalidation {id} on {distribution}: {}", paths.join(" "));
    if cfg.invalidation.wait && !opts.no_wait {
        let timeout = cfg.invalidation.timeout;
        if !cdn::wait(ctx, distribution, &id, timeout).await? {
            let err = CdnError::Timeout {
                distribution: distribution.clone(),
                id: id.clone(),
                waited: timeout,
            };
            if cfg.invalidation.required {
                return Err(err.into());
            }
            tracing::warn!("{err}");
            crate::github::warning_annotation(&err.to_string());
            return Ok(format!("invalidation {id} still in progress"));
        }
        return Ok(format!("invalidation {id} completed"));
    }
    Ok(format!("invalidation {id} created"))
}

/// Deletes what the plan's garbage collection selected.
async fn collect(
    ctx: &AwsContext,
    cfg: &Frontend,
    plan: &SitePlan,
    store: &ReleaseStore<'_>,
) -> Result<String, FrontendError> {
    let gc = &plan.gc;
    if !gc.delete.is_empty() {
        site::gc::delete(ctx, &plan.bucket, &gc.delete).await?;
    }
    if !gc.expire_records.is_empty() {
        store.delete(&gc.expire_records).await?;
    }
    let mut text = format!(
        "garbage collection deleted {} keys and {} expired release records",
        gc.delete.len(),
        gc.expire_records.len()
    );
    if gc.young > 0 {
        text.push_str(&format!(
            ", kept {} unreferenced keys younger than {}",
            gc.young,
            humantime::format_duration(Duration::from_secs(cfg.gc_grace.as_secs()))
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
