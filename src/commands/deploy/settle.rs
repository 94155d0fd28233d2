//! Writing the record of a release as it stands: the backend half read from the service now
//! ([`record`]), a failed or stopped release's record, and the step outputs that name it. Used by
//! [`super::apply`] and [`super::ordered`].

use super::record;
use crate::aws::AwsContext;
use crate::aws::gate::{self, Closed};
use crate::commands::error::CommandError;
use crate::config::Settings;
use crate::plan::DeployPlan;
use crate::release::store::ReleaseStore;
use crate::release::{BackendRelease, ReleaseRecord, ReleaseStatus, SiteRelease};
use crate::{frontend, github, step};

/// The status of a record written after the write gate closed.
pub(super) fn stop_status(reason: &Closed) -> ReleaseStatus {
    match reason {
        Closed::Signal(_) => ReleaseStatus::Cancelled,
        Closed::LockLost(_) => ReleaseStatus::Failed,
    }
}

/// After the write gate closed during `phase`: writes the record as it stands (each half says
/// what is live: the carried one, or what this release got to) as cancelled (a signal) or failed
/// (the lock lost), and returns the error that ends the command (exit 130/143, or 5).
pub(super) async fn stopped(
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

/// [`settle_backend`] for a record whose site half this release did not publish whole (it
/// publishes and restores no site, its HTML was held back while the backend failed, or its publish
/// stopped part way): that half is first checked against what the bucket serves
/// ([`site_served`]).
pub(super) async fn settle_as_it_stands(
    ctx: &AwsContext,
    settings: &Settings,
    plan: &DeployPlan,
    record: &mut ReleaseRecord,
    deployed: Option<&BackendRelease>,
) {
    site_served(ctx, settings, plan, record).await;
    settle_backend(ctx, settings, plan, record, deployed).await;
}

/// Sets the record's backend half from what is live now: the service (see [`record`]). The site
/// half is left as it is: this release published it, from the listing read under the lock.
pub(super) async fn settle_backend(
    ctx: &AwsContext,
    settings: &Settings,
    plan: &DeployPlan,
    record: &mut ReleaseRecord,
    deployed: Option<&BackendRelease>,
) {
    let restored = plan
        .rollback
        .as_ref()
        .and_then(|r| Some((r.restore.as_str(), r.backend.as_ref()?)));
    let carried = plan.carry.backend.as_ref();
    let known: Vec<&BackendRelease> = [deployed, restored.map(|(_, b)| b), carried]
        .into_iter()
        .flatten()
        .collect();
    match record::read_live(ctx, settings, &known).await {
        Some(live) => {
            record.backend = Some(record::backend_half(
                &record.id, deployed, restored, carried, &live,
            ));
        }
        None => {
            if let Some(d) = deployed {
                record.backend = Some(BackendRelease {
                    origin: Some(record.id.clone()),
                    ..d.clone()
                });
            }
        }
    }
    // The carried release's HTML went out while its API baked, and that rollout has since
    // completed (the backend half just read says so): its site half is live, paired.
    if let (Some(site), Some(b)) = (record.site.as_mut(), record.backend.as_ref())
        && crate::plan::pairing::settle_carried(site, b, plan.carry.previous.as_deref())
    {
        tracing::info!(
            "release {}'s rollout completed after deckhand stopped watching its bake time: its site half is live with the API it calls",
            plan.carry.previous.as_deref().unwrap_or("unknown")
        );
    }
}

/// A site half this release did not publish whole (it publishes and restores no site, its HTML
/// was held back while the backend failed, or its publish stopped part way) says what is live
/// only while the bucket holds the files it names; a deploy stopped between its writes and its
/// record leaves others ([`frontend::served`]): the record then names what the bucket serves, with
/// a warning, as the backend half names the revision the service runs. A half this release wrote
/// part of keeps its own status, failure and origin; a carried one's origin is unknown. A bucket
/// that cannot be read leaves the half (with a warning); the next plan reports any drift.
async fn site_served(
    ctx: &AwsContext,
    settings: &Settings,
    plan: &DeployPlan,
    record: &mut ReleaseRecord,
) {
    let (Some(cfg), Some(half)) = (&settings.frontend, record.site.as_ref()) else {
        return;
    };
    match frontend::served(ctx, cfg, half).await {
        Ok(None) => {}
        Ok(Some(served)) => {
            let line = format!(
                "the newest release record does not say what is live: {}; release {} records the site the bucket serves",
                record::site_differs(&served, plan.carry.previous.as_deref()),
                record.id
            );
            tracing::warn!("{line}");
            github::warning_annotation(&line);
            let own = half.origin.as_deref() == Some(record.id.as_str());
            record.site = Some(if own {
                SiteRelease {
                    status: half.status,
                    failure: half.failure.clone(),
                    origin: half.origin.clone(),
                    ..served.half
                }
            } else {
                served.half
            });
        }
        Err(e) => tracing::warn!(
            "cannot read s3://{} for the release record ({e}): the record carries the site half of release {}",
            cfg.bucket,
            plan.carry.previous.as_deref().unwrap_or("unknown")
        ),
    }
}

/// Writes the record of a release that failed (what is live, read now), and sets the outputs from
/// it; a write that fails is logged, the command's own error is what it reports.
pub(super) async fn write_failed(
    ctx: &AwsContext,
    settings: &Settings,
    store: &ReleaseStore<'_>,
    plan: &DeployPlan,
    record: &mut ReleaseRecord,
    deployed: Option<&BackendRelease>,
) {
    settle_as_it_stands(ctx, settings, plan, record, deployed).await;
    match store.write(record).await {
        Ok(()) => record_outputs(record),
        Err(e) => tracing::warn!("could not record the failed release: {e}"),
    }
}

/// The outputs that name a written record: its id and what its backend half says is live.
pub(crate) fn record_outputs(record: &ReleaseRecord) {
    step::output("release-id", &record.id);
    if let Some(b) = &record.backend {
        step::output("image", &b.image);
        step::output("task-definition", &b.task_definition_arn);
    }
}
