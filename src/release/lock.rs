//! `_deckhand/lock`: one deploy, rollback or secrets sync at a time, by S3 conditional writes.
//!
//! - **acquire**: `PutObject If-None-Match: *`. When a lock exists, it is read (body, ETag,
//!   LastModified); a live one fails with [`ReleaseError::Locked`] (exit 5) naming its holder,
//!   run URL and expiry. An expired one (its `expires_at` passed, or — body unreadable — its
//!   object age passed the TTL) is taken over by `PutObject If-Match: <its ETag>`, so of two
//!   takers exactly one wins (the other gets 412 `PreconditionFailed` or 409
//!   `ConditionalRequestConflict` and reports the winner as the holder).
//! - **renew**: a heartbeat task rewrites the lock (`If-Match` on the ETag it last wrote) every
//!   TTL/3 with a new expiry, for as long as the lock is held (builds, rollouts, invalidation
//!   waits), so a live deploy's lock never expires. A failed condition means the lock was taken:
//!   the heartbeat stops and says so.
//! - **release**: `DeleteObject If-Match: <the ETag we last wrote>`: only our own lock is removed;
//!   a lock someone else took over is left in place (warning naming them).
//! - **force-unlock** (`deckhand unlock --force`): removes the lock it read (conditional on that
//!   ETag) and reports its holder.
//!
//! The TTL is 15 minutes (`Tuning::lock_ttl`; test knob `DECKHAND_LOCK_TTL`).

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::error::ProvideErrorMetadata as _;
use aws_sdk_s3::primitives::ByteStream;
use tokio::sync::{Mutex, watch};

use super::error::ReleaseError;
use super::{LockHolder, later, rfc3339};
use crate::aws::{AwsContext, AwsError};

pub(crate) const LOCK_KEY: &str = "_deckhand/lock";
const ATTEMPTS: usize = 4;

/// The lock's time to live, renewed every third of it while held.
pub(crate) fn ttl(ctx: &AwsContext) -> Duration {
    ctx.tuning.lock_ttl
}

/// The name of the state the main step leaves for the action's post step (`STATE_deckhand_lock`).
pub(crate) const LEFT_STATE: &str = "deckhand_lock";

/// What the action's post step needs to release a lock this step may have left: which lock
/// (bucket, this acquisition's token), how to reach it, and the container this step ran in (the
/// post step releases the lock only once that container has exited).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct LeftLock {
    pub(crate) bucket: String,
    pub(crate) token: String,
    pub(crate) release_id: String,
    /// `HOSTNAME`: Docker sets it to the container's short id (its default hostname).
    pub(crate) container: Option<String>,
    pub(crate) region: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) endpoint_url: Option<String>,
}

/// The container this process runs in, as Docker names it (hostname = short id, also `HOSTNAME`).
fn container_id() -> Option<String> {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
}

/// The lock object as read: its body (None when not valid JSON), ETag and age.
#[derive(Debug, Clone)]
pub(crate) struct LockObject {
    pub(crate) holder: Option<LockHolder>,
    pub(crate) etag: String,
    pub(crate) last_modified: Option<chrono::DateTime<chrono::Utc>>,
}

impl LockObject {
    /// Expired: its expiry passed, or its body is unreadable and it is older than the TTL.
    fn expired(&self, ttl: Duration, now: chrono::DateTime<chrono::Utc>) -> bool {
        match &self.holder {
            Some(h) => h.expired(now),
            None => self.last_modified.is_none_or(|t| {
                now - t > chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::zero())
            }),
        }
    }

    /// The holder to name in an error (a placeholder for an unreadable body).
    fn named(&self, ttl: Duration) -> LockHolder {
        self.holder.clone().unwrap_or_else(|| {
            let since = self.last_modified.map(rfc3339).unwrap_or_default();
            let expires = self
                .last_modified
                .map(|t| rfc3339(t + chrono::Duration::from_std(ttl).unwrap_or_default()))
                .unwrap_or_default();
            LockHolder {
                holder: "unknown (unreadable lock body)".into(),
                release_id: "unknown".into(),
                run_url: None,
                acquired_at: since,
                expires_at: expires,
                operation: None,
                token: String::new(),
            }
        })
    }
}

/// What we last wrote.
struct Held {
    holder: LockHolder,
    etag: String,
    lost: Option<String>,
}

