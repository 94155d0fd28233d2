//! `deckhand rollback --to <release-id>|previous [--only backend|frontend] [--dry-run] [--no-wait]`:
//! read (release records, the service, the target revision, one bucket listing) -> plan
//! ([`plan`], pure) -> (dry run stops here) -> lock -> apply -> record -> invalidate.
//!
//! The backend switches first and is watched exactly like a deploy (same exit codes 3/4 and
//! causes); then the site's mutable files are restored by server-side CopyObject from
//! `_deckhand/objects/`, HTML last; then a new release record `rollback-of <current>` (restoring
//! `<target>`) is written; then one invalidation. A release whose files were garbage-collected is
//! refused before anything is written, naming the oldest release that can still be restored.

pub(crate) mod plan;

use std::collections::BTreeMap;

use super::releases::{self, READ_CONCURRENCY};
use crate::aws::AwsContext;
use crate::backend::BackendError;
use crate::commands::error::CommandError as Error;
use crate::config::Settings;
use crate::diagnose::Exit;
use crate::ecs::{self, Lookup};
use crate::output;
use crate::plan::backend::BackendPlan;
use crate::plan::{Carry, DeployOptions, DeployPlan, Fingerprint, JSON_VERSION, Only, RollbackOf};
use crate::release::error::ReleaseError;
use crate::release::lock::{self, Lock};
use crate::release::store::ReleaseStore;
use crate::release::{
    BackendRelease, GitInfo, LockHolder, ReleaseMeta, ReleaseRecord, ReleaseStatus,
};
use crate::site::observe::{self};

use plan::{LiveService, Refusal, Target};

#[derive(Debug, Clone, clap::Args)]
pub(crate) struct RollbackArgs {
    /// The release id to restore, or `previous` (the release before the current one; after a
    /// rollback, the release it rolled back).
    #[arg(long, env = "DECKHAND_TO")]
    pub(crate) to: String,
    /// Roll back only one half.
    #[arg(long, value_enum, env = "DECKHAND_ONLY")]
    pub(crate) only: Option<Only>,
    /// Print the plan and stop; makes no write call.
    #[arg(long, env = "DECKHAND_DRY_RUN")]
    pub(crate) dry_run: bool,
    /// Return after UpdateService (and CreateInvalidation) instead of waiting.
    #[arg(long, env = "DECKHAND_NO_WAIT")]
    pub(crate) no_wait: bool,
    /// Print the plan as JSON on stdout.
    #[arg(long, env = "DECKHAND_JSON")]
    pub(crate) json: bool,
}

pub(crate) mod error;

pub(crate) use error::RollbackError;
use error::read_err;

/// The newest records first, read until `want` is among them (or all were read).
async fn records_until(
    store: &ReleaseStore<'_>,
    ids: &[String],
    want: Option<&str>,
) -> Result<Vec<ReleaseRecord>, ReleaseError> {
    let mut out: Vec<ReleaseRecord> = Vec::new();
    let newest: Vec<String> = ids.iter().rev().cloned().collect();
    for chunk in newest.chunks(READ_CONCURRENCY) {
        out.extend(store.read_many(chunk, READ_CONCURRENCY).await?);
        let found = match want {
            Some(id) => out.iter().any(|r| r.id == id),
            None => plan::previous(&out).is_some_and(|t| out.iter().any(|r| r.id == t.restore)),
        };
        if found {
            break;
        }
    }
    Ok(out)
}

/// The oldest release whose files are all still in place (for a refusal's help).
async fn oldest_restorable(
    ctx: &AwsContext,
    store: &ReleaseStore<'_>,
    ids: &[String],
) -> Option<String> {
    let records = store.read_many(ids, READ_CONCURRENCY).await.ok()?;
    let live = releases::site_listings(ctx, &records).await;
    records
        .iter()
        .filter(|r| r.rollback_of.is_none())
        .find(|r| {
            releases::not_restorable(r, r.site.as_ref().and_then(|s| live.get(&s.bucket))).is_none()
        })
        .map(|r| r.id.clone())
}

