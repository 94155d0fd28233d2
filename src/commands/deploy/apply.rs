//! Applying a [`DeployPlan`]: the backend rolls first and must complete before the frontend
//! publishes; the release record is written after the site's files are in place and before the
//! CloudFront invalidation and the planned deletions. Reads nothing the plan holds.

use crate::aws::AwsContext;
use crate::commands::error::CommandError;
use crate::config::Settings;
use crate::plan::{DeployOptions, DeployPlan};
use crate::release::store::ReleaseStore;
use crate::release::{ReleaseMeta, ReleaseRecord, ReleaseStatus};
use crate::{backend, frontend, github, step};

pub(crate) async fn apply(
    ctx: &AwsContext,
    settings: &Settings,
    store: &ReleaseStore<'_>,
    plan: &DeployPlan,
    meta: &ReleaseMeta,
    opts: &DeployOptions,
) -> Result<ReleaseRecord, CommandError> {
    let mut record = ReleaseRecord {
        id: meta.id.clone(),
        created_at: meta.created_at.clone(),
        status: ReleaseStatus::InProgress,
        git: meta.git.clone(),
        previous: plan.carry.previous.clone(),
        rollback_of: plan.rollback.as_ref().map(|r| r.of.clone()),
        restored: plan.rollback.as_ref().map(|r| r.restore.clone()),
        // Unchanged halves carry over from the previous release (read when planning).
        backend: plan.carry.backend.clone(),
        site: plan.carry.site.clone(),
    };

    if let (Some(cfg), Some(bp)) = (&settings.backend, &plan.backend)
        && !bp.is_empty()
    {
        let _g = github::group("deckhand: backend");
        match backend::apply(ctx, cfg, bp, meta, opts).await {
            Ok(release) => {
                step::output("changed", "true");
                record.backend = Some(release);
            }
            Err(err) => {
                if let Some(partial) = err.partial_release() {
                    step::output("changed", "true");
                    record.backend = Some(partial.clone());
                    record.status = ReleaseStatus::Failed;
                    if let Err(e) = store.write(&record).await {
                        tracing::warn!("could not record the failed release: {e}");
                    }
                }
                return Err(err.into());
            }
        }
    }

    let mut site_plan = None;
    if let (Some(cfg), Some(sp)) = (&settings.frontend, &plan.frontend) {
        let _g = github::group("deckhand: frontend");
        step::output("changed", "true");
        match frontend::upload(ctx, cfg, sp, meta, opts).await {
            Ok((site, index)) => {
                record.site = Some(site);
                site_plan = Some((cfg, sp, index));
            }
            Err(err) => {
                // The backend may already run this release: say so, and that the site did not
                // follow, so `releases` and `rollback` see what is live.
                if record.backend.as_ref().is_some_and(|b| {
                    plan.backend.as_ref().is_some_and(|bp| !bp.is_empty())
                        && b.status == ReleaseStatus::Succeeded
                }) {
                    record.status = ReleaseStatus::Failed;
                    record.site = Some(frontend::failed_site(sp, &err));
                    if let Err(e) = store.write(&record).await {
                        tracing::warn!("could not record the failed release: {e}");
                    }
                }
                return Err(err.into());
            }
        }
    }

    record.status = ReleaseStatus::Succeeded;
    store.write(&record).await?;

    if let Some((cfg, sp, index)) = site_plan {
        let _g = github::group("deckhand: invalidate and clean up");
        frontend::finish(ctx, cfg, sp, index, store, &mut record, opts).await?;
    }
    Ok(record)
}

/// The outputs of a deploy that releases nothing (no-op, dry run): the live release, and the live
/// backend's image and task definition. The release record is read only when the outputs go
/// somewhere (GITHUB_OUTPUT), so a no-op outside Actions costs no extra call.
pub(super) async fn live_outputs(
    plan: &DeployPlan,
    store: Option<&ReleaseStore<'_>>,
    last: Option<&ReleaseRecord>,
) {
    if let Some(b) = &plan.backend {
        step::output("task-definition", &b.task_definition.live);
        if let crate::plan::backend::ImagePlan::Reuse { digest } = &b.image {
            step::output("image", format!("{}@{digest}", b.repository));
        }
    }
    if !step::outputs_wanted() {
        return;
    }
    let Some(store) = store else { return };
    // The newest release that succeeded (a failed one may follow it), at most a few records back.
    let mut record = match last {
        Some(l) => Some(l.clone()),
        None => store.latest().await.ok().flatten(),
    };
    for _ in 0..10 {
        let Some(r) = record else { return };
        if r.status == ReleaseStatus::Succeeded {
            if plan.backend.is_none()
                && let Some(b) = &r.backend
            {
                step::output("image", &b.image);
                step::output("task-definition", &b.task_definition_arn);
            }
            step::output("release-id", &r.id);
            return;
        }
        record = match &r.previous {
            Some(p) => store.read(p).await.ok(),
            None => None,
        };
    }
}
