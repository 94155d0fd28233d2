//! The hand-written documents (README.md, docs/getting-started.md, docs/migrating.md, …) checked
//! against what they describe, so a renamed flag, output or variable fails a test instead of a
//! newcomer's first deploy:
//! - every `deckhand …` command (code blocks and inline code): its subcommands exist and every
//!   `--flag` is one of that command's (clap's definitions: what `deckhand <cmd> --help` prints);
//! - `cdk deploy`'s `-c KEY=…` are context keys `infra/lib/app.ts` reads, its `--parameters NAME=…`
//!   parameters of the synthesized stack (`infra/test/__snapshots__/spa-ecs.template.json`, which
//!   `infra/test/snapshot.test.ts` keeps equal to the synth), and every stack output named
//!   (`` `DeployRoleArn` ``, `shop.ClusterName = …`) an output of it;
//! - `gh variable set NAME` / `gh secret set NAME` name a `vars.NAME` / `secrets.NAME` the workflows
//!   `deckhand init` writes read; `gh workflow run FILE -f KEY=…` a workflow and its input;
//! - a YAML example's step that uses deckhand passes only inputs `action.yml` declares;
//! - links stay in the repository (the file and the heading exist) or go to public documentation;
//!   repository paths in inline code exist;
//! - the exit-code table of the troubleshooting section lists exactly deckhand's exit codes.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use clap::CommandFactory as _;

use crate::cli::Cli;
use crate::diagnose::Exit;

/// Hosts a document may link to: public documentation and the sources it cites.
const PUBLIC_DOCS: &[&str] = &[
    "docs.aws.amazon.com",
    "docs.github.com",
    "docs.docker.com",
    "aws.github.io",
    "github.com",
    "github.blog",
    "cli.github.com",
    "aws.amazon.com",
    "nodejs.org",
    "vite.dev",
    "docs.nestjs.com",
];

/// Top-level directories whose paths, in inline code, must exist in this repository.
const REPO_DIRS: &[&str] = &[
    "infra/", "dev/", "docs/", "src/", "tests/", ".github/", ".ci/",
];

/// Stack outputs and parameters are CamelCase names with one of these endings.
const STACK_NAME_ENDINGS: &[&str] = &[
    "Name",
    "Id",
    "Arn",
    "Uri",
    "Url",
    "Family",
    "Count",
    "Secret",
    "Repository",
    "Environment",
    "Branch",
];

/// What the documents are checked against, read once from the repository.
pub(super) struct Facts {
    pub(super) root: PathBuf,
    pub(super) outputs: BTreeSet<String>,
    pub(super) parameters: BTreeSet<String>,
    pub(super) context_keys: BTreeSet<String>,
    pub(super) variables: BTreeSet<String>,
    pub(super) secrets: BTreeSet<String>,
    pub(super) inputs: BTreeSet<String>,
}

