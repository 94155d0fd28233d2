//! The one error renderer: `error:` / `caused by:` / `help:` on stderr, and the exit code from DESIGN.md.

use std::error::Error as StdError;
use std::fmt::Write as _;

/// Exit codes (DESIGN.md, "Exit codes").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exit {
    Ok = 0,
    Error = 1,
    Usage = 2,
    RolloutFailed = 3,
    TimedOut = 4,
    Locked = 5,
    /// `plan --detailed-exitcode`: the plan has changes.
    Changes = 6,
}

impl Exit {
    pub(crate) fn code(self) -> u8 {
        self as u8
    }
}

/// What every module error tells the renderer beyond its `Display`.
pub(crate) trait Diagnose: StdError {
    fn exit(&self) -> Exit {
        Exit::Error
    }
    fn help(&self) -> Option<String> {
        None
    }
}

/// The top-level error: one variant per module, each carrying its own context.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Aws(#[from] crate::aws::AwsError),
    #[error(transparent)]
    Release(#[from] crate::release::ReleaseError),
    #[error(transparent)]
    Status(#[from] crate::status::StatusError),
    #[error(transparent)]
    Backend(#[from] crate::backend::BackendError),
    #[error(transparent)]
    Frontend(#[from] crate::frontend::FrontendError),
    #[error(transparent)]
    SecretsSync(#[from] crate::secrets_sync::SyncError),
    #[error(transparent)]
    Rollback(#[from] crate::rollback::RollbackError),
    #[error("cannot post the plan comment")]
    Comment(#[from] crate::github::comment::CommentError),
    #[error("cannot write the plan to {}", path.display())]
    PlanOut {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    fn diagnose(&self) -> Option<&dyn Diagnose> {
        match self {
            Error::Config(e) => Some(e),
            Error::Aws(e) => Some(e),
            Error::Release(e) => Some(e),
            Error::Status(e) => Some(e),
            Error::Backend(e) => Some(e),
            Error::Frontend(e) => Some(e),
            Error::SecretsSync(e) => Some(e),
            Error::Rollback(e) => Some(e),
            Error::Comment(e) => Some(e),
            Error::PlanOut { .. } => None,
        }
    }

    pub(crate) fn exit(&self) -> Exit {
        self.diagnose().map_or(Exit::Error, Diagnose::exit)
    }

    pub(crate) fn help(&self) -> Option<String> {
        self.diagnose().and_then(Diagnose::help)
    }
}

impl Diagnose for crate::github::comment::CommentError {
    fn help(&self) -> Option<String> {
        Some(
            "the plan is in the job summary and the log; give the job `permissions: \
pull-requests: write` and GITHUB_TOKEN, or run with --comment=false"
                .into(),
        )
    }
}

/// Renders an error and its chain of causes. Sources whose text is already part of the
/// message above them are skipped so `#[error(transparent)]`/`{0}` layers do not repeat.
pub(crate) fn render(err: &Error) -> String {
    let mut out = String::new();
    let head = err.to_string();
    let _ = writeln!(out, "error: {head}");
    let mut seen = head;
    let mut cause: Option<&dyn StdError> = err.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !text.is_empty() && !seen.contains(&text) {
            let _ = writeln!(out, "caused by: {text}");
            seen.push('\n');
            seen.push_str(&text);
        }
        cause = c.source();
    }
    if let Some(help) = err.help() {
        for (i, line) in help.lines().enumerate() {
            if i == 0 {
                let _ = writeln!(out, "help: {line}");
            } else {
                let _ = writeln!(out, "      {line}");
            }
        }
    }
    out
}
