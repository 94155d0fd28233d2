//! The plan's reads: the service, its task definition (with tags), the secrets' parameter ARNs
//! and versions and the checkout's build inputs at once; then the image ([`super::image`]: the
//! platform and `FROM` digests the source tag covers, what ECR has of it). The parameter
//! versions the live release's tasks started with are [`last_applied`], read from the history
//! after these. (The keys deckhand manages are marked on the live revision itself:
//! [`crate::ecs::managed`].)

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::error::BackendError;
use super::image::{self, ImageObserved};
use crate::aws::{AwsContext, AwsError};
use crate::config::Backend;
use crate::ecs::{self, json};
use crate::image::{build, ecr};
use crate::release::{BackendRelease, ReleaseRecord, ReleaseStatus};
use crate::secrets;

/// What the plan read from AWS (and the image's registries).
#[derive(Debug, Clone)]
pub(crate) struct Observed {
    pub(crate) task_definition_arn: String,
    pub(crate) task_definition: Value,
    pub(crate) tags: Vec<(String, String)>,
    /// The source tag's inputs, what ECR has, the platform of the image to reuse.
    pub(crate) image: ImageObserved,
    pub(crate) secrets: BTreeMap<String, String>,
    /// Every SSM parameter the live revision or the configuration names (by the `valueFrom` the
    /// new revision will hold) with its current version: never a value.
    pub(crate) parameters: BTreeMap<String, Parameter>,
    pub(crate) seen_events: BTreeSet<String>,
    /// The service's PRIMARY deployment.
    pub(crate) deployment: Option<String>,
    /// The PRIMARY deployment while its rollout is not COMPLETED.
    pub(crate) rollout: Option<crate::plan::backend::InFlight>,
    /// `deploymentConfiguration.strategy` (ROLLING when ECS names none).
    pub(crate) strategy: Option<String>,
}

/// An SSM parameter a revision names, and its version now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Parameter {
    pub(crate) name: String,
    pub(crate) version: i64,
}

/// What the release history says deckhand applied to the service: the observation the planner
/// tells rotated secrets from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct LastApplied {
    /// The parameter versions of the newest release whose backend half succeeded (its tasks
    /// started with them).
    pub(crate) parameter_versions: BTreeMap<String, i64>,
}

/// The backend half of `r` when it is this service's.
fn half<'r>(r: &'r ReleaseRecord, cfg: &Backend) -> Option<&'r BackendRelease> {
    r.backend
        .as_ref()
        .filter(|b| b.cluster == cfg.cluster && b.service == cfg.service)
}

/// Whether the history read so far (newest first) is enough for [`last_applied`]: it holds a
/// backend half of this service that succeeded.
pub(crate) fn enough(r: &ReleaseRecord, cfg: &Backend) -> bool {
    half(r, cfg).is_some_and(|b| b.status == ReleaseStatus::Succeeded)
}

/// What deckhand applied, from `records` (newest first, read up to the first that is
/// [`enough`]): the parameter versions of the newest record whose backend half succeeded (a
/// failed rollout's tasks may not run). Pure.
///
/// The managed keys are not read from records: a record is written after UpdateService (a deploy
/// killed in between leaves none), and a record's half can name a revision it did not render (the
/// one the circuit breaker put back). The revision carries its own mark instead.
pub(crate) fn last_applied(records: &[ReleaseRecord], cfg: &Backend) -> LastApplied {
    records
        .iter()
        .filter_map(|r| half(r, cfg))
        .find(|b| b.status == ReleaseStatus::Succeeded)
        .map(|b| LastApplied {
            parameter_versions: b.parameter_versions.clone(),
        })
        .unwrap_or_default()
}

/// The SSM parameters the task definition's containers name in `secrets` (`valueFrom`s).
pub(crate) fn value_froms(td: &Value) -> BTreeSet<String> {
    td["containerDefinitions"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|c| c["secrets"].as_array().into_iter().flatten())
        .filter_map(|s| s["valueFrom"].as_str().map(str::to_string))
        .collect()
}

