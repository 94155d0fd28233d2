//! Configuration errors: always exit 2, always naming the file/flag/input and the key.

use std::fmt::{self, Write as _};
use std::path::{Path, PathBuf};

use crate::diagnose::{Diagnose, Exit};

#[derive(Debug, thiserror::Error)]
pub(crate) enum ConfigError {
    #[error("config file {} not found", path.display())]
    NotFound { path: PathBuf },
    #[error("cannot read config file {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Parse(Box<ParseError>),
    #[error("{origin}: {message}")]
    Invalid { origin: String, message: String },
    #[error("{key} is not set")]
    Missing {
        key: &'static str,
        flag: &'static str,
        input: &'static str,
        stack_output: Option<&'static str>,
    },
    #[error("nothing to deploy: the configuration has neither `backend` nor `frontend`")]
    Empty { searched: Option<PathBuf> },
    #[error("{0}")]
    Usage(String),
}

impl From<Box<ParseError>> for ConfigError {
    fn from(e: Box<ParseError>) -> Self {
        Self::Parse(e)
    }
}

impl Diagnose for ConfigError {
    fn exit(&self) -> Exit {
        Exit::Usage
    }

    fn help(&self) -> Option<String> {
        match self {
            ConfigError::NotFound { .. } => Some(
                "pass --config PATH (or DECKHAND_CONFIG / the `config` action input); `deckhand schema` prints the file's JSON Schema".into(),
            ),
            ConfigError::Parse(p) => p.help.clone(),
            ConfigError::Missing { key, flag, input, stack_output } => {
                let mut h = format!(
                    "set `{key}` in deckhand.yml, pass --{flag} (env DECKHAND_{}), or the `{input}` action input",
                    flag.to_uppercase().replace('-', "_")
                );
                if let Some(out) = stack_output {
                    let _ = write!(h, ", or name a CloudFormation stack (`stack:`) with output `{out}`");
                }
                Some(h)
            }
            ConfigError::Empty { searched } => Some(match searched {
                Some(p) => format!("add a `backend:` or `frontend:` section to {}", p.display()),
                None => "no deckhand.yml in the current directory: create one, pass --config PATH, or give --stack".into(),
            }),
            _ => None,
        }
    }
}

/// A YAML/shape error at a position in the file, with the offending line quoted.
#[derive(Debug)]
pub(crate) struct ParseError {
    pub(crate) file: PathBuf,
    pub(crate) line: usize,
    pub(crate) column: usize,
    pub(crate) message: String,
    pub(crate) snippet: String,
    pub(crate) help: Option<String>,
}

impl std::error::Error for ParseError {}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}\n{}",
            self.file.display(),
            self.line,
            self.column,
            self.message,
            self.snippet
        )
    }
}

impl ParseError {
    pub(crate) fn new(
        file: &Path,
        text: &str,
        line: usize,
        column: usize,
        field_path: &str,
        raw: &str,
    ) -> Self {
        // serde_yaml appends " at line L column C"; we print the position ourselves.
        let mut message = match raw.find(" at line ") {
            Some(i) => raw[..i].to_string(),
            None => raw.to_string(),
        };
        // serde_yaml prefixes the path ("backend.wait: …"); we say where ourselves.
        if let Some((head, rest)) = message.split_once(": ")
            && !head.is_empty()
            && !head.contains(' ')
        {
            message = rest.to_string();
        }
        let parent = parent_path(field_path);
        let mut help = None;
        if let Some((bad, expected)) = unknown_and_expected(&message) {
            if let Some(i) = message.find(", expected") {
                message.truncate(i);
            }
            if message.starts_with("unknown variant") {
                let _ = write!(message, " for `{field_path}`");
            } else if let Some(p) = parent.as_deref() {
                let _ = write!(message, " in `{p}`");
            }
            let best = closest(&bad, &expected);
            help = Some(match best {
                Some(b) => format!("did you mean `{b}`? valid here: {}", expected.join(", ")),
                None => format!("valid here: {}", expected.join(", ")),
            });
        } else if !field_path.is_empty()
            && field_path != "."
            && !field_path.contains('?')
            && !message.contains(field_path)
        {
            message = format!("`{field_path}`: {message}");
        }
        let snippet = snippet(text, line, column);
        Self {
            file: file.to_path_buf(),
            line,
            column,
            message,
            snippet,
            help,
        }
    }
}

fn parent_path(field_path: &str) -> Option<String> {
    let (parent, _) = field_path.rsplit_once('.')?;
    if parent.is_empty() || parent == "." {
        None
    } else {
        Some(parent.to_string())
    }
}

/// Extracts `X` and the expected names from serde's "unknown field `X`, expected one of `a`, `b`"
/// (also "unknown variant").
fn unknown_and_expected(msg: &str) -> Option<(String, Vec<String>)> {
    let rest = msg
        .strip_prefix("unknown field `")
        .or_else(|| msg.strip_prefix("unknown variant `"))
        .or_else(|| msg.split_once(": unknown variant `").map(|(_, r)| r))
        .or_else(|| msg.split_once(": unknown field `").map(|(_, r)| r))?;
    let (bad, rest) = rest.split_once('`')?;
    let expected: Vec<String> = rest
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect();
    Some((bad.to_string(), expected))
}

fn closest(bad: &str, candidates: &[String]) -> Option<String> {
    candidates
        .iter()
        .map(|c| (strsim::damerau_levenshtein(bad, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.clone())
}

fn snippet(text: &str, line: usize, column: usize) -> String {
    let Some(src) = text.lines().nth(line.saturating_sub(1)) else {
        return String::new();
    };
    let num = line.to_string();
    let pad = " ".repeat(num.len());
    format!(
        "{pad} |\n{num} | {src}\n{pad} | {}^",
        " ".repeat(column.saturating_sub(1))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_the_closest_key() {
        let (bad, exp) =
            unknown_and_expected("unknown field `clustr`, expected one of `cluster`, `service`")
                .expect("parsed");
        assert_eq!(bad, "clustr");
        assert_eq!(closest(&bad, &exp).as_deref(), Some("cluster"));
        assert_eq!(closest("zzzzzz", &exp), None);
    }
}
