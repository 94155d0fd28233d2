//! The sticky plan comment on a pull request.
//!
//! One comment per deckhand configuration: its body starts with a hidden marker naming the
//! config (and stack), the lookup reads every page of the PR's comments (`per_page=100`, following
//! the `Link` headers GitHub sends), and the newest marked comment is updated in place, else one is
//! created. A body over GitHub's 65,536-character limit is cut at a section boundary with a note
//! and a link to the run. Rate-limit and 5xx answers are retried by octocrab's retry layer.
//!
//! A leaf: this takes a Markdown string and who/what it is about, nothing of the layers above.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use octocrab::Octocrab;
use octocrab::models::issues::Comment;
use octocrab::service::middleware::retry::{RateLimitMetrics, RetryConfig};

/// GitHub's limit on an issue comment's body, in characters.
pub(crate) const MAX_BODY_CHARS: usize = 65_536;

#[derive(Debug, thiserror::Error)]
pub(crate) enum CommentError {
    #[error("no GITHUB_TOKEN in the environment")]
    NoToken,
    #[error("GITHUB_EVENT_PATH is not set: no pull request event to comment on")]
    NoEvent,
    #[error("GITHUB_REPOSITORY is {0:?}, not owner/name")]
    Repository(String),
    #[error("cannot read the event payload {}: {source}", path.display())]
    EventFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the event payload {} names no pull request number", path.display())]
    NoPullNumber { path: PathBuf },
    #[error("GITHUB_API_URL {url:?} is not a URL: {source}")]
    ApiUrl {
        url: String,
        #[source]
        source: Box<octocrab::Error>,
    },
    #[error("the token may not write comments on {repo}#{pr} (403 {message:?}): {cause}")]
    ReadOnly {
        repo: String,
        pr: u64,
        message: String,
        cause: ReadOnlyCause,
    },
    #[error("GitHub API: {op} on {repo}#{pr} failed: {message}")]
    Api {
        op: &'static str,
        repo: String,
        pr: u64,
        message: String,
    },
}

impl CommentError {
    /// Reasons to go without a comment that are not failures (exit 0): no token, no pull
    /// request, a read-only token (a fork's, or one the workflow's permissions leave read-only).
    pub(crate) fn is_expected(&self) -> bool {
        matches!(
            self,
            Self::NoToken | Self::NoEvent | Self::NoPullNumber { .. } | Self::ReadOnly { .. }
        )
    }
}

/// Why GitHub would hand this run a GITHUB_TOKEN that may not write comments, as far as the
/// event tells: what a 403 on a write is put down to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadOnlyCause {
    /// A `pull_request` event whose head is another repository's branch
    /// (`pull_request.head.repo.full_name` is not `pull_request.base.repo.full_name`, or the
    /// fork is gone): GitHub gives such a run a read-only token, whatever the workflow asks.
    Fork,
    /// A `pull_request` event of Dependabot's (`GITHUB_ACTOR` `dependabot[bot]`): read-only too.
    Dependabot,
    /// A branch of the base repository (or a `pull_request_target` event, whose token is the
    /// base repository's): the token is what the workflow's `permissions:` make it.
    Permissions,
    /// The payload does not say where the head is (an `issue_comment` event, no `head`/`base`).
    Unknown,
}

impl std::fmt::Display for ReadOnlyCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Fork => "a pull request from a fork gets a read-only GITHUB_TOKEN",
            Self::Dependabot => "a pull request of Dependabot's gets a read-only GITHUB_TOKEN",
            Self::Permissions => {
                "this pull request is not from a fork, so the workflow's `permissions:` leave \
                 the GITHUB_TOKEN read-only: give the job `permissions: pull-requests: write`"
            }
            Self::Unknown => {
                "the GITHUB_TOKEN is read-only (a pull request from a fork gets a read-only one; \
                 otherwise give the job `permissions: pull-requests: write`)"
            }
        })
    }
}

