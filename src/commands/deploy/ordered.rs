//! A release that changes both halves: the SPA switches after the API. The backend rolls out
//! while the site's content-hashed assets and rollback copies go up (nothing live names them);
//! the files the site serves under names it already has (other files, then the HTML entry points)
//! go out only once production traffic is on the new revision — once the service deployment is
//! past PRODUCTION_TRAFFIC_SHIFT for BLUE_GREEN, LINEAR and CANARY (a LINEAR/CANARY deployment at
//! 100 % is still in it: its hook can fail that last step), at COMPLETED for ROLLING
//! ([`crate::ecs::follow`] reads the service deployment's `lifecycleStage`: ServiceDeployment,
//! https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ServiceDeployment.html ) — so a
//! page never calls an API version that does not serve yet. If the backend fails before that, the
//! HTML never goes out. deckhand keeps watching through the bake time, when both revisions run
//! and ECS still rolls back on an alarm ("Amazon ECS blue/green deployments",
//! https://docs.aws.amazon.com/AmazonECS/latest/developerguide/blue-green-deployment-how-it-works.html ;
//! the linear and canary deployments' bake time,
//! https://docs.aws.amazon.com/AmazonECS/latest/developerguide/deployment-type-linear.html ,
//! https://docs.aws.amazon.com/AmazonECS/latest/developerguide/deployment-type-canary.html ): if
//! it does (an alarm during BAKE_TIME), the previous site's files go back by server-side copy
//! ([`frontend::restore`]) and the record says both: the backend rolled back, the site restored.

use std::collections::BTreeMap;

use super::settle::{record_outputs, settle_backend, stop_status, stopped};
use crate::aws::AwsContext;
use crate::aws::gate;
use crate::backend::{self, BackendError};
use crate::commands::error::CommandError;
use crate::config::{Backend, Frontend, Settings};
use crate::ecs::deployment::Undone;
use crate::frontend::{self, FrontendError, Index};
use crate::plan::backend::BackendPlan;
use crate::plan::site::SitePlan;
use crate::plan::{DeployOptions, DeployPlan};
use crate::release::store::ReleaseStore;
use crate::release::{BackendRelease, ReleaseMeta, ReleaseRecord, ReleaseStatus, SiteRelease};
use crate::site::upload::Part;
use crate::{output, step};

/// Whether the site's publish waits for the backend's traffic shift: it writes something, and
/// the backend is watched (`--no-wait` with both halves changing is refused by `deploy`).
pub(super) fn applies(sp: &SitePlan, opts: &DeployOptions) -> bool {
    !sp.is_empty() && !opts.no_wait && !opts.dry_run
}

/// How far the site's publish got while the backend rolled out.
#[derive(Debug)]
pub(super) enum Site {
    /// Every file is out: production traffic reached the new revision first.
    Published(SiteRelease, Index),
    /// The early part is out; the rollout ended without saying production traffic moved (it
    /// failed, or deckhand could not follow its service deployment): the HTML is held.
    Held(Index),
    Failed(FrontendError),
}

/// Both halves applied together.
pub(super) struct Both {
    pub(super) backend: Result<BackendRelease, BackendError>,
    pub(super) site: Site,
    /// Each key the publish wrote, with its ETag.
    pub(super) written: BTreeMap<String, String>,
}

/// Rolls the backend out and publishes the site beside it, the HTML after the traffic shift.
pub(super) async fn run(
    ctx: &AwsContext,
    bcfg: &Backend,
    bp: &BackendPlan,
    fcfg: &Frontend,
    sp: &SitePlan,
    meta: &ReleaseMeta,
    opts: &DeployOptions,
) -> Both {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let rollout = backend::apply(ctx, bcfg, bp, meta, opts, Some(tx));
    let publish = async {
        let mut written = BTreeMap::new();
        let index = match frontend::prepare(ctx, sp, opts).await {
            Ok(i) => i,
            Err(e) => return (Site::Failed(e), written),
        };
        if let Err(e) = frontend::publish(ctx, fcfg, sp, opts, &mut written, Part::Early).await {
            return (Site::Failed(e), written);
        }
        if rx.await.is_err() {
            return (Site::Held(index), written);
        }
        output::stderr(
            "frontend: production traffic is on the new revision: publishing the site's HTML\n",
        );
        match frontend::publish(ctx, fcfg, sp, opts, &mut written, Part::Late).await {
            Ok(()) => (
                Site::Published(frontend::published(sp, &written), index),
                written,
            ),
            Err(e) => (Site::Failed(e), written),
        }
    };
    let (backend, (site, written)) = tokio::join!(rollout, publish);
    Both {
        backend,
        site,
        written,
    }
}

