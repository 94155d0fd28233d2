//! Applying a [`DeployPlan`]: the backend rolls first and must complete before the frontend
//! publishes; the release record is written after the site's files are in place and before the
//! CloudFront invalidation and the planned deletions. Reads nothing the plan holds.
//!
//! When the write gate closes (SIGINT/SIGTERM, or the lock taken over: `aws::gate`) the step in
//! progress stops, no write starts after it, and the record is written as it stands — each half
//! what is live (the carried half, or what this release got to: a rollout going on, the files
//! published so far) — as `cancelled` (a signal) or `failed` ("lock lost to …").

use std::collections::BTreeMap;

use super::ordered;
pub(crate) use super::settle::record_outputs;
use super::settle::{settle_as_it_stands, settle_backend, stop_status, stopped, write_failed};
use crate::aws::AwsContext;
use crate::aws::gate;
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
    let started = deployment::start(
        &environment,
        &meta.id,
        &description,
        settings.site_url.as_deref(),
    )
    .await;
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
        timings: None,
    };

    let mut deployed = None;
    let mut site_plan = None;
    // Each key the site's publish wrote (with its ETag), and why the publish failed, if it did.
    let mut written = BTreeMap::new();
    let mut site_error = None;
    let backend_half = settings
        .backend
        .as_ref()
        .zip(plan.backend.as_ref())
        .filter(|(_, bp)| !bp.is_empty());
    let site = settings.frontend.as_ref().zip(plan.frontend.as_ref());
    match (backend_half, site) {
        // Both halves change: the HTML goes out once production traffic is on the new revision.
        (Some((bcfg, bp)), Some((fcfg, sp))) if ordered::applies(sp, opts) => {
            let _g = github::group("deckhand: backend, then the site's HTML once it serves");
            step::output("changed", "true");
            let both = ordered::run(ctx, bcfg, bp, fcfg, sp, meta, opts).await;
            written = both.written;
            match (both.backend, both.site) {
                (Ok(release), site) => {
                    deployed = Some(release);
                    let published = match site {
                        ordered::Site::Published(s, index) => Ok((s, index)),
                        ordered::Site::Held(index) => {
                            ordered::publish_late(ctx, fcfg, sp, opts, &mut written)
                                .await
                                .map(|s| (s, index))
                        }
                        ordered::Site::Failed(err) => Err(err),
                    };
                    match published {
                        Ok((s, index)) => {
                            record.site = Some(site_half(&record.id, s, sp, plan));
                            site_plan = Some((fcfg, sp, index));
                        }
                        Err(err) => site_error = Some((sp, err)),
                    }
                }
                (Err(err), ordered::Site::Published(s, index)) => {
                    record.site = Some(site_half(&record.id, s, sp, plan));
                    let after = ordered::AfterShift {
                        cfg: fcfg,
                        plan: sp,
                        written: &written,
                        index,
                    };
                    return Err(ordered::after_shift(
                        ctx, settings, store, plan, record, after, err,
                    )
                    .await);
                }
                (Err(err), _) => {
                    // The HTML never went out; a publish stopped part way (the write gate closed
                    // in its late part) left what it wrote live. Either way the record's site half
                    // is checked against what the bucket serves (`settle_as_it_stands`): the
                    // carried half is stale when a deploy was killed after its site's writes.
                    if serves_other(sp, plan.carry.site.as_ref(), &written) {
                        record.site = frontend::live_site(
                            sp,
                            plan.carry.site.as_ref(),
                            &written,
                            gate::closed().map_or(ReleaseStatus::Failed, |r| stop_status(&r)),
                            format!("the publish stopped part way: {err}"),
                        )
                        .map(|s| SiteRelease {
                            origin: Some(record.id.clone()),
                            ..s
                        });
                    }
                    return Err(backend_failed(ctx, settings, store, plan, record, err).await);
                }
            }
        }
        (backend_half, site) => {
            if let Some((cfg, bp)) = backend_half {
                let _g = github::group("deckhand: backend");
                match backend::apply(ctx, cfg, bp, meta, opts, None).await {
                    Ok(release) => {
                        step::output("changed", "true");
                        deployed = Some(release);
                    }
                    Err(err) => {
                        return Err(backend_failed(ctx, settings, store, plan, record, err).await);
                    }
                }
            }
            if let Some((cfg, sp)) = site {
                let _g = github::group("deckhand: frontend");
                step::output("changed", "true");
                match frontend::upload(ctx, cfg, sp, meta, opts, &mut written).await {
                    Ok((s, index)) => {
                        record.site = Some(site_half(&record.id, s, sp, plan));
                        site_plan = Some((cfg, sp, index));
                    }
                    Err(err) => site_error = Some((sp, err)),
                }
            }
        }
    }

    if let Some((sp, err)) = site_error {
        let failed = SiteFailed {
            plan: sp,
            written: &written,
            deployed: deployed.as_ref(),
        };
        return Err(site_failed(ctx, settings, store, plan, record, failed, err).await);
    }
    if site_plan.is_some() {
        settle_backend(ctx, settings, plan, &mut record, deployed.as_ref()).await;
    } else {
        settle_as_it_stands(ctx, settings, plan, &mut record, deployed.as_ref()).await;
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

/// The backend's apply failed (or stopped) before the site's HTML went out: the record says what
/// is live (written when the backend or the site's early part changed anything), and the
/// backend's error ends the command.
pub(super) async fn backend_failed(
    ctx: &AwsContext,
    settings: &Settings,
    store: &ReleaseStore<'_>,
    plan: &DeployPlan,
    mut record: ReleaseRecord,
    err: backend::BackendError,
) -> CommandError {
    let partial = err.partial_release().cloned();
    if partial.is_some() {
        step::output("changed", "true");
    }
    if let Some(reason) = gate::closed() {
        settle_as_it_stands(ctx, settings, plan, &mut record, partial.as_ref()).await;
        return stopped(store, record, reason, "the backend").await;
    }
    // The site's early part (content-hashed files, while the backend rolled out) may have
    // rewritten a file the carried half names (other bytes or headers) before a backend that
    // never got a revision failed: what is served changed, so the record says so too.
    if partial.is_some() || record.site != plan.carry.site {
        record.status = ReleaseStatus::Failed;
        write_failed(ctx, settings, store, plan, &mut record, partial.as_ref()).await;
    }
    err.into()
}

/// A publish that failed: its plan, the keys it wrote (key -> ETag), and the backend this release
/// deployed before it (or while it ran).
pub(super) struct SiteFailed<'a> {
    pub(super) plan: &'a SitePlan,
    pub(super) written: &'a BTreeMap<String, String>,
    pub(super) deployed: Option<&'a BackendRelease>,
}

