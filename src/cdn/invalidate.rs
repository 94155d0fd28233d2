//! CreateInvalidation (backing off on TooManyInvalidationsInProgress) and GetInvalidation polling.

use std::time::{Duration, Instant};

use aws_sdk_cloudfront::types::{InvalidationBatch, Paths};

use super::error::CdnError;
use crate::aws::AwsContext;

/// Creates one invalidation batch and returns its id. `caller_reference` is derived from the
/// release id, so a retried deploy step gets the existing invalidation back instead of a second
/// one. Backs off while the distribution has too many invalidations in flight, up to `patience`.
pub(crate) async fn create(
    ctx: &AwsContext,
    distribution: &str,
    paths: &[String],
    caller_reference: &str,
    patience: Duration,
) -> Result<String, CdnError> {
    let started = Instant::now();
    let mut delay = poll_interval();
    let err = |source| CdnError::Create {
        distribution: distribution.to_string(),
        paths: summary(paths),
        source: Box::new(source),
    };
    let quantity = i32::try_from(paths.len()).unwrap_or(i32::MAX);
    let batch = InvalidationBatch::builder()
        .caller_reference(caller_reference)
        .paths(
            Paths::builder()
                .quantity(quantity)
                .set_items(Some(paths.to_vec()))
                .build()
                .map_err(|e| CdnError::Invalid {
                    message: e.to_string(),
                })?,
        )
        .build()
        .map_err(|e| CdnError::Invalid {
            message: e.to_string(),
        })?;
    loop {
        let sent = ctx
            .cloudfront
            .create_invalidation()
            .distribution_id(distribution)
            .invalidation_batch(batch.clone())
            .send()
            .await;
        match sent {
            Ok(out) => {
                let id = out
                    .invalidation()
                    .map(|i| i.id().to_string())
                    .unwrap_or_default();
                return Ok(id);
            }
            Err(e) => {
                let e = ctx.call_error("cloudfront", "CreateInvalidation", e);
                if e.code() == Some("TooManyInvalidationsInProgress")
                    && started.elapsed() + delay < patience
                {
                    tracing::info!(
                        "distribution {distribution} has too many invalidations in progress; retrying in {}",
                        humantime::format_duration(delay)
                    );
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(60));
                    continue;
                }
                return Err(err(e));
            }
        }
    }
}

/// Polls GetInvalidation until it completes (`Completed`; the local stack says `COMPLETED`).
/// Returns false when `timeout` passes first.
pub(crate) async fn wait(
    ctx: &AwsContext,
    distribution: &str,
    id: &str,
    timeout: Duration,
) -> Result<bool, CdnError> {
    let started = Instant::now();
    loop {
        let out = ctx
            .cloudfront
            .get_invalidation()
            .distribution_id(distribution)
            .id(id)
            .send()
            .await
            .map_err(|e| CdnError::Get {
                distribution: distribution.to_string(),
                id: id.to_string(),
                source: Box::new(ctx.call_error("cloudfront", "GetInvalidation", e)),
            })?;
        let status = out
            .invalidation()
            .map(|i| i.status().to_string())
            .unwrap_or_default();
        if status.eq_ignore_ascii_case("completed") {
            return Ok(true);
        }
        if started.elapsed() >= timeout {
            return Ok(false);
        }
        let left = timeout.saturating_sub(started.elapsed());
        tokio::time::sleep(poll_interval().min(left)).await;
    }
}

fn summary(paths: &[String]) -> String {
    match paths {
        [one] => one.clone(),
        _ => format!("{} paths", paths.len()),
    }
}

/// Poll interval for CloudFront (DECKHAND_POLL_INTERVAL_MS in tests).
fn poll_interval() -> Duration {
    std::env::var("DECKHAND_POLL_INTERVAL_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(Duration::from_secs(5), Duration::from_millis)
}
