//! `deckhand releases [--json] [--limit N]`: the release records in `_deckhand/releases/`,
//! newest first, with what each release shipped, each half's status and release of origin, how
//! it ended and whether it can still be rolled back to (and why not: a half that failed, files
//! that were collected, a task definition that cannot be registered again).
//!
//! Reads only: the history index and one ListObjectsV2 after it (every id is listed only when
//! the newest `limit` reach past what the index keeps), the newest `limit` records fetched
//! concurrently (at most [`READ_CONCURRENCY`] GETs in flight), one listing of each site bucket
//! those records published to (a release's hashed assets must still be in place and its mutable
//! files stored under `_deckhand/objects/<sha256>`), and DescribeTaskDefinition for the
//! revisions of records that hold no definition to register again (older records).

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};

use serde::Serialize;

use crate::aws::AwsContext;
use crate::commands::error::CommandError as Error;
use crate::config::Settings;
use crate::diagnose::Exit;
use crate::output;
use crate::plan::site::{Live, human_bytes, in_place};
use crate::release::error::ReleaseError;
use crate::release::store::ReleaseStore;
use crate::release::{BackendRelease, ReleaseRecord, ReleaseStatus, SitePending, SiteRelease};
use crate::site::observe;

/// Records fetched at once.
pub(crate) const READ_CONCURRENCY: usize = 32;

/// How a release ended, as a person reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub(crate) enum RowStatus {
    Succeeded,
    Failed,
    InProgress,
    /// Interrupted (SIGINT/SIGTERM); its record says what was live then.
    Cancelled,
    /// A later rollback took it back.
    RolledBack {
        by: String,
    },
    /// This release is a rollback of `of` (restoring `restored`).
    RollbackOf {
        of: String,
        restored: Option<String>,
        failed: bool,
    },
}

impl fmt::Display for RowStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RowStatus::Succeeded => f.write_str("succeeded"),
            RowStatus::Failed => f.write_str("failed"),
            RowStatus::Cancelled => f.write_str("cancelled"),
            RowStatus::InProgress => f.write_str("in progress"),
            RowStatus::RolledBack { .. } => f.write_str("rolled back"),
            RowStatus::RollbackOf { of, failed, .. } => {
                write!(f, "rollback-of {of}")?;
                if *failed {
                    f.write_str(" (failed)")?;
                }
                Ok(())
            }
        }
    }
}

/// One line of `deckhand releases`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct ReleaseRow {
    pub(crate) id: String,
    pub(crate) created_at: String,
    pub(crate) git_sha: Option<String>,
    pub(crate) git_ref: Option<String>,
    pub(crate) actor: Option<String>,
    pub(crate) run_url: Option<String>,
    pub(crate) image_digest: Option<String>,
    /// `family:revision`.
    pub(crate) task_definition: Option<String>,
    pub(crate) site_files: Option<usize>,
    pub(crate) site_bytes: Option<u64>,
    /// The backend half: its status and release of origin.
    pub(crate) backend: Option<HalfRow>,
    /// The site half: its status and release of origin.
    pub(crate) site: Option<HalfRow>,
    pub(crate) status: RowStatus,
    /// The `backend.pre-deploy` task this release ran (its ARN, exit code, ECS's words): kept by
    /// the backend half this release wrote, not by a half it carried.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) pre_deploy: Option<crate::release::PreDeployRun>,
    /// A promotion: `<environment>/<release>` whose image and site it made live.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) promoted_from: Option<String>,
    /// From its command's start to both halves live (`crate::timing`), when it succeeded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) push_to_live_millis: Option<u64>,
    /// Can `rollback --to <id>` restore it (its files are kept by retention)?
    pub(crate) restorable: bool,
    /// Why not, when not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) not_restorable: Option<String>,
}

/// `deckhand releases --json`.
#[derive(Debug, Serialize)]
pub(crate) struct ReleasesReport {
    pub(crate) version: u32,
    pub(crate) bucket: String,
    /// Records in the bucket (the report shows the newest `limit`).
    pub(crate) total: usize,
    pub(crate) releases: Vec<ReleaseRow>,
}

/// `family:revision` of a task definition ARN.
pub(crate) fn short_td(arn: &str) -> String {
    arn.rsplit('/').next().unwrap_or(arn).to_string()
}

/// Why a release cannot be rolled back to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Why {
    /// Its site files were collected (every older release's are too).
    Collected(String),
    /// A half failed: never restored (the other half is, with `--only`).
    Failed(String),
    /// Its task definition was deregistered and the record holds no definition to register.
    NoDefinition(String),
    /// Anything else (nothing recorded, the bucket could not be listed).
    Other(String),
}

impl fmt::Display for Why {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Why::Collected(s) | Why::Failed(s) | Why::NoDefinition(s) | Why::Other(s) => {
                f.write_str(s)
            }
        }
    }
}

