//! Release records (`_deckhand/releases/<id>.json`), release ids, git metadata and the lock's
//! body: the model. Reading and writing them are the steps [`store`] and [`lock`] (their errors
//! in [`error`]); this module imports neither.

pub(crate) mod baking;
pub(crate) mod error;
pub(crate) mod history;
pub(crate) mod lock;
pub(crate) mod store;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use chrono::Timelike as _;
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

/// The instant a release id names: `YYYYMMDDTHHMMSS`, then optionally milliseconds, then `Z`.
fn release_instant(id: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    let stamp = id.get(..15)?; // YYYYMMDDTHHMMSS
    let t = chrono::NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%M%S").ok()?;
    let rest = id.get(15..)?;
    let (ms, rest) = match rest.get(..3).map(|d| d.parse::<i64>()) {
        Some(Ok(ms)) if rest.as_bytes()[..3].iter().all(u8::is_ascii_digit) => (ms, rest.get(3..)?),
        _ => (0, rest),
    };
    rest.starts_with('Z')
        .then(|| t.and_utc() + chrono::Duration::milliseconds(ms))
}

/// Whether `id` is shaped like a release id (a key under `_deckhand/releases/` that is not is
/// no record of ours).
pub(crate) fn is_release_id(id: &str) -> bool {
    release_instant(id).is_some()
        && !id.contains('/')
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
}

/// The smallest id with `git`'s short sha that sorts after `newest` (its instant + 1 ms; after an
/// id without milliseconds, which sorts after every id of its second with them, the next second).
fn id_after(newest: &str, git: &GitInfo) -> Option<String> {
    let t = release_instant(newest)?;
    let candidates = [
        t + chrono::Duration::milliseconds(1),
        t.with_nanosecond(0).unwrap_or(t) + chrono::Duration::seconds(1),
    ];
    candidates
        .into_iter()
        .map(|c| new_release_id(c, git))
        .find(|c| c.as_str() > newest)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum ReleaseStatus {
    #[default]
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

/// The version of the record's JSON this deckhand writes. A record without `version` was written
/// by an older deckhand (read compatibly: its halves have no origin); a record of a newer version
/// is refused with an error naming it.
pub(crate) const RECORD_VERSION: u32 = 2;

fn record_v1() -> u32 {
    1
}

/// What a release's backend tried when the service ended up running something else (the
/// circuit breaker put the previous revision back, a `--no-wait` rollout failed later).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub(crate) struct Attempt {
    pub(crate) task_definition_arn: String,
    /// `repo@sha256:…`
    pub(crate) image: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) deployment_id: Option<String>,
}

/// The backend half of a release: what the service's PRIMARY deployment ran when the record was
/// written, and how the deploy that made it so (`origin`) ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub(crate) struct BackendRelease {
    pub(crate) cluster: String,
    pub(crate) service: String,
    /// `repo@sha256:…` of the deployed container in the live revision.
    pub(crate) image: String,
    /// The image's source tag (`src-…`); empty when the revision was not deployed by deckhand.
    #[serde(default)]
    pub(crate) source_tag: String,
    /// The revision the service's PRIMARY deployment runs.
    pub(crate) task_definition_arn: String,
    /// The service's PRIMARY deployment (`ecs-svc/…`) when the record was written.
    pub(crate) deployment_id: Option<String>,
    /// That deployment's rollout state (`COMPLETED`, `IN_PROGRESS`, `FAILED`), when read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) rollout_state: Option<String>,
    /// How the deploy (or rollback) of this half by `origin` ended.
    pub(crate) status: ReleaseStatus,
    /// Why it failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) failure: Option<String>,
    /// The release whose deploy or rollback made this half what it is: the record's own id when
    /// it wrote the half, the carried half's origin otherwise. None: unknown (a record of an
    /// older deckhand, or a revision set outside deckhand).
    #[serde(default)]
    pub(crate) origin: Option<String>,
    /// What `origin` tried, when the service runs something else.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) attempted: Option<Attempt>,
    /// The task definition as registered (RegisterTaskDefinition input), so a rollback can
    /// register it again when its revision was deregistered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) task_definition: Option<serde_json::Value>,
    /// Per deployed container (`backend.container`), the environment variables and secrets
    /// deckhand set on this revision (by name): its managed keys, as the revision's own mark
    /// names them (`ecs::managed`: the next render reads the mark on the live revision,
    /// not this copy). Empty for a revision deckhand did not render, and in an older deckhand's
    /// record.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) managed: BTreeMap<String, ManagedKeys>,
    /// The version of each SSM parameter the revision names (parameter name -> version), read
    /// with DescribeParameters when the release was planned: the values its tasks started with.
    /// A newer version rolls the service. Empty in an older deckhand's record: unknown.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) parameter_versions: BTreeMap<String, i64>,
    /// The `backend.pre-deploy` task this release ran before its rollout (absent: none ran).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) pre_deploy: Option<PreDeployRun>,
}

