//! A promotion's backend: the image another environment's release ran, by digest, in this
//! environment's live task definition with this environment's own environment and secrets. No
//! build and no build context: the image's platforms are read from the source registry, and when
//! this environment's repository is another one, the plan copies the image by digest
//! ([`ImagePlan::Copy`], applied under the lock).

use super::error::BackendError;
use super::image::{ImageObserved, Reusable};
use super::observe::{self, LastApplied, Observed};
use crate::aws::AwsContext;
use crate::config::Backend;
use crate::image::creds::Credentials;
use crate::image::ecr;
use crate::image::reference::Reference;
use crate::image::registry::Registry;
use crate::plan::DeployOptions;
use crate::plan::backend::{BackendPlan, ImagePlan, Source, SourceTag};
use crate::plan::fingerprint::BackendPrint;
use crate::plan::image::{Platform, TagInputs};
use crate::release::ReleaseMeta;

/// The image a promotion deploys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PromotedImage {
    /// The source environment and its release, and when it was recorded.
    pub(crate) environment: String,
    pub(crate) release: String,
    pub(crate) since: String,
    pub(crate) digest: String,
    /// The source tag it was pushed under (empty: none recorded).
    pub(crate) source_tag: String,
    /// `host/repository` it is read from (the source's `registry-override` host, or its ECR
    /// repository).
    pub(crate) read_from: String,
}

/// A registry client with the docker config's credentials and ECR's token for ECR's host and
/// for `hosts` (a `registry-override` stands in for ECR's host).
async fn registry(ctx: &AwsContext, hosts: &[&str]) -> Result<Registry, BackendError> {
    let mut creds = Credentials::load().map_err(BackendError::DockerConfig)?;
    let (host, token) = ecr::token(ctx).await.map_err(BackendError::Login)?;
    creds.insert(&host, &token);
    for h in hosts.iter().filter(|h| **h != host) {
        creds.insert(h, &token);
    }
    Registry::new(creds).map_err(BackendError::DockerConfig)
}

/// What [`observe`] read of this environment: its service, revision and repository, and whether
/// its repository keeps the promoted image's source tag immutable.
pub(crate) struct Target {
    pub(crate) observed: Observed,
    pub(crate) tag_immutable: bool,
}

/// Reads the service and its live revision, this environment's repository (its tag mutability,
/// and whether it has the image under its source tag) and the image's platforms. Never writes.
pub(crate) async fn observe(
    ctx: &AwsContext,
    cfg: &Backend,
    image: &PromotedImage,
) -> Result<Target, BackendError> {
    let mut observed = observe::service(ctx, cfg).await?;
    let platform = Platform::of_task_definition(&observed.task_definition).map_err(|message| {
        BackendError::TaskPlatform {
            task_definition: crate::aws::short_td(&observed.task_definition_arn).to_string(),
            message,
        }
    })?;
    let repository = ecr::describe_repository(ctx, &cfg.repository)
        .await
        .map_err(|source| BackendError::Read {
            what: format!("ECR repository {}", cfg.repository),
            source: Box::new(source),
        })?
        .ok_or_else(|| BackendError::NoRepository {
            repository: cfg.repository.clone(),
        })?;
    let repository_uri = repository.repository_uri().unwrap_or_default().to_string();
    let tag_immutable = ecr::tag_immutable(&repository, &image.source_tag);
    let tagged = if image.source_tag.is_empty() {
        None
    } else {
        match ecr::find_tag(ctx, &cfg.repository, &image.source_tag)
            .await
            .map_err(|source| BackendError::Read {
                what: format!("ECR repository {}", cfg.repository),
                source: Box::new(source),
            })? {
            ecr::Lookup::Found(found) => Some(found.digest),
            ecr::Lookup::NotFound | ecr::Lookup::NoRepository => None,
        }
    };
    let (host, repository) = image
        .read_from
        .split_once('/')
        .unwrap_or((&image.read_from, ""));
    let source = Reference {
        domain: host.to_string(),
        repository: repository.to_string(),
        tag: None,
        digest: Some(image.digest.clone()),
    };
    let info = registry(ctx, &[host])
        .await?
        .inspect(&source, platform)
        .await
        .map_err(|e| BackendError::ImageRead {
            image: format!("{}@{}", image.read_from, image.digest),
            source: Box::new(e),
        })?;
    observed.image = ImageObserved {
        inputs: TagInputs {
            platform,
            ..TagInputs::default()
        },
        tagged,
        reuse: Some(Reusable {
            digest: image.digest.clone(),
            platforms: info.platforms,
            has_platform: info.has_platform,
        }),
        live_inputs: None,
        repository_uri,
    };
    Ok(Target {
        observed,
        tag_immutable,
    })
}

/// Plans (pure) the promotion of `image` from what [`observe`] read: the deploy's own planner
/// with the image reused by digest, then named as the promoted one and, when this
/// environment's repository does not have it, copied there. A copy that would move an
/// immutable tag (this repository holds the source tag as another image) is tagged
/// `<source tag>-<source release>` instead: ECR would answer the tag's PutImage with
/// ImageTagAlreadyExistsException after the blobs and the manifest went up.
pub(crate) fn plan(
    cfg: &Backend,
    meta: &ReleaseMeta,
    target: Target,
    applied: &LastApplied,
    image: &PromotedImage,
) -> Result<(BackendPlan, BackendPrint), BackendError> {
    let Target {
        observed,
        tag_immutable,
    } = target;
    let print = BackendPrint {
        task_definition: observed.task_definition_arn.clone(),
        deployment: observed.deployment.clone(),
        image: observed.image.tagged.clone(),
    };
    let tagged = observed.image.tagged.clone();
    let mut p = super::plan::plan_from(cfg, meta, &DeployOptions::default(), observed, applied)?;
    p.source = SourceTag {
        tag: image.source_tag.clone(),
        source: Source::Promoted {
            environment: image.environment.clone(),
            id: image.release.clone(),
            since: image.since.clone(),
        },
        inputs: None,
    };
    let here = super::image::push_repo(cfg, &p.repository);
    if here != image.read_from && tagged.as_deref() != Some(image.digest.as_str()) {
        if tagged.is_some() && tag_immutable {
            // The source tag is held here by another image built from the same inputs (builds are
            // not reproducible: production built this commit itself before it promoted) and ECR
            // refuses to move an immutable tag (PutImage: ImageTagAlreadyExistsException, ECR API
            // Reference). The copy goes under a tag of its own, `<source tag>-<source release>`,
            // as `deploy --force` names a rebuild: the task definition names the digest either way.
            p.source.tag = format!("{}-{}", image.source_tag, image.release);
        }
        p.image = ImagePlan::Copy {
            from: image.read_from.clone(),
            digest: image.digest.clone(),
        };
    }
    Ok((p, print))
}