/// The held part, after a rollout that completed without the traffic shift being seen.
pub(super) async fn publish_late(
    ctx: &AwsContext,
    cfg: &Frontend,
    sp: &SitePlan,
    opts: &DeployOptions,
    written: &mut BTreeMap<String, String>,
) -> Result<SiteRelease, FrontendError> {
    frontend::publish(ctx, cfg, sp, opts, written, Part::Late).await?;
    Ok(frontend::published(sp, written))
}

/// The site published after the traffic shift, when the backend then failed.
pub(super) struct AfterShift<'a> {
    pub(super) cfg: &'a Frontend,
    pub(super) plan: &'a SitePlan,
    pub(super) written: &'a BTreeMap<String, String>,
    pub(super) index: Index,
}

/// How the backend's apply ended after the site's HTML went out.
enum Ending {
    /// ECS decided: its service deployment's status and `rollback` say what it did
    /// ([`Undone`]).
    Undone(Undone),
    /// deckhand stopped watching first (the wait timed out, the service could not be read, a
    /// signal): the rollout goes on in ECS, still in its bake time.
    Unfinished(String),
}

impl Ending {
    /// Why the previous HTML goes back, when ECS rolled the service back (or started to).
    fn undone_why(&self) -> Option<&'static str> {
        match self {
            Ending::Undone(Undone::RolledBack) => {
                Some("ECS rolled the backend back after this release's HTML went out")
            }
            // ECS was moving production traffic back and could not finish: which revision
            // serves is not known. An old page against the new API is the pairing every rollout
            // already relies on (browsers keep old pages open); a new page against the old API
            // is the one nothing guarantees. So the previous HTML goes back, as for a rollback.
            Ending::Undone(Undone::RollbackFailed) => Some(
                "ECS's rollback of the backend failed after this release's HTML went out \
                 (production traffic may be on either revision: the service needs a person)",
            ),
            Ending::Undone(Undone::Stopped) | Ending::Unfinished(_) => None,
        }
    }

    /// From the service deployment's verdict (`status`, `rollback`), not from the service's task
    /// definition read after the watch: ECS can still name the new revision PRIMARY while it is
    /// ROLLBACK_IN_PROGRESS (ServiceDeployment.status, ServiceDeploymentRollbackInfo:
    /// https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ServiceDeployment.html ,
    /// https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ServiceDeploymentRollbackInfo.html ).
    /// Without a verdict (the service deployment could not be followed) the rolling deployments'
    /// own report says whether ECS rolled back.
    fn of(err: &BackendError) -> Self {
        match err {
            BackendError::RolloutFailed { report, .. } => {
                match report.rollout.as_ref().and_then(|r| r.verdict.as_ref()) {
                    Some(v) => Ending::Undone(v.undone()),
                    None if report.rolled_back_to.is_some() => Ending::Undone(Undone::RolledBack),
                    None => Ending::Undone(Undone::Stopped),
                }
            }
            BackendError::TimedOut { .. } => {
                Ending::Unfinished("the wait for the rollout timed out".into())
            }
            other => Ending::Unfinished(format!(
                "the watch ended: {}",
                other.to_string().lines().next().unwrap_or_default()
            )),
        }
    }
}

/// The site half when deckhand stops watching in the bake time after the HTML went out. The
/// HTML stays: production traffic is on the revision it calls, and ECS may well finish; putting
/// the old HTML back would undo a release that may succeed, and after a signal no write may start
/// (`aws::gate`). What a user is owed instead is the truth: the half is not `succeeded`, it says
/// which revision it needs and that its bake time was not seen to end, and every later `plan`
/// and `deploy` compares that revision with the one the service runs
/// ([`crate::plan::pairing::html_without_its_api`]), so a rollback ECS makes with nobody
/// watching is reported for both halves, not just the backend.
fn mark_baking(record: &mut ReleaseRecord, td: &str, why: &str, status: ReleaseStatus) {
    if let Some(s) = record.site.as_mut() {
        s.status = status;
        s.failure = Some(crate::plan::pairing::baking(td, why));
    }
}