/// How a `backend.pre-deploy` task (RunTask from the new revision) ended.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PreDeployRun {
    /// The task's ARN (absent when RunTask placed no task).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) task_arn: Option<String>,
    /// Its container's exit code (absent when the container never ran).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) exit_code: Option<i32>,
    /// ECS's words: the stop code and stopped reason, the container's reason, or RunTask's failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) reason: Option<String>,
    /// It had not stopped at `backend.pre-deploy.timeout`: deckhand stopped it (StopTask).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) timed_out: bool,
    /// Milliseconds from RunTask to STOPPED.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) millis: Option<u64>,
}

impl PreDeployRun {
    /// Exit code 0, in time: the rollout may start.
    pub(crate) fn succeeded(&self) -> bool {
        self.exit_code == Some(0) && !self.timed_out
    }

    /// `task <arn> exited 0 in 12.3s`, or that it timed out and was stopped, or placed no task;
    /// ECS's words when it did not exit 0 (`releases`).
    pub(crate) fn describe(&self) -> String {
        let task = self
            .task_arn
            .as_deref()
            .map_or_else(|| "no task placed".to_string(), |a| format!("task {a}"));
        let mut line = match (self.timed_out, self.exit_code) {
            (true, _) => format!("{task} did not stop in time: stopped"),
            (false, Some(code)) => format!("{task} exited {code}"),
            (false, None) => format!("{task} did not run its container"),
        };
        if let Some(ms) = self.millis {
            line.push_str(&format!(" in {:.1}s", ms as f64 / 1000.0));
        }
        if let Some(why) = self.reason.as_deref().filter(|_| !self.succeeded()) {
            line.push_str(&format!(" ({why})"));
        }
        line
    }
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub(crate) struct SiteRelease {
    pub(crate) bucket: String,
    pub(crate) files: BTreeMap<String, ManifestEntry>,
    /// How the publish of this half by `origin` ended.
    pub(crate) status: ReleaseStatus,
    /// Why the publish failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) failure: Option<String>,
    /// What is left to do after the files are live: the CloudFront invalidation and the garbage
    /// collection. The record is written with it before they run and written again without it
    /// once they did; still there, the next frontend deploy (or rollback) carries it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) pending: Option<SitePending>,
    /// The release that published this manifest (see [`BackendRelease::origin`]).
    #[serde(default)]
    pub(crate) origin: Option<String>,
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

/// The records (of `newest_first`) whose site half's pending invalidation and garbage collection
/// a later release did: a newer record of the same bucket has a succeeded site half with nothing
/// pending. Each frontend deploy or rollback carries what the live site's record left pending
/// into its own invalidation and collection (`site::plan::retry`), and a half carried by a
/// release that publishes no site keeps its `pending` until one did. The records themselves keep
/// saying what was pending when they were written. Only newer records settle a record, so
/// `newest_first` must hold every record newer than the oldest one asked about: the newest
/// `--limit` records (`releases`) do, a page of older ones alone would not.
pub(crate) fn pending_done_later<'r>(newest_first: &[&'r ReleaseRecord]) -> BTreeSet<&'r str> {
    let mut done_in: BTreeSet<&str> = BTreeSet::new();
    let mut settled = BTreeSet::new();
    for (r, site) in newest_first
        .iter()
        .filter_map(|r| Some((*r, r.site.as_ref()?)))
    {
        if done_in.contains(site.bucket.as_str()) {
            settled.insert(r.id.as_str());
        }
        if site.status == ReleaseStatus::Succeeded
            && site.pending.as_ref().is_none_or(SitePending::is_done)
        {
            done_in.insert(site.bucket.as_str());
        }
    }
    settled
}

