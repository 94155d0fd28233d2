//! GitHub Actions integration: log groups, masks, annotations (step outputs and the summary:
//! `step`).
//! Everything here is a no-op outside Actions (`GITHUB_ACTIONS != true`).

use std::io::Write as _;

pub(crate) mod comment;
pub(crate) mod deployment;
mod inert;
pub(crate) mod oidc;

pub(crate) use inert::{Inert, in_actions};

/// Workflow commands go to stderr (the runner reads both streams; stdout stays data-only). Only
/// deckhand's own commands are written here, raw; every other line goes through [`Inert`].
fn command(line: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{line}");
}

/// Escapes a workflow command's message (`%`, CR, LF).
pub(crate) fn escape(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Masks a secret in all later log output.
pub(crate) fn mask(secret: &str) {
    if in_actions() && !secret.is_empty() {
        command(&format!("::add-mask::{}", escape(secret)));
    }
}

/// Starts a collapsible log group; ends it when dropped.
pub(crate) struct Group(bool);

pub(crate) fn group(title: &str) -> Group {
    let on = in_actions();
    if on {
        command(&format!("::group::{}", escape(title)));
    }
    Group(on)
}

impl Drop for Group {
    fn drop(&mut self) {
        if self.0 {
            command("::endgroup::");
        }
    }
}

pub(crate) fn error_annotation(title: &str, message: &str) {
    if in_actions() {
        command(&format!(
            "::error title={}::{}",
            escape(title),
            escape(message)
        ));
    }
}

pub(crate) fn warning_annotation(message: &str) {
    if in_actions() {
        command(&format!("::warning::{}", escape(message)));
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_workflow_command_data() {
        assert_eq!(super::escape("a%b\nc\r"), "a%25b%0Ac%0D");
    }
}
