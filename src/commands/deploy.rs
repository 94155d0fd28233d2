//! `deckhand deploy`: read -> plan -> (dry-run stops here) -> lock -> apply -> record -> finish.
//!
//! The backend rolls first and must complete before the frontend publishes, so a new SPA never
//! talks to an old API. The release record is written after the site's files are in place and
//! before the CloudFront invalidation and garbage collection.

use super::error::CommandError;
use crate::aws::AwsContext;
use crate::config::Settings;
use crate::diagnose::Exit;
use crate::plan::Only;
use crate::plan::{DeployOptions, DeployPlan};
use crate::release::error::ReleaseError;
use crate::release::lock::Lock;
use crate::release::store::ReleaseStore;
use crate::release::{GitInfo, LockHolder, ReleaseMeta, ReleaseRecord, ReleaseStatus};
use crate::{backend, frontend, github, output, step};

/// What `deploy` was asked to do (from `cli::DeployArgs`).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct DeployRequest {
    pub(crate) only: Option<Only>,
    pub(crate) options: DeployOptions,
    pub(crate) json: bool,
}

pub(crate) async fn run(
    ctx: &AwsContext,
    settings: &Settings,
    args: &DeployRequest,
) -> Result<Exit, CommandError> {
    let opts = args.options;
    let want_backend = args.only != Some(Only::Frontend);
    let want_frontend = args.only != Some(Only::Backend);
    let backend_cfg = settings.backend.as_ref().filter(|_| want_backend);
    let frontend_cfg = settings.frontend.as_ref().filter(|_| want_frontend);
    if backend_cfg.is_none() && frontend_cfg.is_none() {
        return Err(crate::config::ConfigError::Usage(match args.only {
            Some(Only::Backend) => {
                "--only backend, but the configuration has no `backend` section".into()
            }
            Some(Only::Frontend) => {
                "--only frontend, but the configuration has no `frontend` section".into()
            }
            None => "nothing to deploy".into(),
        })
        .into());
    }
    let meta = ReleaseMeta::new(GitInfo::detect());
    let store = settings
        .state_bucket
        .as_ref()
        .map(|b| ReleaseStore::new(ctx, b.clone()));

    // Read + plan (no writes).
    let last = match (&store, frontend_cfg) {
        (Some(s), Some(_)) => s.latest().await?,
        _ => None,
    };
    // The site is planned against the newest release that published one, which need not be
    // the newest release (a backend-only or failed deploy may follow it).
    let last_site = match (&store, frontend_cfg, &last) {
        (_, _, Some(l))
            if l.site
                .as_ref()
                .is_some_and(|s| s.status == ReleaseStatus::Succeeded) =>
        {
            Some(l.clone())
        }
        (Some(s), Some(_), Some(_)) => s.latest_site().await?,
        _ => None,
    };
    let (backend_plan, frontend_plan) = {
        let _g = github::group("deckhand: plan");
        tokio::join!(
            async {
                match backend_cfg {
                    Some(b) => backend::plan(ctx, b, &meta, &opts).await.map(Some),
                    None => Ok(None),
                }
            },
            async {
                match frontend_cfg {
                    Some(f) => frontend::plan(ctx, f, last_site.as_ref(), &opts)
                        .await
                        .map(Some),
                    None => Ok(None),
                }
            }
        )
    };
    let plan = DeployPlan {
        release_id: meta.id.clone(),
        backend: backend_plan?,
        frontend: frontend_plan?,
    };
    print_plan(&plan, args.json);
    if opts.dry_run || plan.is_empty() {
        // Nothing is released: the outputs name what is live.
        live_outputs(&plan, store.as_ref(), last.as_ref()).await;
    }
    if opts.dry_run {
        step::output("changed", if plan.is_empty() { "false" } else { "true" });
        step::section(format!(
            "### deckhand plan (dry run)\n\nNothing written.\n\n```\n{plan}```"
        ));
        return Ok(Exit::Ok);
    }
    if plan.is_empty() {
        tracing::info!("no changes: nothing to deploy");
        step::output("changed", "false");
        step::section(format!(
            "### deckhand: no changes\n\nNothing written.\n\n```\n{plan}```"
        ));
        return Ok(Exit::Ok);
    }

    // Apply, holding the lock.
    let store = store.ok_or(ReleaseError::NoStateBucket)?;
    let lock = Lock::acquire(
        ctx,
        &store.bucket,
        &LockHolder::new(&meta, "deploy", crate::release::lock::ttl()),
    )
    .await?;
    let result = apply(ctx, settings, &store, &plan, &meta, &opts, last).await;
    let released = lock.release().await;
    let record = result?;
    released?;
    step::output("changed", "true");
    step::output("release-id", &record.id);
    if let Some(b) = &record.backend {
        step::output("image", &b.image);
        step::output("task-definition", &b.task_definition_arn);
    }
    step::section(format!(
        "### deckhand release `{}`\n\n```\n{plan}```",
        record.id
    ));
    tracing::info!("release {} {}", record.id, record.status);
    Ok(Exit::Ok)
}

/// The outputs of a deploy that releases nothing (no-op, dry run): the live release, and the live
/// backend's image and task definition. The release record is read only when the outputs go
/// somewhere (GITHUB_OUTPUT), so a no-op outside Actions costs no extra call.
async fn live_outputs(
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

fn print_plan(plan: &DeployPlan, json: bool) {
    if json {
        output::stdout(&format!(
            "{}\n",
            serde_json::to_string_pretty(plan).unwrap_or_default()
        ));
    } else {
        output::stdout(&plan.to_string());
    }
}

async fn apply(
    ctx: &AwsContext,
    settings: &Settings,
    store: &ReleaseStore<'_>,
    plan: &DeployPlan,
    meta: &ReleaseMeta,
    opts: &DeployOptions,
    last: Option<ReleaseRecord>,
) -> Result<ReleaseRecord, CommandError> {
    let last = match last {
        Some(l) => Some(l),
        None => store.latest().await?,
    };
    let mut record = ReleaseRecord {
        id: meta.id.clone(),
        created_at: meta.created_at.clone(),
        status: ReleaseStatus::InProgress,
        git: meta.git.clone(),
        previous: last.as_ref().map(|l| l.id.clone()),
        rollback_of: None,
        restored: None,
        // Unchanged halves carry over from the previous release.
        backend: last.as_ref().and_then(|l| l.backend.clone()),
        site: last.as_ref().and_then(|l| l.site.clone()),
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
            Ok(site) => record.site = Some(site),
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
        site_plan = Some((cfg, sp));
    }

    record.status = ReleaseStatus::Succeeded;
    store.write(&record).await?;

    if let Some((cfg, sp)) = site_plan {
        let _g = github::group("deckhand: invalidate and clean up");
        frontend::finish(ctx, cfg, sp, store, meta, opts).await?;
    }
    Ok(record)
}
