//! What can go wrong in a backend deploy, with the context to act on it and its exit code.
//!
//! Exit codes: a named resource that does not exist (cluster, service, repository, a container
//! of the task definition, an SSM parameter of `backend.secrets`) or a missing build context /
//! Dockerfile is a configuration error (2), like `validate --online`; the rollout failing (circuit
//! breaker, rollback, replaced) is 3; no progress for `wait.timeout` is 4; anything else is 1.

use crate::aws::AwsError;
use crate::diagnose::{Diagnose, Exit};
use crate::ecs::report::Report;
use crate::ecs::stopped::CauseKind;
use crate::image::build::BuildError;
use crate::image::ecr::LoginError;
use crate::image::registry::RegistryError;
use crate::image::tag::TagError;
use crate::plan::image::Platform;
use crate::release::BackendRelease;
use crate::secrets::SecretsError;

#[derive(Debug, thiserror::Error)]
pub(crate) enum BackendError {
    #[error("backend source: {0}")]
    Source(#[from] TagError),
    #[error("ECS cluster `{cluster}` not found (backend.cluster)")]
    NoCluster { cluster: String },
    #[error("ECS service `{service}` not found in cluster `{cluster}` (backend.service)")]
    NoService { cluster: String, service: String },
    #[error("ECR repository `{repository}` not found (backend.repository)")]
    NoRepository { repository: String },
    #[error("service `{service}` has no task definition to start from")]
    NoTaskDefinition { service: String },
    #[error("task definition {task_definition} has no container named {} (backend.container); it has: {}", .missing.join(", "), .present.join(", "))]
    NoContainer {
        task_definition: String,
        missing: Vec<String>,
        present: Vec<String>,
    },
    #[error("task definition {task_definition}: {message}")]
    TaskPlatform {
        task_definition: String,
        message: String,
    },
    #[error("{path} line {line}: {message}")]
    Dockerfile {
        path: String,
        line: usize,
        message: String,
    },
    #[error("cannot resolve the base image {image} ({dockerfile} line {line})")]
    Base {
        dockerfile: String,
        line: usize,
        image: String,
        #[source]
        source: Box<RegistryError>,
    },
    #[error("cannot read the image {image}")]
    ImageRead {
        image: String,
        #[source]
        source: Box<RegistryError>,
    },
    #[error("{image} in ECR is an image for {}, and task definition {task_definition} runs on {} ({want})", platforms(.has), .want.ecs_name())]
    PlatformMismatch {
        image: String,
        has: Vec<String>,
        want: Platform,
        task_definition: String,
    },
    #[error("docker config: {0}")]
    DockerConfig(String),
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    #[error("cannot read {what}")]
    Read {
        what: String,
        #[source]
        source: Box<AwsError>,
    },
    #[error("ECR login failed")]
    Login(#[source] LoginError),
    #[error("image build failed")]
    Build(#[source] BuildError),
    #[error("cannot render the task definition: {0}")]
    Render(String),
    #[error("cannot register the new revision of task definition family `{family}`")]
    Register {
        family: String,
        #[source]
        source: Box<AwsError>,
    },
    #[error("cannot update service `{service}` in cluster `{cluster}` to {task_definition}")]
    Update {
        cluster: String,
        service: String,
        task_definition: String,
        #[source]
        source: Box<AwsError>,
        release: Box<BackendRelease>,
    },
    #[error("lost track of the rollout of service `{service}`")]
    Watch {
        service: String,
        #[source]
        source: Box<AwsError>,
        release: Box<BackendRelease>,
    },
    #[error("rollout of service `{service}` in cluster `{cluster}` failed\n{report}")]
    RolloutFailed {
        cluster: String,
        service: String,
        report: Box<Report>,
        release: Box<BackendRelease>,
    },
    #[error("rollout of service `{service}` in cluster `{cluster}` timed out\n{report}")]
    TimedOut {
        cluster: String,
        service: String,
        report: Box<Report>,
        release: Box<BackendRelease>,
    },
    /// `backend.pre-deploy` did not exit 0 (or timed out): the service was not updated.
    #[error("backend.pre-deploy: {summary}; service `{service}` was not updated")]
    PreDeploy {
        service: String,
        summary: String,
        timed_out: bool,
        /// Where its output is (`log group …, stream …`).
        log: Option<String>,
        release: Box<BackendRelease>,
    },
    #[error("backend.pre-deploy: cannot run the task")]
    PreDeployCall {
        #[source]
        source: Box<AwsError>,
        release: Box<BackendRelease>,
    },
    /// The write gate closed while the rollout was watched: the service rolls on in ECS.
    #[error("stopped watching the rollout of service `{service}`: {reason}")]
    Stopped {
        service: String,
        reason: crate::aws::gate::Closed,
        release: Box<BackendRelease>,
    },
}

/// `linux/amd64`, `linux/amd64, linux/s390x`, or what an index without images is.
fn platforms(has: &[String]) -> String {
    if has.is_empty() {
        "no platform (an index without images)".into()
    } else {
        has.join(", ")
    }
}

impl BackendError {
    /// What was registered/started before the failure, for the failed release record.
    pub(crate) fn partial_release(&self) -> Option<&BackendRelease> {
        match self {
            BackendError::Update { release, .. }
            | BackendError::Watch { release, .. }
            | BackendError::RolloutFailed { release, .. }
            | BackendError::TimedOut { release, .. }
            | BackendError::PreDeploy { release, .. }
            | BackendError::PreDeployCall { release, .. }
            | BackendError::Stopped { release, .. } => Some(release),
            _ => None,
        }
    }
}

fn kinds_help(report: &Report) -> Vec<String> {
    let mut kinds: Vec<CauseKind> = report.causes.iter().map(|c| c.kind).collect();
    kinds.sort();
    kinds.dedup();
    kinds
        .iter()
        .map(|k| format!("{}: {}", k.title(), k.help()))
        .collect()
}

impl Diagnose for BackendError {
    fn exit(&self) -> Exit {
        match self {
            BackendError::Source(_)
            | BackendError::TaskPlatform { .. }
            | BackendError::Dockerfile { .. }
            | BackendError::PlatformMismatch { .. }
            | BackendError::DockerConfig(_)
            | BackendError::NoCluster { .. }
            | BackendError::NoService { .. }
            | BackendError::NoRepository { .. }
            | BackendError::NoContainer { .. }
            | BackendError::Secrets(SecretsError::Missing(_))
            | BackendError::Build(BuildError::NoBuilder) => Exit::Usage,
            // The Dockerfile names an image that does not exist, or one the credentials given
            // cannot read: configuration. A registry that does not answer is not.
            BackendError::Base { source, .. } => match source.as_ref() {
                RegistryError::NotFound { .. } | RegistryError::Unauthorized { .. } => Exit::Usage,
                _ => Exit::Error,
            },
            BackendError::RolloutFailed { .. } => Exit::RolloutFailed,
            BackendError::TimedOut { .. } => Exit::TimedOut,
            BackendError::PreDeploy { timed_out, .. } => match timed_out {
                true => Exit::TimedOut,
                false => Exit::RolloutFailed,
            },
            _ => Exit::Error,
        }
    }

    fn help(&self) -> Option<String> {
        match self {
            BackendError::NoCluster { .. } | BackendError::NoService { .. } | BackendError::NoRepository { .. } => Some(
                "deckhand never creates base infrastructure: deploy infra/ (or fix the name in deckhand.yml, a flag or `stack:`); check the region too".into(),
            ),
            BackendError::Secrets(SecretsError::Missing(_)) => Some(
                "create the parameter (aws ssm put-parameter --type SecureString --name …) or fix backend.secrets".into(),
            ),
            BackendError::Secrets(SecretsError::Call(e)) => e.help(),
            BackendError::Read { source, .. } => source.help(),
            BackendError::Build(BuildError::NoBuilder) => Some(
                "install buildah (apt-get install buildah) or podman, start a docker daemon, or set backend.builder".into(),
            ),
            BackendError::Build(_) => Some("the builder's output above says why".into()),
            BackendError::PlatformMismatch { .. } => Some(
                "the source tag includes the platform, so this image was pushed under it by something else (or a builder that ignored --platform): delete the tag in ECR, or deploy with --force to build and push it again".into(),
            ),
            BackendError::Base { source, .. } => Some(match source.as_ref() {
                RegistryError::Unauthorized { .. } => "a private base image needs credentials in the docker config deckhand reads: set DOCKER_CONFIG (e.g. ${{ runner.temp }}/docker-config) in the job's env and log in to the registry in a step before deckhand (docker/login-action honours DOCKER_CONFIG)".into(),
                RegistryError::NotFound { .. } => "check the FROM line and the build args it uses (backend.build-args)".into(),
                _ => "the registry could not be read; the plan needs every FROM image's digest".into(),
            }),
            BackendError::Login(LoginError::Call(e)) => e.help(),
            BackendError::PreDeploy { log, release, .. } => {
                let mut lines = Vec::new();
                if let Some(log) = log {
                    lines.push(format!("its output: {log}"));
                }
                lines.push(format!(
                    "{} is registered but not deployed: fix the task (backend.pre-deploy) and deploy again; the service runs what it ran before",
                    crate::aws::short_td(&release.task_definition_arn)
                ));
                Some(lines.join("\n"))
            }
            BackendError::Register { source, .. }
            | BackendError::PreDeployCall { source, .. }
            | BackendError::Update { source, .. }
            | BackendError::Watch { source, .. } => source.help(),
            BackendError::RolloutFailed { report, .. } => {
                let mut lines = kinds_help(report);
                if report.rolled_back_to.is_some() {
                    lines.push("the service runs the previous task definition again; fix the cause and deploy again".into());
                }
                (!lines.is_empty()).then(|| lines.join("\n"))
            }
            BackendError::TimedOut { report, .. } => {
                let mut lines = kinds_help(report);
                lines.push("check capacity (container instances, CPU/memory), the deployment configuration (minimumHealthyPercent/maximumPercent) and the events above; raise backend.wait.timeout for slow starts".into());
                Some(lines.join("\n"))
            }
            _ => None,
        }
    }
}
