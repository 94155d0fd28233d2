//! Applying a [`DeployPlan`]: the backend rolls first and must complete before the frontend
//! publishes; the release record is written after the site's files are in place and before the
//! CloudFront invalidation and the planned deletions. Reads nothing the plan holds.
//!
//! When the write gate closes (SIGINT/SIGTERM, or the lock taken over: `aws::gate`) the step in
//! progress stops, no write starts after it, and the record is written as it stands — each half
//! what is live (the carried half, or what this release got to: a rollout going on, the files
//! published so far) — as `cancelled` (a signal) or `failed` ("lock lost to …").

use std::collections::BTreeMap;

use super::record;
use crate::aws::AwsContext;
use crate::aws::gate::{self, Closed};
use crate::commands::error::CommandError;
use crate::config::Settings;
use crate::plan::site::SitePlan;
use crate::plan::{DeployOptions, DeployPlan};
use crate::release::store::ReleaseStore;
use crate::release::{
    BackendRelease, RECORD_VERSION, ReleaseMeta, ReleaseRecord, ReleaseStatus, SiteRelease,
};
use crate::{backend, frontend, github, step};

/// Applies the plan as a GitHub deployment of the environment (see [`github::deployment`]):
/// `in_progress` before the first write, `success` or `failure` once the record says how it
/// ended; a rollback marks the deployment of the release it rolled back `inactive`. A deployment
/// that cannot be made (no permission, an API error) is a warning: the release goes on.
pub(crate) async fn apply(
    ctx: &AwsContext,
    settings: &Settings,
    store: &ReleaseStore<'_>,
    plan: &DeployPlan,
    meta: &ReleaseMeta,
    opts: &DeployOptions,
) -> Result<ReleaseRecord, CommandError> {
    use github::deployment::{self, Start};
    let environment = settings
        .environment
        .clone()
        .unwrap_or_else(|| "production".into());
    let what = match (&plan.rollback, &plan.promote) {
        (Some(r), _) => format!("rollback to {}", r.restore),
        (None, Some(p)) => format!("promotion of {}", p.name()),
        (None, None) => "deploy".into(),
    };
    let description = format!("deckhand {what}: release {}", meta.id);
    let started = deployment::start(&environment, &meta.id, &description).await;
    match &started {
        Start::Created(_) => tracing::info!("GitHub deployment of {environment} created"),
        Start::JobHas(id) => {
            tracing::info!("the job's own GitHub deployment {id} stands for this release");
        }
        Start::Skipped(why) => no_deployment(why),
    }
    let result = apply_release(ctx, settings, store, plan, meta, opts).await;
    if let Start::Created(h) = &started {
        let ok = result
            .as_ref()
            .is_ok_and(|r| r.status == ReleaseStatus::Succeeded);
        let (state, how) = if ok {
            ("success", "succeeded")
        } else {
            ("failure", "failed")
        };
        if let Err(why) = deployment::status(h, state, &format!("{description} {how}")).await {
            no_deployment(&why);
        }
        if let Some(r) = plan.rollback.as_ref().filter(|_| ok)
            && let Err(why) = deployment::inactive(h, &environment, &r.of).await
        {
            no_deployment(&why);
        }
    }
    result
}

/// Why there is no GitHub deployment: a missing token is the workflow's choice (the log says
/// so); anything else is a warning and a line of the job summary.
fn no_deployment(why: &str) {
    if why.starts_with("no GITHUB_") {
        tracing::debug!("no GitHub deployment: {why}");
        return;
    }
    let line = format!("no GitHub deployment: {why}");
    tracing::warn!("{line}");
    github::warning_annotation(&line);
    step::section(format!("### deckhand: no GitHub deployment\n\n{why}"));
}

async fn apply_release(
    ctx: &AwsContext,
    settings: &Settings,
    store: &ReleaseStore<'_>,
    plan: &DeployPlan,
    meta: &ReleaseMeta,
    opts: &DeployOptions,
) -> Result<ReleaseRecord, CommandError> {
    let mut record = ReleaseRecord {
        version: RECORD_VERSION,
        id: meta.id.clone(),
        created_at: meta.created_at.clone(),
        status: ReleaseStatus::InProgress,
        git: meta.git.clone(),
        previous: plan.carry.previous.clone(),
        rollback_of: plan.rollback.as_ref().map(|r| r.of.clone()),
        restored: plan.rollback.as_ref().map(|r| r.restore.clone()),
        promoted_from: plan.promote.as_ref().map(crate::plan::PromoteOf::name),
        // Halves this release does not write are carried (with their own status and origin);
        // the backend is read again before each write of the record.
        backend: plan.carry.backend.clone(),
        site: plan.carry.site.clone(),
    };

    let mut deployed = None;
    if let (Some(cfg), Some(bp)) = (&settings.backend, &plan.backend)
        && !bp.is_empty()
    {
        let _g = github::group("deckhand: backend");
        match backend::apply(ctx, cfg, bp, meta, opts).await {
            Ok(release) => {
                step::output("changed", "true");
                deployed = Some(release);
            }
            Err(err) => {
                let partial = err.partial_release().cloned();
                if partial.is_some() {
                    step::output("changed", "true");
                }
                if let Some(reason) = gate::closed() {
                    settle_backend(ctx, settings, plan, &mut record, partial.as_ref()).await;
                    return Err(stopped(store, record, reason, "the backend").await);
                }
                if partial.is_some() {
                    record.status = ReleaseStatus::Failed;
                    write_failed(ctx, settings, store, plan, &mut record, partial.as_ref()).await;
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
                record.site = Some(site_half(&record.id, site, sp, plan));
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
                    )
                    .map(|s| SiteRelease {
                        origin: Some(record.id.clone()),
                        ..s
                    });
                    settle_backend(ctx, settings, plan, &mut record, deployed.as_ref()).await;
                    return Err(stopped(store, record, reason, "the site's publish").await);
                }
                // The backend may already run this release (rolled, or rolling: `--no-wait`), and
                // the files the publish wrote before it failed are live (HTML goes last: the entry
                // points may still be the old ones): the record says so — the site half is the
                // site before with those files (none: as it was), failed with the reason, so
                // `releases` and `rollback --to previous` see what is live and why. Nothing
                // served changed (at most new content-hashed assets, which nothing live names):
                // nothing to record.
                if deployed.is_some() || serves_other(sp, plan.carry.site.as_ref(), &written) {
                    record.status = ReleaseStatus::Failed;
                    let failure = format!("the publish failed: {err}");
                    let site = frontend::live_site(
                        sp,
                        plan.carry.site.as_ref(),
                        &written,
                        ReleaseStatus::Failed,
                        failure.clone(),
                    )
                    .unwrap_or_else(|| SiteRelease {
                        bucket: sp.bucket.clone(),
                        files: BTreeMap::new(),
                        status: ReleaseStatus::Failed,
                        failure: Some(failure),
                        pending: None,
                        origin: None,
                    });
                    record.site = Some(SiteRelease {
                        origin: Some(record.id.clone()),
                        ..site
                    });
                    write_failed(ctx, settings, store, plan, &mut record, deployed.as_ref()).await;
                }
                return Err(err.into());
            }
        }
    }

    settle_backend(ctx, settings, plan, &mut record, deployed.as_ref()).await;
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