/// The backend failed after the site's HTML went out (`record.site` says it is out). When ECS
/// rolled the service back — or started to and failed — the previous site's files go back and the
/// record says both; when ECS stopped where it was, the HTML stays with the revision that serves
/// it; when deckhand stopped watching (timeout, signal, lock lost) see [`mark_baking`].
pub(super) async fn after_shift(
    ctx: &AwsContext,
    settings: &Settings,
    store: &ReleaseStore<'_>,
    plan: &DeployPlan,
    mut record: ReleaseRecord,
    after: AfterShift<'_>,
    err: BackendError,
) -> CommandError {
    let partial = err.partial_release().cloned();
    let td = partial
        .as_ref()
        .map(|p| p.task_definition_arn.clone())
        .unwrap_or_default();
    let ending = Ending::of(&err);
    if let Some(reason) = gate::closed() {
        match ending.undone_why() {
            // ECS gave its verdict before the signal (or the lost lock) closed the gate: the
            // record says what ECS did, and that the previous HTML could not go back (no write
            // starts after the gate closed).
            Some(why) => {
                if let Some(s) = record.site.as_mut() {
                    s.status = stop_status(&reason);
                    s.failure = Some(format!(
                        "{why}, and the previous HTML could not be put back: {reason} came first, \
                         no write starts after it"
                    ));
                }
            }
            None => mark_baking(&mut record, &td, &reason.to_string(), stop_status(&reason)),
        }
        settle_backend(ctx, settings, plan, &mut record, partial.as_ref()).await;
        return stopped(
            store,
            record,
            reason,
            "the backend's rollout, after the site's HTML",
        )
        .await;
    }
    record.status = ReleaseStatus::Failed;
    settle_backend(ctx, settings, plan, &mut record, partial.as_ref()).await;
    let why = match (ending.undone_why(), ending) {
        (Some(why), _) => why,
        (None, Ending::Unfinished(why)) => {
            mark_baking(&mut record, &td, &why, ReleaseStatus::Failed);
            write(store, &record).await;
            return err.into();
        }
        (None, Ending::Undone(_)) => {
            write(store, &record).await;
            return err.into();
        }
    };
    match plan.carry.site.as_ref() {
        Some(before) => restore(ctx, store, &mut record, &after, before, why).await,
        None => {
            if let Some(s) = record.site.as_mut() {
                s.failure = Some(format!("{why}; no earlier site to put back"));
            }
            write(store, &record).await;
        }
    }
    drop(after.index);
    err.into()
}

/// Copies the previous site's files back, records it, then invalidates what it put back.
async fn restore(
    ctx: &AwsContext,
    store: &ReleaseStore<'_>,
    record: &mut ReleaseRecord,
    after: &AfterShift<'_>,
    before: &SiteRelease,
    why: &str,
) {
    let restore = frontend::restore::plan(after.cfg, after.plan, before, after.written);
    let mut copied = BTreeMap::new();
    let origin = before.origin.as_deref().unwrap_or("the previous release");
    match frontend::restore::run(ctx, after.cfg, &restore, &mut copied).await {
        Ok(mut site) => {
            let mut note = format!(
                "{why}: {} file(s) of {origin}'s site put back by server-side copy",
                restore.plan.uploads.len()
            );
            // Keys the objects store cannot put back keep this release's bytes (and say so).
            for key in &restore.missing {
                if let (Some(entry), Some(etag)) =
                    (after.plan.manifest.get(key), after.written.get(key))
                {
                    let mut entry = entry.clone();
                    entry.etag = Some(etag.clone());
                    site.files.insert(key.clone(), entry);
                }
            }
            if !restore.missing.is_empty() {
                note.push_str(&format!(
                    "; {} keep this release's bytes (no stored copy of the previous ones): {}",
                    restore.missing.len(),
                    restore.missing.join(", ")
                ));
            }
            if !restore.added.is_empty() {
                note.push_str(&format!(
                    "; {} new in this release stay until garbage collection: {}",
                    restore.added.len(),
                    restore.added.join(", ")
                ));
            }
            output::stderr(&format!("frontend: {note}\n"));
            crate::github::warning_annotation(&note);
            record.site = Some(SiteRelease {
                status: ReleaseStatus::Failed,
                failure: Some(note),
                origin: Some(record.id.clone()),
                ..site
            });
            write(store, record).await;
            let opts = DeployOptions::default();
            if let Err(e) = frontend::finish(
                ctx,
                after.cfg,
                &restore.plan,
                Index::none(),
                store,
                record,
                &opts,
            )
            .await
            {
                tracing::warn!("after putting the previous site back: {e}");
            }
        }
        Err(e) => {
            let failure = format!("{why}, and putting {origin}'s site back failed: {e}");
            tracing::warn!("{failure}");
            crate::github::warning_annotation(&failure);
            record.site = frontend::live_site(
                &restore.plan,
                record.site.as_ref(),
                &copied,
                ReleaseStatus::Failed,
                failure,
            )
            .map(|s| SiteRelease {
                origin: Some(record.id.clone()),
                ..s
            });
            write(store, record).await;
        }
    }
}

async fn write(store: &ReleaseStore<'_>, record: &ReleaseRecord) {
    match store.write(record).await {
        Ok(()) => record_outputs(record),
        Err(e) => tracing::warn!("could not record the failed release: {e}"),
    }
    step::output("changed", "true");
}
