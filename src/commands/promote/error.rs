//! What a promotion can fail with, with its exit code.

use crate::diagnose::{Diagnose, Exit};
use crate::stack::StackError;

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
    /// The source environment's stack could not be read: in another account it never can be.
    #[error("environment {environment} (promoted from): {source}")]
    SourceStack {
        environment: String,
        source: Box<StackError>,
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
            PromoteError::SourceStack { source, .. } => source.exit(),
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
            // CloudFormation cannot be read across accounts (no resource-based policies): a
            // source in another account is named in deckhand.yml instead (promote::source).
            PromoteError::SourceStack {
                environment,
                source,
            } => Some(format!(
                "{}if {environment} is in another AWS account than the promotion's credentials, its stack cannot be read from here: set environments.{environment}.account to its account id, and its frontend.bucket and backend.repository (docs/iam.md, \"Environments in separate accounts\")",
                source.help().map_or_else(String::new, |h| format!("{h}; "))
            )),
        }
    }
}