/// Whether the keys a publish wrote (`written`) changed what the site serves: a key the site
/// before (`before`) had, or one whose name carries no content hash (new content-hashed assets are
/// named by nothing live until the HTML that references them is written).
fn serves_other(
    plan: &SitePlan,
    before: Option<&SiteRelease>,
    written: &BTreeMap<String, String>,
) -> bool {
    let before = before.filter(|b| b.bucket == plan.bucket);
    written.keys().any(|k| {
        before.is_some_and(|b| b.files.contains_key(k))
            || plan.manifest.get(k).is_none_or(|e| e.hashed != Some(true))
    })
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

/// The site half this release writes: published by it (origin: this release) when its plan had
/// anything to publish, else the half it carries or restores, with that half's status and origin.
fn site_half(id: &str, site: SiteRelease, sp: &SitePlan, plan: &DeployPlan) -> SiteRelease {
    if !sp.is_empty() {
        return SiteRelease {
            origin: Some(id.to_string()),
            ..site
        };
    }
    let restored = plan
        .rollback
        .as_ref()
        .and_then(|r| Some((r.restore.as_str(), r.site.as_ref()?)));
    let same = |other: &SiteRelease| {
        other.bucket == site.bucket
            && other.files.len() == site.files.len()
            && other
                .files
                .iter()
                .all(|(k, e)| site.files.get(k).is_some_and(|s| s.sha256 == e.sha256))
    };
    if let Some((rid, r)) = restored.filter(|(_, r)| same(r)) {
        return SiteRelease {
            status: r.status,
            failure: r.failure.clone(),
            origin: r.origin.clone().or_else(|| Some(rid.to_string())),
            ..site
        };
    }
    match plan.carry.site.as_ref().filter(|c| same(c)) {
        Some(c) => SiteRelease {
            status: c.status,
            failure: c.failure.clone(),
            origin: c.origin.clone(),
            ..site
        },
        None => SiteRelease {
            origin: Some(id.to_string()),
            ..site
        },
    }
}

/// Sets the record's backend half from the service as it is now (see [`record`]).
async fn settle_backend(
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
}

/// Writes the record of a release that failed (what is live, read now), and sets the outputs from
/// it; a write that fails is logged, the command's own error is what it reports.
async fn write_failed(
    ctx: &AwsContext,
    settings: &Settings,
    store: &ReleaseStore<'_>,
    plan: &DeployPlan,
    record: &mut ReleaseRecord,
    deployed: Option<&BackendRelease>,
) {
    settle_backend(ctx, settings, plan, record, deployed).await;
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

/// The outputs of a deploy that releases nothing (no-op, dry run): the newest release (its halves
/// say what was live when it was written), and the live backend's image and task definition. The
/// release record is read only when the outputs go somewhere (GITHUB_OUTPUT), so a no-op outside
/// Actions costs no extra call.
pub(super) async fn live_outputs(
    plan: &DeployPlan,
    store: Option<&ReleaseStore<'_>>,
    last: Option<&ReleaseRecord>,
) {
    if let Some(b) = &plan.backend {
        step::output("task-definition", &b.task_definition.live);
        if let Some(image) = live_image(b) {
            step::output("image", image);
        }
    }
    if !step::outputs_wanted() {
        return;
    }
    let Some(store) = store else { return };
    let record = match last {
        Some(l) => Some(l.clone()),
        None => store.latest().await.ok().flatten(),
    };
    if let Some(r) = record {
        if plan.backend.is_none()
            && let Some(b) = &r.backend
        {
            step::output("image", &b.image);
            step::output("task-definition", &b.task_definition_arn);
        }
        step::output("release-id", &r.id);
    }
}

/// The deployed container's image in the live task definition the plan read (not the image the
/// plan would deploy).
fn live_image(b: &crate::plan::backend::BackendPlan) -> Option<String> {
    let defs = b.live.task_definition["containerDefinitions"].as_array()?;
    let wanted = b.task_definition.containers.first();
    defs.iter()
        .find(|d| wanted.is_none_or(|w| d["name"].as_str() == Some(w.as_str())))
        .and_then(|d| d["image"].as_str())
        .map(str::to_string)
}
