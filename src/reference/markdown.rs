//! Just enough Markdown and shell for the guide check: fenced blocks, inline code, headings'
//! anchors, shell words and commands.

use std::collections::BTreeSet;

/// A fenced code block: its info string, first line number and text.
pub(super) struct Block {
    pub(super) info: String,
    pub(super) line: usize,
    pub(super) text: String,
}

/// Splits Markdown into fenced code blocks and the prose between them (fences removed).
pub(super) fn split(md: &str) -> (Vec<Block>, Vec<(usize, String)>) {
    let mut blocks = Vec::new();
    let mut prose = Vec::new();
    let mut open: Option<(String, String, usize, Block)> = None;
    for (i, line) in md.lines().enumerate() {
        let trimmed = line.trim_start();
        match &mut open {
            Some((fence, indent, _, block)) => {
                let t = trimmed.trim();
                // A closing fence: the opening's character, at least as many (CommonMark).
                if t.len() >= fence.len() && t.chars().all(|c| fence.starts_with(c)) {
                    let (_, _, _, block) = open.take().expect("open block");
                    blocks.push(block);
                } else {
                    let l = line.strip_prefix(indent.as_str()).unwrap_or(line);
                    block.text.push_str(l);
                    block.text.push('\n');
                }
            }
            None => {
                // CommonMark's fences: three or more backticks, or three or more tildes.
                let mark = if trimmed.starts_with('~') { '~' } else { '`' };
                let ticks = trimmed.chars().take_while(|c| *c == mark).count();
                if ticks >= 3 {
                    let indent = line[..line.len() - trimmed.len()].to_string();
                    let block = Block {
                        info: trimmed[ticks..].trim().to_string(),
                        line: i + 1,
                        text: String::new(),
                    };
                    open = Some((mark.to_string().repeat(ticks), indent, i, block));
                } else {
                    prose.push((i + 1, line.to_string()));
                }
            }
        }
    }
    (blocks, prose)
}

/// The inline code spans of a prose line.
pub(super) fn inline_code(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(start) = rest.find('`') {
        let after = &rest[start + 1..];
        let Some(end) = after.find('`') else { break };
        out.push(after[..end].to_string());
        rest = &after[end + 1..];
    }
    out
}

/// Shell words of a line, quotes removed (`'…'`, `"…"`); a `#` starting a word ends the line.
pub(super) fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut in_word = false;
    for c in line.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => cur.push(c),
            None => match c {
                '\'' | '"' => {
                    quote = Some(c);
                    in_word = true;
                }
                '#' if !in_word => break,
                c if c.is_whitespace() => {
                    if in_word {
                        out.push(std::mem::take(&mut cur));
                        in_word = false;
                    }
                }
                c => {
                    cur.push(c);
                    in_word = true;
                }
            },
        }
    }
    if in_word {
        out.push(cur);
    }
    out
}

/// The commands of a shell line: words split at `&&`, `||`, `|`, `;`; `$ ` prompts and
/// `[`/`]` of optional arguments dropped.
pub(super) fn commands(line: &str) -> Vec<Vec<String>> {
    let mut out = vec![Vec::new()];
    for w in words(line) {
        if ["&&", "||", "|", ";"].contains(&w.as_str()) {
            out.push(Vec::new());
            continue;
        }
        let w = w.trim_start_matches('[').trim_end_matches(']').to_string();
        if !w.is_empty() {
            out.last_mut().expect("a command").push(w);
        }
    }
    out.retain(|c| !c.is_empty());
    for c in &mut out {
        if c.first().is_some_and(|w| w == "$") {
            c.remove(0);
        }
    }
    out
}

/// The lines of a shell block with `\` continuations joined.
pub(super) fn joined_lines(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in text.lines() {
        if let Some(head) = line.trim_end().strip_suffix('\\') {
            cur.push_str(head);
            cur.push(' ');
        } else {
            cur.push_str(line);
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// GitHub's heading anchor: lower case, punctuation dropped, spaces to `-`.
pub(super) fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

pub(super) fn anchors(md: &str) -> BTreeSet<String> {
    let (_, prose) = split(md);
    prose
        .iter()
        .filter_map(|(_, l)| l.strip_prefix('#'))
        .map(|h| slug(h.trim_start_matches('#')))
        .collect()
}
