//! Every line deckhand prints in Actions that is not one of its own workflow commands goes through
//! [`inert`], so that text deckhand does not control (a site key from the SPA build, a forged plan
//! file's key, a builder's output, an AWS error message) can never be read by the runner as a
//! command.
//!
//! The runner reads every line of a container action's stdout and stderr (actions/runner
//! `ProcessInvoker.cs`: `StreamReader.ReadLine`, so a lone CR ends a line as LF does) and tries, in
//! this order (`ActionCommandManager.cs` `TryProcessCommand`; `src/Runner.Common/ActionCommand.cs`):
//!
//! - `TryParseV2`: the line, **after its leading whitespace is trimmed** (`TrimStart`), starts with
//!   `::` — `::name props::data`;
//! - `TryParse`, the legacy form: `##[name props]data` **anywhere in the line** (`IndexOf("##[")`).
//!
//! Either form runs the command, among them `stop-commands` (no command of the step is processed
//! until its token comes back: every later `::add-mask::` deckhand writes — an ECR token, renewed
//! STS credentials — would be printed as text instead of masking) and `save-state` (the post step's
//! `STATE_*`). So, for such text: a CR that is not part of CRLF is written `\r`; the `[` of every
//! `##[` is written `\u005b` (what a JSON string means by it too: `--json` output stays valid and
//! means the same); and a line whose first non-blank characters are `::` gets a `\` before them.
//! Text without these is unchanged.

use std::borrow::Cow;
use std::io;

/// Whether deckhand runs in GitHub Actions (`GITHUB_ACTIONS=true`).
pub(crate) fn in_actions() -> bool {
    std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true")
}

/// `text` (one or more lines) as the runner will read no command in. Lines end at LF or CRLF.
pub(crate) fn inert(text: &str) -> Cow<'_, str> {
    if !text.contains("##[") && !text.contains('\r') && !text.contains("::") {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    let mut lines = text.split('\n').peekable();
    while let Some(line) = lines.next() {
        let last = lines.peek().is_none();
        // a CR right before the LF ends the line with it (CRLF)
        let (line, crlf) = match line.strip_suffix('\r') {
            Some(l) if !last => (l, true),
            _ => (line, false),
        };
        one_line(line, &mut out);
        if crlf {
            out.push('\r');
        }
        if !last {
            out.push('\n');
        }
    }
    Cow::Owned(out)
}

/// Whether the runner's `TrimStart` could skip `c` (`char.IsWhiteSpace`); control and invisible
/// format characters are skipped too, to be safe: a `\` more in front of `::` costs nothing.
fn blank(c: char) -> bool {
    c.is_whitespace() || c.is_control() || matches!(c, '\u{200b}'..='\u{200d}' | '\u{feff}')
}

fn one_line(line: &str, out: &mut String) {
    // a lone CR would end the line for the runner: written `\r`, the line stays one line
    let line = line.replace('\r', "\\r");
    let body = line.trim_start_matches(blank);
    out.push_str(&line[..line.len() - body.len()]);
    if body.starts_with("::") {
        out.push('\\');
    }
    out.push_str(&body.replace("##[", "##\\u005b"));
}

/// A writer whose text is made [`inert`] (in Actions): the log lines `tracing` writes (each event
/// in one write of whole lines) and the builder's output deckhand passes on.
pub(crate) struct Inert<W>(pub(crate) W);

impl<W: io::Write> io::Write for Inert<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if !in_actions() {
            return self.0.write(buf);
        }
        let text = String::from_utf8_lossy(buf);
        self.0.write_all(inert(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::inert;
    use proptest::prelude::*;

    /// The runner's reading of one line (ActionCommand.cs): `Some(command name)` when either form
    /// parses, for any command name.
    fn runner_reads(line: &str) -> Option<String> {
        let v2 = line.trim_start();
        if let Some(after) = v2.strip_prefix("::")
            && let Some(end) = after.find("::")
        {
            return Some(after[..end].split(' ').next().unwrap_or("").to_string());
        }
        let at = line.find("##[")?;
        let rb = line[at..].find(']')?;
        Some(
            line[at + 3..at + rb]
                .split(' ')
                .next()
                .unwrap_or("")
                .to_string(),
        )
    }

    /// Lines as the runner's `ReadLine` splits them: LF, CR, CRLF.
    fn runner_lines(text: &str) -> Vec<String> {
        text.replace("\r\n", "\n")
            .split(['\n', '\r'])
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn commands_in_untrusted_text_are_written_inert() {
        for (text, want) in [
            (
                "      + assets/##[stop-commands]tok1234567 (12 B)",
                "      + assets/##\\u005bstop-commands]tok1234567 (12 B)",
            ),
            ("  ::add-mask::x", "  \\::add-mask::x"),
            (
                "\u{a0}\t::save-state name=a::b",
                "\u{a0}\t\\::save-state name=a::b",
            ),
            ("a\rb::stop-commands::t", "a\\rb::stop-commands::t"),
            ("x\r\n::error::y\n", "x\r\n\\::error::y\n"),
            ("###[x]", "###\\u005bx]"),
            (
                "{\"key\": \"##[save-state name=deckhand_lock]{}\"}",
                "{\"key\": \"##\\u005bsave-state name=deckhand_lock]{}\"}",
            ),
        ] {
            assert_eq!(inert(text), want, "{text:?}");
            for line in runner_lines(&inert(text)) {
                assert_eq!(runner_reads(&line), None, "{line:?}");
            }
        }
        // ordinary text is left alone, and a JSON string keeps its meaning
        for plain in [
            "deploying api:4 (image sha256:ab…)",
            "a::b",
            "[x] #[y] ##",
            "x\r\n",
        ] {
            assert_eq!(inert(plain), plain);
        }
        let json = inert("{\"k\": \"a##[b\"}").into_owned();
        let back: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
        assert_eq!(back["k"], "a##[b");
    }

    proptest! {
        /// Whatever the text, no line the runner reads from it is a command.
        #[test]
        fn no_line_of_inert_text_is_a_command(
            text in proptest::collection::vec(
                prop_oneof![
                    Just("##[".to_string()), Just("::".to_string()), Just("#".to_string()),
                    Just("[".to_string()), Just("]".to_string()), Just(":".to_string()),
                    Just("\r".to_string()), Just("\n".to_string()), Just(" ".to_string()),
                    Just("\u{a0}".to_string()), Just("\u{2028}".to_string()), Just("\t".to_string()),
                    Just("stop-commands".to_string()), Just("x".to_string()),
                ],
                0..24,
            ).prop_map(|parts| parts.concat())
        ) {
            for line in runner_lines(&inert(&text)) {
                prop_assert_eq!(runner_reads(&line), None, "{:?} -> {:?}", text, line);
            }
        }
    }
}