/// `valueFrom` -> the parameter and its version, for the live revision's parameters and the
/// configured ones (`resolved`: variable -> ARN). The parameters the configuration names were
/// described already; the live revision's others are described now (one more DescribeParameters
/// when there are any, one per other region an ARN names). Secrets Manager ARNs and other
/// accounts' parameters have no entry: deckhand cannot see their versions.
async fn parameters(
    ctx: &AwsContext,
    td: &Value,
    resolved: &secrets::Resolved,
) -> Result<BTreeMap<String, Parameter>, BackendError> {
    let mut values = value_froms(td);
    values.extend(resolved.arns.values().cloned());
    Ok(secrets::versions_of(
        ctx,
        &values,
        &resolved.versions,
        resolved.account.as_deref(),
    )
    .await?
    .into_iter()
    .map(|(from, (name, version))| (from, Parameter { name, version }))
    .collect())
}

/// Warns about each deployed container's mark that is not a JSON list of names (a person edited
/// it): deckhand counts it as naming nothing, so it removes none of those keys.
fn warn_garbled(td: &Value, td_arn: &str, containers: &[String]) {
    for (container, label) in ecs::managed::garbled(td, containers) {
        let line = format!(
            "the label {label} of container {container} in {} is not a JSON list of names: deckhand counts it as naming none, so it removes none of the container's keys that deckhand.yml no longer sets (remove them by hand); the next revision it registers is marked again with the names deckhand.yml sets",
            crate::aws::short_td(td_arn)
        );
        tracing::warn!("{line}");
        crate::github::warning_annotation(&line);
    }
}

pub(super) async fn observe(
    ctx: &AwsContext,
    cfg: &Backend,
    force: bool,
) -> Result<Observed, BackendError> {
    // The builder decides which ignore file applies and where `localhost/` images live.
    let tool = build::resolve(cfg.builder).await.ok();
    let (live, local) = tokio::join!(service(ctx, cfg), image::local(cfg, tool));
    let (mut observed, local) = (live?, local?);
    observed.image =
        image::observe(ctx, cfg, &observed.task_definition, local, tool, force).await?;
    Ok(observed)
}

