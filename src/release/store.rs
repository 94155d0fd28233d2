//! Reading and writing release records in the state bucket.

use aws_sdk_s3::primitives::ByteStream;

use super::error::ReleaseError;
use super::{RELEASES_PREFIX, ReleaseRecord};
use crate::aws::AwsContext;

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

    /// Every release id, oldest first (ids sort by time). One ListObjectsV2 call per 1,000.
    pub(crate) async fn list_ids(&self) -> Result<Vec<String>, ReleaseError> {
        let mut ids = Vec::new();
        let mut pages = self
            .ctx
            .s3
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(RELEASES_PREFIX)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| ReleaseError::List {
                bucket: self.bucket.clone(),
                source: self.ctx.call_error("s3", "ListObjectsV2", e),
            })?;
            ids.extend(page.contents().iter().filter_map(|o| {
                o.key()?
                    .strip_prefix(RELEASES_PREFIX)?
                    .strip_suffix(".json")
                    .map(str::to_string)
            }));
        }
        ids.sort();
        Ok(ids)
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
        serde_json::from_slice(&bytes.into_bytes()).map_err(|e| ReleaseError::Corrupt {
            bucket: self.bucket.clone(),
            key,
            message: e.to_string(),
        })
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
        match self.list_ids().await?.last() {
            Some(id) => self.read(id).await.map(Some),
            None => Ok(None),
        }
    }

    pub(crate) async fn write(&self, record: &ReleaseRecord) -> Result<(), ReleaseError> {
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
        Ok(())
    }
}
