//! Reading and writing release records in the state bucket.

use aws_sdk_s3::primitives::ByteStream;
use serde::{Deserialize, Serialize};

use super::error::ReleaseError;
use super::{RECORD_VERSION, RELEASES_PREFIX, ReleaseRecord};
use crate::aws::AwsContext;
use crate::config::Settings;

/// A record's JSON: a record of an older deckhand reads with defaults (no origin, no version), one
/// of a newer record version is refused naming it.
pub(crate) fn parse(
    bucket: &str,
    key: String,
    bytes: &[u8],
) -> Result<ReleaseRecord, ReleaseError> {
    let corrupt = |message: String| ReleaseError::Corrupt {
        bucket: bucket.to_string(),
        key: key.clone(),
        message,
    };
    // The version first (a newer record may not parse as this one), without building a Value.
    #[derive(Deserialize)]
    struct Version {
        #[serde(default)]
        version: Option<u64>,
    }
    let version: Version = serde_json::from_slice(bytes).map_err(|e| corrupt(e.to_string()))?;
    if let Some(v) = version.version.filter(|v| *v > u64::from(RECORD_VERSION)) {
        return Err(ReleaseError::Newer {
            bucket: bucket.to_string(),
            key,
            version: v,
        });
    }
    serde_json::from_slice(bytes).map_err(|e| corrupt(e.to_string()))
}

/// The history index: the newest release ids (1,000, `Tuning::history_page`: more than any
/// deploy reads back), so reading the history costs the same at 10 or 10,000 records. Beside the records, not among them (an older deckhand lists
/// `_deckhand/releases/` and reads every key there as a record).
pub(crate) const INDEX_KEY: &str = "_deckhand/releases-index.json";
const INDEX_VERSION: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
struct Index {
    version: u32,
    /// Records in the bucket.
    count: usize,
    /// The newest ids, newest first.
    newest: Vec<String>,
}

/// The newest release ids (newest first) and how many there are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Recent {
    pub(crate) ids: Vec<String>,
    pub(crate) total: usize,
    /// `ids` holds every id.
    pub(crate) all: bool,
}

impl Recent {
    /// Every id (any order): complete.
    fn all(mut ids: Vec<String>) -> Self {
        ids.sort();
        ids.reverse();
        Self {
            total: ids.len(),
            all: true,
            ids,
        }
    }
}

pub(crate) struct ReleaseStore<'a> {
    ctx: &'a AwsContext,
    pub(crate) bucket: String,
}

fn key_of(id: &str) -> String {
    format!("{RELEASES_PREFIX}{id}.json")
}

impl<'a> ReleaseStore<'a> {
    pub(crate) fn new(ctx: &'a AwsContext, bucket: impl Into<String>) -> Self {
        Self {
            ctx,
            bucket: bucket.into(),
        }
    }

    /// The store in the environment's `state-bucket` (the lock and the records live there);
    /// [`ReleaseError::NoStateBucket`] when the configuration names none.
    pub(crate) fn of(ctx: &'a AwsContext, settings: &Settings) -> Result<Self, ReleaseError> {
        let bucket = settings
            .state_bucket
            .clone()
            .ok_or(ReleaseError::NoStateBucket)?;
        Ok(Self::new(ctx, bucket))
    }

    /// Every release id, oldest first (ids sort by time). One ListObjectsV2 call per 1,000.
    pub(crate) async fn list_ids(&self) -> Result<Vec<String>, ReleaseError> {
        self.list_after(None).await
    }

    /// The release ids after `after` (all of them for `None`), oldest first.
    async fn list_after(&self, after: Option<&str>) -> Result<Vec<String>, ReleaseError> {
        self.list_from(after.map(key_of)).await
    }