fn read(root: &Path, rel: &str) -> String {
    std::fs::read_to_string(root.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Every `PREFIX.NAME` in `text` (NAME: letters, digits, `_`).
fn names_after(text: &str, prefix: &str) -> BTreeSet<String> {
    let re =
        regex_lite::Regex::new(&format!(r"\b{}\.([A-Za-z_][A-Za-z0-9_]*)", prefix)).expect("regex");
    re.captures_iter(text).map(|c| c[1].to_string()).collect()
}

impl Facts {
    pub(super) fn read(root: &Path) -> Facts {
        let template: serde_json::Value = serde_json::from_str(&read(
            root,
            "infra/test/__snapshots__/spa-ecs.template.json",
        ))
        .expect("the stack's template");
        let keys = |section: &str| -> BTreeSet<String> {
            template[section]
                .as_object()
                .map(|o| o.keys().cloned().collect())
                .unwrap_or_default()
        };
        let app = read(root, "infra/lib/app.ts");
        let context =
            regex_lite::Regex::new(r"(?:contextString\(app, |list\()'([A-Za-z]+)'").expect("regex");
        let context_keys = context
            .captures_iter(&app)
            .map(|c| c[1].to_string())
            .collect();
        let workflows: String = ["deploy.yml", "preview.yml", "rollback.yml"]
            .iter()
            .map(|w| read(root, &format!(".github/workflows/{w}")))
            .collect();
        let action: serde_yaml::Value =
            serde_yaml::from_str(&read(root, "action.yml")).expect("action.yml");
        let inputs = action["inputs"]
            .as_mapping()
            .map(|m| {
                m.keys()
                    .filter_map(|k| k.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        Facts {
            root: root.to_path_buf(),
            outputs: keys("Outputs"),
            parameters: keys("Parameters"),
            context_keys,
            variables: names_after(&workflows, "vars"),
            secrets: names_after(&workflows, "secrets"),
            inputs,
        }
    }
}

/// A fenced code block: its info string, first line number and text.
struct Block {
    info: String,
    line: usize,
    text: String,
}

/// Splits Markdown into fenced code blocks and the prose between them (fences removed).
fn split(md: &str) -> (Vec<Block>, Vec<(usize, String)>) {
    let mut blocks = Vec::new();
    let mut prose = Vec::new();
    let mut open: Option<(String, String, usize, Block)> = None;
    for (i, line) in md.lines().enumerate() {
        let trimmed = line.trim_start();
        match &mut open {
            Some((fence, indent, _, block)) => {
                if trimmed.starts_with(fence.as_str()) && trimmed.trim() == fence.as_str() {
                    let (_, _, _, block) = open.take().expect("open block");
                    blocks.push(block);
                } else {
                    let l = line.strip_prefix(indent.as_str()).unwrap_or(line);
                    block.text.push_str(l);
                    block.text.push('\n');
                }
            }
            None => {
                let ticks = trimmed.chars().take_while(|c| *c == '`').count();
                if ticks >= 3 {
                    let indent = line[..line.len() - trimmed.len()].to_string();
                    let block = Block {
                        info: trimmed[ticks..].trim().to_string(),
                        line: i + 1,
                        text: String::new(),
                    };
                    open = Some(("`".repeat(ticks), indent, i, block));
                } else {
                    prose.push((i + 1, line.to_string()));
                }
            }
        }
    }
    (blocks, prose)
}

/// The inline code spans of a prose line.
fn inline_code(line: &str) -> Vec<String> {
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
fn words(line: &str) -> Vec<String> {
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
fn commands(line: &str) -> Vec<Vec<String>> {
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
fn joined_lines(text: &str) -> Vec<String> {
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

/// Checks one `deckhand …` command against clap's definitions.
fn check_deckhand(cmd: &[String]) -> Result<(), String> {
    let mut root = Cli::command();
    root.build();
    let mut at = &root;
    let mut path = vec!["deckhand".to_string()];
    let mut seen_sub = false;
    for w in &cmd[1..] {
        if let Some(flag) = w.strip_prefix("--") {
            let name = flag.split(['=', '[']).next().unwrap_or(flag);
            if name.is_empty() || matches!(name, "help" | "version") {
                continue;
            }
            if !at.get_arguments().any(|a| a.get_long() == Some(name)) {
                return Err(format!("`{}` has no flag --{name}", path.join(" ")));
            }
        } else if w.starts_with('-') || seen_sub && !at.has_subcommands() {
            continue;
        } else if let Some(sub) = at.find_subcommand(w) {
            at = sub;
            path.push(w.clone());
            seen_sub = true;
        } else if at.has_subcommands() {
            return Err(format!("`{}` has no subcommand {w}", path.join(" ")));
        }
    }
    Ok(())
}

/// The problems of one command line (none for a command the documents do not check).
fn check_command(facts: &Facts, cmd: &[String]) -> Vec<String> {
    let mut errs = Vec::new();
    let Some(first) = cmd.first() else {
        return errs;
    };
    let word = |i: usize| cmd.get(i).map(String::as_str).unwrap_or("");
    if first == "deckhand" || first.ends_with("/deckhand") {
        errs.extend(check_deckhand(cmd).err());
    }
    // `cdk deploy …`, or a fragment of its options in prose (`-c synthesizer=cli-credentials`).
    let cdk = cmd
        .iter()
        .position(|w| w == "cdk")
        .is_some_and(|at| word(at + 1) == "deploy");
    if cdk || first == "-c" && word(1).contains('=') {
        for pair in cmd.windows(2) {
            let value = pair[1].split('=').next().unwrap_or("");
            if pair[0] == "-c" && !facts.context_keys.contains(value) {
                errs.push(format!("infra/lib/app.ts reads no context key {value}"));
            }
            if pair[0] == "--parameters" && !facts.parameters.contains(value) {
                errs.push(format!("the stack has no parameter {value}"));
            }
        }
    }
    if first == "gh" {
        if word(1) == "variable" && word(2) == "set" && !facts.variables.contains(word(3)) {
            errs.push(format!("no workflow reads the variable {}", word(3)));
        }
        if word(1) == "secret" && word(2) == "set" && !facts.secrets.contains(word(3)) {
            errs.push(format!("no workflow reads the secret {}", word(3)));
        }
        if word(1) == "workflow" && word(2) == "run" {
            errs.extend(check_dispatch(facts, cmd));
        }
    }
    errs
}

/// `gh workflow run FILE -f KEY=VALUE`: the workflow exists and takes each input.
fn check_dispatch(facts: &Facts, cmd: &[String]) -> Vec<String> {
    let file = &cmd[3];
    let path = facts.root.join(".github/workflows").join(file);
    let Ok(text) = std::fs::read_to_string(&path) else {
        return vec![format!("no workflow .github/workflows/{file}")];
    };
    let doc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap_or_default();
    let inputs = &doc["on"]["workflow_dispatch"]["inputs"];
    cmd.windows(2)
        .filter(|p| p[0] == "-f" || p[0] == "--field" || p[0] == "-F")
        .filter_map(|p| p[1].split('=').next())
        .filter(|k| inputs.get(*k).is_none())
        .map(|k| format!("{file} has no workflow_dispatch input {k}"))
        .collect()
}

/// A YAML example: every step that uses deckhand passes only inputs action.yml declares.
fn check_yaml(facts: &Facts, text: &str) -> Vec<String> {
    let Ok(doc) = serde_yaml::from_str::<serde_yaml::Value>(text) else {
        return Vec::new();
    };
    let mut errs = Vec::new();
    let mut stack = vec![&doc];
    while let Some(v) = stack.pop() {
        match v {
            serde_yaml::Value::Mapping(m) => {
                let uses = m.get("uses").and_then(|u| u.as_str()).unwrap_or("");
                let deckhand = uses == "./" || uses.contains("/deckhand@");
                if deckhand && let Some(with) = m.get("with").and_then(|w| w.as_mapping()) {
                    for k in with.keys().filter_map(|k| k.as_str()) {
                        if !facts.inputs.contains(k) {
                            errs.push(format!("action.yml has no input {k} (step uses {uses})"));
                        }
                    }
                }
                stack.extend(m.values());
            }
            serde_yaml::Value::Sequence(s) => stack.extend(s.iter()),
            _ => {}
        }
    }
    errs
}

/// GitHub's heading anchor: lower case, punctuation dropped, spaces to `-`.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn anchors(md: &str) -> BTreeSet<String> {
    let (_, prose) = split(md);
    prose
        .iter()
        .filter_map(|(_, l)| l.strip_prefix('#'))
        .map(|h| slug(h.trim_start_matches('#')))
        .collect()
}

/// A link target: in the repository (the file, and the heading of an anchor), or public docs.
fn check_link(facts: &Facts, doc: &Path, target: &str) -> Option<String> {
    if let Some(rest) = target
        .strip_prefix("https://")
        .or_else(|| target.strip_prefix("http://"))
    {
        let host = rest.split(['/', '#', '?']).next().unwrap_or(rest);
        return (!PUBLIC_DOCS.contains(&host)).then(|| {
            format!("{target} leaves the repository for {host}, not public documentation")
        });
    }
    if target.starts_with("mailto:") {
        return Some(format!("{target}: no mail links"));
    }
    let (file, anchor) = target.split_once('#').unwrap_or((target, ""));
    let path = if file.is_empty() {
        doc.to_path_buf()
    } else {
        doc.parent().unwrap_or(Path::new("")).join(file)
    };
    let full = facts.root.join(&path);
    if !full.exists() {
        return Some(format!("{target}: {} does not exist", path.display()));
    }
    if !anchor.is_empty() && full.extension().is_some_and(|e| e == "md") {
        let text = std::fs::read_to_string(&full).unwrap_or_default();
        if !anchors(&text).contains(anchor) {
            return Some(format!(
                "{target}: {} has no heading #{anchor}",
                path.display()
            ));
        }
    }
    None
}

/// A repository path in inline code (`infra/github-oidc-sub.json`): it exists.
fn check_path(facts: &Facts, code: &str) -> Option<String> {
    let path = code.split([' ', ':', '#']).next().unwrap_or(code);
    if !REPO_DIRS.iter().any(|d| path.starts_with(d))
        || path.contains(['<', '*', '…', '{', '$'])
        || path.contains("OWNER")
    {
        return None;
    }
    (!facts.root.join(path).exists()).then(|| format!("`{code}`: {path} does not exist"))
}

/// A CamelCase name with a stack-ish ending (`DeployRoleArn`, `ApiDesiredCount`).
fn stack_like(word: &str) -> bool {
    let mut chars = word.chars();
    chars.next().is_some_and(|c| c.is_ascii_uppercase())
        && word.chars().all(|c| c.is_ascii_alphanumeric())
        && word.chars().filter(|c| c.is_ascii_uppercase()).count() >= 2
        && STACK_NAME_ENDINGS.iter().any(|e| word.ends_with(e))
}

fn check_stack_name(facts: &Facts, word: &str) -> Option<String> {
    (stack_like(word) && !facts.outputs.contains(word) && !facts.parameters.contains(word))
        .then(|| format!("the stack has no output or parameter {word}"))
}

/// Every problem of the document `rel` (relative to the repository's root), as `rel:line: …`.
pub(super) fn check(facts: &Facts, rel: &str, md: &str) -> Vec<String> {
    let doc = Path::new(rel);
    let mut errs = Vec::new();
    let (blocks, prose) = split(md);
    let link = regex_lite::Regex::new(r"\]\(([^)\s]+)\)").expect("regex");
    let output_line = regex_lite::Regex::new(r"^\S+\.([A-Z][A-Za-z0-9]+) = ").expect("regex");
    for (n, line) in &prose {
        let mut found = Vec::new();
        for code in inline_code(line) {
            for cmd in commands(&code) {
                found.extend(check_command(facts, &cmd));
            }
            found.extend(check_path(facts, &code));
            found.extend(check_stack_name(facts, &code));
        }
        for c in link.captures_iter(line) {
            found.extend(check_link(facts, doc, &c[1]));
        }
        errs.extend(found.into_iter().map(|e| format!("{rel}:{n}: {e}")));
    }
    for b in &blocks {
        let mut found = Vec::new();
        if matches!(b.info.as_str(), "yaml" | "yml") {
            found.extend(check_yaml(facts, &b.text));
        } else {
            for line in joined_lines(&b.text) {
                for cmd in commands(&line) {
                    found.extend(check_command(facts, &cmd));
                }
                if let Some(c) = output_line.captures(line.trim())
                    && !facts.outputs.contains(&c[1])
                {
                    found.push(format!("the stack has no output {}", &c[1]));
                }
            }
        }
        errs.extend(found.into_iter().map(|e| format!("{rel}:{}: {e}", b.line)));
    }
    errs
}

/// The exit codes a table lists: the first cell of each row after the heading `heading`
/// (`130, 143` counts as two).
pub(super) fn exit_codes_listed(md: &str, heading: &str) -> BTreeSet<u8> {
    let mut out = BTreeSet::new();
    let mut inside = false;
    for line in md.lines() {
        if line.starts_with('#') {
            inside = line.trim_start_matches('#').trim() == heading;
            continue;
        }
        if !inside || !line.starts_with('|') {
            continue;
        }
        let cell = line.split('|').nth(1).unwrap_or("");
        out.extend(cell.split(',').filter_map(|c| c.trim().parse::<u8>().ok()));
    }
    out
}

/// Every exit code deckhand has (the match makes a new variant fail to compile here).
pub(super) fn exit_codes() -> BTreeSet<u8> {
    let all = [
        Exit::Ok,
        Exit::Error,
        Exit::Usage,
        Exit::RolloutFailed,
        Exit::TimedOut,
        Exit::Locked,
        Exit::Changes,
        Exit::Moved,
        Exit::Interrupted,
        Exit::Terminated,
    ];
    for e in all {
        match e {
            Exit::Ok
            | Exit::Error
            | Exit::Usage
            | Exit::RolloutFailed
            | Exit::TimedOut
            | Exit::Locked
            | Exit::Changes
            | Exit::Moved
            | Exit::Interrupted
            | Exit::Terminated => {}
        }
    }
    all.iter().map(|e| e.code()).collect()
}
