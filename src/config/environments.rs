//! `environments:` — named blocks (`staging`, `production`) with the shape of the top level plus
//! `promote-from`, each deep-merged over the top level: maps merge by key, lists and scalars
//! replace, `null` removes an inherited key. One environment is selected per command
//! (`--environment NAME`); every block is merged and checked with the strict types when the file
//! is read, so a mistake in any environment is an error in every command, with the file, line and
//! column of the key inside its block (or of the inherited key it breaks).

use std::collections::BTreeMap;
use std::path::Path;

use serde_yaml::{Mapping, Value};

use super::error::{ConfigError, ParseError};
use super::file::ConfigFile;

/// The key of the environments section, and an environment's own key.
pub(crate) const KEY: &str = "environments";
pub(crate) const PROMOTE_FROM: &str = "promote-from";

/// One environment: its configuration (the top level with its block merged over it) and the
/// environment it is promoted from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Environment {
    pub(crate) name: String,
    pub(crate) promote_from: Option<String>,
    pub(crate) file: ConfigFile,
}

/// Merges `over` onto `base`: a mapping merges key by key (recursively), `null` removes the key
/// it names, anything else (a scalar, a list, a mapping over a non-mapping) replaces.
pub(crate) fn merge(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Mapping(b), Value::Mapping(o)) => {
            for (k, v) in o {
                if v.is_null() {
                    b.remove(k);
                } else if let Some(slot) = b.get_mut(k) {
                    merge(slot, v);
                } else {
                    b.insert(k.clone(), without_nulls(v));
                }
            }
        }
        (b, o) => *b = without_nulls(o),
    }
}

