//! What `deckhand init` reads before it plans: the stack's outputs or the live service and its
//! task definition (AWS), and a few facts of the repository it writes into (git, files).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use aws_sdk_ecs::types::ContainerDefinition;

use super::error::InitError;
use crate::aws::AwsContext;
use crate::config::{StackOutputs, stack as outputs};
use crate::ecs::{self, Lookup};

/// One container of the service's task definition, as init sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Container {
    pub(crate) name: String,
    pub(crate) image: String,
    /// `environment`, in the task definition's order.
    pub(crate) environment: Vec<(String, String)>,
    /// `secrets`: variable -> `valueFrom` (an SSM parameter's ARN or name, or another service's).
    pub(crate) secrets: Vec<(String, String)>,
}

/// Where the names come from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Source {
    Stack {
        name: String,
        outputs: StackOutputs,
        /// The stack's parameters (the GitHub names its roles trust: super::trust).
        parameters: BTreeMap<String, String>,
    },
    Service,
}

/// Everything init read from AWS.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Live {
    pub(crate) source: Source,
    pub(crate) region: String,
    pub(crate) cluster: String,
    pub(crate) service: String,
    pub(crate) task_definition: String,
    pub(crate) containers: Vec<Container>,
}

/// The stack outputs `init --stack` needs: the names deckhand.yml's `stack:` fills, and the roles
/// the workflows assume.
pub(crate) const NEEDED_OUTPUTS: &[&str] = &[
    outputs::CLUSTER,
    outputs::SERVICE,
    outputs::REPOSITORY,
    outputs::BUCKET,
    DEPLOY_ROLE,
    PLAN_ROLE,
];
pub(crate) const DEPLOY_ROLE: &str = "DeployRoleArn";
pub(crate) const PLAN_ROLE: &str = "PlanRoleArn";

/// Reads the stack (when named), then the service and its task definition.
pub(crate) async fn live(
    ctx: &AwsContext,
    stack: Option<&str>,
    cluster: Option<&str>,
    service: Option<&str>,
) -> Result<Live, crate::commands::CommandError> {
    let (source, cluster, service) = match (stack, cluster, service) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => return Err(InitError::TwoSources.into()),
        (Some(name), None, None) => {
            let (outs, parameters) = crate::stack::read_with_parameters(ctx, name).await?;
            let missing: Vec<&str> = NEEDED_OUTPUTS
                .iter()
                .copied()
                .filter(|k| outs.get(k).is_none_or(str::is_empty))
                .collect();
            if !missing.is_empty() {
                return Err(InitError::MissingOutputs {
                    stack: name.to_string(),
                    missing: missing.join(", "),
                }
                .into());
            }
            let cluster = outs.get(outputs::CLUSTER).unwrap_or_default().to_string();
            let service = outs.get(outputs::SERVICE).unwrap_or_default().to_string();
            let source = Source::Stack {
                name: name.to_string(),
                outputs: outs,
                parameters,
            };
            (source, cluster, service)
        }
        (None, Some(c), Some(s)) => (Source::Service, c.to_string(), s.to_string()),
        _ => return Err(InitError::NoSource.into()),
    };
    let svc = match ecs::describe_service(ctx, &cluster, &service)
        .await
        .map_err(|source| InitError::Read {
            what: "service",
            name: format!("{cluster}/{service}"),
            source,
        })? {
        Lookup::Found(s) => s,
        Lookup::NoCluster => {
            return Err(InitError::NoCluster {
                cluster,
                region: ctx.region.clone(),
            }
            .into());
        }
        Lookup::NoService => return Err(InitError::NoService { cluster, service }.into()),
    };
    let task_definition = svc.task_definition().unwrap_or_default().to_string();
    let (td, _) = ecs::describe_task_definition(ctx, &task_definition)
        .await
        .map_err(|source| InitError::Read {
            what: "task definition",
            name: task_definition.clone(),
            source,
        })?;
    Ok(Live {
        source,
        region: ctx.region.clone(),
        cluster,
        service,
        task_definition,
        containers: td.container_definitions().iter().map(container).collect(),
    })
}

fn container(c: &ContainerDefinition) -> Container {
    Container {
        name: c.name().unwrap_or_default().to_string(),
        image: c.image().unwrap_or_default().to_string(),
        environment: c
            .environment()
            .iter()
            .map(|kv| {
                (
                    kv.name().unwrap_or_default().to_string(),
                    kv.value().unwrap_or_default().to_string(),
                )
            })
            .collect(),
        secrets: c
            .secrets()
            .iter()
            .map(|s| (s.name().to_string(), s.value_from().to_string()))
            .collect(),
    }
}

/// What init needs to know about the repository it writes into.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Repo {
    /// `origin`'s default branch (its HEAD), else the branch checked out.
    pub(crate) default_branch: Option<String>,
    /// `OWNER/REPO` of `origin` on github.com.
    pub(crate) github: Option<String>,
    /// Which of the paths init looks at exist (relative to the repository's root).
    pub(crate) existing: BTreeSet<PathBuf>,
}

impl Repo {
    pub(crate) fn has(&self, path: &Path) -> bool {
        self.existing.contains(&normal(path))
    }
}

/// `./a/b` and `a/b` are one path.
pub(crate) fn normal(path: &Path) -> PathBuf {
    path.components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect()
}

/// Reads the repository at `root`: git's view of its branches and remote, and which of `paths`
/// exist.
pub(crate) fn repo(root: &Path, paths: impl IntoIterator<Item = PathBuf>) -> Repo {
    let git = |args: &[&str]| -> Option<String> {
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(root)
            .args(args)
            .output()
            .ok()?;
        let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
        (out.status.success() && !text.is_empty()).then_some(text)
    };
    let default_branch = git(&["symbolic-ref", "--short", "refs/remotes/origin/HEAD"])
        .map(|b| b.trim_start_matches("origin/").to_string())
        .or_else(|| git(&["symbolic-ref", "--short", "HEAD"]));
    let github = git(&["remote", "get-url", "origin"]).and_then(|u| github_repo(&u));
    let existing = paths
        .into_iter()
        .filter(|p| root.join(p).exists())
        .map(|p| normal(&p))
        .collect();
    Repo {
        default_branch,
        github,
        existing,
    }
}

/// `OWNER/REPO` of a github.com remote URL (https or ssh), else None.
pub(crate) fn github_repo(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("https://github.com/")
        .or_else(|| url.strip_prefix("git@github.com:"))
        .or_else(|| url.strip_prefix("ssh://git@github.com/"))?;
    let rest = rest.trim_end_matches('/').trim_end_matches(".git");
    let mut parts = rest.split('/');
    let (owner, name) = (parts.next()?, parts.next()?);
    (parts.next().is_none() && !owner.is_empty() && !name.is_empty())
        .then(|| format!("{owner}/{name}"))
}
