//! The only places that write to stdout/stderr directly: data on stdout, the final error report
//! on stderr; everything else people read goes through tracing (silenced by `--quiet`, printed
//! above any live progress bar). In GitHub Actions every line is made inert first
//! (`github::inert`): text deckhand does not control never reads as a workflow command.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::{IsTerminal as _, Write as _};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

static LIVE: AtomicBool = AtomicBool::new(false);
static QUIET: AtomicBool = AtomicBool::new(false);

pub(crate) fn stdout(text: &str) {
    let mut out = crate::github::Inert(std::io::stdout().lock());
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

/// The JSON document `--json` prints when the command ends ([`end_document`]).
static DOCUMENT: Mutex<Option<String>> = Mutex::new(None);

fn document_slot() -> std::sync::MutexGuard<'static, Option<String>> {
    DOCUMENT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// `--json` of `deploy`, `rollback` and `promote`: stdout holds ONE JSON document (what `jq`,
/// `JSON.parse` and `json.loads` read), written when the command ends — the plan the command
/// applied (a plan made again under the lock replaces the first one), with the fields
/// [`add_to_document`] adds (`timings`). `json` is a pretty-printed JSON object.
pub(crate) fn document(json: String) {
    *document_slot() = Some(json);
}

/// Adds `"key": value` (pretty-printed JSON) as the last field of the pending document (a
/// document of its own when there is none).
pub(crate) fn add_to_document(key: &str, value: &str) {
    let mut slot = document_slot();
    let doc = slot.take().unwrap_or_else(|| "{}".to_string());
    *slot = Some(with_field(&doc, key, value));
}

/// Prints the pending document, if any (once: `lib.rs`, when the command ends).
pub(crate) fn end_document() {
    if let Some(doc) = document_slot().take() {
        stdout(&format!("{doc}\n"));
    }
}

/// `doc` (a pretty-printed JSON object) with `"key": value` as its last field, pretty-printed the
/// way serde_json prints it (the object's own field order kept).
fn with_field(doc: &str, key: &str, value: &str) -> String {
    let key = serde_json::to_string(key).unwrap_or_default();
    let value = value.trim().replace('\n', "\n  ");
    let doc = doc.trim_end();
    match doc.strip_suffix('}').map(str::trim_end) {
        Some("{") | None => format!("{{\n  {key}: {value}\n}}"),
        Some(head) => format!("{head},\n  {key}: {value}\n}}"),
    }
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::with_field;

    #[test]
    fn a_field_added_to_a_document_keeps_one_pretty_document() {
        let plan = serde_json::json!({"release_id": "r1", "backend": {"a": [1, 2]}});
        let timings = serde_json::json!({"millis": 5, "phases": [{"name": "build"}]});
        let doc = with_field(
            &serde_json::to_string_pretty(&plan).unwrap(),
            "timings",
            &serde_json::to_string_pretty(&timings).unwrap(),
        );
        let mut want = plan.clone();
        want["timings"] = timings.clone();
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&doc).unwrap(),
            want
        );
        assert_eq!(doc, serde_json::to_string_pretty(&want).unwrap());
        let alone = with_field(
            "{}",
            "timings",
            &serde_json::to_string_pretty(&timings).unwrap(),
        );
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&alone).unwrap(),
            serde_json::json!({ "timings": timings })
        );
    }
}