    /// The release ids whose keys sort after `start_after` (all of them for `None`), oldest first.
    async fn list_from(&self, start_after: Option<String>) -> Result<Vec<String>, ReleaseError> {
        let (mut ids, mut token) = self.list_page(start_after.clone(), None).await?;
        while let Some(t) = token {
            let (more, next) = self.list_page(start_after.clone(), Some(t)).await?;
            ids.extend(more);
            token = next;
        }
        ids.sort();
        Ok(ids)
    }

    /// One ListObjectsV2 page of release ids (at most 1,000) and the token of the next page.
    async fn list_page(
        &self,
        start_after: Option<String>,
        token: Option<String>,
    ) -> Result<(Vec<String>, Option<String>), ReleaseError> {
        let page = self
            .ctx
            .s3
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(RELEASES_PREFIX)
            .max_keys(i32::try_from(self.ctx.tuning.history_page).unwrap_or(1000))
            .set_start_after(start_after)
            .set_continuation_token(token)
            .send()
            .await
            .map_err(|e| ReleaseError::List {
                bucket: self.bucket.clone(),
                source: self.ctx.call_error("s3", "ListObjectsV2", e),
            })?;
        let ids = page
            .contents()
            .iter()
            .filter_map(|o| {
                o.key()?
                    .strip_prefix(RELEASES_PREFIX)?
                    .strip_suffix(".json")
                    .filter(|id| super::is_release_id(id))
                    .map(str::to_string)
            })
            .collect();
        let next = page
            .is_truncated()
            .unwrap_or(false)
            .then(|| page.next_continuation_token().map(str::to_string))
            .flatten();
        Ok((ids, next))
    }

    pub(crate) async fn read(&self, id: &str) -> Result<ReleaseRecord, ReleaseError> {
        let key = key_of(id);
        let obj = self
            .ctx
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(&key)
            .send()
            .await
            .map_err(|e| ReleaseError::Read {
                bucket: self.bucket.clone(),
                key: key.clone(),
                source: self.ctx.call_error("s3", "GetObject", e),
            })?;
        let bytes = obj
            .body
            .collect()
            .await
            .map_err(|e| ReleaseError::Corrupt {
                bucket: self.bucket.clone(),
                key: key.clone(),
                message: e.to_string(),
            })?;
        parse(&self.bucket, key, &bytes.into_bytes())
    }

    /// The records of `ids`, in that order, at most `concurrency` GETs in flight.
    pub(crate) async fn read_many(
        &self,
        ids: &[String],
        concurrency: usize,
    ) -> Result<Vec<ReleaseRecord>, ReleaseError> {
        use futures::StreamExt as _;
        futures::stream::iter(ids)
            .map(|id| self.read(id))
            .buffered(concurrency.max(1))
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect()
    }

    /// The newest release record, if any.
    pub(crate) async fn latest(&self) -> Result<Option<ReleaseRecord>, ReleaseError> {
        match self.recent().await?.ids.first() {
            Some(id) => match self.read(id).await {
                Err(e) if e.is_missing() => {
                    let all = self.everything().await?;
                    match all.ids.first() {
                        Some(id) => self.read(id).await.map(Some),
                        None => Ok(None),
                    }
                }
                other => other.map(Some),
            },
            None => Ok(None),
        }
    }

    /// The newest release ids and how many there are, without listing every record: one
    /// ListObjectsV2 page; when the history is longer than a page, the index (one GetObject) and
    /// the records written after its newest (one ListObjectsV2 with StartAfter, normally empty:
    /// S3 lists keys in ascending order, so only a known key lets a listing start near the newest
    /// — `StartAfter` in https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html).
    /// No usable index (none yet, unreadable, or denied): every id, listed.
    pub(crate) async fn recent(&self) -> Result<Recent, ReleaseError> {
        // A history that fits in one page is that page (one call, as before the index).
        let (first, next) = self.list_page(None, None).await?;
        let Some(token) = next else {
            return Ok(Recent::all(first));
        };
        let Some(index) = self.read_index().await else {
            let (mut ids, mut token) = (first, Some(token));
            while let Some(t) = token {
                let (more, next) = self.list_page(None, Some(t)).await?;
                ids.extend(more);
                token = next;
            }
            return Ok(Recent::all(ids));
        };
        let newer = self
            .list_after(index.newest.first().map(String::as_str))
            .await?;
        let added = newer.len();
        let mut ids: Vec<String> = newer.into_iter().rev().collect();
        ids.extend(index.newest);
        let total = (index.count + added).max(ids.len());
        Ok(Recent {
            all: ids.len() >= total,
            total,
            ids,
        })
    }