/// A refusal's reason for `missing` collected files of `of`, `example` one of them.
pub(crate) fn collected(missing: usize, of: usize, example: &str) -> String {
    format!("its files were collected: {missing} of its {of} files are gone (e.g. {example})")
}

/// What restorability is judged against: the listing of each site bucket, and the task
/// definitions (of records that hold no definition to register again) that are no longer ACTIVE.
#[derive(Debug, Clone, Default)]
pub(crate) struct Checks {
    pub(crate) listings: BTreeMap<String, Option<Live>>,
    /// Task definition ARN -> ACTIVE (None: could not be read).
    pub(crate) definitions: BTreeMap<String, Option<bool>>,
    /// Release of origin -> (the newer record that found its backend rollout failed, why): what
    /// a record written while that rollout was in flight (`--no-wait`, or a signal that stopped
    /// the watch) could not know yet. See [`Checks::learn`].
    pub(crate) failed_later: BTreeMap<String, (String, String)>,
}

impl Checks {
    /// Lists the site buckets `records` name that are not listed yet, and describes the task
    /// definitions they cannot register again (at once, at most 8 DescribeTaskDefinition calls in
    /// flight).
    pub(crate) async fn extend(&mut self, ctx: &AwsContext, records: &[ReleaseRecord]) {
        use futures::StreamExt as _;
        self.learn(records);
        let mut buckets: BTreeMap<String, Vec<&str>> = BTreeMap::new();
        for s in records.iter().filter_map(|r| r.site.as_ref()) {
            if !self.listings.contains_key(&s.bucket) {
                let known = buckets.entry(s.bucket.clone()).or_default();
                if known.is_empty() {
                    known.extend(s.files.keys().map(String::as_str));
                }
            }
        }
        let arns: std::collections::BTreeSet<&str> = records
            .iter()
            .filter_map(|r| r.backend.as_ref())
            .filter(|b| b.task_definition.is_none() && !b.task_definition_arn.is_empty())
            .map(|b| b.task_definition_arn.as_str())
            .filter(|a| !self.definitions.contains_key(*a))
            .collect();
        let (listed, described) = tokio::join!(
            futures::future::join_all(buckets.iter().map(|(bucket, known)| async move {
                (bucket.clone(), observe::list(ctx, bucket, known).await)
            })),
            futures::stream::iter(arns)
                .map(|arn| async move {
                    let active = match crate::ecs::describe_task_definition(ctx, arn).await {
                        Ok((td, _)) => Some(td.status().is_some_and(|s| s.as_str() == "ACTIVE")),
                        Err(e) if e.code() == Some("ClientException") => Some(false),
                        Err(e) => {
                            tracing::warn!("cannot read task definition {arn}: {e}");
                            None
                        }
                    };
                    (arn.to_string(), active)
                })
                .buffer_unordered(8)
                .collect::<Vec<_>>()
        );
        for (bucket, live) in listed {
            let live = live
                .map_err(|e| tracing::warn!("cannot list s3://{bucket}: {e}"))
                .ok();
            self.listings.insert(bucket, live);
        }
        self.definitions.extend(described);
    }

    /// Learns from `records` (any order) which rollouts a newer record found failed: a backend
    /// half whose status is failed names its release of origin; a record of that origin written
    /// while its rollout was in flight still says in progress, and restoring it would switch the
    /// service to the revision ECS (its circuit breaker) took back. Pure.
    pub(crate) fn learn(&mut self, records: &[ReleaseRecord]) {
        for r in records {
            let Some((origin, b)) = r
                .backend
                .as_ref()
                .filter(|b| b.status == ReleaseStatus::Failed)
                .and_then(|b| Some((b.origin.as_ref()?, b)))
            else {
                continue;
            };
            if origin == &r.id {
                continue;
            }
            let slot = self
                .failed_later
                .entry(origin.clone())
                .or_insert_with(|| (r.id.clone(), String::new()));
            if r.id <= slot.0 {
                // The oldest record that found it says when it was found.
                *slot = (
                    r.id.clone(),
                    b.failure
                        .clone()
                        .unwrap_or_else(|| "no reason recorded".into()),
                );
            }
        }
    }

    /// The failure a newer record found for `record`'s backend half, recorded in progress (see
    /// [`Checks::learn`]): (that record's id, why).
    pub(crate) fn failed_later(&self, record: &ReleaseRecord) -> Option<(&str, &str)> {
        let b = record.backend.as_ref().filter(|b| {
            matches!(
                b.status,
                ReleaseStatus::InProgress | ReleaseStatus::Cancelled
            )
        })?;
        let (by, why) = self.failed_later.get(b.origin.as_ref()?)?;
        (by.as_str() > record.id.as_str()).then_some((by.as_str(), why.as_str()))
    }

