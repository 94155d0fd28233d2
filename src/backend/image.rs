//! The image side of the plan's reads (observations, made before planning; the planner decides
//! from them): the source tag's inputs — the checkout (the context as the builder receives it, the
//! Dockerfile, the build args), the task definition's platform and the digest every `FROM` image
//! resolves to in its registry — then what ECR has: the source tag, the tags of the image the
//! service runs (a forced build of the same inputs is kept), the platforms of the image a plan
//! would reuse, and the inputs the running image was built from (its label), so the plan can say
//! why it builds.

use std::collections::BTreeMap;

use super::error::BackendError;
use crate::aws::AwsContext;
use crate::config::Backend;
use crate::image::build::{self, Tool};
use crate::image::creds::Credentials;
use crate::image::reference::Reference;
use crate::image::registry::{Registry, RegistryError};
use crate::image::{dockerfile, ecr, tag};
use crate::plan::backend::BackendPlan;
use crate::plan::image::{Base, Platform, SOURCE_LABEL, TagInputs};

/// The image a plan may deploy without building.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reusable {
    pub(crate) digest: String,
    /// `os/arch[/variant]` of every image it has.
    pub(crate) platforms: Vec<String>,
    /// Whether one is the task's platform.
    pub(crate) has_platform: bool,
}

/// What the plan read about the image.
#[derive(Debug, Clone, Default)]
pub(crate) struct ImageObserved {
    pub(crate) inputs: TagInputs,
    /// ECR's digest for the source tag (the fingerprint's image).
    pub(crate) tagged: Option<String>,
    /// The image to reuse: the running image when ECR has it under the source tag or a forced
    /// rebuild's (`<source tag>-<release>`), else the source tag's. None with `--force`.
    pub(crate) reuse: Option<Reusable>,
    /// What the running image was built from (its [`SOURCE_LABEL`]), when a build is needed and
    /// deckhand built it.
    pub(crate) live_inputs: Option<TagInputs>,
    /// `<host>/<repository>` the image is read from and pushed to.
    pub(crate) repository_uri: String,
}

/// The checkout's inputs (blocking file reads, off the async threads).
pub(crate) async fn local(cfg: &Backend, tool: Option<Tool>) -> Result<tag::Local, BackendError> {
    let (context, dockerfile, args) = (
        cfg.context.clone(),
        cfg.dockerfile.clone(),
        cfg.build_args.clone(),
    );
    // Without a builder found (it is needed only to build), docker's ignore-file rules apply.
    let tool = tool.unwrap_or(Tool::Docker);
    tokio::task::spawn_blocking(move || tag::local(&context, &dockerfile, &args, tool))
        .await
        .map_err(|e| BackendError::Render(format!("reading the build context: {e}")))?
        .map_err(BackendError::Source)
}

/// Resolves every external `FROM` of the Dockerfile for `platform`.
async fn bases(
    cfg: &Backend,
    local: &tag::Local,
    platform: Platform,
    tool: Option<Tool>,
    registry: &Registry,
) -> Result<Vec<Base>, BackendError> {
    let dockerfile = cfg.dockerfile.display().to_string();
    let froms =
        dockerfile::froms(&local.dockerfile_text, &cfg.build_args, platform).map_err(|e| {
            BackendError::Dockerfile {
                path: dockerfile.clone(),
                line: e.line,
                message: e.message,
            }
        })?;
    let mut wanted: BTreeMap<String, usize> = BTreeMap::new();
    for f in froms.iter().filter(|f| f.external) {
        wanted.entry(f.image.clone()).or_insert(f.line);
    }
    let resolve = |(name, line): (String, usize)| {
        let dockerfile = dockerfile.clone();
        async move {
            let fail = |source| BackendError::Base {
                dockerfile: dockerfile.clone(),
                line,
                image: name.clone(),
                source: Box::new(source),
            };
            let r = Reference::parse(&name).map_err(|message| BackendError::Dockerfile {
                path: dockerfile.clone(),
                line,
                message,
            })?;
            // buildah and podman take `localhost/…` from their own storage.
            if r.domain == "localhost"
                && let Some(t) = tool.filter(|t| *t != Tool::Docker)
            {
                return match build::local_image_digest(t, &name).await {
                    Some(digest) => Ok(Base { name, digest }),
                    None => Err(fail(RegistryError::NotFound {
                        reference: name.clone(),
                        message: format!("not in {}'s local storage", t.program()),
                    })),
                };
            }
            let digest = match registry.digest(&r).await {
                Ok(d) => d,
                // buildah and podman build from their own copy when the registry cannot be
                // reached (pull policy "newer": a failed check keeps the local image), so that
                // copy is what reaches the build.
                Err(e @ RegistryError::Transport { .. }) => {
                    let local = match tool.filter(|t| *t != Tool::Docker) {
                        Some(t) => build::local_image_digest(t, &r.to_string()).await,
                        None => None,
                    };
                    match local {
                        Some(d) => {
                            tracing::warn!(
                                "{e}; {name} ({dockerfile} line {line}) is {d} in the builder's local storage, which the build will use"
                            );
                            d
                        }
                        None => return Err(fail(e)),
                    }
                }
                Err(e) => return Err(fail(e)),
            };
            Ok::<_, BackendError>(Base { name, digest })
        }
    };
    let mut out = futures::future::try_join_all(wanted.into_iter().map(resolve)).await?;
    out.sort();
    Ok(out)
}

