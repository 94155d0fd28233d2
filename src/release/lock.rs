//! `_deckhand/lock`: one deploy at a time, by S3 conditional write (`If-None-Match: *`).

use std::fmt;
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use serde::{Deserialize, Serialize};

use super::ReleaseError;
use crate::aws::AwsContext;

const LOCK_KEY: &str = "_deckhand/lock";

/// Who holds the lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct LockHolder {
    pub(crate) holder: String,
    pub(crate) release_id: String,
    pub(crate) run_url: Option<String>,
    pub(crate) acquired_at: String,
    pub(crate) expires_at: String,
}

impl fmt::Display for LockHolder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
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

/// A held lock; `release` it when the deploy ends (success or failure).
pub(crate) struct Lock<'a> {
    ctx: &'a AwsContext,
    bucket: String,
}

impl<'a> Lock<'a> {
    /// Takes the lock or fails with [`ReleaseError::Locked`] naming the holder. An expired lock
    /// (its holder died) is taken over.
    pub(crate) async fn acquire(
        ctx: &'a AwsContext,
        bucket: &str,
        me: &LockHolder,
    ) -> Result<Lock<'a>, ReleaseError> {
        let lock_err = |source| ReleaseError::Lock {
            bucket: bucket.to_string(),
            source,
        };
        for _ in 0..2 {
            let body = serde_json::to_vec(me).unwrap_or_default();
            let put = ctx
                .s3
                .put_object()
                .bucket(bucket)
                .key(LOCK_KEY)
                .if_none_match("*")
                .content_type("application/json")
                .body(ByteStream::from(body))
                .send()
                .await;
            let err = match put {
                Ok(_) => {
                    return Ok(Lock {
                        ctx,
                        bucket: bucket.to_string(),
                    });
                }
                Err(e) => ctx.call_error("s3", "PutObject", e),
            };
            if !matches!(
                err.code(),
                Some("PreconditionFailed" | "ConditionalRequestConflict")
            ) {
                return Err(lock_err(err));
            }
            let current = Self::read(ctx, bucket).await.map_err(lock_err)?;
            let Some(holder) = current else { continue };
            let expired = chrono::DateTime::parse_from_rfc3339(&holder.expires_at)
                .map(|t| t < chrono::Utc::now())
                .unwrap_or(true);
            if !expired {
                return Err(ReleaseError::Locked {
                    bucket: bucket.to_string(),
                    holder,
                });
            }
            tracing::warn!("taking over the expired lock of {holder}");
            ctx.s3
                .delete_object()
                .bucket(bucket)
                .key(LOCK_KEY)
                .send()
                .await
                .map_err(|e| lock_err(ctx.call_error("s3", "DeleteObject", e)))?;
        }
        match Self::read(ctx, bucket).await.map_err(lock_err)? {
            Some(holder) => Err(ReleaseError::Locked {
                bucket: bucket.to_string(),
                holder,
            }),
            None => Err(lock_err(crate::aws::AwsError::from(
                crate::aws::CallError {
                    service: "s3",
                    operation: "PutObject",
                    endpoint: ctx.endpoint("s3"),
                    kind: crate::aws::CallKind::Service,
                    code: None,
                    message: "the lock kept changing hands".into(),
                    source: None,
                },
            ))),
        }
    }

    async fn read(
        ctx: &AwsContext,
        bucket: &str,
    ) -> Result<Option<LockHolder>, crate::aws::AwsError> {
        match ctx
            .s3
            .get_object()
            .bucket(bucket)
            .key(LOCK_KEY)
            .send()
            .await
        {
            Ok(obj) => {
                let bytes = obj
                    .body
                    .collect()
                    .await
                    .map(|b| b.into_bytes())
                    .unwrap_or_default();
                Ok(serde_json::from_slice(&bytes).ok())
            }
            Err(e) => {
                let err = ctx.call_error("s3", "GetObject", e);
                if err.code() == Some("NoSuchKey") {
                    Ok(None)
                } else {
                    Err(err)
                }
            }
        }
    }

    /// Who holds the lock now, if anyone.
    pub(crate) async fn holder(
        ctx: &AwsContext,
        bucket: &str,
    ) -> Result<Option<LockHolder>, ReleaseError> {
        Self::read(ctx, bucket)
            .await
            .map_err(|source| ReleaseError::Lock {
                bucket: bucket.to_string(),
                source,
            })
    }

    pub(crate) async fn release(self) -> Result<(), ReleaseError> {
        self.ctx
            .s3
            .delete_object()
            .bucket(&self.bucket)
            .key(LOCK_KEY)
            .send()
            .await
            .map_err(|e| ReleaseError::Lock {
                bucket: self.bucket.clone(),
                source: self.ctx.call_error("s3", "DeleteObject", e),
            })?;
        Ok(())
    }
}

impl LockHolder {
    pub(crate) fn new(meta: &super::ReleaseMeta, ttl: Duration) -> Self {
        let now = chrono::Utc::now();
        let expires = now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::hours(1));
        let fmt =
            |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        Self {
            holder: meta.git.actor.clone().unwrap_or_else(|| "unknown".into()),
            release_id: meta.id.clone(),
            run_url: meta.git.run_url.clone(),
            acquired_at: fmt(now),
            expires_at: fmt(expires),
        }
    }
}