/// The site's publish failed (or stopped): the record says what is live, and the publish's error
/// ends the command.
async fn site_failed(
    ctx: &AwsContext,
    settings: &Settings,
    store: &ReleaseStore<'_>,
    plan: &DeployPlan,
    mut record: ReleaseRecord,
    failed: SiteFailed<'_>,
    err: frontend::FrontendError,
) -> CommandError {
    let SiteFailed {
        plan: sp,
        written,
        deployed,
    } = failed;
    if let Some(reason) = gate::closed() {
        // What is live: the site before, with the files this publish wrote.
        let status = stop_status(&reason);
        record.site = frontend::live_site(
            sp,
            plan.carry.site.as_ref(),
            written,
            status,
            format!("{reason} while publishing: {err}"),
        )
        .map(|s| SiteRelease {
            origin: Some(record.id.clone()),
            ..s
        });
        settle_as_it_stands(ctx, settings, plan, &mut record, deployed).await;
        return stopped(store, record, reason, "the site's publish").await;
    }
    // The backend may already run this release (rolled, or rolling: `--no-wait`), and
    // the files the publish wrote before it failed are live (HTML goes last: the entry
    // points may still be the old ones): the record says so — the site half is the
    // site before with those files (none: as it was), failed with the reason, so
    // `releases` and `rollback --to previous` see what is live and why. Nothing
    // served changed (at most new content-hashed assets, which nothing live names):
    // nothing to record.
    if deployed.is_some() || serves_other(sp, plan.carry.site.as_ref(), written) {
        record.status = ReleaseStatus::Failed;
        let failure = format!("the publish failed: {err}");
        let site = frontend::live_site(
            sp,
            plan.carry.site.as_ref(),
            written,
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
        write_failed(ctx, settings, store, plan, &mut record, deployed).await;
    }
    err.into()
}

/// Whether the keys a publish wrote (`written`) changed what the site serves: a key the site
/// before (`before`) had, or one whose name carries no content hash (new content-hashed assets are
/// named by nothing live until the HTML that references them is written).
pub(super) fn serves_other(
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

/// The site half this release writes: published by it (origin: this release) when its plan had
/// anything to publish, else the half it carries or restores, with that half's status and origin.
pub(super) fn site_half(
    id: &str,
    site: SiteRelease,
    sp: &SitePlan,
    plan: &DeployPlan,
) -> SiteRelease {
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