/// The service, its live revision, the secrets' ARNs and the parameters' versions: everything
/// but the image (left empty).
pub(super) async fn service(ctx: &AwsContext, cfg: &Backend) -> Result<Observed, BackendError> {
    let (svc, secret_arns) = tokio::join!(
        ecs::describe_service(ctx, &cfg.cluster, &cfg.service),
        async {
            if cfg.secrets.is_empty() {
                Ok(Default::default())
            } else {
                secrets::resolve(ctx, &cfg.secrets).await
            }
        },
    );
    let svc = found(
        cfg,
        svc.map_err(read(format!("ECS service {}/{}", cfg.cluster, cfg.service)))?,
    )?;
    let resolved = secret_arns?;
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
    warn_garbled(&task_definition, &td_arn, &cfg.containers);
    let parameters = parameters(ctx, &task_definition, &resolved).await?;
    // The plan's task-definition diff shows the live environment: mask its secret-like values.
    for c in td.container_definitions() {
        crate::step::mask_secret_like(
            c.environment()
                .iter()
                .filter_map(|kv| Some((kv.name()?, kv.value()?))),
        );
    }
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
        image: image::ImageObserved::default(),
        secrets: resolved.arns,
        parameters,
        seen_events: svc
            .events()
            .iter()
            .filter_map(|e| e.id().map(str::to_string))
            .collect(),
        deployment: crate::ecs::primary_deployment(&svc),
        rollout: crate::ecs::rollout_in_flight(&svc),
        strategy: Some(
            svc.deployment_configuration()
                .and_then(|c| c.strategy())
                .map_or("ROLLING", |s| s.as_str())
                .to_string(),
        ),
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::release::GitInfo;

    fn cfg() -> Backend {
        Backend {
            cluster: "c".into(),
            service: "api".into(),
            containers: vec!["api".into()],
            repository: "api".into(),
            context: ".".into(),
            dockerfile: "Dockerfile".into(),
            build_args: BTreeMap::new(),
            builder: Default::default(),
            registry_override: None,
            environment: BTreeMap::new(),
            secrets: BTreeMap::new(),
            public_environment: Default::default(),
            missing_secrets: Default::default(),
            wait_timeout: Duration::from_secs(60),
            wait_max: None,
            pre_deploy: None,
        }
    }

    /// A record of service `api` on revision `td` whose backend half ended `status`, with `/p` at
    /// `version`.
    fn rec(id: &str, td: &str, status: ReleaseStatus, version: i64) -> ReleaseRecord {
        ReleaseRecord {
            version: crate::release::RECORD_VERSION,
            id: id.into(),
            created_at: String::new(),
            status,
            git: GitInfo::default(),
            previous: None,
            rollback_of: None,
            restored: None,
            promoted_from: None,
            backend: Some(BackendRelease {
                cluster: "c".into(),
                service: "api".into(),
                image: "repo@sha256:1".into(),
                source_tag: "src-1".into(),
                task_definition_arn: td.into(),
                deployment_id: None,
                status,
                failure: None,
                task_definition: None,
                parameter_versions: BTreeMap::from([("/p".to_string(), version)]),
                ..BackendRelease::default()
            }),
            site: None,
            timings: None,
        }
    }

    fn version(records: &[ReleaseRecord]) -> i64 {
        let a = last_applied(records, &cfg());
        a.parameter_versions.get("/p").copied().unwrap_or(0)
    }

    #[test]
    fn the_versions_are_the_last_good_rollouts() {
        use ReleaseStatus::{Failed, InProgress, Succeeded};
        let a = rec("a", "td:1", Succeeded, 3);
        // B's rollout failed (ECS rolled back to A's revision), C did not wait (--no-wait): the
        // versions A's tasks started with.
        let b = rec("b", "td:2", Failed, 4);
        let c = rec("c", "td:3", InProgress, 5);
        assert_eq!(version(&[c, b, a.clone()]), 3);
        // Another service's records and no record at all: unknown.
        let mut other = a;
        other.backend.as_mut().expect("backend").service = "worker".into();
        assert_eq!(version(&[other]), 0);
        assert_eq!(version(&[]), 0);
    }

    #[test]
    fn a_record_without_versions_reads_as_unknown() {
        let text = r#"{"id": "r1", "created_at": "", "status": "succeeded", "git": {},
            "previous": null, "site": null,
            "backend": {"cluster": "c", "service": "api", "image": "repo@sha256:1",
                "source_tag": "src-1", "task_definition_arn": "td:1", "deployment_id": null,
                "status": "succeeded"}}"#;
        let old: ReleaseRecord = serde_json::from_str(text).expect("an older deckhand's record");
        assert!(last_applied(&[old], &cfg()).parameter_versions.is_empty());
    }

    #[test]
    fn the_ssm_parameters_a_revision_names_are_found_in_every_container() {
        let td = serde_json::json!({"containerDefinitions": [
            {"name": "api", "secrets": [{"name": "A", "valueFrom": "/a"}]},
            {"name": "sidecar", "secrets": [{"name": "B", "valueFrom": "arn:aws:ssm:us-east-1:1:parameter/b"}]}
        ]});
        let got: Vec<String> = value_froms(&td).into_iter().collect();
        assert_eq!(got, vec!["/a", "arn:aws:ssm:us-east-1:1:parameter/b"]);
        use secrets::Place;
        let place = |v: &str| secrets::place(v, "us-east-1", Some("1"));
        assert_eq!(
            place("arn:aws:ssm:us-east-1:1:parameter/b"),
            Place::Here("b".into())
        );
        assert_eq!(
            place("arn:aws:ssm:eu-west-1:1:parameter/app/b"),
            Place::Region {
                region: "eu-west-1".into(),
                name: "/app/b".into(),
                arn: "arn:aws:ssm:eu-west-1:1:parameter/app/b".into()
            }
        );
        // Another account's parameter (shared), a Secrets Manager secret: not describable here.
        assert_eq!(
            place("arn:aws:ssm:us-east-1:2:parameter/app/b"),
            Place::Elsewhere
        );
        assert_eq!(
            place("arn:aws:secretsmanager:us-east-1:1:secret:x"),
            Place::Elsewhere
        );
        assert_eq!(place("/app/key"), Place::Here("/app/key".into()));
        // The account unknown: an ARN of this region is taken for this account's.
        assert_eq!(
            secrets::place("arn:aws:ssm:us-east-1:2:parameter/app/b", "us-east-1", None),
            Place::Here("/app/b".into())
        );
    }
}
