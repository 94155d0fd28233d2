//! `deckhand releases [--json] [--limit N]`: the release records in `_deckhand/releases/`,
//! newest first, with what each release shipped, how it ended and whether it can still be
//! rolled back to.
//!
//! Reads only: one paged ListObjectsV2 of the records (1 call per 1,000), the newest `limit`
//! records fetched concurrently (at most [`READ_CONCURRENCY`] GETs in flight), and one listing of
//! each site bucket those records published to (restorability: a release's hashed assets must
//! still be in place and its mutable files stored under `_deckhand/objects/<sha256>`).

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
use crate::release::{ReleaseRecord, ReleaseStatus};
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
    pub(crate) status: RowStatus,
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

/// Why the release cannot be restored from what the bucket still holds, if it cannot.
pub(crate) fn missing_files(record: &ReleaseRecord, live: Option<&Live>) -> Option<String> {
    let site = record.site.as_ref()?;
    let Some(live) = live else {
        return Some(format!(
            "its site bucket {} could not be listed",
            site.bucket
        ));
    };
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
    example.map(|key| {
        format!(
            "{missing} of its {} files were garbage-collected (e.g. {key})",
            site.files.len()
        )
    })
}

/// Why `record` cannot be rolled back to, if it cannot.
pub(crate) fn not_restorable(record: &ReleaseRecord, live: Option<&Live>) -> Option<String> {
    if record.status != ReleaseStatus::Succeeded {
        return Some(format!("it {}", record.status));
    }
    if record.backend.is_none() && record.site.is_none() {
        return Some("it recorded neither a backend nor a site".into());
    }
    missing_files(record, live)
}

/// The rows, newest first, from records in any order. Pure.
pub(crate) fn rows(records: &[ReleaseRecord], live: &BTreeMap<String, Live>) -> Vec<ReleaseRow> {
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
            let site_live = r.site.as_ref().and_then(|s| live.get(&s.bucket));
            let why = not_restorable(r, site_live);
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
                status,
                restorable: why.is_none(),
                not_restorable: why,
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
            if let Some(url) = &r.run_url {
                writeln!(f, "  run       {url}")?;
            }
            if let (Some(td), Some(digest)) = (&r.task_definition, &r.image_digest) {
                writeln!(f, "  backend   {td}  {digest}")?;
            } else if let Some(td) = &r.task_definition {
                writeln!(f, "  backend   {td}")?;
            }
            if let (Some(n), Some(b)) = (r.site_files, r.site_bytes) {
                writeln!(f, "  site      {n} files, {}", human_bytes(b))?;
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

/// Lists each bucket the records published a site to (concurrently).
pub(crate) async fn site_listings(
    ctx: &AwsContext,
    records: &[ReleaseRecord],
) -> BTreeMap<String, Live> {
    let mut buckets: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for r in records {
        if let Some(s) = &r.site {
            let known = buckets.entry(s.bucket.clone()).or_default();
            if known.is_empty() {
                known.extend(s.files.keys().map(String::as_str));
            }
        }
    }
    let listed = futures::future::join_all(buckets.iter().map(|(bucket, known)| async move {
        (bucket.clone(), observe::list(ctx, bucket, known).await)
    }))
    .await;
    let mut out = BTreeMap::new();
    for (bucket, live) in listed {
        match live {
            Ok(live) => {
                out.insert(bucket, live);
            }
            Err(e) => tracing::warn!("cannot list s3://{bucket}: {e}"),
        }
    }
    out
}

/// The newest `limit` records (all of them for `None`), newest first, and the total count.
pub(crate) async fn newest(
    store: &ReleaseStore<'_>,
    limit: Option<usize>,
) -> Result<(Vec<ReleaseRecord>, usize), ReleaseError> {
    let ids = store.list_ids().await?;
    let take = limit.unwrap_or(ids.len());
    let wanted: Vec<String> = ids.iter().rev().take(take).cloned().collect();
    let records = store.read_many(&wanted, READ_CONCURRENCY).await?;
    Ok((records, ids.len()))
}

pub(crate) async fn run(
    ctx: &AwsContext,
    settings: &Settings,
    json: bool,
    limit: Option<usize>,
) -> Result<Exit, Error> {
    let bucket = settings
        .state_bucket
        .clone()
        .ok_or(ReleaseError::NoStateBucket)?;
    let store = ReleaseStore::new(ctx, bucket.clone());
    let (records, total) = newest(&store, limit).await?;
    let live = site_listings(ctx, &records).await;
    let report = ReleasesReport {
        version: 1,
        bucket,
        total,
        releases: rows(&records, &live),
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
            backend: Some(BackendRelease {
                cluster: "c".into(),
                service: "s".into(),
                image: "repo@sha256:abc".into(),
                source_tag: "src-1".into(),
                task_definition_arn: "arn:aws:ecs:us-east-1:1:task-definition/api:7".into(),
                deployment_id: None,
                status,
                failure: None,
                task_definition: None,
                managed: Default::default(),
                parameter_versions: Default::default(),
            }),
            site: Some(SiteRelease {
                bucket: "b".into(),
                files,
                status,
                failure: None,
                pending: None,
            }),
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
        let listings = BTreeMap::from([("b".to_string(), live)]);
        let rows = rows(&[a, f, c, b], &listings);
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
            ]
        );
        assert_eq!(
            rows[2].not_restorable.as_deref(),
            Some("1 of its 2 files were garbage-collected (e.g. index.html)")
        );
        assert_eq!(rows[0].task_definition.as_deref(), Some("api:7"));
        assert_eq!(rows[0].image_digest.as_deref(), Some("sha256:abc"));
        assert_eq!(
            (rows[0].site_files, rows[0].site_bytes),
            (Some(2), Some(110))
        );
    }
}
