//! Whether the roles of an `infra/` stack trust the jobs of the workflows init writes. DeployRole
//! and PlanRole trust only the OIDC subjects made of the stack's parameters `GitHubRepository`,
//! `GitHubDefaultBranch` and `GitHubDeployEnvironment` (infra/lib/spa-ecs-stack.ts; GitHub's
//! token carries `repo`, `environment` and `ref` of the job: docs.github.com, "OpenID Connect
//! reference", subject claims). Workflows for another branch, environment or repository would be
//! refused at their first AssumeRoleWithWebIdentity, after the first push: init refuses instead.

use super::error::InitError;
use super::read::{Repo, Source};

/// The repository as the stack names it, without the ids of GitHub's immutable subject form
/// (`owner@OWNER_ID/name@REPO_ID`), lowercased: GitHub's names are case-insensitive.
fn repository_name(s: &str) -> String {
    s.split('/')
        .map(|part| part.split('@').next().unwrap_or(part))
        .collect::<Vec<_>>()
        .join("/")
        .to_ascii_lowercase()
}

/// Checks the stack's trusted names against what the workflows will be written with; a parameter
/// the stack does not have (another stack than infra/'s) is not checked.
pub(crate) fn check(
    source: &Source,
    repo: &Repo,
    branch: &str,
    environment: &str,
) -> Result<(), InitError> {
    let Source::Stack {
        name: stack,
        parameters,
        ..
    } = source
    else {
        return Ok(()); // a live service: no roles of a stack to compare with
    };
    let repository = repo.github.as_deref();
    let mut differ = Vec::new();
    if let Some(trusted) = parameters.get("GitHubDefaultBranch")
        && trusted != branch
    {
        differ.push(format!(
            "GitHubDefaultBranch is `{trusted}`, the workflows deploy from `{branch}` \
             (--branch {trusted}, or --parameters GitHubDefaultBranch={branch})"
        ));
    }
    if let Some(trusted) = parameters.get("GitHubDeployEnvironment")
        && trusted != environment
    {
        differ.push(format!(
            "GitHubDeployEnvironment is `{trusted}`, the workflows deploy in `{environment}` \
             (--environment {trusted}, or --parameters GitHubDeployEnvironment={environment})"
        ));
    }
    if let (Some(trusted), Some(repo)) = (parameters.get("GitHubRepository"), repository)
        && repository_name(trusted) != repository_name(repo)
    {
        differ.push(format!(
            "GitHubRepository is `{trusted}`, origin is `{repo}` \
             (--parameters GitHubRepository={repo}, as its OIDC subject names it)"
        ));
    }
    if differ.is_empty() {
        return Ok(());
    }
    Err(InitError::Untrusted {
        stack: stack.to_string(),
        differ: differ.join("; "),
    })
}
