//! Reading and writing the ownership index `_deckhand/ownership.json` (the model is
//! [`crate::plan::ownership`]). The plan reads it (its ETag is part of the fingerprint, read again
//! under the lock); applying never reads it again: each write is the plan's index with the
//! release's changes, conditional on the ETag read (`If-Match`, or `If-None-Match: *` when there
//! was none), so a writer that lost the lock cannot overwrite its successor's index.

use aws_sdk_s3::primitives::ByteStream;
use futures::StreamExt as _;

use super::error::SiteError;
use super::observe::unquote;
use crate::aws::AwsContext;
use crate::plan::ownership::{OWNERSHIP_KEY, OWNERSHIP_VERSION, Ownership};
use crate::plan::site::Live;

/// HEADs in flight when confirming keys a killed deploy was about to write.
const CONFIRM_CONCURRENCY: usize = 16;

fn ownership_error(bucket: &str, message: impl Into<String>) -> SiteError {
    SiteError::Ownership {
        bucket: bucket.to_string(),
        message: message.into(),
    }
}

/// The index and its ETag; None when there is none.
pub(crate) async fn read(
    ctx: &AwsContext,
    bucket: &str,
) -> Result<Option<(String, Ownership)>, SiteError> {
    let out = match ctx
        .s3
        .get_object()
        .bucket(bucket)
        .key(OWNERSHIP_KEY)
        .send()
        .await
    {
        Ok(out) => out,
        Err(e) => {
            let err = ctx.call_error("s3", "GetObject", e);
            if err.code() == Some("NoSuchKey") {
                return Ok(None);
            }
            return Err(ownership_error(bucket, format!("cannot read it: {err}")));
        }
    };
    let etag = out.e_tag().map(unquote).unwrap_or_default();
    let bytes = out
        .body
        .collect()
        .await
        .map_err(|e| ownership_error(bucket, format!("cannot read it: {e}")))?
        .into_bytes();
    let value: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| ownership_error(bucket, format!("it is not JSON: {e}")))?;
    let version = value.get("version").and_then(serde_json::Value::as_u64);
    if version != Some(u64::from(OWNERSHIP_VERSION)) {
        return Err(ownership_error(
            bucket,
            format!(
                "it is version {}, this deckhand reads version {OWNERSHIP_VERSION}",
                version.map_or_else(|| "missing".to_string(), |v| v.to_string())
            ),
        ));
    }
    let owned = serde_json::from_value(value)
        .map_err(|e| ownership_error(bucket, format!("unexpected shape: {e}")))?;
    Ok(Some((etag, owned)))
}

/// Keys whose listed ETag is not the index's (a deploy was killed between writing the index and
/// hearing back from the upload; or a person overwrote the key) are HEADed: when the object
/// carries the sha256 deckhand publishes with (`x-amz-meta-sha256`) and it is the index's, the
/// object is deckhand's and its listed ETag is recorded in `live.owned` (in memory; the next
/// index write keeps it). Else it stays a person's bytes.
pub(crate) async fn confirm(
    ctx: &AwsContext,
    bucket: &str,
    live: &mut Live,
) -> Result<(), SiteError> {
    let unconfirmed: Vec<(String, String)> = live
        .owned
        .keys
        .iter()
        .filter(|(k, o)| {
            live.site
                .get(*k)
                .is_some_and(|l| o.etag.as_deref() != Some(l.etag.as_str()))
        })
        .filter_map(|(k, o)| o.sha256.clone().map(|sha| (k.clone(), sha)))
        .collect();
    if unconfirmed.is_empty() {
        return Ok(());
    }
    let results: Vec<Result<Option<(String, String)>, SiteError>> =
        futures::stream::iter(unconfirmed)
            .map(|(key, sha)| async move {
                let out = ctx
                    .s3
                    .head_object()
                    .bucket(bucket)
                    .key(&key)
                    .send()
                    .await
                    .map_err(|e| {
                        ownership_error(
                            bucket,
                            format!(
                                "cannot check {key}: {}",
                                ctx.call_error("s3", "HeadObject", e)
                            ),
                        )
                    })?;
                let ours = out
                    .metadata()
                    .and_then(|m| m.get("sha256"))
                    .is_some_and(|s| *s == sha);
                Ok(ours.then(|| (key, out.e_tag().map(unquote).unwrap_or_default())))
            })
            .buffer_unordered(CONFIRM_CONCURRENCY)
            .collect()
            .await;
    for r in results {
        if let Some((key, etag)) = r? {
            // The listing's ETag stands for what the plan saw; a HEAD racing a write is moot
            // (the fingerprint catches a moved bucket under the lock).
            let listed = live.site.get(&key).map(|o| o.etag.clone());
            if let (Some(owned), Some(listed)) = (live.owned.keys.get_mut(&key), listed)
                && listed == etag
            {
                owned.etag = Some(etag);
            }
        }
    }
    Ok(())
}

/// Writes the index, conditional on the ETag the plan read it with (`If-Match`; with none,
/// `If-None-Match: *`: it must still not exist). Returns the new ETag, for the next write.
pub(crate) async fn write(
    ctx: &AwsContext,
    bucket: &str,
    owned: &Ownership,
    etag: Option<&str>,
) -> Result<String, SiteError> {
    let body = serde_json::to_vec(owned)
        .map_err(|e| ownership_error(bucket, format!("cannot encode it: {e}")))?;
    let mut put = ctx
        .s3
        .put_object()
        .bucket(bucket)
        .key(OWNERSHIP_KEY)
        .content_type("application/json")
        .cache_control("no-cache")
        .body(ByteStream::from(body));
    // S3 conditional writes: https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html
    put = match etag {
        Some(e) => put.if_match(e),
        None => put.if_none_match("*"),
    };
    let err = match put.send().await {
        Ok(out) => return Ok(out.e_tag().map(unquote).unwrap_or_default()),
        Err(e) => ctx.call_error("s3", "PutObject", e),
    };
    if !matches!(
        err.code(),
        Some("PreconditionFailed" | "ConditionalRequestConflict")
    ) {
        return Err(ownership_error(bucket, format!("cannot write it: {err}")));
    }
    // The condition failed: another writer, or this very write, which landed while its answer
    // was lost (a reset, a timeout) and whose retry by the SDK met it. The index there says which.
    match read(ctx, bucket).await {
        Ok(Some((etag, there))) if there == *owned => Ok(etag),
        _ => Err(ownership_error(
            bucket,
            format!("it changed since this deploy read it ({err})"),
        )),
    }
}