/// A held lock; [`Lock::release`] it when the operation ends (success or failure).
pub(crate) struct Lock<'a> {
    ctx: &'a AwsContext,
    bucket: String,
    held: Arc<Mutex<Held>>,
    stop: watch::Sender<bool>,
    heartbeat: Option<tokio::task::JoinHandle<()>>,
}

fn conflict(code: Option<&str>) -> bool {
    matches!(
        code,
        Some("PreconditionFailed" | "ConditionalRequestConflict" | "NoSuchKey")
    )
}

impl<'a> Lock<'a> {
    /// Takes the lock or fails with [`ReleaseError::Locked`] naming the holder.
    pub(crate) async fn acquire(
        ctx: &'a AwsContext,
        bucket: &str,
        me: &LockHolder,
    ) -> Result<Lock<'a>, ReleaseError> {
        let _timed = crate::timing::phase("lock");
        let ttl = ttl(ctx);
        let lock_err = |source| ReleaseError::Lock {
            bucket: bucket.to_string(),
            source,
        };
        // Before the lock can exist: a step killed at any point leaves its post step what it
        // needs to release it (only if it is this acquisition's, once the container is gone).
        let left = LeftLock {
            bucket: bucket.to_string(),
            token: me.token.clone(),
            release_id: me.release_id.clone(),
            container: container_id(),
            region: ctx.region.clone(),
            endpoint_url: ctx.endpoint_override(),
        };
        crate::step::save_state(
            LEFT_STATE,
            &serde_json::to_string(&left).unwrap_or_default(),
        );
        let mut last_seen: Option<LockObject> = None;
        for _ in 0..ATTEMPTS {
            let body = serde_json::to_vec(me).unwrap_or_default();
            let put = ctx
                .s3
                .put_object()
                .bucket(bucket)
                .key(LOCK_KEY)
                .if_none_match("*")
                .content_type("application/json")
                .cache_control("no-store")
                .body(ByteStream::from(body))
                .send()
                .await;
            match put {
                Ok(out) => {
                    return Ok(Self::held(
                        ctx,
                        bucket,
                        me.clone(),
                        out.e_tag().unwrap_or_default(),
                        ttl,
                    ));
                }
                Err(e) => {
                    let err = ctx.call_error("s3", "PutObject", e);
                    if !conflict(err.code()) {
                        return Err(lock_err(err));
                    }
                }
            }
            let Some(current) = read(ctx, bucket).await.map_err(lock_err)? else {
                continue; // released in between: try again
            };
            if current.holder.as_ref().is_some_and(|h| h.token == me.token) {
                // Our own create answered an error after landing (a retried request).
                return Ok(Self::held(ctx, bucket, me.clone(), &current.etag, ttl));
            }
            if !current.expired(ttl, chrono::Utc::now()) {
                return Err(ReleaseError::Locked {
                    bucket: bucket.to_string(),
                    holder: Box::new(current.named(ttl)),
                });
            }
            let body = serde_json::to_vec(me).unwrap_or_default();
            let take = ctx
                .s3
                .put_object()
                .bucket(bucket)
                .key(LOCK_KEY)
                .if_match(&current.etag)
                .content_type("application/json")
                .cache_control("no-store")
                .body(ByteStream::from(body))
                .send()
                .await;
            match take {
                Ok(out) => {
                    tracing::warn!(
                        "took over the expired lock of {} (expired {})",
                        current.named(ttl),
                        current.named(ttl).expires_at
                    );
                    return Ok(Self::held(
                        ctx,
                        bucket,
                        me.clone(),
                        out.e_tag().unwrap_or_default(),
                        ttl,
                    ));
                }
                Err(e) => {
                    let err = ctx.call_error("s3", "PutObject", e);
                    if !conflict(err.code()) {
                        return Err(lock_err(err));
                    }
                    // Another taker won; the next round reads and names it.
                    last_seen = Some(current);
                }
            }
        }
        match read(ctx, bucket).await.map_err(lock_err)?.or(last_seen) {
            Some(current) => Err(ReleaseError::Locked {
                bucket: bucket.to_string(),
                holder: Box::new(current.named(ttl)),
            }),
            None => Err(lock_err(AwsError::from(crate::aws::CallError {
                service: "s3",
                operation: "PutObject",
                endpoint: ctx.endpoint("s3"),
                kind: crate::aws::CallKind::Service,
                code: None,
                message: "the lock kept changing hands".into(),
                source: None,
            }))),
        }
    }

    fn held(
        ctx: &'a AwsContext,
        bucket: &str,
        holder: LockHolder,
        etag: &str,
        ttl: Duration,
    ) -> Lock<'a> {
        let held = Arc::new(Mutex::new(Held {
            holder,
            etag: etag.to_string(),
            lost: None,
        }));
        let (stop, stopped) = watch::channel(false);
        let heartbeat = tokio::spawn(heartbeat(
            ctx.s3.clone(),
            bucket.to_string(),
            Arc::clone(&held),
            ttl,
            stopped,
        ));
        Lock {
            ctx,
            bucket: bucket.to_string(),
            held,
            stop,
            heartbeat: Some(heartbeat),
        }
    }

    /// Who holds the lock now, if anyone.
    pub(crate) async fn holder(
        ctx: &AwsContext,
        bucket: &str,
    ) -> Result<Option<LockHolder>, ReleaseError> {
        let ttl = ttl(ctx);
        read(ctx, bucket)
            .await
            .map(|o| o.map(|o| o.named(ttl)))
            .map_err(|source| ReleaseError::Lock {
                bucket: bucket.to_string(),
                source,
            })
    }

    /// Stops the heartbeat and deletes the lock if it is still ours. Allowed after the write
    /// gate closed (a signal): releasing is what lets the next deploy run.
    pub(crate) async fn release(self) -> Result<(), ReleaseError> {
        crate::aws::gate::cleanup(self.release_now()).await
    }

    async fn release_now(self) -> Result<(), ReleaseError> {
        let released = self.release_inner().await;
        if released.is_ok() {
            // Nothing left for the post step (the lock is gone, or someone else's now).
            crate::step::save_state(LEFT_STATE, "");
        }
        released
    }

    async fn release_inner(mut self) -> Result<(), ReleaseError> {
        let _ = self.stop.send(true);
        if let Some(task) = self.heartbeat.take() {
            let _ = task.await;
        }
        let held = self.held.lock().await;
        if let Some(lost) = &held.lost {
            tracing::warn!("the lock was not ours any more at the end: {lost}");
            return Ok(());
        }
        let deleted = self
            .ctx
            .s3
            .delete_object()
            .bucket(&self.bucket)
            .key(LOCK_KEY)
            .if_match(&held.etag)
            .send()
            .await;
        let lock_err = |source| ReleaseError::Lock {
            bucket: self.bucket.clone(),
            source,
        };
        if let Err(e) = deleted {
            let err = self.ctx.call_error("s3", "DeleteObject", e);
            if !conflict(err.code()) {
                return Err(lock_err(err));
            }
            match read(self.ctx, &self.bucket).await.map_err(lock_err)? {
                Some(now)
                    if now
                        .holder
                        .as_ref()
                        .is_some_and(|h| h.token == held.holder.token) =>
                {
                    return Err(lock_err(err));
                }
                Some(now) => tracing::warn!(
                    "left the lock in place: it was taken over by {}",
                    now.named(ttl(self.ctx))
                ),
                None => tracing::warn!("the lock was already removed"),
            }
        }
        Ok(())
    }
}

