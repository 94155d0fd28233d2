//! `docs/configuration.md`: every key of `deckhand.yml` (from its JSON Schema), the flag, env var
//! and action input that override it (from the clap definitions and `action.yml`), its default and
//! an example (from `docs/deckhand.reference.yml`, which the strict types must parse); then every
//! command's own options, the global options, the action's inputs and outputs.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use clap::CommandFactory as _;
use serde_json::Value;

use super::schema::{self, Leaf};
use crate::cli::{Cli, OVERRIDES};

/// An override flag of the command line.
#[derive(Debug, Clone)]
pub(super) struct Flag {
    /// How `--help` shows it, e.g. `--keep-releases <N>`.
    pub(super) usage: String,
    pub(super) long: String,
    pub(super) env: Option<String>,
    pub(super) help: String,
    pub(super) default: Option<String>,
}

fn flag_of(arg: &clap::Arg) -> Option<Flag> {
    let long = arg.get_long()?.to_string();
    let takes_value = arg.get_action().takes_values();
    let name = arg
        .get_value_names()
        .and_then(|n| n.first())
        .map_or_else(|| arg.get_id().as_str().to_uppercase(), ToString::to_string);
    let optional = arg.get_num_args().is_some_and(|n| n.min_values() == 0);
    let usage = match (takes_value, optional) {
        (false, _) => format!("--{long}"),
        (true, true) => format!("--{long}[={name}]"),
        (true, false) => format!("--{long} <{name}>"),
    };
    let help = arg
        .get_long_help()
        .or_else(|| arg.get_help())
        .map(|h| h.to_string())
        .unwrap_or_default();
    let default = arg
        .get_default_values()
        .iter()
        .map(|v| v.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(",");
    Some(Flag {
        usage,
        long,
        env: arg.get_env().map(|e| e.to_string_lossy().into_owned()),
        help: help.split_whitespace().collect::<Vec<_>>().join(" "),
        default: (!default.is_empty()).then_some(default),
    })
}

/// The key an override flag sets: its help ends with `(key)` or `(key; …)`.
pub(super) fn key_of(help: &str) -> Option<String> {
    let open = help.rfind('(')?;
    let inner = help[open + 1..]
        .trim_end_matches(['.', ' '])
        .trim_end_matches(')');
    let key = inner.split([';', ',']).next()?.trim();
    key.chars()
        .all(|c| c.is_ascii_lowercase() || c == '.' || c == '-')
        .then(|| key.to_string())
}

/// Override flags by the `deckhand.yml` key they set.
pub(super) fn overrides() -> BTreeMap<String, Flag> {
    Cli::command()
        .get_arguments()
        .filter(|a| a.get_help_heading() == Some(OVERRIDES))
        .filter_map(flag_of)
        .filter_map(|f| key_of(&f.help).map(|k| (k, f)))
        .collect()
}

/// `action.yml`, parsed.
pub(super) struct Action {
    pub(super) inputs: Vec<(String, String, Option<String>)>,
    pub(super) outputs: Vec<(String, String)>,
}

impl Action {
    pub(super) fn parse(text: &str) -> Action {
        let doc: serde_yaml::Value = serde_yaml::from_str(text).unwrap_or_default();
        let text_of = |v: &serde_yaml::Value| {
            v.as_str()
                .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
                .unwrap_or_default()
        };
        let entries = |key: &str| -> Vec<(String, serde_yaml::Value)> {
            doc[key]
                .as_mapping()
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| Some((k.as_str()?.to_string(), v.clone())))
                        .collect()
                })
                .unwrap_or_default()
        };
        Action {
            inputs: entries("inputs")
                .into_iter()
                .map(|(k, v)| {
                    let default = v["default"].as_str().map(str::to_string);
                    (k, text_of(&v["description"]), default)
                })
                .collect(),
            outputs: entries("outputs")
                .into_iter()
                .map(|(k, v)| (k, text_of(&v["description"])))
                .collect(),
        }
    }
    fn has_input(&self, name: &str) -> bool {
        self.inputs.iter().any(|(n, _, _)| n == name)
    }
}

fn code(s: &str) -> String {
    if s.contains('`') {
        format!("`` {s} ``")
    } else {
        format!("`{s}`")
    }
}

