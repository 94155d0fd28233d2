//! GitHub deployments: each release deckhand applies (deploy, promote, rollback) is a deployment
//! of its environment on the commit, with statuses `in_progress` -> `success` / `failure`, the
//! run as its `log_url` and the release id in its payload; a rollback marks the deployment of
//! the release it rolled back `inactive`. REST API "Deployments" and "Deployment statuses"
//! (docs.github.com/en/rest/deployments): `POST /repos/{owner}/{repo}/deployments` (`ref`,
//! `environment`, `payload`, `auto_merge`, `required_contexts`: false and [] so no merge and no
//! status check stands in the way of recording what was done), `POST …/deployments/{id}/statuses`
//! (`state`, `log_url`, `description` of at most 140 characters).
//!
//! A job that names an `environment:` gets a deployment from Actions itself ("Using environments
//! for deployment": the job's deployment, whose statuses link the run): when the commit has a
//! deployment of this environment whose status links this run, deckhand creates none — never two
//! deployments for one run. Without a token, or without `deployments: write`, the release goes on
//! and the caller says why.

use octocrab::Octocrab;
use serde_json::{Value, json};

/// A deployment deckhand created, to set its statuses.
pub(crate) struct Handle {
    client: Octocrab,
    repo: String,
    id: u64,
    log_url: Option<String>,
    environment_url: Option<String>,
}

/// What [`start`] did.
pub(crate) enum Start {
    Created(Handle),
    /// The job's own deployment (Actions made it): deckhand creates none.
    JobHas(u64),
    /// No deployment, and why (no token, no permission, an API error).
    Skipped(String),
}

fn env(k: &str) -> Option<String> {
    std::env::var(k).ok().filter(|v| !v.trim().is_empty())
}

fn describe(e: &octocrab::Error) -> String {
    match e {
        octocrab::Error::GitHub { source, .. } => {
            let status = source.status_code.as_u16();
            if status == 403 || status == 404 {
                format!(
                    "GitHub answered {status} ({}): the token may not write deployments (the job needs `permissions: deployments: write`)",
                    source.message
                )
            } else {
                format!("GitHub answered {status}: {}", source.message)
            }
        }
        other => other.to_string(),
    }
}

/// The client, repository and commit from the Actions environment (`GITHUB_TOKEN`,
/// `GITHUB_REPOSITORY`, `GITHUB_SHA`, `GITHUB_API_URL`).
fn client() -> Result<(Octocrab, String, String), String> {
    let token = env("GITHUB_TOKEN").ok_or("no GITHUB_TOKEN")?;
    let repo = env("GITHUB_REPOSITORY").ok_or("no GITHUB_REPOSITORY")?;
    let sha = env("GITHUB_SHA").ok_or("no GITHUB_SHA")?;
    let api = env("GITHUB_API_URL").unwrap_or_else(|| "https://api.github.com".into());
    let client = Octocrab::builder()
        .base_uri(api.as_str())
        .map_err(|e| e.to_string())?
        .personal_token(token)
        .set_connect_timeout(Some(std::time::Duration::from_secs(10)))
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .build()
        .map_err(|e| e.to_string())?;
    Ok((client, repo, sha))
}

/// At most 140 characters (GitHub refuses a longer status description).
fn short(s: &str) -> String {
    s.chars().take(140).collect()
}

/// The deployment of `environment` on this commit whose statuses link this run (the job's own).
async fn the_jobs(client: &Octocrab, repo: &str, sha: &str, environment: &str) -> Option<u64> {
    let run = format!("/actions/runs/{}", env("GITHUB_RUN_ID")?);
    let list: Value = client
        .get(
            format!("/repos/{repo}/deployments"),
            Some(&json!({"sha": sha, "environment": environment, "per_page": 10})),
        )
        .await
        .ok()?;
    for d in list.as_array()? {
        let id = d["id"].as_u64()?;
        let statuses: Value = client
            .get(
                format!("/repos/{repo}/deployments/{id}/statuses"),
                None::<&()>,
            )
            .await
            .ok()?;
        let links_run = statuses.as_array().into_iter().flatten().any(|s| {
            ["log_url", "target_url"]
                .iter()
                .any(|k| s[*k].as_str().is_some_and(|u| u.contains(&run)))
        });
        if links_run {
            return Some(id);
        }
    }
    None
}

/// Creates the deployment of `release_id` to `environment` (`in_progress`), unless the job has
/// its own. `url` (the site's, from the stack outputs) is each status's `environment_url`.
pub(crate) async fn start(
    environment: &str,
    release_id: &str,
    description: &str,
    url: Option<&str>,
) -> Start {
    let (client, repo, sha) = match client() {
        Ok(c) => c,
        Err(why) => return Start::Skipped(why),
    };
    if let Some(id) = the_jobs(&client, &repo, &sha, environment).await {
        return Start::JobHas(id);
    }
    let created: Result<Value, _> = client
        .post(
            format!("/repos/{repo}/deployments"),
            Some(&json!({
                "ref": sha,
                "environment": environment,
                "description": short(description),
                "payload": {"release_id": release_id, "deckhand": true},
                "auto_merge": false,
                "required_contexts": [],
                "production_environment": environment == "production",
            })),
        )
        .await;
    let id = match created {
        Ok(v) => match v["id"].as_u64() {
            Some(id) => id,
            None => return Start::Skipped(format!("GitHub answered no deployment id: {v}")),
        },
        Err(e) => return Start::Skipped(describe(&e)),
    };
    let handle = Handle {
        client,
        repo,
        id,
        log_url: crate::github::comment::run_url(&env),
        environment_url: url.map(str::to_string),
    };
    match status(&handle, "in_progress", description).await {
        Ok(()) => Start::Created(handle),
        Err(why) => Start::Skipped(why),
    }
}

/// Adds a status (`state`) to the deployment.
pub(crate) async fn status(h: &Handle, state: &str, description: &str) -> Result<(), String> {
    let mut body = json!({"state": state, "description": short(description)});
    if let Some(url) = &h.log_url {
        body["log_url"] = json!(url);
    }
    // "Create a deployment status": environment_url, "Sets the URL for accessing your
    // environment" (docs.github.com/en/rest/deployments/statuses).
    if let Some(url) = &h.environment_url {
        body["environment_url"] = json!(url);
    }
    h.client
        .post::<_, Value>(
            format!("/repos/{}/deployments/{}/statuses", h.repo, h.id),
            Some(&body),
        )
        .await
        .map(|_| ())
        .map_err(|e| describe(&e))
}

/// Marks the deployments of `release_id` (in `environment`) `inactive`: what a rollback took back.
pub(crate) async fn inactive(
    h: &Handle,
    environment: &str,
    release_id: &str,
) -> Result<(), String> {
    let list: Value = h
        .client
        .get(
            format!("/repos/{}/deployments", h.repo),
            Some(&json!({"environment": environment, "per_page": 100})),
        )
        .await
        .map_err(|e| describe(&e))?;
    for d in list.as_array().into_iter().flatten() {
        if d["payload"]["release_id"].as_str() != Some(release_id) {
            continue;
        }
        let Some(id) = d["id"].as_u64() else { continue };
        h.client
            .post::<_, Value>(
                format!("/repos/{}/deployments/{id}/statuses", h.repo),
                Some(&json!({"state": "inactive", "description": short(&format!("rolled back (release {release_id})"))})),
            )
            .await
            .map_err(|e| describe(&e))?;
    }
    Ok(())
}