/// Where the comment goes, read from the Actions environment.
#[derive(Debug, Clone)]
pub(crate) struct PullRequest {
    pub(crate) api_url: String,
    token: String,
    pub(crate) owner: String,
    pub(crate) repo: String,
    pub(crate) number: u64,
    /// `GITHUB_SERVER_URL/GITHUB_REPOSITORY/actions/runs/GITHUB_RUN_ID`, when known.
    pub(crate) run_url: Option<String>,
    /// What a 403 on a write means for this run.
    pub(crate) read_only_cause: ReadOnlyCause,
}

/// Whether this process runs for a pull request event (then `plan` comments by default).
pub(crate) fn in_pull_request_event(env: &dyn Fn(&str) -> Option<String>) -> bool {
    matches!(
        env("GITHUB_EVENT_NAME").as_deref(),
        Some("pull_request" | "pull_request_target")
    )
}

/// The run's URL from the Actions environment.
pub(crate) fn run_url(env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    let server = env("GITHUB_SERVER_URL").unwrap_or_else(|| "https://github.com".into());
    let repo = env("GITHUB_REPOSITORY")?;
    let run = env("GITHUB_RUN_ID")?;
    Some(format!(
        "{}/{repo}/actions/runs/{run}",
        server.trim_end_matches('/')
    ))
}

impl PullRequest {
    /// Reads `GITHUB_API_URL`, `GITHUB_TOKEN`, `GITHUB_REPOSITORY`, and the PR number and where
    /// its head is from the `GITHUB_EVENT_PATH` payload. `env` is `std::env::var` in production.
    pub(crate) fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Result<Self, CommentError> {
        let env = |k: &str| env(k).filter(|v| !v.trim().is_empty());
        let token = env("GITHUB_TOKEN").ok_or(CommentError::NoToken)?;
        let full = env("GITHUB_REPOSITORY").unwrap_or_default();
        let (owner, repo) = full
            .split_once('/')
            .filter(|(o, r)| !o.is_empty() && !r.is_empty() && !r.contains('/'))
            .ok_or_else(|| CommentError::Repository(full.clone()))?;
        let event_path = PathBuf::from(env("GITHUB_EVENT_PATH").ok_or(CommentError::NoEvent)?);
        let event = event_payload(&event_path)?;
        let number = pull_number(&event).ok_or_else(|| CommentError::NoPullNumber {
            path: event_path.clone(),
        })?;
        let read_only_cause = read_only_cause(
            env("GITHUB_EVENT_NAME").as_deref(),
            env("GITHUB_ACTOR").as_deref(),
            &event,
        );
        Ok(Self {
            api_url: env("GITHUB_API_URL").unwrap_or_else(|| "https://api.github.com".into()),
            token,
            owner: owner.to_string(),
            repo: repo.to_string(),
            number,
            run_url: run_url(&env),
            read_only_cause,
        })
    }

    fn full_name(&self) -> String {
        format!("{}/{}", self.owner, self.repo)
    }
}

