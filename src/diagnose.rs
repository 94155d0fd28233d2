//! Exit codes and what every module error tells the one renderer (in `lib.rs`) beyond its
//! `Display`. A leaf: every layer's errors implement [`Diagnose`], so it imports nothing.

use std::error::Error as StdError;

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
    /// `deploy --plan`: the fresh plan differs from the reviewed one.
    Moved = 7,
    /// SIGINT: no new write started after it (128 + 2).
    Interrupted = 130,
    /// SIGTERM: no new write started after it (128 + 15).
    Terminated = 143,
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
