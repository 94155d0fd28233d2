//! What `deckhand init` prints: the files it wrote, what it left out of deckhand.yml, and the
//! GitHub settings still to make, as `gh` commands in the order docs/getting-started.md makes
//! them.

use std::fmt;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::plan::InitPlan;

/// What a path segment of a GitHub API URL keeps as it is: RFC 3986's unreserved characters. An
/// environment's name may hold others (a space, `/`, non-ASCII): GitHub's "Create or update an
/// environment" takes it as the URL's `{environment_name}` segment, URL-encoded (docs.github.com,
/// "REST API endpoints for deployment environments": "The name of the environment. The name must
/// be URL encoded. For example, any slashes in the name must be replaced with %2F").
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `s` as one path segment of an API URL.
fn segment(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT).to_string()
}

/// A shell word, single-quoted when it needs to be.
fn sh(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:@=,%".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

impl fmt::Display for InitPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for file in &self.files {
            let verb = if self.overwrites.contains(&file.path) {
                "replaced"
            } else {
                "wrote"
            };
            writeln!(f, "{verb} {}", file.path.display())?;
        }
        if !self.notes.is_empty() {
            writeln!(f, "\nleft out of deckhand.yml:")?;
            for n in &self.notes {
                writeln!(f, "  - {n}")?;
            }
        }
        let g = &self.github;
        let repo = g.repository.as_deref().unwrap_or("OWNER/REPO");
        let env = &g.environment;
        // Two environments: staging's settings, then production's (each its own branch policy,
        // role and secrets).
        let envs: Vec<&str> = g
            .staging
            .iter()
            .map(String::as_str)
            .chain([env.as_str()])
            .collect();
        writeln!(
            f,
            "\nStill to do on GitHub for {repo} (docs/getting-started.md, \"GitHub\"), before the first push:"
        )?;
        writeln!(
            f,
            "  1. the OIDC subject the roles trust (once per repository):"
        )?;
        writeln!(
            f,
            "       gh api -X PUT repos/{repo}/actions/oidc/customization/sub --input - <<'JSON'"
        )?;
        writeln!(f, "       {}", g.oidc_subject)?;
        writeln!(f, "       JSON")?;
        for env in &envs {
            let approval = if g.staging.as_deref() == Some(*env) {
                "deploys on every push"
            } else if g.staging.is_some() {
                "its required reviewers approve each promotion: Settings -> Environments -> production"
            } else {
                "required reviewers, if deploys need an approval: Settings -> Environments -> production"
            };
            writeln!(
                f,
                "  2. the environment `{env}`, deployments from `{}` only ({}):",
                g.branch,
                approval.replace("production", env)
            )?;
            let path = sh(&format!("repos/{repo}/environments/{}", segment(env)));
            writeln!(f, "       gh api -X PUT {path} --input - <<'JSON'")?;
            writeln!(
                f,
                "       {{\"deployment_branch_policy\":{{\"protected_branches\":false,\"custom_branch_policies\":true}}}}"
            )?;
            writeln!(f, "       JSON")?;
            // The PUT's body sets no `reviewers`: the environment requires no approval until it
            // lists some (up to six users or teams, each {"type":"User"|"Team","id":N}: "Create or
            // update an environment", docs.github.com).
            writeln!(
                f,
                "       # this sets no required reviewers: for an approval before each job, add \
                 \"reviewers\":[{{\"type\":\"User\",\"id\":ID}}] to the JSON (ID: gh api users/LOGIN --jq .id; \
                 \"Team\" and gh api orgs/ORG/teams/SLUG --jq .id for a team; up to six)"
            )?;
            writeln!(
                f,
                "       gh api -X POST {path}/deployment-branch-policies -f name={} -f type=branch",
                sh(&g.branch)
            )?;
        }
        writeln!(f, "  3. repository variables (the workflows read them):")?;
        for v in &g.variables {
            let scope = match &v.environment {
                Some(e) => format!("--repo {repo} --env {}", sh(e)),
                None => format!("--repo {repo}"),
            };
            match &v.value {
                Some(value) => writeln!(
                    f,
                    "       gh variable set {} {scope} --body {}   # {}",
                    v.name,
                    sh(value),
                    v.what
                )?,
                None => writeln!(
                    f,
                    "       gh variable set {} {scope} --body ARN   # {}: create it first",
                    v.name, v.what
                )?,
            }
        }
        if g.secrets.is_empty() {
            writeln!(
                f,
                "  4. no secrets: deckhand.yml names none (backend.secrets)"
            )?;
        } else {
            writeln!(
                f,
                "  4. the environment's secrets (deploy.yml's `secrets sync` writes them to SSM; gh prompts for each value):"
            )?;
            for env in &envs {
                for s in &g.secrets {
                    writeln!(
                        f,
                        "       gh secret set {s} --repo {repo} --env {}",
                        sh(env)
                    )?;
                }
            }
        }
        Ok(())
    }
}