fn event_payload(path: &std::path::Path) -> Result<serde_json::Value, CommentError> {
    let text = std::fs::read_to_string(path).map_err(|source| CommentError::EventFile {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| CommentError::EventFile {
        path: path.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
    })
}

/// The PR number of a `pull_request`/`pull_request_target` (`number`, `pull_request.number`) or
/// `issue_comment` (`issue.number`) event payload.
fn pull_number(v: &serde_json::Value) -> Option<u64> {
    [
        &v["pull_request"]["number"],
        &v["number"],
        &v["issue"]["number"],
    ]
    .into_iter()
    .find_map(serde_json::Value::as_u64)
}

/// Why a token of this event may not write: a `pull_request` from a fork or of Dependabot's gets
/// a read-only token; otherwise it is the workflow's `permissions:`. A head whose repository is
/// gone (`head.repo` null) was a fork's; `head.repo.fork` alone does not tell (a fork's own
/// branches are in a repository that is a fork too), the two full names do.
fn read_only_cause(
    event_name: Option<&str>,
    actor: Option<&str>,
    event: &serde_json::Value,
) -> ReadOnlyCause {
    let pr = &event["pull_request"];
    let base = pr["base"]["repo"]["full_name"].as_str();
    let head = &pr["head"];
    let from_fork = match (head.get("repo"), base) {
        (Some(serde_json::Value::Null), Some(_)) => Some(true),
        (Some(repo), Some(base)) => repo["full_name"]
            .as_str()
            .map(|h| !h.eq_ignore_ascii_case(base)),
        _ => None,
    };
    match (event_name, from_fork) {
        (Some("pull_request"), Some(true)) => ReadOnlyCause::Fork,
        (Some("pull_request"), _) if actor == Some("dependabot[bot]") => ReadOnlyCause::Dependabot,
        (Some("pull_request"), Some(false)) | (Some("pull_request_target"), _) => {
            ReadOnlyCause::Permissions
        }
        _ => ReadOnlyCause::Unknown,
    }
}

/// What the comment is about: which config/stack (the marker), the commit planned and when.
#[derive(Debug, Clone)]
pub(crate) struct Identity {
    /// Names the config and stack, e.g. `deckhand.yml` or `infra/deckhand.yml stack=spa-ecs`.
    pub(crate) key: String,
    pub(crate) commit: Option<String>,
    /// When the plan was made (RFC 3339).
    pub(crate) planned_at: String,
}

impl Identity {
    /// The hidden first line of the comment: `<!-- deckhand-plan: KEY -->`.
    pub(crate) fn marker(&self) -> String {
        // A key cannot end the HTML comment early.
        let key: String = self
            .key
            .replace("--", "-")
            .chars()
            .filter(|c| !matches!(c, '<' | '>' | '\n' | '\r'))
            .collect();
        format!("<!-- deckhand-plan: {} -->", key.trim())
    }
}

/// What `upsert` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    Created { id: u64, url: String },
    Updated { id: u64, url: String },
}

impl Outcome {
    pub(crate) fn url(&self) -> &str {
        match self {
            Self::Created { url, .. } | Self::Updated { url, .. } => url,
        }
    }
}

/// The full comment body: marker, the plan (cut to fit if needed), the commit and time.
pub(crate) fn body(identity: &Identity, markdown: &str, run_url: Option<&str>) -> String {
    let head = format!("{}\n", identity.marker());
    let commit = identity
        .commit
        .as_deref()
        .map(|c| format!("commit `{}`", &c[..c.len().min(12)]))
        .unwrap_or_else(|| "the working tree".into());
    let run = run_url
        .map(|u| format!(" · [run]({u})"))
        .unwrap_or_default();
    let foot = format!(
        "\n\n<sub>deckhand plan of {commit} · {} · `{}`{run}</sub>\n",
        identity.planned_at,
        identity.key.replace('`', "'"),
    );
    let markdown = markdown.trim_end();
    let room = MAX_BODY_CHARS.saturating_sub(chars(&head) + chars(&foot));
    if chars(markdown) <= room {
        return format!("{head}{markdown}{foot}");
    }
    let note = |cut_at: usize| {
        let whole = run_url.map_or_else(
            || "in the job summary and the log of this run".to_string(),
            |u| format!("in the job summary and the log of [the run]({u})"),
        );
        format!(
            "\n\n> [!NOTE]\n> The plan is {} characters, over GitHub's {MAX_BODY_CHARS}-character \
             limit for a comment: it is cut after {cut_at} characters. The whole plan is {whole}.",
            chars(markdown),
        )
    };
    // The note's length barely depends on the number in it; leave room for the widest.
    let room = room.saturating_sub(chars(&note(markdown.len())));
    let cut = cut(markdown, room);
    let kept = chars(&cut);
    format!("{head}{cut}{}{foot}", note(kept))
}

fn chars(s: &str) -> usize {
    s.chars().count()
}

