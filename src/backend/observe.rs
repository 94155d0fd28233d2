//! The plan's reads: the service, its task definition (with tags), the secrets' parameter ARNs
//! and the checkout's build inputs at once; then the image ([`super::image`]: the platform and
//! `FROM` digests the source tag covers, what ECR has of it).

use std::collections::BTreeSet;

use serde_json::Value;

use super::error::BackendError;
use super::image::{self, ImageObserved};
use crate::aws::{AwsContext, AwsError};
use crate::config::Backend;
use crate::ecs::{self, json};
use crate::image::{build, ecr};
use crate::secrets;

/// What the plan read from AWS (and the image's registries).
#[derive(Debug, Clone)]
pub(crate) struct Observed {
    pub(crate) task_definition_arn: String,
    pub(crate) task_definition: Value,
    pub(crate) tags: Vec<(String, String)>,
    /// The source tag's inputs, what ECR has, the platform of the image to reuse.
    pub(crate) image: ImageObserved,
    pub(crate) secrets: std::collections::BTreeMap<String, String>,
    pub(crate) seen_events: BTreeSet<String>,
    /// The service's PRIMARY deployment.
    pub(crate) deployment: Option<String>,
    /// The PRIMARY deployment while its rollout is not COMPLETED.
    pub(crate) rollout: Option<crate::plan::backend::InFlight>,
}

pub(super) async fn observe(
    ctx: &AwsContext,
    cfg: &Backend,
    force: bool,
) -> Result<Observed, BackendError> {
    // The builder decides which ignore file applies and where `localhost/` images live.
    let tool = build::resolve(cfg.builder).await.ok();
    let (svc, secret_arns, local) = tokio::join!(
        ecs::describe_service(ctx, &cfg.cluster, &cfg.service),
        async {
            if cfg.secrets.is_empty() {
                Ok(Default::default())
            } else {
                secrets::resolve(ctx, &cfg.secrets).await
            }
        },
        image::local(cfg, tool),
    );
    let svc = found(
        cfg,
        svc.map_err(read(format!("ECS service {}/{}", cfg.cluster, cfg.service)))?,
    )?;
    let secrets = secret_arns?;
    let local = local?;
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
    // The plan's task-definition diff shows the live environment: mask its secret-like values.
    for c in td.container_definitions() {
        crate::step::mask_secret_like(
            c.environment()
                .iter()
                .filter_map(|kv| Some((kv.name()?, kv.value()?))),
        );
    }
    let image = image::observe(ctx, cfg, &task_definition, local, tool, force).await?;
    let tags = tags
        .iter()
        .map(|t| {
            (
                t.key().unwrap_or_default().to_string(),
                t.value().unwrap_or_default().to_string(),
            )
        })
        .collect();
    Ok(Observed {
        task_definition_arn: td_arn,
        task_definition,
        tags,
        image,
        secrets,
        seen_events: svc
            .events()
            .iter()
            .filter_map(|e| e.id().map(str::to_string))
            .collect(),
        deployment: crate::ecs::primary_deployment(&svc),
        rollout: crate::ecs::rollout_in_flight(&svc),
    })
}

/// The fingerprint reads alone: DescribeServices and the source tag in ECR (no task
/// definition, no parameters: the plan holds those).
pub(super) async fn print(
    ctx: &AwsContext,
    cfg: &Backend,
    source_tag: &str,
) -> Result<crate::plan::fingerprint::BackendPrint, BackendError> {
    let (svc, image) = service_and_image(ctx, cfg, source_tag).await?;
    let image = match image {
        ecr::Lookup::Found(found) => Some(found.digest),
        ecr::Lookup::NotFound | ecr::Lookup::NoRepository => None,
    };
    Ok(crate::plan::fingerprint::BackendPrint {
        task_definition: svc.task_definition().unwrap_or_default().to_string(),
        deployment: crate::ecs::primary_deployment(&svc),
        image,
    })
}

/// DescribeServices and the source tag's lookup in ECR, at once: the service (an error names the
/// cluster or service that does not exist) and what ECR has of the tag.
async fn service_and_image(
    ctx: &AwsContext,
    cfg: &Backend,
    source_tag: &str,
) -> Result<(Box<aws_sdk_ecs::types::Service>, ecr::Lookup), BackendError> {
    let (svc, image) = tokio::join!(
        ecs::describe_service(ctx, &cfg.cluster, &cfg.service),
        ecr::find_tag(ctx, &cfg.repository, source_tag),
    );
    let svc = found(
        cfg,
        svc.map_err(read(format!("ECS service {}/{}", cfg.cluster, cfg.service)))?,
    )?;
    let image = image.map_err(read(format!("ECR repository {}", cfg.repository)))?;
    Ok((svc, image))
}

/// A failed read of `what`.
fn read(what: String) -> impl FnOnce(AwsError) -> BackendError {
    move |source| BackendError::Read {
        what,
        source: Box::new(source),
    }
}

/// The service, or the error naming the cluster or service that does not exist.
fn found(
    cfg: &Backend,
    lookup: ecs::Lookup,
) -> Result<Box<aws_sdk_ecs::types::Service>, BackendError> {
    match lookup {
        ecs::Lookup::Found(s) => Ok(s),
        ecs::Lookup::NoCluster => Err(BackendError::NoCluster {
            cluster: cfg.cluster.clone(),
        }),
        ecs::Lookup::NoService => Err(BackendError::NoService {
            cluster: cfg.cluster.clone(),
            service: cfg.service.clone(),
        }),
    }
}
