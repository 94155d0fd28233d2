//! What a rollback can fail with, with its exit code.

use crate::aws::AwsError;
use crate::diagnose::{Diagnose, Exit};

#[derive(Debug, thiserror::Error)]
pub(crate) enum RollbackError {
    #[error("no release to roll back to: {0}")]
    NoTarget(String),
    #[error("release {id} cannot be rolled back to: {why}")]
    NotRestorable {
        id: String,
        why: String,
        oldest: Option<String>,
    },
    #[error("release {id} cannot be rolled back to: {why}")]
    HalfFailed {
        id: String,
        half: &'static str,
        why: String,
        /// The half `--only` could restore alone, if the release has one.
        other: Option<&'static str>,
    },
    #[error(
        "another release was recorded while the rollback planned: `previous` was {planned}, it is now {now}"
    )]
    Moved {
        /// The release `previous` named when the rollback planned.
        planned: String,
        /// The release it names now, and the release live now.
        now: String,
        current: String,
    },
    #[error("cannot read {what}")]
    Read {
        what: String,
        #[source]
        source: Box<AwsError>,
    },
}

impl Diagnose for RollbackError {
    fn exit(&self) -> Exit {
        match self {
            RollbackError::NoTarget(_)
            | RollbackError::NotRestorable { .. }
            | RollbackError::HalfFailed { .. } => Exit::Usage,
            RollbackError::Moved { .. } => Exit::Locked,
            RollbackError::Read { .. } => Exit::Error,
        }
    }
    fn help(&self) -> Option<String> {
        match self {
            RollbackError::NoTarget(_) => {
                Some("`deckhand releases` lists the releases and which can be restored".into())
            }
            RollbackError::NotRestorable { oldest, .. } => Some(match oldest {
                Some(id) => format!(
                    "the oldest release that can still be restored is {id} (`deckhand releases` lists them); nothing was written"
                ),
                None => "no release can be restored any more; nothing was written".into(),
            }),
            RollbackError::HalfFailed { half, other, .. } => Some(match other {
                Some(o) => format!(
                    "`--only {o}` restores its {} alone; a failed {half} is never restored; nothing was written",
                    if *o == "frontend" { "site" } else { "backend" }
                ),
                None => format!("a failed {half} is never restored; nothing was written"),
            }),
            RollbackError::Moved { current, .. } => Some(format!(
                "release {current} is the current one now; run the rollback again if it is still wanted (nothing was written)"
            )),
            RollbackError::Read { source, .. } => source.help(),
        }
    }
}

pub(super) fn read_err(what: String) -> impl FnOnce(AwsError) -> RollbackError {
    move |source| RollbackError::Read {
        what,
        source: Box::new(source),
    }
}
