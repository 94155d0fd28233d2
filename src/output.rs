//! The only places that write to stdout/stderr directly (data on stdout, logs via tracing).

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::{IsTerminal as _, Write as _};

pub(crate) fn stdout(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

pub(crate) fn stderr(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(text.as_bytes());
    let _ = err.flush();
}

/// Colour on stderr only on a terminal and without NO_COLOR.
pub(crate) fn color_stderr() -> bool {
    std::env::var_os("NO_COLOR").is_none() && std::io::stderr().is_terminal()
}

/// Live progress (bars, spinners) only on an interactive terminal, never in CI.
pub(crate) fn interactive() -> bool {
    std::io::stderr().is_terminal()
        && std::env::var("CI").map_or(true, |v| v.is_empty() || v == "false")
}