/// A value with its mappings' `null` entries dropped (a `null` inside a new block removes
/// nothing: there is nothing inherited under it).
fn without_nulls(v: &Value) -> Value {
    match v {
        Value::Mapping(m) => Value::Mapping(
            m.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), without_nulls(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Every environment of `text` (whose top level parsed as `top`), merged and checked. Empty when
/// the file has no `environments:`.
pub(crate) fn read(
    path: &Path,
    text: &str,
    top: &ConfigFile,
) -> Result<BTreeMap<String, Environment>, ConfigError> {
    if top.environments.is_empty() {
        return Ok(BTreeMap::new());
    }
    let whole: Value = serde_yaml::from_str(text).map_err(|e| at(path, text, KEY, &e))?;
    let mut base = whole.clone();
    if let Value::Mapping(m) = &mut base {
        m.remove(KEY);
    }
    let mut out = BTreeMap::new();
    for (name, block) in &top.environments {
        let here = format!("{KEY}.{name}");
        let mut block = match block {
            Value::Null => Mapping::new(),
            Value::Mapping(m) => m.clone(),
            other => {
                return Err(located(
                    path,
                    text,
                    &here,
                    &format!(
                        "environment `{name}` must be a mapping with the keys of the top level (and `{PROMOTE_FROM}`), not {}",
                        kind(other)
                    ),
                    None,
                ));
            }
        };
        if block.contains_key(KEY) {
            return Err(located(
                path,
                text,
                &format!("{here}.{KEY}"),
                &format!("environment `{name}` cannot hold `{KEY}` of its own"),
                None,
            ));
        }
        let promote_from = match block.remove(PROMOTE_FROM) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s),
            Some(other) => {
                return Err(located(
                    path,
                    text,
                    &format!("{here}.{PROMOTE_FROM}"),
                    &format!(
                        "`{PROMOTE_FROM}` names an environment, not {}",
                        kind(&other)
                    ),
                    None,
                ));
            }
        };
        let mut merged = base.clone();
        merge(&mut merged, &Value::Mapping(block));
        let file = typed(path, text, name, merged)?;
        out.insert(
            name.clone(),
            Environment {
                name: name.clone(),
                promote_from,
                file,
            },
        );
    }
    let names: Vec<&str> = out.keys().map(String::as_str).collect();
    for env in out.values() {
        let Some(from) = &env.promote_from else {
            continue;
        };
        let key = format!("{KEY}.{}.{PROMOTE_FROM}", env.name);
        if *from == env.name {
            return Err(located(
                path,
                text,
                &key,
                &format!("environment `{}` cannot be promoted from itself", env.name),
                None,
            ));
        }
        if !out.contains_key(from) {
            return Err(located(
                path,
                text,
                &key,
                &format!(
                    "environment `{}` is promoted from `{from}`, which is not an environment",
                    env.name
                ),
                Some(format!("the environments are: {}", names.join(", "))),
            ));
        }
    }
    Ok(out)
}

/// The strict types over an environment's merged configuration; an error points at the key in
/// the environment's block, else at the inherited key, else at the block.
fn typed(path: &Path, text: &str, name: &str, merged: Value) -> Result<ConfigFile, ConfigError> {
    // Through YAML text, as the top level is read: a plain scalar (`4`, `false`) is a string
    // where a string is wanted, as it is at the top level (a `Value` would be a number there).
    let merged_text = serde_yaml::to_string(&merged).map_err(|e| at(path, text, KEY, &e))?;
    let de = serde_yaml::Deserializer::from_str(&merged_text);
    serde_path_to_error::deserialize(de).map_err(|err| {
        let field_path = err.path().to_string();
        let inner = err.into_inner();
        let block = location_of_block(text, name);
        let own = crate::step::locate_key(text, &format!("{KEY}.{name}.{field_path}"));
        let top = crate::step::locate_key(text, &field_path);
        let (line, column) = match (own, top) {
            // Inside the environment's block.
            (Some(o), _) if o != block => o,
            // Inherited from the top level.
            (_, Some(t)) if !field_path.is_empty() && field_path != "." => t,
            _ => block,
        };
        let mut e = ParseError::new(path, text, line, column, &field_path, &inner.to_string());
        e.message = format!("environment `{name}`: {}", e.message);
        Box::new(e).into()
    })
}

fn location_of_block(text: &str, name: &str) -> (usize, usize) {
    crate::step::locate_key(text, &format!("{KEY}.{name}"))
        .or_else(|| crate::step::locate_key(text, KEY))
        .unwrap_or((1, 1))
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

/// An error at the key `key` (dotted) of the file.
fn located(path: &Path, text: &str, key: &str, message: &str, help: Option<String>) -> ConfigError {
    let (line, column) = crate::step::locate_key(text, key).unwrap_or((1, 1));
    let mut e = ParseError::new(path, text, line, column, "", message);
    e.help = help;
    Box::new(e).into()
}

fn at(path: &Path, text: &str, key: &str, err: &serde_yaml::Error) -> ConfigError {
    let (line, column) = err
        .location()
        .map(|l| (l.line(), l.column()))
        .or_else(|| crate::step::locate_key(text, key))
        .unwrap_or((1, 1));
    Box::new(ParseError::new(
        path,
        text,
        line,
        column,
        "",
        &err.to_string(),
    ))
    .into()
}

/// The error of a configuration with environments and none selected, or an unknown one: names
/// the environments, at the `environments:` key.
pub(crate) fn selection(
    path: &Path,
    text: &str,
    names: &[&str],
    wanted: Option<&str>,
) -> ConfigError {
    let message = match wanted {
        None => format!(
            "the configuration has environments ({}) and none is selected",
            names.join(", ")
        ),
        Some(w) => format!(
            "no environment `{w}`: the environments are {}",
            names.join(", ")
        ),
    };
    let mut e = match located(path, text, KEY, &message, None) {
        ConfigError::Parse(p) => p,
        other => return other,
    };
    e.help = Some(format!(
        "select one with --environment NAME (env DECKHAND_ENVIRONMENT, or the `environment` action input): {}",
        names.join(", ")
    ));
    ConfigError::Parse(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(s: &str) -> Value {
        serde_yaml::from_str(s).expect("yaml")
    }

    #[test]
    fn maps_merge_by_key_lists_and_scalars_replace_and_null_removes() {
        let mut base = yaml(
            "region: us-east-1\nbackend:\n  cluster: c\n  environment: { A: '1', B: '2' }\n  public-environment: [A]\nfrontend: { bucket: b, keep-releases: 5 }\n",
        );
        merge(
            &mut base,
            &yaml(
                "backend:\n  environment: { B: null, C: '3' }\n  public-environment: [C]\nfrontend: null\nstack: s\n",
            ),
        );
        assert_eq!(
            base,
            yaml(
                "region: us-east-1\nbackend:\n  cluster: c\n  environment: { A: '1', C: '3' }\n  public-environment: [C]\nstack: s\n"
            )
        );
        // A null inside a block the base does not have removes nothing.
        let mut base = yaml("region: r\n");
        merge(&mut base, &yaml("backend: { cluster: c, service: null }\n"));
        assert_eq!(base, yaml("region: r\nbackend: { cluster: c }\n"));
    }
}