/// A table cell: pipes escaped, one line.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn default_text(leaf: &Leaf) -> String {
    match leaf.default() {
        Some(Value::String(s)) => code(s),
        Some(v) => code(&v.to_string()),
        None => match leaf.stack_output() {
            Some(o) => format!("stack output {}", code(o)),
            None => "none".into(),
        },
    }
}

/// The example of `path` from the reference file, nested under its sections, as YAML.
fn example(reference: &serde_yaml::Value, path: &str) -> Option<String> {
    let mut value = reference;
    for part in path.split('.') {
        value = value.get(part)?;
    }
    let mut nested = value.clone();
    for part in path.split('.').rev() {
        let mut m = serde_yaml::Mapping::new();
        m.insert(part.into(), nested);
        nested = serde_yaml::Value::Mapping(m);
    }
    serde_yaml::to_string(&nested).ok()
}

/// The whole document.
pub(super) fn render(root: &Value, action: &Action, reference: &serde_yaml::Value) -> String {
    let mut leaves = schema::leaves(root);
    // The top-level keys first, then each section's.
    leaves.sort_by_key(|l| (l.path.contains('.'), l.path.clone()));
    let flags = overrides();
    let mut out = String::new();
    let w = &mut out;
    let _ = writeln!(
        w,
        "# Configuration reference\n\n\
<!-- Generated from src/config/file.rs (the types `deckhand schema` prints), src/cli.rs, \
action.yml and docs/deckhand.reference.yml by `cargo test reference`; do not edit by hand: \
run `DECKHAND_UPDATE_DOCS=1 cargo test reference` after changing them. -->\n\n\
deckhand reads `deckhand.yml` (`--config FILE`, `DECKHAND_CONFIG`, the action input `config`). \
Every key can also be set by a flag, its `DECKHAND_*` environment variable and the action input \
of the flag's name; the first that is set wins: **flag > `DECKHAND_*` > action input > \
`deckhand.yml` > the stack's outputs** (`stack:` reads cluster, service, repository, bucket and \
distribution from the CloudFormation stack of `infra/`). Values are typed: durations `90s`, \
`15m`, `1h 30m`; booleans `true`/`false` (a flag alone means `true`: `--spa-router`, \
`--spa-router=false`); lists and `KEY=VALUE` maps one item per line in an environment variable \
or an action input, or the flag repeated. A bad value exits 2 naming the flag and the variable \
or input it came from; an unknown key in the file exits 2 naming its line and column.\n\n\
[`deckhand.reference.yml`](deckhand.reference.yml) sets every key at once (each example below is \
taken from it). `deckhand schema` prints the JSON Schema of the file for editor completion.\n"
    );
    let _ = writeln!(w, "## Keys of `deckhand.yml`\n");
    let _ = writeln!(w, "| key | flag | env var | action input | default |");
    let _ = writeln!(w, "| --- | --- | --- | --- | --- |");
    for leaf in &leaves {
        let flag = flags.get(&leaf.path);
        let input = flag
            .filter(|f| action.has_input(&f.long))
            .map_or("—".to_string(), |f| code(&f.long));
        let _ = writeln!(
            w,
            "| [{}](#{}) | {} | {} | {} | {} |",
            code(&leaf.path),
            anchor(&leaf.path),
            flag.map_or("—".to_string(), |f| code(&f.usage)),
            flag.and_then(|f| f.env.as_deref())
                .map_or("—".to_string(), code),
            input,
            cell(&default_text(leaf)),
        );
    }
    for leaf in &leaves {
        let _ = writeln!(w, "\n### `{}`\n", leaf.path);
        let _ = writeln!(w, "{}\n", leaf.description());
        let _ = writeln!(w, "- type: {}", schema::type_of(root, &leaf.schema));
        let _ = writeln!(w, "- default: {}", default_text(leaf));
        if let Some(output) = leaf.stack_output() {
            let _ = writeln!(
                w,
                "- with `stack:` set, filled from the stack output {} unless set here",
                code(output)
            );
        }
        if let Some(f) = flags.get(&leaf.path) {
            let input = if action.has_input(&f.long) {
                format!(", action input {}", code(&f.long))
            } else {
                String::new()
            };
            let env = f
                .env
                .as_deref()
                .map_or(String::new(), |e| format!(", env var {}", code(e)));
            let _ = writeln!(w, "- flag {}{env}{input}", code(&f.usage));
        }
        if let Some(items) = leaf.schema.get("items") {
            let item = schema::resolve(root, items);
            if let Some(props) = item.get("properties").and_then(Value::as_object) {
                let _ = writeln!(w, "- each item:");
                for (name, p) in props {
                    let d = p["description"].as_str().unwrap_or_default();
                    let _ = writeln!(
                        w,
                        "  - {} ({}): {}",
                        code(name),
                        schema::type_of(root, p),
                        d.split_whitespace().collect::<Vec<_>>().join(" ")
                    );
                }
            }
        }
        if let Some(e) = example(reference, &leaf.path) {
            let _ = writeln!(w, "\n```yaml\n{}```", e);
        }
    }
    commands(w, action);
    inputs_and_outputs(w, action);
    out
}