    /// Why `record` cannot be rolled back to, if it cannot: a half that failed (also a rollout
    /// recorded in progress that a newer record found failed), its task definition gone with no
    /// definition recorded, its site files collected.
    pub(crate) fn not_restorable(&self, record: &ReleaseRecord) -> Option<Why> {
        if record.backend.is_none() && record.site.is_none() {
            return Some(Why::Other(
                "it recorded neither a backend nor a site".into(),
            ));
        }
        if let Some(why) = half_failed(record) {
            return Some(why);
        }
        if let Some((by, why)) = self.failed_later(record) {
            return Some(Why::Failed(failed_later_text(by, why)));
        }
        if let Some(b) = &record.backend
            && b.task_definition.is_none()
            && self.definitions.get(&b.task_definition_arn) == Some(&Some(false))
        {
            return Some(Why::NoDefinition(format!(
                "its task definition {} was deregistered and the record holds no definition to register again",
                short_td(&b.task_definition_arn)
            )));
        }
        let site = record.site.as_ref()?;
        match self.listings.get(&site.bucket) {
            Some(Some(live)) => missing_files(site, live),
            _ => Some(Why::Other(format!(
                "its site bucket {} could not be listed",
                site.bucket
            ))),
        }
    }
}

/// A failed half (named with the release it came from), if any.
fn half_failed(record: &ReleaseRecord) -> Option<Why> {
    let failed = |half: &str, origin: Option<&String>, failure: Option<&String>| {
        let from = origin
            .filter(|o| **o != record.id)
            .map(|o| format!(" in release {o}"))
            .unwrap_or_default();
        Why::Failed(format!(
            "its {half} failed{from}: {}",
            failure.map_or("no reason recorded", String::as_str)
        ))
    };
    if let Some(b) = record
        .backend
        .as_ref()
        .filter(|b| b.status == ReleaseStatus::Failed)
    {
        return Some(failed("backend", b.origin.as_ref(), b.failure.as_ref()));
    }
    record
        .site
        .as_ref()
        .filter(|s| s.status == ReleaseStatus::Failed)
        .map(|s| failed("site", s.origin.as_ref(), s.failure.as_ref()))
}

/// A rollout recorded in progress that release `by` found failed.
pub(crate) fn failed_later_text(by: &str, why: &str) -> String {
    format!(
        "its backend failed (its rollout was in progress when recorded; release {by} found it failed): {why}"
    )
}

/// The site's files no longer in the bucket: hashed assets at their key, mutable files in the
/// objects store.
fn missing_files(site: &SiteRelease, live: &Live) -> Option<Why> {
    let mut missing = 0usize;
    let mut example = None;
    for (key, entry) in &site.files {
        let present = if entry.in_place(key) {
            in_place(entry, live.site.get(key))
        } else {
            live.objects.contains_key(&entry.sha256)
        };
        if !present {
            missing += 1;
            example.get_or_insert_with(|| key.clone());
        }
    }
    example.map(|key| Why::Collected(collected(missing, site.files.len(), &key)))
}

/// One half of a row: how the release of origin's deploy of it ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct HalfRow {
    pub(crate) status: ReleaseStatus,
    /// The release whose deploy or rollback made the half what it is (None: unknown).
    pub(crate) origin: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) failure: Option<String>,
    /// The backend's rollout state when the record was written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) rollout_state: Option<String>,
    /// The site's invalidation and garbage collection its publish has not completed (the
    /// record's `site.pending`): the next frontend deploy or rollback does them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) pending: Option<SitePending>,
}

impl HalfRow {
    pub(crate) fn backend(b: &BackendRelease) -> Self {
        Self {
            status: b.status,
            origin: b.origin.clone(),
            failure: b.failure.clone(),
            rollout_state: b.rollout_state.clone(),
            pending: None,
        }
    }

    pub(crate) fn site(s: &SiteRelease) -> Self {
        Self {
            status: s.status,
            origin: s.origin.clone(),
            failure: s.failure.clone(),
            rollout_state: None,
            pending: s.pending.clone().filter(|p| !p.is_done()),
        }
    }

    /// `succeeded (origin: this release)`, `failed (origin: <id>): <why>`.
    pub(crate) fn describe(&self, id: &str) -> String {
        let origin = match self.origin.as_deref() {
            Some(o) if o == id => "this release".to_string(),
            Some(o) => o.to_string(),
            None => "unknown".to_string(),
        };
        let mut text = format!("{} (origin: {origin})", self.status);
        if let Some(state) = self.rollout_state.as_deref().filter(|s| *s != "COMPLETED") {
            let _ = write!(text, ", rollout {state}");
        }
        if let Some(f) = &self.failure {
            let _ = write!(text, ": {f}");
        }
        if let Some(p) = &self.pending {
            if !p.paths.is_empty() {
                let _ = write!(text, "; invalidation pending ({})", p.paths.join(" "));
            }
            if p.gc {
                let _ = write!(text, "; garbage collection pending");
            }
        }
        text
    }
}