    /// The newest release id, given that `known` was the newest when the caller last looked: one
    /// ListObjectsV2 from its key on (normally `known` alone). A `known` that is no record (a plan
    /// file's claim), or none: every id is listed.
    pub(crate) async fn newest_since(
        &self,
        known: Option<&str>,
    ) -> Result<Option<String>, ReleaseError> {
        if let Some(known) = known {
            // `<prefix><id>` sorts just before `<prefix><id>.json`: the listing starts with it.
            let listed = self
                .list_from(Some(format!("{RELEASES_PREFIX}{known}")))
                .await?;
            if listed.first().map(String::as_str) == Some(known) {
                return Ok(listed.last().cloned());
            }
        }
        Ok(self.list_ids().await?.pop())
    }

    /// The oldest release id (the first page of one ListObjectsV2: keys come in ascending order).
    pub(crate) async fn oldest_id(&self) -> Result<Option<String>, ReleaseError> {
        let page = self
            .ctx
            .s3
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(RELEASES_PREFIX)
            .send()
            .await
            .map_err(|e| ReleaseError::List {
                bucket: self.bucket.clone(),
                source: self.ctx.call_error("s3", "ListObjectsV2", e),
            })?;
        Ok(page.contents().iter().find_map(|o| {
            o.key()?
                .strip_prefix(RELEASES_PREFIX)?
                .strip_suffix(".json")
                .filter(|id| super::is_release_id(id))
                .map(str::to_string)
        }))
    }

    /// Every release id, newest first (one ListObjectsV2 per 1,000 records).
    pub(crate) async fn everything(&self) -> Result<Recent, ReleaseError> {
        Ok(Recent::all(self.list_ids().await?))
    }

    /// The index, when there is a usable one.
    async fn read_index(&self) -> Option<Index> {
        let obj = self
            .ctx
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(INDEX_KEY)
            .send()
            .await;
        let obj = match obj {
            Ok(o) => o,
            Err(e) => {
                let e = self.ctx.call_error("s3", "GetObject", e);
                if e.code() != Some("NoSuchKey") {
                    tracing::warn!(
                        "cannot read s3://{}/{INDEX_KEY} ({e}): listing every release record",
                        self.bucket
                    );
                }
                return None;
            }
        };
        let bytes = obj.body.collect().await.ok()?.into_bytes();
        let index: Index = match serde_json::from_slice(&bytes) {
            Ok(i) => i,
            Err(e) => {
                tracing::warn!(
                    "s3://{}/{INDEX_KEY} is not valid ({e}): listing every release record",
                    self.bucket
                );
                return None;
            }
        };
        let ordered = index.newest.windows(2).all(|w| w[0] > w[1])
            && index.newest.iter().all(|id| super::is_release_id(id));
        if index.version != INDEX_VERSION || !ordered || index.newest.is_empty() {
            tracing::warn!(
                "s3://{}/{INDEX_KEY} is not usable: listing every release record",
                self.bucket
            );
            return None;
        }
        Some(index)
    }