/// Whether a base image is on a loopback registry (buildah then pulls it over plain HTTP).
pub(crate) fn plain_http_bases(inputs: &TagInputs) -> bool {
    inputs.bases.iter().any(|b| {
        Reference::parse(&b.name)
            .is_ok_and(|r| r.domain != "localhost" && build::insecure(&r.domain))
    })
}

/// The digest of `image` when it names an image of `repository` on `hosts` by digest.
fn digest_in(image: &str, hosts: &[&str], repository: &str) -> Option<String> {
    let (name, digest) = image.split_once('@')?;
    let (host, repo) = name.split_once('/')?;
    (hosts.contains(&host) && repo == repository)
        .then(|| build::valid_digest(digest))
        .flatten()
}

/// Everything the plan needs to know about the image. `task_definition` is the live revision.
pub(crate) async fn observe(
    ctx: &AwsContext,
    cfg: &Backend,
    task_definition: &serde_json::Value,
    local: tag::Local,
    tool: Option<Tool>,
    force: bool,
) -> Result<ImageObserved, BackendError> {
    let td_name = task_definition["family"].as_str().unwrap_or_default();
    let platform = Platform::of_task_definition(task_definition).map_err(|message| {
        BackendError::TaskPlatform {
            task_definition: format!(
                "{td_name}:{}",
                task_definition["revision"].as_i64().unwrap_or_default()
            ),
            message,
        }
    })?;
    let creds = Credentials::load().map_err(BackendError::DockerConfig)?;
    let registry = Registry::new(creds.clone()).map_err(BackendError::DockerConfig)?;
    let bases = bases(cfg, &local, platform, tool, &registry).await?;
    let inputs = TagInputs {
        context: local.context,
        files: local.files,
        dockerfile: local.dockerfile,
        build_args: local.build_args,
        platform,
        bases,
    };
    let tag = inputs.tag();
    // The image the deployed container runs now, when it is one of this repository's.
    let live_image = task_definition["containerDefinitions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| {
            c["name"]
                .as_str()
                .is_some_and(|n| cfg.containers.iter().any(|w| w == n))
        })
        .and_then(|c| c["image"].as_str())
        .unwrap_or_default()
        .to_string();
    let read = |what: String| {
        move |source| BackendError::Read {
            what,
            source: Box::new(source),
        }
    };
    let lookup = ecr::find_tag(ctx, &cfg.repository, &tag)
        .await
        .map_err(read(format!("ECR repository {}", cfg.repository)))?;
    let (tagged, repository_uri) = match lookup {
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
    let ecr_host = repository_uri
        .split('/')
        .next()
        .unwrap_or_default()
        .to_string();
    // Where the images are read from: the override host (the local stack's registry) or ECR's.
    let read_host = cfg
        .registry_override
        .as_deref()
        .map(|h| h.trim_end_matches('/').to_string())
        .unwrap_or_else(|| ecr_host.clone());
    let live_digest = digest_in(
        &live_image,
        &[ecr_host.as_str(), read_host.as_str()],
        &cfg.repository,
    );
    let live_is_ours = match &live_digest {
        // The running image is the source tag's (a no-op deploy): nothing more to ask.
        Some(d) if !force && tagged.as_deref() == Some(d.as_str()) => true,
        Some(d) if !force => ecr::tags_of(ctx, &cfg.repository, d)
            .await
            .map_err(read(format!("ECR repository {}", cfg.repository)))?
            .is_some_and(|tags| {
                let forced = format!("{tag}-");
                tags.iter().any(|t| *t == tag || t.starts_with(&forced))
            }),
        _ => false,
    };
    let candidate = match (force, live_is_ours) {
        (true, _) => None,
        (false, true) => live_digest.clone(),
        (false, false) => tagged.clone(),
    };
    let needs_reads = candidate.is_some() || live_digest.is_some();
    // ECR's registry wants ECR's credentials (GetAuthorizationToken: a read); an override
    // registry gets only the docker config's.
    let repo_registry = if needs_reads && read_host == ecr_host {
        let mut creds = creds;
        let (host, token) = ecr::token(ctx).await.map_err(BackendError::Login)?;
        creds.insert(&host, &token);
        Registry::new(creds).map_err(BackendError::DockerConfig)?
    } else {
        registry
    };
    let at = |digest: &str| Reference {
        domain: read_host.clone(),
        repository: cfg.repository.clone(),
        tag: None,
        digest: Some(digest.to_string()),
    };
    let image_read = |image: String| {
        move |source| BackendError::ImageRead {
            image,
            source: Box::new(source),
        }
    };
    let reuse = match &candidate {
        Some(digest) => {
            let r = at(digest);
            let info = repo_registry
                .inspect(&r, platform)
                .await
                .map_err(image_read(r.to_string()))?;
            Some(Reusable {
                digest: digest.clone(),
                platforms: info.platforms,
                has_platform: info.has_platform,
            })
        }
        None => None,
    };
    // Why a build: what the running image was built from. A read that fails only costs the
    // reasons.
    let live_inputs = match (&reuse, &live_digest) {
        (None, Some(digest)) => match repo_registry.inspect(&at(digest), platform).await {
            Ok(info) => info
                .labels
                .get(SOURCE_LABEL)
                .and_then(|l| serde_json::from_str(l).ok()),
            Err(e) => {
                tracing::warn!("cannot read the running image {live_image}: {e}");
                None
            }
        },
        _ => None,
    };
    Ok(ImageObserved {
        inputs,
        tagged,
        reuse,
        live_inputs,
        repository_uri,
    })
}