/// The rows, newest first, from records in any order. Pure.
pub(crate) fn rows(records: &[ReleaseRecord], checks: &Checks) -> Vec<ReleaseRow> {
    let mut sorted: Vec<&ReleaseRecord> = records.iter().collect();
    sorted.sort_by(|a, b| b.id.cmp(&a.id));
    let mut rolled_back_by: BTreeMap<&str, &str> = BTreeMap::new();
    for r in &sorted {
        if let Some(of) = &r.rollback_of
            && r.status == ReleaseStatus::Succeeded
        {
            rolled_back_by.entry(of.as_str()).or_insert(r.id.as_str());
        }
    }
    let settled = crate::release::pending_done_later(&sorted);
    sorted
        .into_iter()
        .map(|r| {
            let status = match (&r.rollback_of, r.status) {
                (Some(of), s) => RowStatus::RollbackOf {
                    of: of.clone(),
                    restored: r.restored.clone(),
                    failed: matches!(s, ReleaseStatus::Failed | ReleaseStatus::Cancelled),
                },
                (None, _) if rolled_back_by.contains_key(r.id.as_str()) => RowStatus::RolledBack {
                    by: rolled_back_by[r.id.as_str()].to_string(),
                },
                (None, ReleaseStatus::Succeeded) => RowStatus::Succeeded,
                (None, ReleaseStatus::Failed) => RowStatus::Failed,
                (None, ReleaseStatus::InProgress) => RowStatus::InProgress,
                (None, ReleaseStatus::Cancelled) => RowStatus::Cancelled,
            };
            let why = checks.not_restorable(r);
            ReleaseRow {
                id: r.id.clone(),
                created_at: r.created_at.clone(),
                git_sha: r.git.sha.clone(),
                git_ref: r.git.git_ref.clone(),
                actor: r.git.actor.clone(),
                run_url: r.git.run_url.clone(),
                image_digest: r
                    .backend
                    .as_ref()
                    .and_then(|b| b.image.split_once('@').map(|(_, d)| d.to_string())),
                task_definition: r.backend.as_ref().map(|b| short_td(&b.task_definition_arn)),
                site_files: r.site.as_ref().map(|s| s.files.len()),
                site_bytes: r
                    .site
                    .as_ref()
                    .map(|s| s.files.values().map(|e| e.size).sum()),
                backend: r.backend.as_ref().map(HalfRow::backend),
                site: r.site.as_ref().map(HalfRow::site).map(|h| HalfRow {
                    pending: h.pending.filter(|_| !settled.contains(r.id.as_str())),
                    ..h
                }),
                status,
                pre_deploy: r
                    .backend
                    .as_ref()
                    .filter(|b| b.origin.as_deref() == Some(r.id.as_str()))
                    .and_then(|b| b.pre_deploy.clone()),
                promoted_from: r.promoted_from.clone(),
                push_to_live_millis: r.timings.as_ref().and_then(|t| {
                    t.push_to_live_millis
                        .filter(|_| r.status == ReleaseStatus::Succeeded)
                }),
                restorable: why.is_none(),
                not_restorable: why.map(|w| w.to_string()),
            }
        })
        .collect()
}

impl fmt::Display for ReleasesReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.releases.is_empty() {
            return writeln!(f, "no releases in s3://{}/_deckhand/releases/", self.bucket);
        }
        for r in &self.releases {
            let mut line = format!("{}  {}", r.id, r.status);
            let sha = r.git_sha.as_deref().map(|s| &s[..s.len().min(7)]);
            let git: Vec<&str> = [sha, r.git_ref.as_deref(), r.actor.as_deref()]
                .into_iter()
                .flatten()
                .collect();
            if !git.is_empty() {
                let _ = write!(line, "  {}", git.join(" "));
            }
            writeln!(f, "{line}")?;
            writeln!(f, "  created   {}", r.created_at)?;
            if let Some(from) = &r.promoted_from {
                writeln!(f, "  promoted  from {from}")?;
            }
            if let Some(url) = &r.run_url {
                writeln!(f, "  run       {url}")?;
            }
            if let Some(ms) = r.push_to_live_millis {
                writeln!(f, "  timing    push-to-live {}", crate::timing::human(ms))?;
            }
            if let Some(td) = &r.task_definition {
                let mut line = format!("  backend   {td}");
                if let Some(digest) = &r.image_digest {
                    let _ = write!(line, "  {digest}");
                }
                if let Some(h) = &r.backend {
                    let _ = write!(line, "  {}", h.describe(&r.id));
                }
                writeln!(f, "{line}")?;
            }
            if let Some(p) = &r.pre_deploy {
                writeln!(f, "  pre-deploy {}", p.describe())?;
            }
            if let (Some(n), Some(b)) = (r.site_files, r.site_bytes) {
                let mut line = format!("  site      {n} files, {}", human_bytes(b));
                if let Some(h) = &r.site {
                    let _ = write!(line, "  {}", h.describe(&r.id));
                }
                writeln!(f, "{line}")?;
            }
            match &r.not_restorable {
                None => writeln!(f, "  rollback  possible")?,
                Some(why) => writeln!(f, "  rollback  not possible: {why}")?,
            }
        }
        if self.total > self.releases.len() {
            writeln!(
                f,
                "({} of {} releases; --limit shows more)",
                self.releases.len(),
                self.total
            )?;
        }
        Ok(())
    }
}

