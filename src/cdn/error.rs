//! What can go wrong invalidating CloudFront: a wait that times out is exit 4.

use std::time::Duration;

use crate::aws::AwsError;
use crate::diagnose::{Diagnose, Exit};

#[derive(Debug, thiserror::Error)]
pub(crate) enum CdnError {
    #[error("cannot invalidate {paths} on CloudFront distribution {distribution}")]
    Create {
        distribution: String,
        paths: String,
        #[source]
        source: Box<AwsError>,
    },
    #[error(
        "stopped waiting for invalidation {id} on CloudFront distribution {distribution} (it goes on): {reason}"
    )]
    Stopped {
        distribution: String,
        id: String,
        reason: String,
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
    #[error("cannot follow invalidation {id} on CloudFront distribution {distribution}: {message}")]
    Waiter {
        distribution: String,
        id: String,
        message: String,
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
                "the release is recorded with its invalidation pending (its files are live in S3; its garbage collection waits too): the next deploy of the frontend, or a rollback, retries them{}",
                source
                    .help()
                    .map(|h| format!("\n{h}"))
                    .unwrap_or_default()
            )),
            CdnError::Get { source, .. } => source.help(),
            CdnError::Invalid { .. } | CdnError::Waiter { .. } | CdnError::Stopped { .. } => None,
            CdnError::Timeout { .. } => Some(
                "the invalidation keeps running in CloudFront; raise frontend.invalidation.timeout, or set `required: false` to only warn".into(),
            ),
        }
    }
}