impl Drop for Lock<'_> {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// The instant `expires_at` (the lock's RFC 3339 expiry, whole seconds) less `margin`, on this
/// process's monotonic clock (now when it cannot be read or has passed).
fn fence_at(expires_at: &str, margin: Duration) -> tokio::time::Instant {
    let left = chrono::DateTime::parse_from_rfc3339(expires_at)
        .ok()
        .and_then(|t| {
            (t.with_timezone(&chrono::Utc) - chrono::Utc::now())
                .to_std()
                .ok()
        })
        .unwrap_or_default();
    tokio::time::Instant::now() + left.saturating_sub(margin)
}

/// Renews the lock every TTL/3 until told to stop (or the lock was taken). A renewal that fails
/// otherwise (S3 errors, a hung connection) is tried again at the next beat — and, once the lock
/// is about to expire unrenewed (TTL/6 before `expires_at`: a taker judges the expiry by its own
/// clock, and a write of ours may still be in flight), the holder stops writing: from its expiry
/// on anyone may take the lock over (`acquire`), and a holder that cannot reach S3 never hears.
async fn heartbeat(
    s3: aws_sdk_s3::Client,
    bucket: String,
    held: Arc<Mutex<Held>>,
    ttl: Duration,
    mut stopped: watch::Receiver<bool>,
) {
    let every = (ttl / 3).max(Duration::from_millis(100));
    let margin = ttl / 6;
    let mut fence = fence_at(&held.lock().await.holder.expires_at, margin);
    let mut failure = String::new();
    loop {
        let now = tokio::time::Instant::now();
        let wake = (now + every).min(fence.max(now + Duration::from_millis(10)));
        tokio::select! {
            _ = tokio::time::sleep_until(wake) => {}
            _ = stopped.changed() => return,
        }
        if *stopped.borrow() || crate::aws::gate::closed().is_some() {
            // Stopping (a signal): the lock is released in a moment, not renewed.
            return;
        }
        let mut h = held.lock().await;
        if tokio::time::Instant::now() >= fence && !failure.is_empty() {
            let text = format!(
                "expiry: s3://{bucket}/{LOCK_KEY} expires at {} and could not be renewed ({failure})",
                h.holder.expires_at
            );
            // Not `lost`: the lock may still be ours; its release deletes it only if so.
            tracing::error!("lock lost to {text}: no further write");
            crate::aws::gate::close(crate::aws::gate::Closed::LockLost(text));
            return;
        }
        let mut next = h.holder.clone();
        next.expires_at = later(ttl);
        let body = serde_json::to_vec(&next).unwrap_or_default();
        let put = s3
            .put_object()
            .bucket(&bucket)
            .key(LOCK_KEY)
            .if_match(&h.etag)
            .content_type("application/json")
            .cache_control("no-store")
            .body(ByteStream::from(body))
            .send();
        // Never waits past the fence: a renewal still in flight then counts as failed.
        let put =
            tokio::time::timeout_at(fence.max(tokio::time::Instant::now() + every), put).await;
        match put {
            Ok(Ok(out)) => {
                h.etag = out.e_tag().unwrap_or_default().to_string();
                h.holder = next;
                fence = fence_at(&h.holder.expires_at, margin);
                failure.clear();
                tracing::debug!("renewed the lock until {}", h.holder.expires_at);
            }
            Ok(Err(e)) if conflict(e.code()) => {
                // Taken over (our renewal came too late): this holder writes nothing more. The
                // write gate closes, so the deploy stops, records itself failed and exits 5.
                let by = taker(&s3, &bucket).await;
                let text = format!(
                    "s3://{bucket}/{LOCK_KEY} was taken over by {by} ({})",
                    e.code().unwrap_or_default()
                );
                tracing::error!("{text}: no further write");
                h.lost = Some(text);
                crate::aws::gate::close(crate::aws::gate::Closed::LockLost(by));
                return;
            }
            Ok(Err(e)) => failure = e.message().unwrap_or("no message").to_string(),
            Err(_) => failure = "the renewal did not answer in time".to_string(),
        }
        if !failure.is_empty() {
            let until = &h.holder.expires_at;
            tracing::warn!(
                "could not renew the lock s3://{bucket}/{LOCK_KEY} (will retry until {until}): {failure}"
            );
        }
    }
}

