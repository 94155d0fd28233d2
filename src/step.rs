//! The GitHub Actions surface of one command run, on top of the workflow commands in `github`:
//!
//! - **step outputs**: every output `action.yml` declares ([`OUTPUTS`]) is written on every path
//!   (success, no-op, dry run, failure) by [`finish`], once, those the command did not set as
//!   empty strings, so `steps.<id>.outputs.<name>` is never missing;
//! - **the step summary**: one Markdown document per command: a heading naming the command, the
//!   sections the command added with [`section`], and the result (or the error);
//! - **annotations at a file position** (`::error file=…,line=…,col=…::`), so a config error lands
//!   on the pull request's diff;
//! - **masking** of secret-like environment values (`::add-mask::`) before anything prints them.
//!
//! A leaf, like `github`: commands call [`output`] and [`section`]; `lib.rs` calls [`finish`].
//! Outputs and summary go to the files `GITHUB_OUTPUT` / `GITHUB_STEP_SUMMARY` name (when set);
//! workflow commands only inside Actions (`GITHUB_ACTIONS=true`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::sync::Mutex;

use crate::github;

/// The outputs `action.yml` declares (a test checks the two lists are the same), in its order.
pub(crate) const OUTPUTS: &[&str] = &[
    "has-changes",
    "plan-json",
    "comment-url",
    "changed",
    "release-id",
    "restored",
    "image",
    "task-definition",
    "url",
];

struct Step {
    outputs: BTreeMap<&'static str, String>,
    sections: Vec<String>,
    finished: bool,
}

static STEP: Mutex<Step> = Mutex::new(Step {
    outputs: BTreeMap::new(),
    sections: Vec::new(),
    finished: false,
});

fn step() -> std::sync::MutexGuard<'static, Step> {
    STEP.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Whether step outputs go anywhere (GITHUB_OUTPUT names a file): a command may skip reads that
/// only an output needs.
pub(crate) fn outputs_wanted() -> bool {
    std::env::var_os("GITHUB_OUTPUT").is_some_and(|p| !p.is_empty())
}

/// Sets a step output; the last value set wins. `name` must be one of [`OUTPUTS`].
pub(crate) fn output(name: &'static str, value: impl Into<String>) {
    debug_assert!(
        OUTPUTS.contains(&name),
        "`{name}` is not an output of action.yml"
    );
    step().outputs.insert(name, value.into());
}

/// Adds a Markdown section (its own `###` heading and body) to the command's summary.
pub(crate) fn section(markdown: impl Into<String>) {
    step().sections.push(markdown.into());
}

/// How the command ended, for the summary.
pub(crate) enum Outcome<'a> {
    /// The command ran to its end (exit 0, or a non-zero code that is a result, not an error).
    Done {
        exit: u8,
    },
    Failed {
        exit: u8,
        message: &'a str,
    },
}

/// Writes every declared output (`changed` is `false` unless the command said otherwise) and the
/// one summary document of this command. Idempotent.
pub(crate) fn finish(command: &str, outcome: &Outcome<'_>) {
    let (outputs, summary) = {
        let mut s = step();
        if s.finished {
            return;
        }
        s.finished = true;
        s.outputs.entry("changed").or_insert_with(|| "false".into());
        (
            render_outputs(&s.outputs, &delimiter()),
            render_summary(command, &s.sections, outcome),
        )
    };
    append("GITHUB_OUTPUT", &outputs);
    append("GITHUB_STEP_SUMMARY", &summary);
}

fn delimiter() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("deckhand_{}_{nanos}", std::process::id())
}

/// `name=value` lines for every declared output, `name<<DELIMITER` blocks for multi-line values.
pub(crate) fn render_outputs(values: &BTreeMap<&'static str, String>, delimiter: &str) -> String {
    let mut out = String::new();
    for name in OUTPUTS {
        let value = values.get(name).map_or("", String::as_str);
        if value.contains('\n') || value.contains('\r') {
            let mut delim = delimiter.to_string();
            while value.contains(&delim) {
                delim.push('_');
            }
            let _ = write!(out, "{name}<<{delim}\n{value}\n{delim}\n");
        } else {
            let _ = writeln!(out, "{name}={value}");
        }
    }
    out
}

