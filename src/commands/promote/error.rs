//! What a promotion can fail with, with its exit code.

use crate::diagnose::{Diagnose, Exit};

#[derive(Debug, thiserror::Error)]
pub(crate) enum PromoteError {
    /// The selected environment is no promotion target, or the configuration cannot say where
    /// from.
    #[error("{0}")]
    Usage(String),
    #[error("no release of {environment} can be promoted: {why}")]
    NoRelease { environment: String, why: String },
    #[error("release {id} of {environment} cannot be promoted: {why}")]
    Refused {
        environment: String,
        id: String,
        why: String,
    },
    #[error(
        "another release was recorded in {environment} while the promotion planned: it promoted {planned}, it would now promote {now}"
    )]
    Moved {
        environment: String,
        planned: String,
        now: String,
    },
}

impl Diagnose for PromoteError {
    fn exit(&self) -> Exit {
        match self {
            PromoteError::Usage(_)
            | PromoteError::NoRelease { .. }
            | PromoteError::Refused { .. } => Exit::Usage,
            PromoteError::Moved { .. } => Exit::Locked,
        }
    }
    fn help(&self) -> Option<String> {
        match self {
            PromoteError::Usage(_) => None,
            PromoteError::NoRelease { environment, .. }
            | PromoteError::Refused { environment, .. } => Some(format!(
                "`deckhand --environment {environment} releases` lists its releases; nothing was written"
            )),
            PromoteError::Moved { .. } => {
                Some("run the promotion again if it is still wanted (nothing was written)".into())
            }
        }
    }
}
