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

use aws_sdk_s3::types::MetadataDirective;
use futures::StreamExt as _;
use sha2::Digest as _;

use crate::aws::{AwsContext, AwsError};
use crate::backend::BackendError;
use crate::cdn::{self, CdnError, paths::encode};
use crate::cli::{Only, RollbackArgs};
use crate::config::Settings;
use crate::ecs::{self, Lookup, watch};
use crate::error::{Diagnose, Error, Exit};
use crate::release::{
    BackendRelease, GitInfo, Lock, LockHolder, ReleaseError, ReleaseMeta, ReleaseRecord,
    ReleaseStatus, ReleaseStore, lock,
};
use crate::releases::{self, READ_CONCURRENCY};
use crate::site::observe::{self, unquote};
use crate::site::plan::{InvalidationPlan, Phase};
use crate::{github, output};

use plan::{BackendAction, LiveService, Refusal, RollbackPlan, Target};

#[derive(Debug, thiserror::Error)]
pub(crate) enum RollbackError {
    #[error("no release to roll back to: {0}")]
    NoTarget(String),
    #[error("release {id} cannot be rolled back to: {why}")]
    NotRestorable {
        id: String,
        why: String,
        oldest: Option<String>,
    },
    #[error("cannot read {what}")]
    Read {
        what: String,
        #[source]
        source: Box<AwsError>,
    },
    #[error("cannot restore {key} in s3://{bucket} from {source_key}")]
    Copy {
        bucket: String,
        key: String,
        source_key: String,
        #[source]
        source: Box<AwsError>,
    },
}

impl Diagnose for RollbackError {
    fn exit(&self) -> Exit {
        match self {
            RollbackError::NoTarget(_) | RollbackError::NotRestorable { .. } => Exit::Usage,
            RollbackError::Read { .. } | RollbackError::Copy { .. } => Exit::Error,
        }
    }
    fn help(&self) -> Option<String> {
        match self {
            RollbackError::NoTarget(_) => {
                Some("`deckhand releases` lists the releases and which can be restored".into())
            }
            RollbackError::NotRestorable { oldest, .. } => Some(match oldest {
                Some(id) => format!(
                    "the oldest release that can still be restored is {id} (`deckhand releases` lists them); nothing was written"
                ),
                None => "no release can be restored any more; nothing was written".into(),
            }),
            RollbackError::Read { source, .. } | RollbackError::Copy { source, .. } => {
                source.help()
            }
        }
    }
}