/// One Markdown document: `## deckhand <command>`, the sections, the result.
pub(crate) fn render_summary(command: &str, sections: &[String], outcome: &Outcome<'_>) -> String {
    let mut doc = format!("## deckhand {command}\n\n");
    for s in sections {
        doc.push_str(s.trim_end());
        doc.push_str("\n\n");
    }
    match outcome {
        Outcome::Done { exit: 0 } => doc.push_str("**Result:** succeeded\n"),
        Outcome::Done { exit } => {
            let _ = writeln!(doc, "**Result:** exit {exit}");
        }
        Outcome::Failed { exit, message } => {
            let _ = write!(
                doc,
                "**Result:** failed (exit {exit})\n\n```\n{}\n```\n",
                message.trim_end()
            );
        }
    }
    doc
}

/// Appends a Markdown document to the step summary (the post step's, which sets no outputs).
pub(crate) fn summary(markdown: &str) {
    append("GITHUB_STEP_SUMMARY", markdown);
}

/// Saves `name=value` for this action's post step (`$GITHUB_STATE`; the runner hands it to the
/// post step as `STATE_<name>`, after the main step ended however it ended: actions/runner
/// ActionRunner.cs processes the file commands in a `finally`, FileCommandManager.cs SaveState).
/// The last value saved wins.
pub(crate) fn save_state(name: &str, value: &str) {
    append("GITHUB_STATE", &render_state(name, value, &delimiter()));
}

fn render_state(name: &str, value: &str, delimiter: &str) -> String {
    let mut delim = delimiter.to_string();
    while value.contains(&delim) {
        delim.push('_');
    }
    format!("{name}<<{delim}\n{value}\n{delim}\n")
}

fn append(var: &str, text: &str) {
    let Some(path) = std::env::var_os(var).filter(|p| !p.is_empty()) else {
        return;
    };
    let written = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(&path)
        .and_then(|mut f| f.write_all(text.as_bytes()));
    if let Err(e) = written {
        tracing::warn!("cannot write {var} ({}): {e}", Path::new(&path).display());
    }
}

/// Escapes a workflow command property value (`%`, CR, LF, `:` and `,`).
fn escape_property(s: &str) -> String {
    github::escape(s).replace(':', "%3A").replace(',', "%2C")
}

/// The path an annotation names: relative to the workspace (GITHUB_WORKSPACE, else the current
/// directory) when the file is inside it, as GitHub matches it against the diff.
pub(crate) fn annotation_path(file: &Path) -> String {
    let base = std::env::var_os("GITHUB_WORKSPACE")
        .filter(|w| !w.is_empty())
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::current_dir().ok());
    let abs = if file.is_absolute() {
        file.to_path_buf()
    } else {
        match std::env::current_dir() {
            Ok(cwd) => cwd.join(file),
            Err(_) => file.to_path_buf(),
        }
    };
    let rel = base
        .and_then(|b| abs.strip_prefix(&b).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| file.to_path_buf());
    let s = rel.to_string_lossy().into_owned();
    s.strip_prefix("./").map_or(s.clone(), str::to_string)
}

/// `::error file=F,line=L,col=C,title=T::message` (line and col when known).
pub(crate) fn error_command(
    file: &str,
    line: Option<usize>,
    col: Option<usize>,
    title: &str,
    message: &str,
) -> String {
    let mut props = format!("file={}", escape_property(file));
    if let Some(l) = line {
        let _ = write!(props, ",line={l}");
        if let Some(c) = col {
            let _ = write!(props, ",col={c}");
        }
    }
    let _ = write!(props, ",title={}", escape_property(title));
    format!("::error {props}::{}", github::escape(message))
}

