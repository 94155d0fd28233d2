//! What is live in the site bucket: one ListObjectsV2 pass (1 call per 1,000 keys, no HEAD).

use std::collections::BTreeMap;

use super::SiteError;
use crate::aws::AwsContext;
use crate::release::{OBJECTS_PREFIX, STATE_PREFIX};

/// One listed object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LiveObject {
    pub(crate) size: u64,
    /// Without quotes.
    pub(crate) etag: String,
    /// Seconds since the epoch.
    pub(crate) last_modified: i64,
}

/// The bucket, split into the site's keys and deckhand's objects store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Live {
    pub(crate) site: BTreeMap<String, LiveObject>,
    /// sha256 -> object under `_deckhand/objects/`.
    pub(crate) objects: BTreeMap<String, LiveObject>,
}

pub(crate) fn unquote(etag: &str) -> String {
    etag.trim_matches('"').to_string()
}

pub(crate) async fn list(ctx: &AwsContext, bucket: &str) -> Result<Live, SiteError> {
    let mut live = Live::default();
    let mut pages = ctx
        .s3
        .list_objects_v2()
        .bucket(bucket)
        .max_keys(1000)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| SiteError::List {
            bucket: bucket.to_string(),
            source: Box::new(ctx.call_error("s3", "ListObjectsV2", e)),
        })?;
        for o in page.contents() {
            let Some(key) = o.key() else { continue };
            let obj = LiveObject {
                size: o.size().and_then(|s| u64::try_from(s).ok()).unwrap_or(0),
                etag: o.e_tag().map(unquote).unwrap_or_default(),
                last_modified: o.last_modified().map_or(0, |t| t.secs()),
            };
            if let Some(sha) = key.strip_prefix(OBJECTS_PREFIX) {
                live.objects.insert(sha.to_string(), obj);
            } else if !key.starts_with(STATE_PREFIX) {
                live.site.insert(key.to_string(), obj);
            }
        }
    }
    Ok(live)
}
