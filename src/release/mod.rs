//! Release records (`_deckhand/releases/<id>.json`), release ids, git metadata and the lock's
//! body: the model. Reading and writing them are the steps [`store`] and [`lock`] (their errors
//! in [`error`]); this module imports neither.

pub(crate) mod error;
pub(crate) mod history;
pub(crate) mod lock;
pub(crate) mod store;

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::Digest as _;

/// Prefix deckhand owns in the state bucket; never uploaded from the site dir, never served.
pub(crate) const STATE_PREFIX: &str = "_deckhand/";
/// Content-addressed copies of mutable site files, for rollback by server-side copy.
pub(crate) const OBJECTS_PREFIX: &str = "_deckhand/objects/";
/// Release records, one JSON file per release id.
pub(crate) const RELEASES_PREFIX: &str = "_deckhand/releases/";

/// Where the release came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub(crate) struct GitInfo {
    pub(crate) sha: Option<String>,
    #[serde(rename = "ref")]
    pub(crate) git_ref: Option<String>,
    pub(crate) actor: Option<String>,
    pub(crate) run_url: Option<String>,
}

impl GitInfo {
    /// From GitHub Actions' environment, else from the local git checkout.
    pub(crate) fn detect() -> Self {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let run_url = match (
            env("GITHUB_SERVER_URL"),
            env("GITHUB_REPOSITORY"),
            env("GITHUB_RUN_ID"),
        ) {
            (Some(server), Some(repo), Some(run)) => {
                Some(format!("{server}/{repo}/actions/runs/{run}"))
            }
            _ => None,
        };
        let git = |args: &[&str]| {
            std::process::Command::new("git")
                .args(args)
                .stderr(std::process::Stdio::null())
                .output()
                .ok()
                .filter(|o| o.status.success())
                .and_then(|o| String::from_utf8(o.stdout).ok())
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
        };
        Self {
            sha: env("GITHUB_SHA").or_else(|| git(&["rev-parse", "HEAD"])),
            git_ref: env("GITHUB_REF").or_else(|| git(&["symbolic-ref", "-q", "HEAD"])),
            actor: env("GITHUB_ACTOR")
                .or_else(|| git(&["config", "user.name"]))
                .or_else(|| env("USER")),
            run_url,
        }
    }

    pub(crate) fn short_sha(&self) -> String {
        self.sha
            .as_deref()
            .map_or_else(|| "nogit".to_string(), |s| s.chars().take(7).collect())
    }
}

/// A release id: UTC timestamp (ms) + short git sha, e.g. `20261125T195501123Z-1a2b3c4`. Sorts by time.
pub(crate) fn new_release_id(now: chrono::DateTime<chrono::Utc>, git: &GitInfo) -> String {
    format!("{}-{}", now.format("%Y%m%dT%H%M%S%3fZ"), git.short_sha())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum ReleaseStatus {
    InProgress,
    Succeeded,
    Failed,
    /// The command was interrupted (SIGINT/SIGTERM): the record says what was live then.
    Cancelled,
}

impl std::fmt::Display for ReleaseStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ReleaseStatus::InProgress => "in-progress",
            ReleaseStatus::Succeeded => "succeeded",
            ReleaseStatus::Failed => "failed",
            ReleaseStatus::Cancelled => "cancelled",
        })
    }
}

/// The backend half of a release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct BackendRelease {
    pub(crate) cluster: String,
    pub(crate) service: String,
    /// `repo@sha256:…`
    pub(crate) image: String,
    pub(crate) source_tag: String,
    pub(crate) task_definition_arn: String,
    /// The ECS deployment (`ecs-svc/…`) this release started, if it started one.
    pub(crate) deployment_id: Option<String>,
    pub(crate) status: ReleaseStatus,
    /// Why it failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) failure: Option<String>,
    /// The task definition as registered (RegisterTaskDefinition input), so a rollback can
    /// register it again when its revision was deregistered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) task_definition: Option<serde_json::Value>,
    /// Per deployed container (`backend.container`), the environment variables and secrets
    /// deckhand set on this revision (by name): its managed keys. A managed key that leaves the
    /// configuration is removed from the next revision; a key no record names is kept. A record
    /// without it (an older deckhand's) manages nothing.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) managed: BTreeMap<String, ManagedKeys>,
    /// The version of each SSM parameter the revision names (parameter name -> version), read
    /// with DescribeParameters when the release was planned: the values its tasks started with.
    /// A newer version rolls the service. Empty in an older deckhand's record: unknown.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) parameter_versions: BTreeMap<String, i64>,
}

/// The names deckhand set in one container: its managed environment variables and secrets.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ManagedKeys {
    #[serde(default, skip_serializing_if = "std::collections::BTreeSet::is_empty")]
    pub(crate) environment: std::collections::BTreeSet<String>,
    #[serde(default, skip_serializing_if = "std::collections::BTreeSet::is_empty")]
    pub(crate) secrets: std::collections::BTreeSet<String>,
}

/// One published file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ManifestEntry {
    pub(crate) sha256: String,
    pub(crate) size: u64,
    pub(crate) content_type: String,
    pub(crate) cache_control: String,
    /// The object's ETag when it was published (drift detection against ListObjectsV2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) etag: Option<String>,
    /// Whether the name carries a content hash (`frontend.hashed-names`): immutable, restored in
    /// place; otherwise mutable, stored under `_deckhand/objects/<sha256>` and restored from there.
    /// Absent in records written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) hashed: Option<bool>,
}