fn read_err(what: String) -> impl FnOnce(AwsError) -> RollbackError {
    move |source| RollbackError::Read {
        what,
        source: Box::new(source),
    }
}

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

    // Plan.
    let backend_plan = match backend_part {
        Some(b) => Some(plan_backend(ctx, b).await?),
        None => None,
    };
    let frontend_plan = match (site_part, settings.frontend.as_ref()) {
        (Some(site), Some(cfg)) => {
            let known: Vec<&str> = site.files.keys().map(String::as_str).collect();
            let live = observe::list(ctx, &site.bucket, &known)
                .await
                .map_err(crate::frontend::FrontendError::from)?;
            // The manifest live now: the newest published site at or before the current release.
            let current_site = records
                .iter()
                .filter_map(|r| r.site.as_ref())
                .find(|s| s.status == ReleaseStatus::Succeeded && s.bucket == site.bucket);
            match plan::site(
                site,
                current_site,
                &live,
                cfg.distribution.as_deref(),
                cfg.spa_router,
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
    let plan = RollbackPlan {
        version: 1,
        release_id: meta.id.clone(),
        rollback_of: target.current.clone(),
        restore: restore.id.clone(),
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
        crate::step::section(format!(
            "### deckhand rollback plan (dry run)\n\n```\n{plan}```"
        ));
        crate::step::output("changed", if plan.is_empty() { "false" } else { "true" });
        return Ok(Exit::Ok);
    }

    // Apply, holding the lock.
    let held = Lock::acquire(
        ctx,
        &bucket,
        &LockHolder::new(&meta, "rollback", lock::ttl()),
    )
    .await?;
    let result = apply(ctx, settings, &store, &plan, restore, current, &meta, args).await;
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
    crate::step::section(format!(
        "### deckhand rollback `{}` (restored `{}`)\n\n```\n{plan}```",
        record.id, restore.id
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
) -> Result<Result<plan::BackendRollback, Refusal>, Error> {
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
    let target_status = match ecs::describe_task_definition(ctx, &b.task_definition_arn).await {
        Ok((td, _)) => td.status().map(|s| s.as_str().to_string()),
        Err(e) if e.code() == Some("ClientException") => None,
        Err(e) => {
            return Err(read_err(format!("task definition {}", b.task_definition_arn))(e).into());
        }
    };
    let live = LiveService {
        task_definition: svc.task_definition().unwrap_or_default().to_string(),
        in_flight,
        target_status,
    };
    Ok(plan::backend(
        &b.cluster,
        &b.service,
        &b.task_definition_arn,
        b.task_definition.as_ref(),
        &live,
    ))
}

#[allow(clippy::too_many_arguments)]
async fn apply(
    ctx: &AwsContext,
    settings: &Settings,
    store: &ReleaseStore<'_>,
    plan: &RollbackPlan,
    restore: &ReleaseRecord,
    current: Option<&ReleaseRecord>,
    meta: &ReleaseMeta,
    args: &RollbackArgs,
) -> Result<ReleaseRecord, Error> {
    let mut record = ReleaseRecord {
        id: meta.id.clone(),
        created_at: meta.created_at.clone(),
        status: ReleaseStatus::InProgress,
        git: meta.git.clone(),
        previous: current.map(|c| c.id.clone()),
        rollback_of: Some(plan.rollback_of.clone()),
        restored: Some(restore.id.clone()),
        // Halves not restored stay as they are now.
        backend: current.and_then(|c| c.backend.clone()),
        site: current.and_then(|c| c.site.clone()),
    };
    if let (Some(bp), Some(cfg), Some(target)) =
        (&plan.backend, &settings.backend, &restore.backend)
    {
        let _g = github::group("deckhand: backend rollback");
        match apply_backend(ctx, cfg, bp, target, meta, args).await {
            Ok(release) => record.backend = Some(release),
            Err(err) => {
                if let Some(partial) = err.partial_release() {
                    record.backend = Some(partial.clone());
                    record.status = ReleaseStatus::Failed;
                    if let Err(e) = store.write(&record).await {
                        tracing::warn!("could not record the failed rollback: {e}");
                    }
                }
                return Err(err.into());
            }
        }
    }
    let mut site = None;
    if let (Some(sp), Some(cfg)) = (&plan.frontend, &settings.frontend) {
        let _g = github::group("deckhand: frontend rollback");
        let mut manifest = sp.manifest.clone();
        let etags = copy_all(ctx, &sp.bucket, &sp.copies, cfg.concurrency).await?;
        for (key, etag) in etags {
            if let Some(e) = manifest.files.get_mut(&key) {
                e.etag = Some(etag);
            }
        }
        record.site = Some(manifest);
        site = Some((cfg, sp));
    }
    record.status = ReleaseStatus::Succeeded;
    store.write(&record).await?;
    if let Some((cfg, sp)) = site {
        invalidate(ctx, cfg, &sp.invalidation, meta, args)
            .await
            .map_err(crate::frontend::FrontendError::from)?;
        tracing::info!(
            "frontend: restored {} files by server-side copy, {} hashed assets verified, {} unchanged",
            sp.copies.len(),
            sp.verified,
            sp.unchanged
        );
    }
    Ok(record)
}

async fn apply_backend(
    ctx: &AwsContext,
    cfg: &crate::config::Backend,
    bp: &plan::BackendRollback,
    target: &BackendRelease,
    meta: &ReleaseMeta,
    args: &RollbackArgs,
) -> Result<BackendRelease, BackendError> {
    let short = releases::short_td;
    let mut release = BackendRelease {
        status: ReleaseStatus::Succeeded,
        deployment_id: None,
        failure: None,
        ..target.clone()
    };
    let (arn, force) = match &bp.action {
        BackendAction::Nothing => {
            output::stderr(&format!(
                "backend: {} already runs {}\n",
                bp.service,
                short(&bp.to)
            ));
            return Ok(release);
        }
        BackendAction::Switch {
            task_definition,
            force,
        } => (task_definition.clone(), *force),
        BackendAction::Reregister { family, definition } => {
            let tags = vec![
                aws_sdk_ecs::types::Tag::builder()
                    .key("deckhand:release")
                    .value(&meta.id)
                    .build(),
            ];
            let arn = ecs::register(ctx, definition, tags)
                .await
                .map_err(|e| match e {
                    ecs::RegisterError::Render(m) => BackendError::Render(m),
                    ecs::RegisterError::Call(source) => BackendError::Register {
                        family: family.clone(),
                        source,
                    },
                })?;
            output::stderr(&format!(
                "backend: {} was deregistered; registered its definition again as {}\n",
                short(&bp.to),
                short(&arn)
            ));
            (arn, false)
        }
    };
    release.task_definition_arn = arn.clone();
    release.status = ReleaseStatus::Failed;
    // Events already on the service are not this rollout's.
    let seen_events = match ecs::describe_service(ctx, &bp.cluster, &bp.service).await {
        Ok(Lookup::Found(s)) => s
            .events()
            .iter()
            .filter_map(|e| e.id().map(str::to_string))
            .collect(),
        _ => Default::default(),
    };
    let deployment = ecs::update_service(ctx, &bp.cluster, &bp.service, &arn, force)
        .await
        .map_err(|source| BackendError::Update {
            cluster: bp.cluster.clone(),
            service: bp.service.clone(),
            task_definition: short(&arn),
            release: Box::new(BackendRelease {
                failure: Some(format!("UpdateService failed: {source}")),
                ..release.clone()
            }),
            source: Box::new(source),
        })?;
    release.deployment_id = deployment.clone();
    let Some(deployment_id) = deployment else {
        release.status = ReleaseStatus::InProgress;
        tracing::warn!("UpdateService returned no PRIMARY deployment; not watching");
        return Ok(release);
    };
    output::stderr(&format!(
        "backend: service {} switched {} -> {}: deployment {deployment_id}\n",
        bp.service,
        short(&bp.from),
        short(&arn)
    ));
    if args.no_wait {
        release.status = ReleaseStatus::InProgress;
        return Ok(release);
    }
    let outcome = watch::watch(
        ctx,
        watch::Target {
            cluster: bp.cluster.clone(),
            service: bp.service.clone(),
            deployment_id: deployment_id.clone(),
            task_definition: arn.clone(),
            timeout: cfg.wait_timeout,
            max: cfg.wait_max,
            seen_events,
        },
    )
    .await
    .map_err(|source| BackendError::Watch {
        service: bp.service.clone(),
        release: Box::new(BackendRelease {
            failure: Some(format!("lost track of the rollout: {source}")),
            ..release.clone()
        }),
        source: Box::new(source),
    })?;
    match outcome {
        watch::Outcome::Completed => {
            release.status = ReleaseStatus::Succeeded;
            output::stderr(&format!(
                "backend: deployment {deployment_id} completed: {} runs {}\n",
                bp.service,
                short(&arn)
            ));
            Ok(release)
        }
        watch::Outcome::Failed(report) => {
            release.failure = Some(report.reason.clone());
            Err(BackendError::RolloutFailed {
                cluster: bp.cluster.clone(),
                service: bp.service.clone(),
                report: Box::new(report),
                release: Box::new(release),
            })
        }
        watch::Outcome::TimedOut(report) => {
            release.failure = Some(report.reason.clone());
            Err(BackendError::TimedOut {
                cluster: bp.cluster.clone(),
                service: bp.service.clone(),
                report: Box::new(report),
                release: Box::new(release),
            })
        }
    }
}

/// CopyObject from the objects store, phase by phase (HTML last), bounded concurrency.
/// Returns key -> new ETag.
async fn copy_all(
    ctx: &AwsContext,
    bucket: &str,
    copies: &[plan::CopyAction],
    concurrency: usize,
) -> Result<Vec<(String, String)>, RollbackError> {
    let s3 = crate::site::client(ctx);
    let mut etags = Vec::new();
    for phase in Phase::ALL {
        let batch: Vec<&plan::CopyAction> = copies.iter().filter(|c| c.phase == phase).collect();
        if batch.is_empty() {
            continue;
        }
        let results: Vec<Result<(String, String), RollbackError>> = futures::stream::iter(batch)
            .map(|c| {
                let s3 = s3.clone();
                async move {
                    let out = s3
                        .copy_object()
                        .bucket(bucket)
                        .key(&c.key)
                        .copy_source(format!("{bucket}/{}", encode(&c.source, false)))
                        .metadata_directive(MetadataDirective::Replace)
                        .content_type(&c.content_type)
                        .cache_control(&c.cache_control)
                        .metadata("sha256", &c.sha256)
                        .send()
                        .await
                        .map_err(|e| RollbackError::Copy {
                            bucket: bucket.to_string(),
                            key: c.key.clone(),
                            source_key: c.source.clone(),
                            source: Box::new(ctx.call_error("s3", "CopyObject", e)),
                        })?;
                    Ok((
                        c.key.clone(),
                        out.copy_object_result()
                            .and_then(|r| r.e_tag())
                            .map(unquote)
                            .unwrap_or_default(),
                    ))
                }
            })
            .buffer_unordered(concurrency.max(1))
            .collect()
            .await;
        for r in results {
            etags.push(r?);
        }
    }
    Ok(etags)
}

async fn invalidate(
    ctx: &AwsContext,
    cfg: &crate::config::Frontend,
    plan: &InvalidationPlan,
    meta: &ReleaseMeta,
    args: &RollbackArgs,
) -> Result<(), CdnError> {
    let InvalidationPlan::Paths {
        distribution,
        paths,
    } = plan
    else {
        return Ok(());
    };
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
    if cfg.invalidation.wait && !args.no_wait {
        let timeout = cfg.invalidation.timeout;
        if !cdn::wait(ctx, distribution, &id, timeout).await? {
            let err = CdnError::Timeout {
                distribution: distribution.clone(),
                id,
                waited: timeout,
            };
            if cfg.invalidation.required {
                return Err(err);
            }
            tracing::warn!("{err}");
            github::warning_annotation(&err.to_string());
        }
    }
    Ok(())
}