pub(super) async fn repository_uri(
    ctx: &AwsContext,
    repository: &str,
) -> Result<String, BackendError> {
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

/// Builds and pushes the planned image (the docker config's and ECR's credentials in the
/// builder's auth file), then reads the pushed image back from the registry: it must be for the
/// task's platform before any task definition names it.
pub(crate) async fn build(
    ctx: &AwsContext,
    cfg: &Backend,
    plan: &BackendPlan,
    push_to: &str,
    tags: &[String],
) -> Result<String, BackendError> {
    let inputs = plan.source.inputs.as_ref().ok_or_else(|| {
        BackendError::Render("the plan builds an image without its inputs".into())
    })?;
    let tool = build::resolve(cfg.builder)
        .await
        .map_err(BackendError::Build)?;
    let mut creds = Credentials::load().map_err(BackendError::DockerConfig)?;
    let (host, token) = ecr::token(ctx).await.map_err(BackendError::Login)?;
    creds.insert(&host, &token);
    // `registry-override` stands in for ECR's host: it gets ECR's credentials too.
    let push_host = push_to.split('/').next().unwrap_or_default();
    if push_host != host {
        creds.insert(push_host, &token);
    }
    let auth = ecr::AuthFile::write(&creds.auth_json())
        .map_err(|e| BackendError::Login(ecr::LoginError::File(e)))?;
    let labels = [source_label(inputs)];
    let spec = build::BuildSpec {
        context: &cfg.context,
        dockerfile: &cfg.dockerfile,
        build_args: &cfg.build_args,
        platform: inputs.platform,
        labels: &labels,
        plain_http_pull: plain_http_bases(inputs),
        repo: push_to,
        tags,
    };
    let digest = build::build_and_push(tool, &spec, &auth)
        .await
        .map_err(BackendError::Build)?;
    drop(auth);
    let (host, repository) = push_to
        .split_once('/')
        .unwrap_or((push_to, &cfg.repository));
    let pushed = Reference {
        domain: host.to_string(),
        repository: repository.to_string(),
        tag: None,
        digest: Some(digest.clone()),
    };
    let registry = Registry::new(creds).map_err(BackendError::DockerConfig)?;
    let info = registry
        .inspect(&pushed, inputs.platform)
        .await
        .map_err(|source| BackendError::ImageRead {
            image: pushed.to_string(),
            source: Box::new(source),
        })?;
    if !info.has_platform {
        return Err(BackendError::PlatformMismatch {
            image: format!("{}@{digest}", plan.repository),
            has: info.platforms,
            want: inputs.platform,
            task_definition: crate::aws::short_td(&plan.task_definition.live).to_string(),
        });
    }
    Ok(digest)
}

/// A promotion's image copy: `digest` from `from` (`host/repository`) into the plan's repository
/// (the `registry-override` host, else ECR's), manifests and blobs as they are (the digest is
/// unchanged), tagged with the source tag. ECR's token is offered to both hosts: "the
/// authorization token ... can be used to access any Amazon ECR registry that your IAM principal
/// has access to" (ECR API reference, GetAuthorizationToken).
pub(crate) async fn copy(
    ctx: &AwsContext,
    cfg: &Backend,
    plan: &BackendPlan,
    from: &str,
    digest: &str,
) -> Result<(), BackendError> {
    let push_to = push_repo(cfg, &plan.repository);
    let mut creds = Credentials::load().map_err(BackendError::DockerConfig)?;
    let (host, token) = ecr::token(ctx).await.map_err(BackendError::Login)?;
    creds.insert(&host, &token);
    let split = |r: &str| {
        let (h, repo) = r.split_once('/').unwrap_or((r, ""));
        Reference {
            domain: h.to_string(),
            repository: repo.to_string(),
            tag: None,
            digest: Some(digest.to_string()),
        }
    };
    let (source, target) = (split(from), split(&push_to));
    for h in [&source.domain, &target.domain] {
        if *h != host {
            creds.insert(h, &token);
        }
    }
    let registry = Registry::new(creds).map_err(BackendError::DockerConfig)?;
    let tag = Some(plan.source.tag.as_str()).filter(|t| !t.is_empty());
    let copied = registry
        .copy(&source, &target, digest, tag)
        .await
        .map_err(|source| BackendError::ImageRead {
            image: format!("{from}@{digest} (copying it to {push_to})"),
            source: Box::new(source),
        })?;
    crate::output::stderr(&format!(
        "backend: copied {digest} from {from} to {push_to}: {} blobs present, {} mounted, {} uploaded ({} bytes)\n",
        copied.present, copied.mounted, copied.uploaded, copied.bytes
    ));
    Ok(())
}

/// Where images are pushed: the override host (local registry) or the ECR registry.
pub(super) fn push_repo(cfg: &Backend, repository_uri: &str) -> String {
    match &cfg.registry_override {
        Some(host) => format!("{}/{}", host.trim_end_matches('/'), cfg.repository),
        None => repository_uri.to_string(),
    }
}

/// The label a build carries: its inputs as JSON.
pub(crate) fn source_label(inputs: &TagInputs) -> (String, String) {
    (
        SOURCE_LABEL.to_string(),
        serde_json::to_string(inputs).unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_running_image_is_ours_only_by_digest_on_our_hosts() {
        let d = format!("sha256:{}", "a".repeat(64));
        let hosts = ["1.dkr.ecr.us-east-1.amazonaws.com", "127.0.0.1:5001"];
        assert_eq!(
            digest_in(&format!("127.0.0.1:5001/app/api@{d}"), &hosts, "app/api"),
            Some(d.clone())
        );
        assert_eq!(
            digest_in(
                &format!("1.dkr.ecr.us-east-1.amazonaws.com/app/api@{d}"),
                &hosts,
                "app/api"
            ),
            Some(d.clone())
        );
        assert_eq!(
            digest_in(&format!("other.io/app/api@{d}"), &hosts, "app/api"),
            None
        );
        assert_eq!(
            digest_in(&format!("127.0.0.1:5001/app/other@{d}"), &hosts, "app/api"),
            None
        );
        assert_eq!(
            digest_in("127.0.0.1:5001/app/api:src-1", &hosts, "app/api"),
            None
        );
    }
}
