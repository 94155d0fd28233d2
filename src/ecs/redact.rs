//! Environment values never leave deckhand in a plan (pure): what a new revision does to the
//! environment is named variable by variable (`backend::keys::changes`), and the task definitions
//! a diff is made of have their values replaced ([`hide_values`]). A name in `public` keeps its
//! value (`backend.public-environment`).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

/// What replaces a value in a diff.
pub(crate) const HIDDEN: &str = "(hidden)";
/// What replaces a changed value on the new side of a diff (so the change shows as a line).
pub(crate) const HIDDEN_CHANGED: &str = "(hidden, changed)";

/// container name -> (variable -> value).
fn environments(td: &Value) -> BTreeMap<String, BTreeMap<String, String>> {
    td["containerDefinitions"]
        .as_array()
        .map(|defs| {
            defs.iter()
                .filter_map(|d| {
                    let name = d["name"].as_str()?.to_string();
                    let env = d["environment"]
                        .as_array()
                        .map(|list| {
                            list.iter()
                                .filter_map(|kv| {
                                    Some((
                                        kv["name"].as_str()?.to_string(),
                                        kv["value"].as_str().unwrap_or_default().to_string(),
                                    ))
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    Some((name, env))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `live` and `new` with every environment value replaced by [`HIDDEN`] (public names keep
/// theirs); a value `new` changes reads [`HIDDEN_CHANGED`] on its side, so a diff of the two
/// shows which variables change and never to or from what.
pub(crate) fn hide_values(live: &Value, new: &Value, public: &BTreeSet<String>) -> (Value, Value) {
    let before = environments(live);
    let mut old_side = live.clone();
    hide(&mut old_side, public, |_, _, _| HIDDEN);
    let mut new_side = new.clone();
    hide(&mut new_side, public, |container, name, value| match before
        .get(container)
        .and_then(|e| e.get(name))
    {
        Some(was) if was != value => HIDDEN_CHANGED,
        _ => HIDDEN,
    });
    (old_side, new_side)
}

fn hide(
    td: &mut Value,
    public: &BTreeSet<String>,
    marker: impl Fn(&str, &str, &str) -> &'static str,
) {
    let Some(defs) = td["containerDefinitions"].as_array_mut() else {
        return;
    };
    for def in defs {
        let container = def["name"].as_str().unwrap_or_default().to_string();
        let Some(list) = def["environment"].as_array_mut() else {
            continue;
        };
        for kv in list {
            let name = kv["name"].as_str().unwrap_or_default().to_string();
            if public.contains(&name) {
                continue;
            }
            if let Some(v) = kv.get_mut("value") {
                let text = v.as_str().unwrap_or_default().to_string();
                *v = Value::String(marker(&container, &name, &text).to_string());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn td(api: &[(&str, &str)], sidecar: &[(&str, &str)]) -> Value {
        let env = |l: &[(&str, &str)]| {
            l.iter()
                .map(|(k, v)| json!({"name": k, "value": v}))
                .collect::<Vec<_>>()
        };
        json!({"family": "api", "containerDefinitions": [
            {"name": "api", "environment": env(api)},
            {"name": "sidecar", "environment": env(sidecar)},
        ]})
    }

    #[test]
    fn a_diff_of_the_hidden_definitions_names_the_change_and_no_value() {
        let live = td(&[("DB_PASSWORD", "hunter2"), ("KEEP", "k")], &[]);
        let new = td(&[("DB_PASSWORD", "correct-horse"), ("KEEP", "k")], &[]);
        let (a, b) = hide_values(&live, &new, &BTreeSet::new());
        let diff = crate::ecs::diff::unified(&a, &b, "api:1", "new").expect("a change");
        assert!(
            diff.contains(&format!("+          \"value\": \"{HIDDEN_CHANGED}\"")),
            "{diff}"
        );
        for secret in ["hunter2", "correct-horse", "\"k\""] {
            assert!(!diff.contains(secret), "{diff}");
        }
        // Nothing changes: nothing to show.
        let (a, b) = hide_values(&live, &live, &BTreeSet::new());
        assert_eq!(a, b);
    }
}
