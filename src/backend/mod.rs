//! Backend deploy (issue 3): source tag -> (build/push) -> render the task definition -> register
//! -> UpdateService -> watch that deployment. `plan` only reads; `apply` is the only writer.

mod error;
mod plan;

use std::collections::HashSet;

use serde_json::Value;

pub(crate) use error::BackendError;
pub(crate) use plan::{BackendPlan, ImagePlan, Live, TaskDefinitionPlan};

use crate::aws::AwsContext;
use crate::config::Backend;
use crate::deploy::DeployOptions;
use crate::ecs::watch::{self, Outcome, short_td};
use crate::ecs::{self, diff, json, normalise, render};
use crate::image::{build, ecr, tag};
use crate::release::{BackendRelease, ReleaseMeta, ReleaseStatus};
use crate::{output, secrets};

/// What the plan read from AWS.
#[derive(Debug, Clone)]
pub(crate) struct Observed {
    pub(crate) task_definition_arn: String,
    pub(crate) task_definition: Value,
    pub(crate) tags: Vec<aws_sdk_ecs::types::Tag>,
    pub(crate) repository_uri: String,
    /// Digest of the source tag when ECR has it.
    pub(crate) existing: Option<String>,
    pub(crate) secrets: std::collections::BTreeMap<String, String>,
    pub(crate) seen_events: HashSet<String>,
}

/// Reads live state and plans. Never writes. On the no-op path this is DescribeServices,
/// DescribeTaskDefinition, DescribeImages and (with secrets) GetParameters.
pub(crate) async fn plan(
    ctx: &AwsContext,
    cfg: &Backend,
    meta: &ReleaseMeta,
    opts: &DeployOptions,
) -> Result<BackendPlan, BackendError> {
    let source = tag::source_tag(&cfg.context, &cfg.dockerfile, &cfg.build_args)?;
    let observed = observe(ctx, cfg, &source.tag).await?;
    plan_from(cfg, meta, opts, source, observed, &ctx.region)
}

async fn observe(
    ctx: &AwsContext,
    cfg: &Backend,
    source_tag: &str,
) -> Result<Observed, BackendError> {
    let (svc, image, secret_arns) = tokio::join!(
        ecs::describe_service(ctx, &cfg.cluster, &cfg.service),
        ecr::find_tag(ctx, &cfg.repository, source_tag),
        async {
            if cfg.secrets.is_empty() {
                Ok(Default::default())
            } else {
                secrets::resolve(ctx, &cfg.secrets).await
            }
        }
    );
    let read = |what: String| {
        move |source| BackendError::Read {
            what,
            source: Box::new(source),
        }
    };
    let svc = match svc.map_err(read(format!("ECS service {}/{}", cfg.cluster, cfg.service)))? {
        ecs::Lookup::Found(s) => s,
        ecs::Lookup::NoCluster => {
            return Err(BackendError::NoCluster {
                cluster: cfg.cluster.clone(),
            });
        }
        ecs::Lookup::NoService => {
            return Err(BackendError::NoService {
                cluster: cfg.cluster.clone(),
                service: cfg.service.clone(),
            });
        }
    };
    let image = image.map_err(read(format!("ECR repository {}", cfg.repository)))?;
    let secrets = secret_arns?;
    let td_arn = svc
        .task_definition()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| BackendError::NoTaskDefinition {
            service: cfg.service.clone(),
        })?
        .to_string();
    let (td, tags) = ecs::describe_task_definition(ctx, &td_arn)
        .await
        .map_err(read(format!("task definition {td_arn}")))?;
    let task_definition = json::to_json(&td).map_err(BackendError::Render)?;
    let (existing, repository_uri) = match image {
        ecr::Lookup::NoRepository => {
            return Err(BackendError::NoRepository {
                repository: cfg.repository.clone(),
            });
        }
        ecr::Lookup::Found(found) => {
            let uri = match &found.registry_id {
                Some(id) => format!("{}/{}", ecr::registry_host(id, &ctx.region), cfg.repository),
                None => repository_uri(ctx, &cfg.repository).await?,
            };
            (Some(found.digest), uri)
        }
        ecr::Lookup::NotFound => (None, repository_uri(ctx, &cfg.repository).await?),
    };
    Ok(Observed {
        task_definition_arn: td_arn,
        task_definition,
        tags,
        repository_uri,
        existing,
        secrets,
        seen_events: svc
            .events()
            .iter()
            .filter_map(|e| e.id().map(str::to_string))
            .collect(),
    })
}

