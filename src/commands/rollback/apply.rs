//! Applying a rollback plan: the backend (re-register when deregistered, roll, watch), the site
//! (server-side copies from `_deckhand/objects/`, in the safe order), the invalidation.

use aws_sdk_s3::types::MetadataDirective;
use futures::StreamExt as _;
use sha2::Digest as _;

use crate::aws::AwsContext;
use crate::backend::BackendError;
use crate::cdn::{self, CdnError, paths::encode};
use crate::commands::error::CommandError as Error;
use crate::commands::releases::{self};
use crate::config::Settings;
use crate::ecs::{self, Lookup, watch};
use crate::plan::site::{InvalidationPlan, Phase};
use crate::release::store::ReleaseStore;
use crate::release::{BackendRelease, ReleaseMeta, ReleaseRecord, ReleaseStatus};
use crate::site::observe::unquote;
use crate::{github, output};

use super::error::RollbackError;
use super::plan::{BackendAction, RollbackPlan};

#[allow(clippy::too_many_arguments)]
pub(super) async fn apply(
    ctx: &AwsContext,
    settings: &Settings,
    store: &ReleaseStore<'_>,
    plan: &RollbackPlan,
    restore: &ReleaseRecord,
    current: Option<&ReleaseRecord>,
    meta: &ReleaseMeta,
    no_wait: bool,
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
        match apply_backend(ctx, cfg, bp, target, meta, no_wait).await {
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
        invalidate(ctx, cfg, &sp.invalidation, meta, no_wait)
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
    bp: &super::plan::BackendRollback,
    target: &BackendRelease,
    meta: &ReleaseMeta,
    no_wait: bool,
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
    if no_wait {
        release.status = ReleaseStatus::InProgress;
        return Ok(release);
    }
    let outcome = watch::watch(
        ctx,
        ecs::report::Target {
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
        ecs::report::Outcome::Completed => {
            release.status = ReleaseStatus::Succeeded;
            output::stderr(&format!(
                "backend: deployment {deployment_id} completed: {} runs {}\n",
                bp.service,
                short(&arn)
            ));
            Ok(release)
        }
        ecs::report::Outcome::Failed(report) => {
            release.failure = Some(report.reason.clone());
            Err(BackendError::RolloutFailed {
                cluster: bp.cluster.clone(),
                service: bp.service.clone(),
                report: Box::new(report),
                release: Box::new(release),
            })
        }
        ecs::report::Outcome::TimedOut(report) => {
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
    copies: &[super::plan::CopyAction],
    concurrency: usize,
) -> Result<Vec<(String, String)>, RollbackError> {
    let s3 = crate::site::client(ctx);
    let mut etags = Vec::new();
    for phase in Phase::ALL {
        let batch: Vec<&super::plan::CopyAction> =
            copies.iter().filter(|c| c.phase == phase).collect();
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
    no_wait: bool,
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
    if cfg.invalidation.wait && !no_wait {
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