/// `_deckhand/releases/<id>.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ReleaseRecord {
    /// [`RECORD_VERSION`] when written by this deckhand; 1 (absent) from an older one.
    #[serde(default = "record_v1")]
    pub(crate) version: u32,
    pub(crate) id: String,
    pub(crate) created_at: String,
    /// How this release's own run ended (each half has its own status and origin).
    pub(crate) status: ReleaseStatus,
    pub(crate) git: GitInfo,
    /// The newest release when this one was recorded (decided under the lock).
    pub(crate) previous: Option<String>,
    /// Set on a rollback's record: the release it rolled back (the one live before it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) rollback_of: Option<String>,
    /// Set on a rollback's record: the release whose state it restored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) restored: Option<String>,
    /// Set on a promotion's record: `<environment>/<release>` whose image and site it made live.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) promoted_from: Option<String>,
    pub(crate) backend: Option<BackendRelease>,
    pub(crate) site: Option<SiteRelease>,
    /// Where the time went: the phases of the command that wrote the record and, for a release
    /// that succeeded, its push-to-live (`crate::timing`). Absent in an older deckhand's record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) timings: Option<crate::timing::Timings>,
}

/// What every deploy step knows about the release it is part of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct ReleaseMeta {
    pub(crate) id: String,
    pub(crate) created_at: String,
    pub(crate) git: GitInfo,
}

impl ReleaseMeta {
    /// The release's provisional id (the time it starts planning): what the plan and the lock
    /// body show. [`ReleaseMeta::settle`] decides the id the record gets, under the lock.
    pub(crate) fn new(git: GitInfo) -> Self {
        let now = chrono::Utc::now();
        Self {
            id: new_release_id(now, &git),
            created_at: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            git,
        }
    }

    /// Decides the release id under the lock, after the re-read that found `newest` (the newest
    /// record's id): the provisional id when it sorts after `newest`, else the smallest id after
    /// it. History is ordered by id, so a release that waited for another (or whose clock is
    /// behind the runner that wrote `newest`) still sorts after the release it follows. Returns
    /// the provisional id when it changed.
    pub(crate) fn settle(&mut self, newest: Option<&str>) -> Option<String> {
        let newest = newest.filter(|n| self.id.as_str() <= *n)?;
        match id_after(newest, &self.git) {
            Some(id) => {
                let was = std::mem::replace(&mut self.id, id);
                self.created_at = rfc3339(chrono::Utc::now());
                Some(was)
            }
            None => {
                tracing::warn!(
                    "the newest release id {newest} is not shaped like deckhand's; keeping {}",
                    self.id
                );
                None
            }
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

    #[test]
    fn the_id_settled_under_the_lock_sorts_after_the_newest_record() {
        let git = GitInfo {
            sha: Some("bbbbbbb000".into()),
            ..GitInfo::default()
        };
        let mut meta = ReleaseMeta::new(git.clone());
        meta.id = "20261201T100000000Z-bbbbbbb".into();
        // The newest record is older: the provisional id stands.
        assert_eq!(meta.settle(Some("20261201T095959999Z-aaaaaaa")), None);
        assert_eq!(meta.settle(None), None);
        assert_eq!(meta.id, "20261201T100000000Z-bbbbbbb");
        // A record written while this release waited (or by a runner whose clock is ahead).
        assert_eq!(
            meta.settle(Some("20261201T100004321Z-aaaaaaa")).as_deref(),
            Some("20261201T100000000Z-bbbbbbb")
        );
        assert_eq!(meta.id, "20261201T100004322Z-bbbbbbb");
        // The same millisecond with a greater sha: the next millisecond.
        meta.id = "20261201T100000000Z-0000000".into();
        meta.settle(Some("20261201T100000000Z-fffffff"));
        assert_eq!(meta.id, "20261201T100000001Z-bbbbbbb");
        // An id without milliseconds sorts after every id of its second with them.
        meta.id = "20261201T100000000Z-bbbbbbb".into();
        meta.settle(Some("20261201T100000Z-aaaaaaa"));
        assert_eq!(meta.id, "20261201T100001000Z-bbbbbbb");
        assert!(meta.id.as_str() > "20261201T100000Z-aaaaaaa");
        // 999 ms rolls over into the next second.
        meta.id = "20261201T000000000Z-bbbbbbb".into();
        meta.settle(Some("20261201T235959999Z-aaaaaaa"));
        assert_eq!(meta.id, "20261202T000000000Z-bbbbbbb");
        assert!(is_release_id(&meta.id));
        assert!(is_release_id("20261125T195501Z-1a2b3c4"));
        assert!(!is_release_id("index"));
        assert!(!is_release_id("20261125T195501X-1a2b3c4"));
    }
}
