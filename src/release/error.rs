//! Reading and writing release records and the lock: what can go wrong, with its exit code.

use super::{LockHolder, RELEASES_PREFIX};
use crate::aws::AwsError;
use crate::diagnose::{Diagnose, Exit};

#[derive(Debug, thiserror::Error)]
pub(crate) enum ReleaseError {
    #[error("cannot read release records in s3://{bucket}/{RELEASES_PREFIX}")]
    List {
        bucket: String,
        #[source]
        source: AwsError,
    },
    #[error("cannot read release record s3://{bucket}/{key}")]
    Read {
        bucket: String,
        key: String,
        #[source]
        source: AwsError,
    },
    #[error("release record s3://{bucket}/{key} is not valid JSON: {message}")]
    Corrupt {
        bucket: String,
        key: String,
        message: String,
    },
    #[error(
        "release record s3://{bucket}/{key} was written by a newer deckhand (record version {version}; this deckhand reads versions 1 to {})",
        super::RECORD_VERSION
    )]
    Newer {
        bucket: String,
        key: String,
        version: u64,
    },
    #[error("cannot write release record s3://{bucket}/{key}")]
    Write {
        bucket: String,
        key: String,
        #[source]
        source: AwsError,
    },
    #[error(
        "the lock s3://{bucket}/_deckhand/lock is held by {holder}; it expires at {}",
        holder.expires_at
    )]
    Locked {
        bucket: String,
        holder: Box<LockHolder>,
    },
    #[error("cannot take or release the lock s3://{bucket}/_deckhand/lock")]
    Lock {
        bucket: String,
        #[source]
        source: AwsError,
    },
    #[error("the state bucket is not set (no frontend to default to)")]
    NoStateBucket,
}

impl ReleaseError {
    /// A record that is not there (NoSuchKey).
    pub(crate) fn is_missing(&self) -> bool {
        matches!(self, ReleaseError::Read { source, .. } if source.code() == Some("NoSuchKey"))
    }
}

impl Diagnose for ReleaseError {
    fn exit(&self) -> Exit {
        match self {
            ReleaseError::Locked { .. } => Exit::Locked,
            ReleaseError::NoStateBucket => Exit::Usage,
            _ => Exit::Error,
        }
    }
    fn help(&self) -> Option<String> {
        match self {
            ReleaseError::Locked { holder, .. } => Some(format!(
                "wait for it to finish{}; if its holder died, the lock can be taken over after {} \
                 (or removed now with `deckhand unlock --force`)",
                holder
                    .run_url
                    .as_deref()
                    .map(|u| format!(" ({u})"))
                    .unwrap_or_default(),
                holder.expires_at
            )),
            ReleaseError::NoStateBucket => Some(
                "set `state-bucket:` in deckhand.yml (or --state-bucket): release records and the lock live there".into(),
            ),
            ReleaseError::List { source, .. }
            | ReleaseError::Read { source, .. }
            | ReleaseError::Write { source, .. }
            | ReleaseError::Lock { source, .. } => source.help(),
            ReleaseError::Corrupt { .. } => None,
            ReleaseError::Newer { .. } => Some(
                "use the deckhand version that wrote it, or a newer one (the action's image tag)"
                    .into(),
            ),
        }
    }
}
