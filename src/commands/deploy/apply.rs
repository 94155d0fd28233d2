//! Applying a [`DeployPlan`]: the backend rolls first and must complete before the frontend
//! publishes; the release record is written after the site's files are in place and before the
//! CloudFront invalidation and the planned deletions. Reads nothing the plan holds.
//!
//! When the write gate closes (SIGINT/SIGTERM, or the lock taken over: `aws::gate`) the step in
//! progress stops, no write starts after it, and the record is written as it stands — each half
//! what is live (the carried half, or what this release got to: a rollout going on, the files
//! published so far) — as `cancelled` (a signal) or `failed` ("lock lost to …").

use std::collections::BTreeMap;

use crate::aws::AwsContext;
use crate::aws::gate::{self, Closed};
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
                }
                if let Some(reason) = gate::closed() {
                    return Err(stopped(store, record, reason, "the backend").await);
                }
                if err.partial_release().is_some() {
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
        let mut written = BTreeMap::new();
        match frontend::upload(ctx, cfg, sp, meta, opts, &mut written).await {
            Ok((site, index)) => {
                record.site = Some(site);
                site_plan = Some((cfg, sp, index));
            }
            Err(err) => {
                if let Some(reason) = gate::closed() {
                    // What is live: the site before, with the files this publish wrote.
                    let status = stop_status(&reason);
                    record.site = frontend::live_site(
                        sp,
                        plan.carry.site.as_ref(),
                        &written,
                        status,
                        format!("{reason} while publishing: {err}"),
                    );
                    return Err(stopped(store, record, reason, "the site's publish").await);
                }
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

    if let Some(reason) = gate::closed() {
        // Everything is applied and live; the record says so, and that the command stopped.
        return Err(stopped(store, record, reason, "recording the release").await);
    }
    record.status = ReleaseStatus::Succeeded;
    store.write(&record).await?;

    if let Some((cfg, sp, index)) = site_plan {
        let _g = github::group("deckhand: invalidate and clean up");
        if let Err(err) = frontend::finish(ctx, cfg, sp, index, store, &mut record, opts).await {
            if let Some(reason) = gate::closed() {
                return Err(CommandError::Stopped {
                    reason,
                    done: format!(
                        "release {} is live and recorded; after it: {err} (no garbage \
                         collection this time: the record says it is pending)",
                        record.id
                    ),
                });
            }
            return Err(err.into());
        }
    }
    Ok(record)
}

/// The status of a record written after the write gate closed.
fn stop_status(reason: &Closed) -> ReleaseStatus {
    match reason {
        Closed::Signal(_) => ReleaseStatus::Cancelled,
        Closed::LockLost(_) => ReleaseStatus::Failed,
    }
}

/// After the write gate closed during `phase`: writes the record as it stands (each half says
/// what is live: the carried one, or what this release got to) as cancelled (a signal) or failed
/// (the lock lost), and returns the error that ends the command (exit 130/143, or 5).
async fn stopped(
    store: &ReleaseStore<'_>,
    mut record: ReleaseRecord,
    reason: Closed,
    phase: &str,
) -> CommandError {
    record.status = stop_status(&reason);
    if let Some(b) = record
        .backend
        .as_mut()
        .filter(|b| b.status == ReleaseStatus::InProgress)
    {
        b.failure
            .get_or_insert_with(|| format!("{reason} while watching the rollout"));
    }
    let what = match &reason {
        Closed::Signal(_) => "cancelled",
        Closed::LockLost(_) => "failed",
    };
    let recorded = match gate::cleanup(store.write(&record)).await {
        Ok(()) => format!("release {} recorded as {what} with what is live", record.id),
        Err(e) => format!("release {} could not be recorded: {e}", record.id),
    };
    CommandError::Stopped {
        reason,
        done: format!("stopped during {phase}, no write started after that; {recorded}"),
    }
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