    /// Rewrites the index from the index and the records written after it (under the lock), once
    /// the history no longer fits in one listing page.
    async fn write_index(&self) -> Result<(), ReleaseError> {
        let recent = self.recent().await?;
        if recent.total < self.ctx.tuning.history_page {
            return Ok(());
        }
        let index = Index {
            version: INDEX_VERSION,
            count: recent.total,
            newest: recent
                .ids
                .into_iter()
                .take(self.ctx.tuning.history_page)
                .collect(),
        };
        let body = serde_json::to_vec(&index).unwrap_or_default();
        self.ctx
            .s3
            .put_object()
            .bucket(&self.bucket)
            .key(INDEX_KEY)
            .content_type("application/json")
            .cache_control("no-cache")
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| ReleaseError::Write {
                bucket: self.bucket.clone(),
                key: INDEX_KEY.to_string(),
                source: self.ctx.call_error("s3", "PutObject", e),
            })?;
        Ok(())
    }

    /// Writes `record`, with the phase timings of the command writing it as they stand
    /// ([`timed`]): every record a deploy, rollback or promote writes (succeeded, failed, stopped,
    /// the rewrite after its invalidation) says where its time went so far.
    pub(crate) async fn write(&self, record: &ReleaseRecord) -> Result<(), ReleaseError> {
        let timed = timed(record);
        let record = timed.as_ref().unwrap_or(record);
        let key = key_of(&record.id);
        let body = serde_json::to_vec_pretty(record).map_err(|e| ReleaseError::Corrupt {
            bucket: self.bucket.clone(),
            key: key.clone(),
            message: e.to_string(),
        })?;
        self.ctx
            .s3
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .content_type("application/json")
            .cache_control("no-cache")
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| ReleaseError::Write {
                bucket: self.bucket.clone(),
                key,
                source: self.ctx.call_error("s3", "PutObject", e),
            })?;
        // The record is what counts; a stale index is caught up by the next reader's listing.
        if let Err(e) = self.write_index().await {
            tracing::warn!("{e}: the next release lists the records instead");
        }
        Ok(())
    }
}

/// `record` with the timings of the command writing it (None when no command timed anything:
/// the record is written as it is); push-to-live for a release that succeeded.
fn timed(record: &ReleaseRecord) -> Option<ReleaseRecord> {
    let succeeded = record.status == crate::release::ReleaseStatus::Succeeded;
    Some(ReleaseRecord {
        timings: Some(crate::timing::for_record(succeeded)?),
        ..record.clone()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::release::ReleaseStatus;

    const V1: &str = include_str!("../../tests/fixtures/records/v1-release.json");

    #[test]
    fn a_record_of_an_older_deckhand_reads_with_defaults() {
        let r = parse("b", "k".into(), V1.as_bytes()).expect("an older record reads");
        assert_eq!(r.version, 1);
        let b = r.backend.as_ref().expect("backend");
        assert_eq!(
            (b.origin.as_deref(), b.status),
            (None, ReleaseStatus::Succeeded)
        );
        assert_eq!((&b.rollout_state, &b.attempted), (&None, &None));
        assert_eq!(b.source_tag, "src-5d41402abc4b");
        let s = r.site.as_ref().expect("site");
        assert_eq!((s.origin.as_deref(), s.files.len()), (None, 2));
        // Written back, it is the current version with the halves' origin unknown (null).
        let again = serde_json::to_value(&ReleaseRecord {
            version: RECORD_VERSION,
            ..r
        })
        .expect("json");
        assert_eq!(again["version"], 2);
        assert!(again["backend"]["origin"].is_null());
    }

    #[test]
    fn a_record_of_a_newer_version_is_refused_naming_it() {
        let mut v: serde_json::Value = serde_json::from_str(V1).expect("json");
        v["version"] = 3.into();
        let err = parse(
            "b",
            "_deckhand/releases/x.json".into(),
            v.to_string().as_bytes(),
        )
        .expect_err("refused");
        assert_eq!(
            err.to_string(),
            "release record s3://b/_deckhand/releases/x.json was written by a newer deckhand (record version 3; this deckhand reads versions 1 to 2)"
        );
        let err = parse("b", "k".into(), b"{\"id\": 1}").expect_err("corrupt");
        assert!(
            err.to_string()
                .starts_with("release record s3://b/k is not valid JSON"),
            "{err}"
        );
    }
}