/// The longest prefix of `markdown` of at most `room` characters that ends at a section
/// boundary: before a heading or a `<details>` or after a `</details>`, outside code fences and
/// at the top level. When no boundary fits, it ends at a line, and the open code fence and
/// `<details>` elements are closed.
fn cut(markdown: &str, room: usize) -> String {
    struct Line<'a> {
        start_chars: usize,
        end_chars: usize,
        text: &'a str,
    }
    let mut lines = Vec::new();
    let mut pos = 0;
    for text in markdown.split_inclusive('\n') {
        let n = chars(text);
        lines.push(Line {
            start_chars: pos,
            end_chars: pos + n,
            text,
        });
        pos += n;
    }
    let mut fence = false;
    let mut depth = 0usize;
    let mut best_section: Option<usize> = None; // number of lines kept
    let mut best_line: Option<(usize, bool, usize)> = None; // (lines, in fence, details depth)
    for (i, line) in lines.iter().enumerate() {
        let t = line.text.trim_start();
        // A cut before this line?
        if line.start_chars <= room {
            let boundary = !fence
                && depth == 0
                && (t.starts_with('#') || t.starts_with("<details") || t.starts_with("---"));
            if boundary && i > 0 {
                best_section = Some(i);
            }
            best_line = Some((i, fence, depth));
        }
        if t.starts_with("```") {
            fence = !fence;
        } else if !fence {
            depth += t.matches("<details").count();
            depth = depth.saturating_sub(t.matches("</details>").count());
        }
        // A cut after this line, once a `<details>` closed to the top level?
        if line.end_chars <= room && !fence && depth == 0 && t.starts_with("</details>") {
            best_section = Some(i + 1);
        }
    }
    if let Some(n) = best_section {
        return lines[..n].iter().map(|l| l.text).collect::<String>();
    }
    // No section fits: cut at a line and close what is open.
    let closers = |fence: bool, depth: usize| {
        let mut s = String::new();
        if fence {
            s.push_str("```\n");
        }
        s.push_str(&"</details>\n".repeat(depth));
        s
    };
    let mut n = best_line.map_or(0, |(n, _, _)| n);
    loop {
        let (fence, depth) = state_after(&lines[..n].iter().map(|l| l.text).collect::<Vec<_>>());
        let kept: String = lines[..n].iter().map(|l| l.text).collect();
        let closed = format!("{kept}{}", closers(fence, depth));
        if chars(&closed) <= room || n == 0 {
            return if n == 0 { String::new() } else { closed };
        }
        n -= 1;
    }
}

fn state_after(lines: &[&str]) -> (bool, usize) {
    let mut fence = false;
    let mut depth = 0usize;
    for line in lines {
        let t = line.trim_start();
        if t.starts_with("```") {
            fence = !fence;
        } else if !fence {
            depth += t.matches("<details").count();
            depth = depth.saturating_sub(t.matches("</details>").count());
        }
    }
    (fence, depth)
}

/// Logs what octocrab's retry layer (`RetryConfig::HandleRateLimits`) does with an answer.
///
/// As octocrab 0.54 calls it, per request while retries are left: `retry_after_error` for a 5xx
/// (retried at once) and for a 403 without rate-limit headers (`retry-after`, or
/// `x-ratelimit-remaining: 0` with a reset time), which with `retry_on_forbidden: false` is NOT
/// retried; `rate_limited` for a 429 or a rate-limited 403, retried after the wait. A transport
/// error is retried without a call, and nothing is called once the retries are spent.
struct LogRetries;

impl RateLimitMetrics for LogRetries {
    fn retry_after_error(
        &self,
        req: &http::Request<octocrab::OctoBody>,
        status: http::StatusCode,
        left: usize,
    ) {
        let (method, path) = (req.method(), req.uri().path());
        if status.is_server_error() {
            tracing::warn!(
                "GitHub answered {status} to {method} {path}; retrying ({left} retries left)"
            );
        } else {
            // The answer itself becomes the error the caller reports.
            tracing::debug!(
                "GitHub answered {status} to {method} {path} without rate-limit headers: not a \
                 rate limit, not retried"
            );
        }
    }

    fn rate_limited(
        &self,
        req: &http::Request<octocrab::OctoBody>,
        status: http::StatusCode,
        left: usize,
        wait: u64,
    ) {
        tracing::warn!(
            "GitHub rate limit ({status}) on {} {}: waiting {wait}s ({left} retries left)",
            req.method(),
            req.uri().path()
        );
    }
}

