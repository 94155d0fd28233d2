//! The only places that write to stdout/stderr directly: data on stdout, the final error report
//! on stderr; everything else people read goes through tracing (silenced by `--quiet`, printed
//! above any live progress bar). In GitHub Actions every line is made inert first
//! (`github::inert`): text deckhand does not control never reads as a workflow command.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::{IsTerminal as _, Write as _};
use std::sync::atomic::{AtomicBool, Ordering};

static LIVE: AtomicBool = AtomicBool::new(false);
static QUIET: AtomicBool = AtomicBool::new(false);

pub(crate) fn stdout(text: &str) {
    let mut out = crate::github::Inert(std::io::stdout().lock());
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

/// A progress line for people (`text` may end in a newline): an info event, so `--quiet`
/// silences it and a live progress bar never garbles it.
pub(crate) fn stderr(text: &str) {
    for line in text.trim_end_matches('\n').lines() {
        tracing::info!("{line}");
    }
}

/// The final error report (or an error before logging is set up): straight to stderr, never
/// silenced.
pub(crate) fn report(text: &str) {
    let mut err = crate::github::Inert(std::io::stderr().lock());
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

/// Whether live bars are drawn (set once, when logging is set up).
pub(crate) fn set_live(on: bool) {
    LIVE.store(on, Ordering::Relaxed);
}

/// Whether live bars are drawn: progress can go into a bar instead of a log line.
pub(crate) fn live() -> bool {
    LIVE.load(Ordering::Relaxed)
}

/// `--quiet` (set once, when logging is set up).
pub(crate) fn set_quiet(on: bool) {
    QUIET.store(on, Ordering::Relaxed);
}

/// `--quiet`: child processes' chatter (the image builder's) is kept back too.
pub(crate) fn quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}