async fn repository_uri(ctx: &AwsContext, repository: &str) -> Result<String, BackendError> {
    ecr::repository_uri(ctx, repository)
        .await
        .map_err(|source| BackendError::Read {
            what: format!("ECR repository {repository}"),
            source: Box::new(source),
        })?
        .ok_or_else(|| BackendError::NoRepository {
            repository: repository.to_string(),
        })
}

/// Where images are pushed: the override host (local registry) or the ECR registry.
fn push_repo(cfg: &Backend, repository_uri: &str) -> String {
    match &cfg.registry_override {
        Some(host) => format!("{}/{}", host.trim_end_matches('/'), cfg.repository),
        None => repository_uri.to_string(),
    }
}

/// The rendered (normalised) task definition for an image reference.
fn rendered(cfg: &Backend, observed: &Observed, image: &str) -> Result<Value, BackendError> {
    let changes = render::Changes {
        containers: &cfg.containers,
        image,
        environment: &cfg.environment,
        secrets: &observed.secrets,
    };
    render::render(&observed.task_definition, &changes)
        .map(|v| normalise::normalise(&v))
        .map_err(|missing| BackendError::NoContainer {
            task_definition: short_td(&observed.task_definition_arn).to_string(),
            missing,
            present: observed.task_definition["containerDefinitions"]
                .as_array()
                .map(|defs| {
                    defs.iter()
                        .filter_map(|d| d["name"].as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
        })
}

/// The pure planner: desired (config + source tag) vs observed.
pub(crate) fn plan_from(
    cfg: &Backend,
    meta: &ReleaseMeta,
    opts: &DeployOptions,
    source: tag::SourceTag,
    observed: Observed,
    _region: &str,
) -> Result<BackendPlan, BackendError> {
    let (image_plan, image_ref) = match &observed.existing {
        Some(digest) => (
            ImagePlan::Reuse {
                digest: digest.clone(),
            },
            format!("{}@{digest}", observed.repository_uri),
        ),
        None => {
            let mut tags = vec![source.tag.clone()];
            if let Some(sha) = &meta.git.sha {
                tags.push(sha.clone());
            }
            (
                ImagePlan::Build {
                    push_to: push_repo(cfg, &observed.repository_uri),
                    tags,
                },
                format!("{}:{}", observed.repository_uri, source.tag),
            )
        }
    };
    let new = rendered(cfg, &observed, &image_ref)?;
    let live = normalise::normalise(&render::strip(&observed.task_definition));
    let td_name = short_td(&observed.task_definition_arn).to_string();
    let diff = diff::unified(&live, &new, &td_name, "new revision");
    let changed = diff.is_some();
    let family = observed.task_definition["family"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    Ok(BackendPlan {
        cluster: cfg.cluster.clone(),
        service: cfg.service.clone(),
        repository: observed.repository_uri.clone(),
        source,
        image: image_plan,
        task_definition: TaskDefinitionPlan {
            live: observed.task_definition_arn.clone(),
            family,
            changed,
            diff,
        },
        update_service: changed || opts.force,
        force: opts.force,
        live: Live {
            task_definition: observed.task_definition.clone(),
            tags: observed.tags.clone(),
            secrets: observed.secrets.clone(),
            seen_events: observed.seen_events,
        },
    })
}

/// The tags of the new revision: the live ones, with deckhand's own replaced.
fn revision_tags(
    live: &[aws_sdk_ecs::types::Tag],
    meta: &ReleaseMeta,
) -> Vec<aws_sdk_ecs::types::Tag> {
    use aws_sdk_ecs::types::Tag;
    let mut tags: Vec<Tag> = live
        .iter()
        .filter(|t| !t.key().is_some_and(|k| k.starts_with("deckhand:")))
        .cloned()
        .collect();
    tags.push(
        Tag::builder()
            .key("deckhand:release")
            .value(&meta.id)
            .build(),
    );
    if let Some(sha) = &meta.git.sha {
        tags.push(Tag::builder().key("deckhand:git-sha").value(sha).build());
    }
    tags
}

/// Builds/pushes, registers, updates the service and (unless `no_wait`) watches the rollout.
pub(crate) async fn apply(
    ctx: &AwsContext,
    cfg: &Backend,
    plan: &BackendPlan,
    meta: &ReleaseMeta,
    opts: &DeployOptions,
) -> Result<BackendRelease, BackendError> {
    let digest = match &plan.image {
        ImagePlan::Reuse { digest } => digest.clone(),
        ImagePlan::Build { push_to, tags } => {
            let tool = build::resolve(cfg.builder)
                .await
                .map_err(BackendError::Build)?;
            let (auth, _host) = ecr::login(ctx).await.map_err(BackendError::Login)?;
            let spec = build::BuildSpec {
                context: &cfg.context,
                dockerfile: &cfg.dockerfile,
                build_args: &cfg.build_args,
                repo: push_to,
                tags,
            };
            let digest = build::build_and_push(tool, &spec, &auth)
                .await
                .map_err(BackendError::Build)?;
            drop(auth);
            tracing::info!("pushed {push_to}:{} as {digest}", plan.source.tag);
            digest
        }
    };
    let image = format!("{}@{digest}", plan.repository);
    let observed = Observed {
        task_definition_arn: plan.task_definition.live.clone(),
        task_definition: plan.live.task_definition.clone(),
        tags: plan.live.tags.clone(),
        repository_uri: plan.repository.clone(),
        existing: Some(digest.clone()),
        secrets: plan.live.secrets.clone(),
        seen_events: plan.live.seen_events.clone(),
    };
    let new = rendered(cfg, &observed, &image)?;
    let live = normalise::normalise(&render::strip(&plan.live.task_definition));
    let mut release = BackendRelease {
        cluster: cfg.cluster.clone(),
        service: cfg.service.clone(),
        image: image.clone(),
        source_tag: plan.source.tag.clone(),
        task_definition_arn: plan.task_definition.live.clone(),
        deployment_id: None,
        status: ReleaseStatus::Succeeded,
        failure: None,
    };
    if new == live && !opts.force {
        output::stderr(&format!(
            "backend: the pushed image is already what {} runs: no new revision\n",
            short_td(&plan.task_definition.live)
        ));
        return Ok(release);
    }
    let family = plan.task_definition.family.clone();
    let arn = ecs::register(ctx, &new, revision_tags(&plan.live.tags, meta))
        .await
        .map_err(|e| match e {
            ecs::RegisterError::Render(m) => BackendError::Render(m),
            ecs::RegisterError::Call(source) => BackendError::Register { family, source },
        })?;
    output::stderr(&format!("backend: registered {}\n", short_td(&arn)));
    release.task_definition_arn = arn.clone();
    release.status = ReleaseStatus::Failed;
    let deployment = ecs::update_service(ctx, &cfg.cluster, &cfg.service, &arn, opts.force)
        .await
        .map_err(|source| BackendError::Update {
            cluster: cfg.cluster.clone(),
            service: cfg.service.clone(),
            task_definition: short_td(&arn).to_string(),
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
        "backend: service {} updated to {}: deployment {deployment_id}\n",
        cfg.service,
        short_td(&arn)
    ));
    if opts.no_wait {
        release.status = ReleaseStatus::InProgress;
        return Ok(release);
    }
    let target = watch::Target {
        cluster: cfg.cluster.clone(),
        service: cfg.service.clone(),
        deployment_id: deployment_id.clone(),
        task_definition: arn.clone(),
        timeout: cfg.wait_timeout,
        seen_events: plan.live.seen_events.clone(),
    };
    let outcome = watch::watch(ctx, target)
        .await
        .map_err(|source| BackendError::Watch {
            service: cfg.service.clone(),
            release: Box::new(BackendRelease {
                failure: Some(format!("lost track of the rollout: {source}")),
                ..release.clone()
            }),
            source: Box::new(source),
        })?;
    match outcome {
        Outcome::Completed => {
            release.status = ReleaseStatus::Succeeded;
            output::stderr(&format!(
                "backend: deployment {deployment_id} completed: {} runs {}\n",
                cfg.service,
                short_td(&arn)
            ));
            Ok(release)
        }
        Outcome::Failed(report) => {
            release.failure = Some(report.reason.clone());
            Err(BackendError::RolloutFailed {
                cluster: cfg.cluster.clone(),
                service: cfg.service.clone(),
                report: Box::new(report),
                release: Box::new(release),
            })
        }
        Outcome::TimedOut(report) => {
            release.failure = Some(report.reason.clone());
            Err(BackendError::TimedOut {
                cluster: cfg.cluster.clone(),
                service: cfg.service.clone(),
                report: Box::new(report),
                release: Box::new(release),
            })
        }
    }
}