/// An error annotation on a file position (inside Actions only).
pub(crate) fn error_at(
    file: &Path,
    line: Option<usize>,
    col: Option<usize>,
    title: &str,
    message: &str,
) {
    if github::in_actions() {
        let cmd = error_command(&annotation_path(file), line, col, title, message);
        let _ = writeln!(std::io::stderr().lock(), "{cmd}");
    }
}

/// Where a dotted key path (`backend.secrets.API_TOKEN`, `frontend.headers[0]`) is in block-style
/// YAML text: 1-based (line, column) of the deepest key of the path found (a key inside a flow
/// mapping `{ … }` is located at its parent's line). None when not even the first key is there.
pub(crate) fn locate_key(text: &str, path: &str) -> Option<(usize, usize)> {
    let want: Vec<&str> = path
        .split('.')
        .map(|k| k.split('[').next().unwrap_or(k))
        .filter(|k| !k.is_empty())
        .collect();
    let mut stack: Vec<(usize, String)> = Vec::new();
    let mut best: Option<(usize, usize, usize)> = None; // (depth, line, col)
    for (i, raw) in text.lines().enumerate() {
        let body = raw.trim_start();
        if body.is_empty() || body.starts_with('#') {
            continue;
        }
        let mut indent = raw.len() - body.len();
        let body = match body.strip_prefix("- ") {
            Some(rest) => {
                indent += 2;
                rest.trim_start()
            }
            None => body,
        };
        let Some(colon) = body.find(':') else {
            continue;
        };
        let after = &body[colon + 1..];
        if !(after.is_empty() || after.starts_with([' ', '\t'])) {
            continue;
        }
        let key = body[..colon].trim().trim_matches(['"', '\'']).to_string();
        while stack.last().is_some_and(|(d, _)| *d >= indent) {
            stack.pop();
        }
        stack.push((indent, key));
        let depth = stack.len();
        if depth <= want.len()
            && stack.iter().zip(&want).all(|((_, k), w)| k == w)
            && best.is_none_or(|(d, _, _)| depth > d)
        {
            best = Some((depth, i + 1, indent + 1));
        }
    }
    best.map(|(_, line, col)| (line, col))
}

/// Whether a variable or key name looks like it holds a secret.
pub(crate) fn secret_like(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    const INSIDE: &[&str] = &[
        "TOKEN",
        "SECRET",
        "PASSW",
        "APIKEY",
        "PRIVATE",
        "CREDENTIAL",
    ];
    const WORDS: &[&str] = &["KEY", "PASS", "PWD", "AUTH", "DSN", "COOKIE", "SESSION"];
    INSIDE.iter().any(|w| upper.contains(w))
        || upper
            .split(|c: char| !c.is_ascii_alphanumeric())
            .any(|word| WORDS.contains(&word))
}

/// Values shorter than this are not masked: no real secret is, and masking `1` or `true` would
/// blank those characters everywhere in the log.
const MIN_MASKED_LEN: usize = 4;