/// Who holds the lock now, as it names them (after our renewal lost to their write).
async fn taker(s3: &aws_sdk_s3::Client, bucket: &str) -> String {
    let body = match s3.get_object().bucket(bucket).key(LOCK_KEY).send().await {
        Ok(obj) => obj.body.collect().await.map(|b| b.into_bytes()).ok(),
        Err(_) => None,
    };
    match body.and_then(|b| serde_json::from_slice::<LockHolder>(&b).ok()) {
        Some(h) => h.to_string(),
        None => "someone else (the lock is gone or unreadable)".into(),
    }
}

/// The lock object, if there is one.
pub(crate) async fn read(ctx: &AwsContext, bucket: &str) -> Result<Option<LockObject>, AwsError> {
    match ctx
        .s3
        .get_object()
        .bucket(bucket)
        .key(LOCK_KEY)
        .send()
        .await
    {
        Ok(obj) => {
            let etag = obj.e_tag().unwrap_or_default().to_string();
            let last_modified = obj
                .last_modified()
                .and_then(|t| chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos()));
            let bytes = obj
                .body
                .collect()
                .await
                .map(|b| b.into_bytes())
                .unwrap_or_default();
            Ok(Some(LockObject {
                holder: serde_json::from_slice(&bytes).ok(),
                etag,
                last_modified,
            }))
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

/// What [`remove_if_token`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Removal {
    /// The lock was this acquisition's: removed.
    Removed(LockHolder),
    /// The lock is someone else's now (taken over after it expired): left alone.
    NotOurs(LockHolder),
    /// There is no lock.
    Gone,
}

/// Removes the lock only if it is the acquisition `token`'s (conditional on the ETag read).
pub(crate) async fn remove_if_token(
    ctx: &AwsContext,
    bucket: &str,
    token: &str,
) -> Result<Removal, ReleaseError> {
    let ttl = ttl(ctx);
    let lock_err = |source| ReleaseError::Lock {
        bucket: bucket.to_string(),
        source,
    };
    let Some(current) = read(ctx, bucket).await.map_err(lock_err)? else {
        return Ok(Removal::Gone);
    };
    if current.holder.as_ref().is_none_or(|h| h.token != token) {
        return Ok(Removal::NotOurs(current.named(ttl)));
    }
    let deleted = ctx
        .s3
        .delete_object()
        .bucket(bucket)
        .key(LOCK_KEY)
        .if_match(&current.etag)
        .send()
        .await;
    match deleted {
        Ok(_) => Ok(Removal::Removed(current.named(ttl))),
        Err(e) => {
            let err = ctx.call_error("s3", "DeleteObject", e);
            if conflict(err.code()) {
                // Renewed or taken in between: whoever it is now, it is not ours to remove.
                return Ok(match read(ctx, bucket).await.map_err(lock_err)? {
                    Some(now) => Removal::NotOurs(now.named(ttl)),
                    None => Removal::Gone,
                });
            }
            Err(lock_err(err))
        }
    }
}

/// `deckhand unlock`: removes the lock (only an expired one unless `force`), conditional on the
/// ETag it read, and returns the holder it removed.
pub(crate) async fn remove(
    ctx: &AwsContext,
    bucket: &str,
    force: bool,
) -> Result<Option<LockHolder>, ReleaseError> {
    let ttl = ttl(ctx);
    let lock_err = |source| ReleaseError::Lock {
        bucket: bucket.to_string(),
        source,
    };
    let Some(current) = read(ctx, bucket).await.map_err(lock_err)? else {
        return Ok(None);
    };
    if !force && !current.expired(ttl, chrono::Utc::now()) {
        return Err(ReleaseError::Locked {
            bucket: bucket.to_string(),
            holder: Box::new(current.named(ttl)),
        });
    }
    ctx.s3
        .delete_object()
        .bucket(bucket)
        .key(LOCK_KEY)
        .if_match(&current.etag)
        .send()
        .await
        .map_err(|e| lock_err(ctx.call_error("s3", "DeleteObject", e)))?;
    Ok(Some(current.named(ttl)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::parse_from_rfc3339(s)
            .expect("time")
            .to_utc()
    }

    #[test]
    fn a_corrupt_lock_expires_with_its_object_age() {
        let obj = LockObject {
            holder: None,
            etag: "\"e\"".into(),
            last_modified: Some(at("2026-12-01T10:00:00Z")),
        };
        let ttl = Duration::from_secs(600);
        assert!(!obj.expired(ttl, at("2026-12-01T10:09:59Z")));
        assert!(obj.expired(ttl, at("2026-12-01T10:10:01Z")));
        let named = obj.named(ttl);
        assert_eq!(named.expires_at, "2026-12-01T10:10:00Z");
        assert!(named.holder.contains("unreadable"));
    }

    #[test]
    fn a_readable_lock_expires_at_its_expiry() {
        let holder = LockHolder {
            holder: "ana".into(),
            release_id: "r1".into(),
            run_url: Some("https://github.com/o/r/actions/runs/1".into()),
            acquired_at: "2026-12-01T10:00:00Z".into(),
            expires_at: "2026-12-01T10:15:00Z".into(),
            operation: Some("deploy".into()),
            token: "t".into(),
        };
        let obj = LockObject {
            holder: Some(holder.clone()),
            etag: "\"e\"".into(),
            last_modified: Some(at("2026-12-01T09:00:00Z")),
        };
        assert!(!obj.expired(Duration::from_secs(1), at("2026-12-01T10:14:00Z")));
        assert!(obj.expired(Duration::from_secs(1), at("2026-12-01T10:16:00Z")));
        assert_eq!(
            holder.to_string(),
            "deploy release r1 by ana since 2026-12-01T10:00:00Z (https://github.com/o/r/actions/runs/1)"
        );
    }
}