/// A heading's anchor as GitHub writes it.
fn anchor(path: &str) -> String {
    path.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect::<String>()
        .to_lowercase()
}

fn option_rows(w: &mut String, args: Vec<&clap::Arg>, action: &Action) {
    let _ = writeln!(w, "| flag | env var | action input | default | what |");
    let _ = writeln!(w, "| --- | --- | --- | --- | --- |");
    for arg in args {
        let Some(f) = flag_of(arg) else { continue };
        let input = if action.has_input(&f.long) {
            code(&f.long)
        } else {
            "—".into()
        };
        let _ = writeln!(
            w,
            "| {} | {} | {} | {} | {} |",
            code(&f.usage),
            f.env.as_deref().map_or("—".to_string(), code),
            input,
            f.default.as_deref().map_or("—".to_string(), code),
            cell(&f.help),
        );
    }
}

/// Each command's own options, then the global ones.
fn commands(w: &mut String, action: &Action) {
    let cli = Cli::command();
    let _ = writeln!(
        w,
        "\n## Command options\n\n\
The options of each command (the action runs the command its input `command` names, e.g. \
`deploy`, `plan`, `secrets sync`). The keys above are accepted by every command.\n"
    );
    let mut all: Vec<(String, &clap::Command)> = Vec::new();
    for sub in cli.get_subcommands() {
        if sub.has_subcommands() {
            for inner in sub.get_subcommands() {
                all.push((format!("{} {}", sub.get_name(), inner.get_name()), inner));
            }
        } else {
            all.push((sub.get_name().to_string(), sub));
        }
    }
    for (name, sub) in all {
        let own: Vec<&clap::Arg> = sub
            .get_arguments()
            .filter(|a| !a.is_global_set() && a.get_long().is_some())
            .filter(|a| !matches!(a.get_long(), Some("help" | "version")))
            .collect();
        let about = sub.get_about().map(|a| a.to_string()).unwrap_or_default();
        let _ = writeln!(w, "### `deckhand {name}`\n\n{}\n", about.trim());
        if own.is_empty() {
            let _ = writeln!(w, "No options of its own.\n");
        } else {
            option_rows(w, own, action);
            let _ = writeln!(w);
        }
    }
    let _ = writeln!(w, "### Global options\n");
    let global: Vec<&clap::Arg> = cli
        .get_arguments()
        .filter(|a| a.get_help_heading() != Some(OVERRIDES) && a.get_long().is_some())
        .filter(|a| !matches!(a.get_long(), Some("help" | "version")))
        .collect();
    option_rows(w, global, action);
}

fn inputs_and_outputs(w: &mut String, action: &Action) {
    let _ = writeln!(
        w,
        "\n## The action's inputs and outputs\n\n\
Every input but `command` is the flag of the same name (above); an input left empty is unset. \
`command` is the deckhand command the step runs.\n"
    );
    let _ = writeln!(w, "| input | default | what |");
    let _ = writeln!(w, "| --- | --- | --- |");
    for (name, description, default) in &action.inputs {
        let default = match default.as_deref() {
            None | Some("") => "—".to_string(),
            Some(d) => code(d),
        };
        let _ = writeln!(w, "| {} | {default} | {} |", code(name), cell(description));
    }
    let _ = writeln!(
        w,
        "\nOutputs (every command sets every one, on every path; empty when it does not apply):\n"
    );
    let _ = writeln!(w, "| output | what |");
    let _ = writeln!(w, "| --- | --- |");
    for (name, description) in &action.outputs {
        let _ = writeln!(w, "| {} | {} |", code(name), cell(description));
    }
}