/// Masks, inside Actions, the values of the secret-like names among `vars`: container environment
/// variables (the configuration's and the live task definition's), which a plan's task-definition
/// diff or `status` shows. Called before anything renders them. Values deckhand never prints at
/// all (build args, AWS credentials, SSM values, tokens) are not written anywhere, not even into a
/// mask command.
pub(crate) fn mask_secret_like<'a>(vars: impl IntoIterator<Item = (&'a str, &'a str)>) {
    if !github::in_actions() {
        return;
    }
    for (name, value) in vars {
        let v = value.trim();
        if secret_like(name) && v.chars().count() >= MIN_MASKED_LEN {
            github::mask(v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_outputs_are_those_action_yml_declares() {
        let action: serde_yaml::Value = serde_yaml::from_str(include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/action.yml"
        )))
        .expect("action.yml");
        let declared: Vec<&str> = action["outputs"]
            .as_mapping()
            .expect("outputs")
            .keys()
            .filter_map(serde_yaml::Value::as_str)
            .collect();
        assert_eq!(declared, OUTPUTS);
    }

    #[test]
    fn every_declared_output_is_written_empty_when_unset() {
        let mut v = BTreeMap::new();
        v.insert("changed", "false".to_string());
        v.insert("release-id", "20261201T000000000Z-abc1234".to_string());
        insta::assert_snapshot!(render_outputs(&v, "EOF"), @r"
        has-changes=
        plan-json=
        comment-url=
        changed=false
        release-id=20261201T000000000Z-abc1234
        restored=
        image=
        task-definition=
        url=
        ");
    }

    #[test]
    fn multi_line_values_get_a_delimiter_they_do_not_contain() {
        let mut v = BTreeMap::new();
        v.insert("image", "a\nEOF\nb".to_string());
        let out = render_outputs(&v, "EOF");
        assert!(out.contains("image<<EOF_\na\nEOF\nb\nEOF_\n"), "{out}");
    }

    #[test]
    fn the_summary_is_one_document_with_the_result() {
        let sections = vec!["### plan\n\nno changes\n\n\n".to_string()];
        insta::assert_snapshot!(render_summary("deploy", &sections, &Outcome::Done { exit: 0 }), @r"
        ## deckhand deploy

        ### plan

        no changes

        **Result:** succeeded
        ");
        let failed = render_summary(
            "validate",
            &[],
            &Outcome::Failed {
                exit: 2,
                message: "deckhand.yml:3:5: unknown field\n",
            },
        );
        insta::assert_snapshot!(failed, @r"
        ## deckhand validate

        **Result:** failed (exit 2)

        ```
        deckhand.yml:3:5: unknown field
        ```
        ");
    }

    #[test]
    fn error_annotations_escape_their_properties() {
        assert_eq!(
            error_command(
                "dev/a,b.yml",
                Some(3),
                Some(5),
                "deckhand: config",
                "bad\nvalue 100%"
            ),
            "::error file=dev/a%2Cb.yml,line=3,col=5,title=deckhand%3A config::bad%0Avalue 100%25"
        );
        assert_eq!(
            error_command("deckhand.yml", None, Some(1), "t", "m"),
            "::error file=deckhand.yml,title=t::m"
        );
    }

    #[test]
    fn key_paths_are_located_in_block_yaml() {
        let text = "region: us-east-1\nbackend:\n  # the API\n  secrets:\n    API_TOKEN: token\n    DB: /db\n  environment: { NODE_ENV: production }\nfrontend:\n  headers:\n    - pattern: '*.js'\n      cache-control: x\n";
        assert_eq!(locate_key(text, "backend.secrets.DB"), Some((6, 5)));
        assert_eq!(
            locate_key(text, "backend.environment.NODE_ENV"),
            Some((7, 3))
        );
        assert_eq!(locate_key(text, "frontend.headers[0]"), Some((9, 3)));
        assert_eq!(locate_key(text, "frontend.headers"), Some((9, 3)));
        assert_eq!(locate_key(text, "region"), Some((1, 1)));
        assert_eq!(locate_key(text, "stack"), None);
    }

    #[test]
    fn secret_like_names() {
        for yes in [
            "CLAUDE_API_KEY",
            "API_ACCESS_TOKEN",
            "db-password",
            "AWS_SECRET_ACCESS_KEY",
            "githubToken",
            "SESSION",
            "PG_PASS",
            "SENTRY_DSN",
            "private_key",
        ] {
            assert!(secret_like(yes), "{yes}");
        }
        for no in [
            "NODE_ENV",
            "PORT",
            "LOG_LEVEL",
            "KEYBOARD",
            "MONKEY",
            "cluster",
            "region",
        ] {
            assert!(!secret_like(no), "{no}");
        }
    }
}