fn client(pr: &PullRequest) -> Result<Octocrab, CommentError> {
    let api_err = |e: octocrab::Error| CommentError::ApiUrl {
        url: pr.api_url.clone(),
        source: Box::new(e),
    };
    Octocrab::builder()
        .base_uri(pr.api_url.as_str())
        .map_err(api_err)?
        .personal_token(pr.token.clone())
        .add_retry_config(RetryConfig::HandleRateLimits {
            metrics: Arc::new(LogRetries),
            max_retries: 4,
            // GitHub: after a secondary rate limit without retry-after, wait at least a minute.
            min_wait_seconds: 60,
            retry_on_forbidden: false,
        })
        .set_connect_timeout(Some(Duration::from_secs(10)))
        .set_read_timeout(Some(Duration::from_secs(30)))
        .build()
        .map_err(api_err)
}

/// Creates the plan comment or updates the newest comment with this identity's marker.
pub(crate) async fn upsert(
    pr: &PullRequest,
    identity: &Identity,
    markdown: &str,
) -> Result<Outcome, CommentError> {
    let octo = client(pr)?;
    let marker = identity.marker();
    let text = body(identity, markdown, pr.run_url.as_deref());
    let api = |op: &'static str| {
        let repo = pr.full_name();
        move |e: octocrab::Error| match &e {
            octocrab::Error::GitHub { source, .. } if source.status_code.as_u16() == 403 => {
                CommentError::ReadOnly {
                    repo,
                    pr: pr.number,
                    message: source.message.clone(),
                    cause: pr.read_only_cause,
                }
            }
            _ => CommentError::Api {
                op,
                repo,
                pr: pr.number,
                message: describe(&e),
            },
        }
    };
    let issues = octo.issues(&pr.owner, &pr.repo);
    let mut page = issues
        .list_comments(pr.number)
        .per_page(100)
        .send()
        .await
        .map_err(api("listing comments"))?;
    let mut newest: Option<Comment> = None;
    let mut pages = 1;
    loop {
        for c in page.take_items() {
            let marked = c
                .body
                .as_deref()
                .is_some_and(|b| b.trim_start().starts_with(&marker));
            if marked
                && newest
                    .as_ref()
                    .is_none_or(|n| (c.created_at, c.id) > (n.created_at, n.id))
            {
                newest = Some(c);
            }
        }
        match octo
            .get_page::<Comment>(&page.next)
            .await
            .map_err(api("listing comments"))?
        {
            Some(next) => {
                page = next;
                pages += 1;
            }
            None => break,
        }
    }
    tracing::debug!("read {pages} page(s) of comments on {}", pr.full_name());
    match newest {
        Some(c) => {
            // PATCH, as GitHub documents it (octocrab's `update_comment` POSTs).
            let route = format!("/repos/{}/{}/issues/comments/{}", pr.owner, pr.repo, c.id);
            let updated: Comment = octo
                .patch(route, Some(&serde_json::json!({ "body": text })))
                .await
                .map_err(api("updating the plan comment"))?;
            Ok(Outcome::Updated {
                id: updated.id.0,
                url: updated.html_url.to_string(),
            })
        }
        None => {
            let created = issues
                .create_comment(pr.number, text)
                .await
                .map_err(api("creating the plan comment"))?;
            Ok(Outcome::Created {
                id: created.id.0,
                url: created.html_url.to_string(),
            })
        }
    }
}

/// octocrab's errors print their source chain badly; name status and message when GitHub
/// answered.
fn describe(e: &octocrab::Error) -> String {
    match e {
        octocrab::Error::GitHub { source, .. } => {
            let mut s = format!("{} {}", source.status_code, source.message);
            for detail in source.errors.iter().flatten() {
                if let Some(m) = detail.get("message").and_then(|m| m.as_str()) {
                    s.push_str(&format!(": {m}"));
                }
            }
            s
        }
        other => {
            let mut s = other.to_string();
            let mut src = std::error::Error::source(other);
            while let Some(inner) = src {
                s.push_str(&format!(": {inner}"));
                src = inner.source();
            }
            s
        }
    }
}

impl crate::diagnose::Diagnose for CommentError {
    fn help(&self) -> Option<String> {
        Some(
            "the plan is in the job summary and the log; give the job `permissions: \
pull-requests: write` and GITHUB_TOKEN, or run with --comment=false"
                .into(),
        )
    }
}

#[cfg(test)]
mod tests;