pub(crate) async fn run(
    ctx: &AwsContext,
    settings: &Settings,
    args: &RollbackArgs,
) -> Result<Exit, Error> {
    let bucket = settings
        .state_bucket
        .clone()
        .ok_or(ReleaseError::NoStateBucket)?;
    let store = ReleaseStore::new(ctx, bucket.clone());
    let meta = ReleaseMeta::new(GitInfo::detect());

    // Read.
    let ids = store.list_ids().await?;
    let want = (args.to != "previous").then_some(args.to.as_str());
    if let Some(id) = want
        && !ids.iter().any(|i| i == id)
    {
        return Err(RollbackError::NoTarget(format!(
            "release {id} does not exist in s3://{bucket}/_deckhand/releases/"
        ))
        .into());
    }
    let records = records_until(&store, &ids, want).await?;
    let target = match want {
        Some(id) => Target {
            current: records.first().map(|r| r.id.clone()).unwrap_or_default(),
            restore: id.to_string(),
        },
        None => plan::previous(&records).ok_or_else(|| {
            RollbackError::NoTarget("there is no release before the current one".into())
        })?,
    };
    let by_id: BTreeMap<&str, &ReleaseRecord> =
        records.iter().map(|r| (r.id.as_str(), r)).collect();
    let Some(restore) = by_id.get(target.restore.as_str()).copied() else {
        return Err(RollbackError::NoTarget(format!(
            "release {} is not in s3://{bucket}/_deckhand/releases/",
            target.restore
        ))
        .into());
    };
    let current = by_id.get(target.current.as_str()).copied();
    if restore.status != ReleaseStatus::Succeeded {
        return Err(RollbackError::NotRestorable {
            id: restore.id.clone(),
            why: format!("it {}", restore.status),
            oldest: None,
        }
        .into());
    }
    let want_backend = args.only != Some(Only::Frontend);
    let want_frontend = args.only != Some(Only::Backend);
    let backend_part = restore
        .backend
        .as_ref()
        .filter(|_| want_backend && settings.backend.is_some());
    let site_part = restore
        .site
        .as_ref()
        .filter(|_| want_frontend && settings.frontend.is_some());
    if backend_part.is_none() && site_part.is_none() {
        return Err(RollbackError::NoTarget(format!(
            "release {} recorded no {} configured here",
            restore.id,
            match args.only {
                Some(Only::Backend) => "backend",
                Some(Only::Frontend) => "site",
                None => "backend or site",
            }
        ))
        .into());
    }

    // Plan (reads the service and the bucket listing; the planners are pure).
    let backend_plan = match backend_part {
        Some(b) => Some(plan_backend(ctx, b, &restore.id).await?),
        None => None,
    };
    let frontend_plan = match (site_part, settings.frontend.as_ref()) {
        (Some(site), Some(cfg)) => {
            let known: Vec<&str> = site.files.keys().map(String::as_str).collect();
            let (live, index) = tokio::join!(
                observe::list(ctx, &site.bucket, &known),
                crate::site::ownership::read(ctx, &site.bucket)
            );
            let mut live = live.map_err(crate::frontend::FrontendError::from)?;
            // With an index, the rollback keeps it up to date (this site live again); without
            // one, it is left for the next deploy to rebuild from the records.
            if let Some((etag, owned)) = index.map_err(crate::frontend::FrontendError::from)? {
                live.ownership = Some(etag);
                live.owned = owned;
                live.owned_from = crate::plan::ownership::OwnedFrom::Index;
            }
            // The manifest live now: the newest published site at or before the current release
            // (and what its release left pending, which the rollback carries).
            let current = records.iter().find(|r| {
                r.site.as_ref().is_some_and(|s| {
                    s.status == ReleaseStatus::Succeeded && s.bucket == site.bucket
                })
            });
            let current_site = current.and_then(|r| r.site.as_ref());
            live.live_version = crate::frontend::live_version(current, &site.bucket);
            let pending = current.and_then(|r| {
                r.site
                    .as_ref()
                    .and_then(|s| s.pending.as_ref())
                    .map(|p| (r.id.as_str(), p))
            });
            match plan::site(
                site,
                current_site,
                &live,
                cfg.distribution.as_deref(),
                cfg.spa_router,
                &restore.id,
                pending,
            ) {
                Ok(p) => Some(p),
                Err(refusal) => return Err(refuse(ctx, &store, &ids, &restore.id, refusal).await),
            }
        }
        _ => None,
    };
    let backend_plan = match backend_plan {
        Some(Ok(p)) => Some(p),
        Some(Err(refusal)) => return Err(refuse(ctx, &store, &ids, &restore.id, refusal).await),
        None => None,
    };
    let plan = DeployPlan {
        version: JSON_VERSION,
        release_id: meta.id.clone(),
        origin: crate::commands::deploy::read::origin(settings, &meta, args.only, false),
        fingerprint: Fingerprint::default(),
        // Halves not restored stay as they are now.
        carry: Carry {
            previous: current.map(|c| c.id.clone()),
            backend: current.and_then(|c| c.backend.clone()),
            site: current.and_then(|c| c.site.clone()),
        },
        rollback: Some(RollbackOf {
            of: target.current.clone(),
            restore: restore.id.clone(),
        }),
        backend: backend_plan,
        frontend: frontend_plan,
    };
    if args.json {
        output::stdout(&format!(
            "{}\n",
            serde_json::to_string_pretty(&plan).unwrap_or_default()
        ));
    } else {
        output::stdout(&plan.to_string());
    }
    if args.dry_run {
        crate::step::section(summary("deckhand rollback plan (dry run)", &plan));
        crate::step::output("changed", if plan.is_empty() { "false" } else { "true" });
        return Ok(Exit::Ok);
    }

    // Apply (the deploy's executor), holding the lock.
    let held = Lock::acquire(
        ctx,
        &bucket,
        &LockHolder::new(&meta, "rollback", lock::ttl(ctx)),
    )
    .await?;
    let opts = DeployOptions {
        no_wait: args.no_wait,
        ..DeployOptions::default()
    };
    let result =
        crate::commands::deploy::apply::apply(ctx, settings, &store, &plan, &meta, &opts).await;
    let released = held.release().await;
    let record = result?;
    released?;
    crate::step::output("changed", if plan.is_empty() { "false" } else { "true" });
    crate::step::output("release-id", &record.id);
    crate::step::output("restored", &restore.id);
    if let Some(b) = &record.backend {
        crate::step::output("image", &b.image);
        crate::step::output("task-definition", &b.task_definition_arn);
    }
    crate::step::section(summary(
        &format!(
            "deckhand rollback `{}` (restored `{}`)",
            record.id, restore.id
        ),
        &plan,
    ));
    tracing::info!(
        "release {} {}: rollback of {}, restored {}",
        record.id,
        record.status,
        target.current,
        restore.id
    );
    Ok(Exit::Ok)
}

