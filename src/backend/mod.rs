//! Backend deploy (issue 3): source tag -> (build/push) -> render the task definition -> register
//! -> UpdateService -> watch that deployment. `plan` only reads; `apply` is the only writer.

mod apply;
mod error;
mod observe;
mod plan;

use serde_json::Value;

pub(crate) use apply::apply;
pub(crate) use error::BackendError;
pub(crate) use observe::Observed;
pub(crate) use plan::{BackendPlan, ImagePlan, Live, TaskDefinitionPlan};

use crate::aws::AwsContext;
use crate::config::Backend;
use crate::deploy::DeployOptions;
use crate::ecs::watch::short_td;
use crate::ecs::{diff, normalise, render};
use crate::image::tag;
use crate::release::ReleaseMeta;

/// Reads live state and plans. Never writes. On the no-op path this is DescribeServices,
/// DescribeTaskDefinition, DescribeImages and (with secrets) GetParameters.
pub(crate) async fn plan(
    ctx: &AwsContext,
    cfg: &Backend,
    meta: &ReleaseMeta,
    opts: &DeployOptions,
) -> Result<BackendPlan, BackendError> {
    let source = tag::source_tag(&cfg.context, &cfg.dockerfile, &cfg.build_args)?;
    let observed = observe::observe(ctx, cfg, &source.tag).await?;
    plan_from(cfg, meta, opts, source, observed)
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
