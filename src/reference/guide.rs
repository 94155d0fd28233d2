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

use super::markdown::{anchors, commands, inline_code, joined_lines, split};
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

/// On github.com, the owners whose repositories are public documentation: GitHub's and AWS's own
/// (an action's README, AWS's public roadmap) and `OWNER`, the deckhand repository a reader takes
/// releases from. Any other github.com link is a third party's page, not documentation.
const GITHUB_DOC_OWNERS: &[&str] = &["actions", "aws", "aws-actions", "cli", "github", "OWNER"];

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
    pub(super) action_outputs: BTreeSet<String>,
    /// Every key path of deckhand.yml (`backend.wait.timeout`), from docs/deckhand.reference.yml
    /// (which sets every key: `the_reference_file_is_a_valid_config_that_sets_every_key`).
    pub(super) keys: BTreeSet<String>,
}

/// Every key path of a YAML mapping, nested ones joined with `.`.
fn key_paths(v: &serde_yaml::Value, prefix: &str, out: &mut BTreeSet<String>) {
    if let Some(m) = v.as_mapping() {
        for (k, v) in m {
            let Some(k) = k.as_str() else { continue };
            let path = if prefix.is_empty() {
                k.to_string()
            } else {
                format!("{prefix}.{k}")
            };
            key_paths(v, &path, out);
            out.insert(path);
        }
    }
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
        let names = |section: &str| -> BTreeSet<String> {
            action[section]
                .as_mapping()
                .map(|m| {
                    m.keys()
                        .filter_map(|k| k.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default()
        };
        let reference: serde_yaml::Value =
            serde_yaml::from_str(&read(root, "docs/deckhand.reference.yml")).expect("YAML");
        let mut config_keys = BTreeSet::new();
        key_paths(&reference, "", &mut config_keys);
        Facts {
            root: root.to_path_buf(),
            outputs: keys("Outputs"),
            parameters: keys("Parameters"),
            context_keys,
            variables: names_after(&workflows, "vars"),
            secrets: names_after(&workflows, "secrets"),
            inputs: names("inputs"),
            action_outputs: names("outputs"),
            keys: config_keys,
        }
    }
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
    let mut errs = Vec::new();
    let fields = cmd
        .windows(2)
        .filter(|p| p[0] == "-f" || p[0] == "--field" || p[0] == "-F")
        .map(|p| p[1].split_once('=').unwrap_or((&p[1], "")));
    for (k, value) in fields {
        let Some(input) = inputs.get(k) else {
            errs.push(format!("{file} has no workflow_dispatch input {k}"));
            continue;
        };
        if let Some(options) = input["options"].as_sequence()
            && !options.iter().any(|o| o.as_str() == Some(value))
        {
            errs.push(format!("{file}'s input {k} takes no `{value}`"));
        }
        if file == "release.yml" && k == "version" && !release_version(facts).is_match(value) {
            errs.push(format!(
                "release.yml refuses version `{value}` (dev/action-image/set-version: vMAJOR.MINOR.PATCH)"
            ));
        }
    }
    errs
}

/// The versions release.yml accepts: the pattern its check step enforces
/// (`dev/action-image/set-version --check`: `[[ "$tag" =~ PATTERN ]]`).
fn release_version(facts: &Facts) -> regex_lite::Regex {
    let script = read(&facts.root, "dev/action-image/set-version");
    let pattern = script
        .lines()
        .find_map(|l| {
            l.split_once(r#"[[ "$tag" =~ "#)
                .and_then(|(_, rest)| rest.split_once(" ]]"))
        })
        .map(|(p, _)| p.to_string())
        .expect("dev/action-image/set-version checks the tag with [[ \"$tag\" =~ PATTERN ]]");
    regex_lite::Regex::new(&pattern).expect("set-version's tag pattern")
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

/// A link target: in the repository (the file, and the heading of an anchor), or public docs.
fn check_link(facts: &Facts, doc: &Path, target: &str) -> Option<String> {
    if let Some(rest) = target
        .strip_prefix("https://")
        .or_else(|| target.strip_prefix("http://"))
    {
        let host = rest.split(['/', '#', '?']).next().unwrap_or(rest);
        let owner = rest.split(['/', '#', '?']).nth(1).unwrap_or("");
        if host == "github.com" && !GITHUB_DOC_OWNERS.contains(&owner) {
            return Some(format!(
                "{target} leaves the repository for github.com/{owner}, not public documentation \
                 (on github.com: {})",
                GITHUB_DOC_OWNERS.join(", ")
            ));
        }
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

/// Fields of the plan's JSON the documents name like keys (`backend.keys`): not deckhand.yml's.
const PLAN_FIELDS: &[&str] = &[
    "backend.keys",
    "backend.rotated",
    "backend.image",
    "backend.supersedes",
    "backend.managed",
    "backend.parameter-versions",
    "frontend.gc",
    "frontend.retry",
    "frontend.uploads",
];

/// A deckhand.yml key in inline code (`backend.wait.timeout`, `frontend.adopt: true`): it exists.
fn check_key(facts: &Facts, code: &str) -> Option<String> {
    let key = code.split([' ', ':', '=']).next().unwrap_or(code);
    let plan = PLAN_FIELDS
        .iter()
        .any(|f| key == *f || key.starts_with(&format!("{f}.")));
    let configish = !plan
        && (key.starts_with("backend.") || key.starts_with("frontend."))
        && key.len() > "backend.".len()
        && key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c == '.' || c == '-');
    (configish && !facts.keys.contains(key)).then(|| format!("deckhand.yml has no key {key}"))
}

/// "input `NAME`", "inputs `A`, `B`", "output `NAME`": action.yml declares it (a CamelCase
/// output is the stack's: `check_stack_name`).
fn check_action_words(facts: &Facts, line: &str) -> Vec<String> {
    let re = regex_lite::Regex::new(r"\b(input|output)s? ((?:`[^`]+`(?:, | and | or )?)+)")
        .expect("regex");
    let mut errs = Vec::new();
    for c in re.captures_iter(line) {
        let (kind, set) = if &c[1] == "input" {
            ("input", &facts.inputs)
        } else {
            ("output", &facts.action_outputs)
        };
        for name in inline_code(&c[2]) {
            let plain = name.chars().all(|ch| ch.is_ascii_lowercase() || ch == '-');
            if plain && !set.contains(&name) {
                errs.push(format!("action.yml has no {kind} {name}"));
            }
        }
    }
    errs
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
    let bare = regex_lite::Regex::new(r"https?://[^\s<>()\[\]`]+").expect("regex");
    let output_line = regex_lite::Regex::new(r"^\S+\.([A-Z][A-Za-z0-9]+) = ").expect("regex");
    for (n, line) in &prose {
        let mut found = Vec::new();
        for code in inline_code(line) {
            for cmd in commands(&code) {
                found.extend(check_command(facts, &cmd));
            }
            found.extend(check_path(facts, &code));
            found.extend(check_stack_name(facts, &code));
            found.extend(check_key(facts, &code));
        }
        found.extend(check_action_words(facts, line));
        // Every link: `[text](target)`, and a URL GitHub links by itself (an autolink `<…>`, a bare
        // URL, a reference definition `[x]: URL`) outside inline code.
        let mut targets: BTreeSet<String> =
            link.captures_iter(line).map(|c| c[1].to_string()).collect();
        let plain = inline_code(line)
            .iter()
            .fold(line.clone(), |l, code| l.replace(&format!("`{code}`"), ""));
        targets.extend(bare.find_iter(&plain).map(|m| {
            m.as_str()
                .trim_end_matches(['.', ',', ';', ':'])
                .to_string()
        }));
        for target in &targets {
            found.extend(check_link(facts, doc, target));
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