/// The rollback's job summary section: the heading, the rollout in flight it supersedes (a note
/// above the plan), and the plan's text.
fn summary(heading: &str, plan: &DeployPlan) -> String {
    let supersedes = plan
        .backend
        .as_ref()
        .and_then(|b| b.supersedes.as_ref())
        .map(|rollout| format!("> [!NOTE]\n> This rollback supersedes {rollout}.\n\n"))
        .unwrap_or_default();
    format!("### {heading}\n\n{supersedes}```\n{plan}```")
}

async fn refuse(
    ctx: &AwsContext,
    store: &ReleaseStore<'_>,
    ids: &[String],
    id: &str,
    refusal: Refusal,
) -> Error {
    let why = match refusal {
        Refusal::Collected { missing, example } => {
            format!("{missing} of its files were garbage-collected (e.g. {example})")
        }
        Refusal::NoDefinition { task_definition } => format!(
            "its task definition {} was deregistered and the record holds no definition to register again",
            releases::short_td(&task_definition)
        ),
    };
    RollbackError::NotRestorable {
        id: id.to_string(),
        why,
        oldest: oldest_restorable(ctx, store, ids).await,
    }
    .into()
}

async fn plan_backend(
    ctx: &AwsContext,
    b: &BackendRelease,
    release_id: &str,
) -> Result<Result<BackendPlan, Refusal>, Error> {
    let svc = match ecs::describe_service(ctx, &b.cluster, &b.service)
        .await
        .map_err(read_err(format!("service {}", b.service)))?
    {
        Lookup::Found(s) => s,
        Lookup::NoCluster => {
            return Err(BackendError::NoCluster {
                cluster: b.cluster.clone(),
            }
            .into());
        }
        Lookup::NoService => {
            return Err(BackendError::NoService {
                cluster: b.cluster.clone(),
                service: b.service.clone(),
            }
            .into());
        }
    };
    let in_flight = svc.deployments().len() > 1
        || svc
            .deployments()
            .iter()
            .any(|d| d.rollout_state().is_some_and(|s| s.as_str() != "COMPLETED"));
    let (target_status, described) =
        match ecs::describe_task_definition(ctx, &b.task_definition_arn).await {
            Ok((td, _)) => (
                td.status().map(|s| s.as_str().to_string()),
                ecs::json::to_json(&td).ok(),
            ),
            Err(e) if e.code() == Some("ClientException") => (None, None),
            Err(e) => {
                return Err(
                    read_err(format!("task definition {}", b.task_definition_arn))(e).into(),
                );
            }
        };
    // The versions the restored revision's new tasks will read (never the values).
    let definition = b.task_definition.as_ref().or(described.as_ref());
    let parameter_versions =
        crate::backend::parameter_versions(ctx, definition.unwrap_or(&serde_json::Value::Null))
            .await?;
    let rollout = ecs::rollout_in_flight(&svc);
    let live = LiveService {
        task_definition: svc.task_definition().unwrap_or_default().to_string(),
        in_flight,
        rollout,
        target_status,
    };
    // Events already on the service are not this rollout's.
    let seen_events = svc
        .events()
        .iter()
        .filter_map(|e| e.id().map(str::to_string))
        .collect();
    Ok(plan::backend(
        b,
        release_id,
        &live,
        seen_events,
        parameter_versions,
    ))
}
