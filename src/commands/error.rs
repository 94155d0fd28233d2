//! What a command can fail with: the error of the step or half that failed, unchanged (its
//! `Display`, exit code and help pass through).

use crate::aws::AwsError;
use crate::aws::gate::Closed;
use crate::backend::BackendError;
use crate::config::ConfigError;
use crate::diagnose::{Diagnose, Exit};
use crate::frontend::FrontendError;
use crate::release::error::ReleaseError;
use crate::stack::StackError;

use crate::github::comment::CommentError;

use super::init::error::InitError;
use super::promote::error::PromoteError;
use super::rollback::error::RollbackError;
use super::secrets_sync::error::SyncError;
use super::status::error::StatusError;

#[derive(Debug, thiserror::Error)]
pub(crate) enum CommandError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error(transparent)]
    Stack(#[from] StackError),
    #[error(transparent)]
    Release(#[from] ReleaseError),
    #[error(transparent)]
    Status(#[from] StatusError),
    #[error(transparent)]
    Backend(#[from] BackendError),
    #[error(transparent)]
    Frontend(#[from] FrontendError),
    #[error(transparent)]
    SecretsSync(#[from] SyncError),
    #[error(transparent)]
    Rollback(#[from] RollbackError),
    #[error(transparent)]
    Promote(#[from] PromoteError),
    #[error(transparent)]
    Init(#[from] InitError),
    #[error("cannot post the plan comment")]
    Comment(#[from] CommentError),
    #[error("cannot read the plan {}: {message}", path.display())]
    PlanFile {
        path: Box<std::path::PathBuf>,
        message: String,
    },
    #[error("refusing the plan in {}: {}", path.display(), moved.join("; "))]
    Moved {
        path: Box<std::path::PathBuf>,
        moved: Vec<String>,
    },
    /// The write gate closed (a signal, or the lock taken over): no write started after that;
    /// `done` says what is live and what was recorded.
    #[error("{reason}: {done}")]
    Stopped {
        reason: crate::aws::gate::Closed,
        done: String,
    },
    #[error(
        "--no-wait cannot {command} both halves: the backend (service {service}) and {files} file(s) of the site change, and the site's HTML goes out only once production traffic is on the new revision"
    )]
    NoWaitBoth {
        /// "deploy", "roll back" or "promote".
        command: &'static str,
        service: String,
        files: usize,
    },
    #[error("cannot write the plan to {}", path.display())]
    PlanOut {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl CommandError {
    fn inner(&self) -> Option<&dyn Diagnose> {
        match self {
            CommandError::Config(e) => Some(e),
            CommandError::Aws(e) => Some(e),
            CommandError::Stack(e) => Some(e),
            CommandError::Release(e) => Some(e),
            CommandError::Status(e) => Some(e),
            CommandError::Backend(e) => Some(e),
            CommandError::Frontend(e) => Some(e),
            CommandError::SecretsSync(e) => Some(e),
            CommandError::Rollback(e) => Some(e),
            CommandError::Promote(e) => Some(e),
            CommandError::Init(e) => Some(e),
            CommandError::Comment(e) => Some(e),
            CommandError::PlanOut { .. }
            | CommandError::PlanFile { .. }
            | CommandError::Moved { .. }
            | CommandError::NoWaitBoth { .. }
            | CommandError::Stopped { .. } => None,
        }
    }
}

impl Diagnose for CommandError {
    fn exit(&self) -> Exit {
        match self {
            CommandError::PlanFile { .. } | CommandError::NoWaitBoth { .. } => Exit::Usage,
            CommandError::Moved { .. } => Exit::Moved,
            CommandError::Stopped { reason, .. } => stopped_exit(reason),
            _ => self.inner().map_or(Exit::Error, Diagnose::exit),
        }
    }
    fn help(&self) -> Option<String> {
        match self {
            CommandError::PlanFile { .. } => Some(
                "write it with `deckhand plan --out FILE` (the same deckhand version)".into(),
            ),
            CommandError::NoWaitBoth {
                command: "deploy", ..
            } => Some(
                "nothing was written; deploy them one at a time (`deckhand deploy --only backend \
                 --no-wait`, then `deckhand deploy --only frontend` once the rollout completed), \
                 or deploy without --no-wait"
                    .into(),
            ),
            CommandError::NoWaitBoth { command, .. } => Some(format!(
                "nothing was written; {command} without --no-wait: the site's HTML then goes out \
                 once production traffic is on the revision it brings back"
            )),
            CommandError::Moved { .. } => Some(
                "nothing was written; make and review a new plan (`deckhand plan --out FILE`), or deploy without --plan"
                    .into(),
            ),
            CommandError::Stopped {
                reason: Closed::LockLost(_),
                ..
            } => Some(
                "another deploy took the lock over (this one could not renew it in time): it \
                 writes from now on; `deckhand status` and `deckhand releases` show what is live"
                    .into(),
            ),
            CommandError::Stopped { .. } => Some(
                "no write was started after the signal; `deckhand status` shows what is live and \
                 the next deploy plans from there"
                    .into(),
            ),
            _ => self.inner().and_then(Diagnose::help),
        }
    }
}

/// The exit code of a stop: 130 (SIGINT), 143 (SIGTERM), 5 (the lock was lost).
pub(crate) fn stopped_exit(reason: &Closed) -> Exit {
    match reason {
        Closed::Signal(2) => Exit::Interrupted,
        Closed::Signal(_) => Exit::Terminated,
        Closed::LockLost(_) => Exit::Locked,
    }
}