impl ManifestEntry {
    /// Whether a rollback finds this file in place under its own key (a hashed name) rather than
    /// in the objects store. Records without `hashed` follow the rule they were written with:
    /// an immutable Cache-Control on anything but HTML (no stored copy was made for those).
    pub(crate) fn in_place(&self, key: &str) -> bool {
        let html = {
            let lower = key.to_ascii_lowercase();
            lower.ends_with(".html") || lower.ends_with(".htm")
        };
        !html
            && self
                .hashed
                .unwrap_or_else(|| self.cache_control.contains("immutable"))
    }
}

/// The frontend half of a release: key -> what was published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SiteRelease {
    pub(crate) bucket: String,
    pub(crate) files: BTreeMap<String, ManifestEntry>,
    pub(crate) status: ReleaseStatus,
    /// Why the publish failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) failure: Option<String>,
    /// What is left to do after the files are live: the CloudFront invalidation and the garbage
    /// collection. The record is written with it before they run and written again without it
    /// once they did; still there, the next frontend deploy (or rollback) carries it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) pending: Option<SitePending>,
}

/// The invalidation and garbage collection a site publish has not completed yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SitePending {
    /// The distribution and paths of the invalidation not yet created (None: none pending).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) distribution: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) paths: Vec<String>,
    /// The garbage collection did not run.
    #[serde(default)]
    pub(crate) gc: bool,
}

impl SitePending {
    /// Nothing left to do.
    pub(crate) fn is_done(&self) -> bool {
        self.paths.is_empty() && !self.gc
    }
}

/// `_deckhand/releases/<id>.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ReleaseRecord {
    pub(crate) id: String,
    pub(crate) created_at: String,
    pub(crate) status: ReleaseStatus,
    pub(crate) git: GitInfo,
    pub(crate) previous: Option<String>,
    /// Set on a rollback's record: the release it rolled back (the one live before it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) rollback_of: Option<String>,
    /// Set on a rollback's record: the release whose state it restored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) restored: Option<String>,
    pub(crate) backend: Option<BackendRelease>,
    pub(crate) site: Option<SiteRelease>,
}

/// What every deploy step knows about the release it is part of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct ReleaseMeta {
    pub(crate) id: String,
    pub(crate) created_at: String,
    pub(crate) git: GitInfo,
}

impl ReleaseMeta {
    pub(crate) fn new(git: GitInfo) -> Self {
        let now = chrono::Utc::now();
        Self {
            id: new_release_id(now, &git),
            created_at: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            git,
        }
    }
}

/// Who holds the lock (the lock object's JSON body).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct LockHolder {
    pub(crate) holder: String,
    pub(crate) release_id: String,
    pub(crate) run_url: Option<String>,
    pub(crate) acquired_at: String,
    pub(crate) expires_at: String,
    /// `deploy`, `rollback`, `secrets sync`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) operation: Option<String>,
    /// Unique per acquisition: tells our own lock from a successor's with the same release id.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub(crate) token: String,
}

impl fmt::Display for LockHolder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(op) = &self.operation {
            write!(f, "{op} ")?;
        }
        write!(
            f,
            "release {} by {} since {}",
            self.release_id, self.holder, self.acquired_at
        )?;
        if let Some(url) = &self.run_url {
            write!(f, " ({url})")?;
        }
        Ok(())
    }
}

pub(crate) fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

pub(crate) fn later(ttl: Duration) -> String {
    rfc3339(
        chrono::Utc::now() + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::hours(1)),
    )
}

impl LockHolder {
    pub(crate) fn new(meta: &ReleaseMeta, operation: &str, ttl: Duration) -> Self {
        let now = chrono::Utc::now();
        let seed = format!(
            "{}-{}-{}",
            meta.id,
            std::process::id(),
            now.timestamp_nanos_opt().unwrap_or_default()
        );
        Self {
            holder: meta.git.actor.clone().unwrap_or_else(|| "unknown".into()),
            release_id: meta.id.clone(),
            run_url: meta.git.run_url.clone(),
            acquired_at: rfc3339(now),
            expires_at: later(ttl),
            operation: Some(operation.to_string()),
            token: hex::encode(&sha2::Sha256::digest(seed.as_bytes())[..8]),
        }
    }

    pub(crate) fn expired(&self, now: chrono::DateTime<chrono::Utc>) -> bool {
        chrono::DateTime::parse_from_rfc3339(&self.expires_at).map_or(true, |t| t < now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_ids_sort_by_time() {
        let git = GitInfo {
            sha: Some("1a2b3c4d5e".into()),
            ..GitInfo::default()
        };
        let a = chrono::DateTime::parse_from_rfc3339("2026-11-25T19:55:01Z")
            .expect("t")
            .to_utc();
        let b = chrono::DateTime::parse_from_rfc3339("2026-11-25T20:01:00Z")
            .expect("t")
            .to_utc();
        assert_eq!(new_release_id(a, &git), "20261125T195501000Z-1a2b3c4");
        assert!(new_release_id(a, &git) < new_release_id(b, &git));
    }
}
