//! CloudFront: invalidation paths (pure), CreateInvalidation with backoff, and the optional wait.

mod invalidate;
pub(crate) mod paths;

use std::time::Duration;

use crate::aws::AwsError;
use crate::error::{Diagnose, Exit};

pub(crate) use invalidate::{create, wait};

#[derive(Debug, thiserror::Error)]
pub(crate) enum CdnError {
    #[error("cannot invalidate {paths} on CloudFront distribution {distribution}")]
    Create {
        distribution: String,
        paths: String,
        #[source]
        source: Box<AwsError>,
    },
    #[error("invalid invalidation batch: {message}")]
    Invalid { message: String },
    #[error("cannot follow invalidation {id} on CloudFront distribution {distribution}")]
    Get {
        distribution: String,
        id: String,
        #[source]
        source: Box<AwsError>,
    },
    #[error(
        "invalidation {id} on CloudFront distribution {distribution} did not complete within {}",
        humantime::format_duration(*waited)
    )]
    Timeout {
        distribution: String,
        id: String,
        waited: Duration,
    },
}

impl Diagnose for CdnError {
    fn exit(&self) -> Exit {
        match self {
            CdnError::Timeout { .. } => Exit::TimedOut,
            _ => Exit::Error,
        }
    }
    fn help(&self) -> Option<String> {
        match self {
            CdnError::Create { source, .. } => Some(format!(
                "the release is recorded and its files are live in S3; caches expire on their own, or re-run the deploy{}",
                source
                    .help()
                    .map(|h| format!("\n{h}"))
                    .unwrap_or_default()
            )),
            CdnError::Get { source, .. } => source.help(),
            CdnError::Invalid { .. } => None,
            CdnError::Timeout { .. } => Some(
                "the invalidation keeps running in CloudFront; raise frontend.invalidation.timeout, or set `required: false` to only warn".into(),
            ),
        }
    }
}

/// Poll interval for CloudFront (DECKHAND_POLL_INTERVAL_MS in tests).
pub(crate) fn poll_interval() -> Duration {
    std::env::var("DECKHAND_POLL_INTERVAL_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(Duration::from_secs(5), Duration::from_millis)
}