/// The newest `limit` records, newest first, and the total count: the history index and the
/// newest records (an index that does not reach back `limit` records: every id, listed).
pub(crate) async fn newest(
    store: &ReleaseStore<'_>,
    limit: usize,
) -> Result<(Vec<ReleaseRecord>, usize), ReleaseError> {
    let mut recent = store.recent().await?;
    // Asked for every record (or more than the index keeps): list them all, so a record the
    // index never saw (one an older deckhand wrote out of order) is among them.
    if limit >= recent.total || recent.ids.len() < limit {
        recent = store.everything().await?;
    }
    let wanted: Vec<String> = recent.ids.iter().take(limit).cloned().collect();
    let records = match store.read_many(&wanted, READ_CONCURRENCY).await {
        Err(e) if e.is_missing() && !recent.all => {
            recent = store.everything().await?;
            let wanted: Vec<String> = recent.ids.iter().take(limit).cloned().collect();
            store.read_many(&wanted, READ_CONCURRENCY).await?
        }
        other => other?,
    };
    Ok((records, recent.total))
}

pub(crate) async fn run(
    ctx: &AwsContext,
    settings: &Settings,
    json: bool,
    limit: Option<usize>,
) -> Result<Exit, Error> {
    let store = ReleaseStore::of(ctx, settings)?;
    let bucket = store.bucket.clone();
    let (mut records, total) = newest(&store, limit.unwrap_or(usize::MAX)).await?;
    super::baking::settle(ctx, settings, &mut records).await;
    let mut checks = Checks::default();
    checks.extend(ctx, &records).await;
    let report = ReleasesReport {
        version: 1,
        bucket,
        total,
        releases: rows(&records, &checks),
    };
    if json {
        output::stdout(&format!(
            "{}\n",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        ));
    } else {
        output::stdout(&report.to_string());
    }
    Ok(Exit::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::site::LiveObject;
    use crate::release::{BackendRelease, GitInfo, ManifestEntry, SiteRelease};

    fn record(id: &str, status: ReleaseStatus, rollback_of: Option<&str>) -> ReleaseRecord {
        let mut files = BTreeMap::new();
        files.insert(
            "index.html".to_string(),
            ManifestEntry {
                sha256: format!("html-{id}"),
                size: 10,
                content_type: "text/html".into(),
                cache_control: "no-cache".into(),
                etag: None,
                hashed: None,
            },
        );
        files.insert(
            format!("assets/app-{id}.js"),
            ManifestEntry {
                sha256: format!("js-{id}"),
                size: 100,
                content_type: "text/javascript".into(),
                cache_control: "public, max-age=31536000, immutable".into(),
                etag: None,
                hashed: None,
            },
        );
        ReleaseRecord {
            version: crate::release::RECORD_VERSION,
            id: id.into(),
            created_at: "2026-12-01T10:00:00Z".into(),
            status,
            git: GitInfo {
                sha: Some("0123456789abcdef".into()),
                git_ref: Some("refs/heads/main".into()),
                actor: Some("ana".into()),
                run_url: None,
            },
            previous: None,
            rollback_of: rollback_of.map(str::to_string),
            restored: None,
            promoted_from: None,
            backend: Some(BackendRelease {
                cluster: "c".into(),
                service: "s".into(),
                image: "repo@sha256:abc".into(),
                source_tag: "src-1".into(),
                task_definition_arn: "arn:aws:ecs:us-east-1:1:task-definition/api:7".into(),
                deployment_id: None,
                status,
                failure: None,
                rollout_state: None,
                origin: None,
                attempted: None,
                task_definition: None,
                managed: Default::default(),
                parameter_versions: Default::default(),
                pre_deploy: None,
            }),
            site: Some(SiteRelease {
                bucket: "b".into(),
                files,
                status,
                failure: None,
                pending: None,
                origin: None,
            }),
            timings: None,
        }
    }

    fn obj() -> LiveObject {
        LiveObject {
            size: 100,
            etag: String::new(),
            last_modified: 0,
        }
    }

    #[test]
    fn rows_are_newest_first_with_rollback_statuses_and_restorability() {
        let a = record("20261201T100000000Z-a", ReleaseStatus::Succeeded, None);
        let b = record("20261201T110000000Z-b", ReleaseStatus::Succeeded, None);
        let c = record(
            "20261201T120000000Z-c",
            ReleaseStatus::Succeeded,
            Some("20261201T110000000Z-b"),
        );
        let f = record("20261201T090000000Z-f", ReleaseStatus::Failed, None);
        let mut live = Live::default();
        // A's and B's hashed assets are in place; only B's HTML is still stored.
        live.site
            .insert("assets/app-20261201T100000000Z-a.js".into(), obj());
        live.site
            .insert("assets/app-20261201T110000000Z-b.js".into(), obj());
        live.objects
            .insert("html-20261201T110000000Z-b".into(), obj());
        live.objects
            .insert("html-20261201T120000000Z-c".into(), obj());
        live.site
            .insert("assets/app-20261201T120000000Z-c.js".into(), obj());
        // D holds no definition to register again, and its revision was deregistered.
        let mut d = record("20261201T080000000Z-d", ReleaseStatus::Succeeded, None);
        if let Some(b) = d.backend.as_mut() {
            b.task_definition_arn = "arn:aws:ecs:us-east-1:1:task-definition/api:3".into();
            b.origin = Some(d.id.clone());
        }
        d.site = None;
        let checks = Checks {
            listings: BTreeMap::from([("b".to_string(), Some(live))]),
            definitions: BTreeMap::from([(
                "arn:aws:ecs:us-east-1:1:task-definition/api:3".to_string(),
                Some(false),
            )]),
            failed_later: BTreeMap::new(),
        };
        let rows = rows(&[a, f, c, b, d], &checks);
        let view: Vec<(String, String, bool)> = rows
            .iter()
            .map(|r| (r.id.clone(), r.status.to_string(), r.restorable))
            .collect();
        assert_eq!(
            view,
            vec![
                (
                    "20261201T120000000Z-c".into(),
                    "rollback-of 20261201T110000000Z-b".into(),
                    true
                ),
                ("20261201T110000000Z-b".into(), "rolled back".into(), true),
                ("20261201T100000000Z-a".into(), "succeeded".into(), false),
                ("20261201T090000000Z-f".into(), "failed".into(), false),
                ("20261201T080000000Z-d".into(), "succeeded".into(), false),
            ]
        );
        assert_eq!(
            rows[2].not_restorable.as_deref(),
            Some("its files were collected: 1 of its 2 files are gone (e.g. index.html)")
        );
        assert_eq!(
            rows[3].not_restorable.as_deref(),
            Some("its backend failed: no reason recorded")
        );
        assert_eq!(
            rows[4].not_restorable.as_deref(),
            Some(
                "its task definition api:3 was deregistered and the record holds no definition to register again"
            )
        );
        // Each half says its status and release of origin (unknown: a record of an older deckhand).
        let half = rows[4].backend.as_ref().expect("backend half");
        assert_eq!(
            half.describe(&rows[4].id),
            "succeeded (origin: this release)"
        );
        let half = rows[0].site.as_ref().expect("site half");
        assert_eq!(half.describe(&rows[0].id), "succeeded (origin: unknown)");
        assert_eq!(rows[0].task_definition.as_deref(), Some("api:7"));
        assert_eq!(rows[0].image_digest.as_deref(), Some("sha256:abc"));
        assert_eq!(
            (rows[0].site_files, rows[0].site_bytes),
            (Some(2), Some(110))
        );
    }

    /// Item 1: a `--no-wait` rollout (B) recorded in progress, which a newer record (C, whose
    /// backend half has B as its origin) found failed: B is not restorable. Before, `releases`
    /// judged B by its own record and called it restorable.
    #[test]
    fn a_rollout_a_newer_record_found_failed_is_not_restorable() {
        let a = record("20261201T100000000Z-a", ReleaseStatus::Succeeded, None);
        let mut b = record("20261201T110000000Z-b", ReleaseStatus::Succeeded, None);
        let mut c = record("20261201T120000000Z-c", ReleaseStatus::Succeeded, None);
        if let Some(h) = b.backend.as_mut() {
            h.status = ReleaseStatus::InProgress;
            h.origin = Some(b.id.clone());
        }
        if let Some(h) = c.backend.as_mut() {
            h.status = ReleaseStatus::Failed;
            h.origin = Some(b.id.clone());
            h.failure = Some("the rollout to api:8 did not complete".into());
        }
        // An in-progress rollout of another origin stays restorable.
        let mut d = record("20261201T130000000Z-d", ReleaseStatus::Succeeded, None);
        if let Some(h) = d.backend.as_mut() {
            h.status = ReleaseStatus::InProgress;
            h.origin = Some(d.id.clone());
        }
        let mut live = Live::default();
        for r in [&a, &b, &c, &d] {
            live.site.insert(format!("assets/app-{}.js", r.id), obj());
            live.objects.insert(format!("html-{}", r.id), obj());
        }
        let mut checks = Checks {
            listings: BTreeMap::from([("b".to_string(), Some(live))]),
            ..Checks::default()
        };
        let records = [d, c, b, a];
        checks.learn(&records);
        let rows = rows(&records, &checks);
        let why: Vec<Option<&str>> = rows.iter().map(|r| r.not_restorable.as_deref()).collect();
        assert_eq!(
            why,
            [
                None,
                Some(
                    "its backend failed in release 20261201T110000000Z-b: the rollout to api:8 did not complete"
                ),
                Some(
                    "its backend failed (its rollout was in progress when recorded; release 20261201T120000000Z-c found it failed): the rollout to api:8 did not complete"
                ),
                None,
            ]
        );
    }

    /// Item 8: a site half whose invalidation or garbage collection is still pending says so in
    /// `releases` and `status` (text and JSON). Before, only the record's JSON did.
    #[test]
    fn a_pending_invalidation_is_shown() {
        let mut r = record("20261201T100000000Z-a", ReleaseStatus::Succeeded, None);
        if let Some(s) = r.site.as_mut() {
            s.origin = Some(r.id.clone());
            s.pending = Some(crate::release::SitePending {
                distribution: Some("E2EXAMPLE".into()),
                paths: vec!["/index.html".into(), "/".into()],
                gc: true,
            });
        }
        let half = HalfRow::site(r.site.as_ref().expect("site"));
        assert_eq!(
            half.describe(&r.id),
            "succeeded (origin: this release); invalidation pending (/index.html /); garbage collection pending"
        );
        let json = serde_json::to_value(&half).expect("json");
        assert_eq!(json["pending"]["paths"][0], "/index.html", "{json}");
        assert_eq!(json["pending"]["gc"], true, "{json}");
        // Nothing pending: nothing said.
        if let Some(s) = r.site.as_mut() {
            s.pending = None;
        }
        let half = HalfRow::site(r.site.as_ref().expect("site"));
        assert_eq!(half.describe(&r.id), "succeeded (origin: this release)");
        assert!(
            serde_json::to_value(&half)
                .expect("json")
                .get("pending")
                .is_none()
        );
    }

    /// Item 8: a release whose invalidation was left pending is not listed as pending once a
    /// later release completed it (each frontend deploy or rollback retries what the live site's
    /// record left pending); a release that carried the pending half still is, until then.
    /// Before, the old record's "invalidation pending" was shown for good.
    #[test]
    fn a_pending_invalidation_a_later_release_completed_is_not_shown() {
        let pending = crate::release::SitePending {
            distribution: Some("E2EXAMPLE".into()),
            paths: vec!["/index.html".into()],
            gc: false,
        };
        let mut a = record("20261201T100000000Z-a", ReleaseStatus::Succeeded, None);
        let mut b = record("20261201T110000000Z-b", ReleaseStatus::Succeeded, None);
        let c = record("20261201T120000000Z-c", ReleaseStatus::Succeeded, None);
        for r in [&mut a, &mut b] {
            if let Some(s) = r.site.as_mut() {
                s.pending = Some(pending.clone());
            }
        }
        let shown = |records: &[ReleaseRecord]| -> Vec<(String, bool)> {
            rows(records, &Checks::default())
                .into_iter()
                .map(|r| (r.id, r.site.and_then(|s| s.pending).is_some()))
                .collect()
        };
        // b carried a's pending half: both still pending.
        assert_eq!(
            shown(&[a.clone(), b.clone()]),
            [(b.id.clone(), true), (a.id.clone(), true)]
        );
        // c published with nothing pending: it did what a and b left.
        assert_eq!(
            shown(&[a.clone(), b.clone(), c.clone()]),
            [
                (c.id.clone(), false),
                (b.id.clone(), false),
                (a.id.clone(), false)
            ]
        );
        // A failed publish did not.
        let mut f = c.clone();
        if let Some(s) = f.site.as_mut() {
            s.status = ReleaseStatus::Failed;
        }
        assert_eq!(
            shown(&[a.clone(), f.clone()]),
            [(f.id.clone(), false), (a.id.clone(), true)]
        );
    }

    /// Issue 21: `releases --limit N` lists the newest N records, and each one's pending is what
    /// the whole history says (a later release that did it is newer, so it is on the page too).
    #[test]
    fn a_page_of_the_newest_records_shows_the_pending_the_whole_history_does() {
        let pending = crate::release::SitePending {
            distribution: Some("E2EXAMPLE".into()),
            paths: vec!["/index.html".into()],
            gc: false,
        };
        let ids = ["a", "b", "c", "d", "e"];
        let records: Vec<ReleaseRecord> = ids
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let mut r = record(
                    &format!("20261201T1{i}0000000Z-{n}"),
                    ReleaseStatus::Succeeded,
                    None,
                );
                // a and c leave their invalidation pending, b carries a's, d does it, e leaves
                // its own.
                if let Some(s) = r.site.as_mut()
                    && matches!(*n, "a" | "b" | "c" | "e")
                {
                    s.pending = Some(pending.clone());
                }
                r
            })
            .collect();
        let shown = |records: &[ReleaseRecord]| -> Vec<(String, bool)> {
            rows(records, &Checks::default())
                .into_iter()
                .map(|r| (r.id, r.site.and_then(|s| s.pending).is_some()))
                .collect()
        };
        let all = shown(&records);
        assert_eq!(
            all.iter().map(|(_, p)| *p).collect::<Vec<_>>(),
            [true, false, false, false, false],
            "{all:?}"
        );
        for limit in 1..=records.len() {
            let page = &records[records.len() - limit..];
            assert_eq!(shown(page), all[..limit], "--limit {limit}");
        }
    }

    /// Issue 26: the pre-deploy task a release ran (ARN, exit code) is shown by `releases` (text
    /// and JSON) for the backend half that release wrote; a release that carried the half (a
    /// frontend-only deploy after it) does not claim the task. Before, only the record had it.
    #[test]
    fn the_pre_deploy_task_of_a_release_is_shown_with_its_exit_code() {
        let arn = "arn:aws:ecs:us-east-1:1:task/c/0123456789abcdef";
        let mut a = record("20261201T100000000Z-a", ReleaseStatus::Failed, None);
        if let Some(b) = a.backend.as_mut() {
            b.origin = Some(a.id.clone());
            b.pre_deploy = Some(crate::release::PreDeployRun {
                task_arn: Some(arn.into()),
                exit_code: Some(1),
                reason: Some("EssentialContainerExited: Essential container in task exited".into()),
                timed_out: false,
                millis: Some(12_300),
            });
        }
        let mut b = record("20261201T110000000Z-b", ReleaseStatus::Succeeded, None);
        b.backend.clone_from(&a.backend);
        let rows = rows(&[a, b], &Checks::default());
        assert!(
            rows[0].pre_deploy.is_none(),
            "a carried half: {:?}",
            rows[0]
        );
        let ran = rows[1].pre_deploy.as_ref().expect("pre-deploy");
        assert_eq!(ran.exit_code, Some(1));
        let report = ReleasesReport {
            version: 1,
            bucket: "b".into(),
            total: 2,
            releases: rows,
        };
        let text = report.to_string();
        assert!(
            text.contains(&format!(
                "  pre-deploy task {arn} exited 1 in 12.3s (EssentialContainerExited: Essential container in task exited)\n"
            )),
            "{text}"
        );
        assert_eq!(text.matches("pre-deploy").count(), 1, "{text}");
        let json = serde_json::to_value(&report).expect("json");
        assert_eq!(json["releases"][1]["pre_deploy"]["task_arn"], arn, "{json}");
        assert_eq!(json["releases"][1]["pre_deploy"]["exit_code"], 1, "{json}");
        assert!(json["releases"][0].get("pre_deploy").is_none(), "{json}");
    }

    /// Issue 26 "where the time goes": a release that succeeded shows its push-to-live (text and
    /// JSON); one that failed does not claim one; an older record without timings still reads and
    /// is listed, without the line.
    #[test]
    fn a_release_shows_its_push_to_live_and_an_older_record_still_lists() {
        let timings = |push: Option<u64>| crate::timing::Timings {
            started_at: "2026-12-01T10:00:00.000Z".into(),
            millis: 90_000,
            phases: vec![crate::timing::Phase {
                name: "build".into(),
                started_at: "2026-12-01T10:00:01.000Z".into(),
                millis: 20_000,
                clock: None,
            }],
            push_to_live_millis: push,
        };
        let mut old = serde_json::to_value(record(
            "20261201T090000000Z-a",
            ReleaseStatus::Succeeded,
            None,
        ))
        .expect("json");
        old.as_object_mut().expect("object").remove("timings");
        let old: ReleaseRecord = serde_json::from_value(old).expect("an older record reads");
        assert_eq!(old.timings, None);
        let mut ok = record("20261201T100000000Z-b", ReleaseStatus::Succeeded, None);
        ok.timings = Some(timings(Some(65_000)));
        let mut failed = record("20261201T110000000Z-c", ReleaseStatus::Failed, None);
        failed.timings = Some(timings(Some(1_000)));
        let report = ReleasesReport {
            version: 1,
            bucket: "b".into(),
            total: 3,
            releases: rows(&[old, ok, failed], &Checks::default()),
        };
        let text = report.to_string();
        assert_eq!(
            text.matches("  timing    push-to-live ").count(),
            1,
            "{text}"
        );
        let b = text.find("20261201T100000000Z-b  ").expect("listed");
        let a = text
            .find("20261201T090000000Z-a  ")
            .expect("the older record is listed");
        assert!(
            text[b..a].contains("  timing    push-to-live 1m05s\n"),
            "{text}"
        );
        let json = serde_json::to_value(&report).expect("json");
        assert_eq!(json["releases"][1]["push_to_live_millis"], 65_000, "{json}");
        assert!(
            json["releases"][0].get("push_to_live_millis").is_none(),
            "{json}"
        );
        assert!(
            json["releases"][2].get("push_to_live_millis").is_none(),
            "{json}"
        );
    }
}
