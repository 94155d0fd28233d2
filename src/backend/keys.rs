//! The planner's view of the deployed containers' environment and secrets (pure): which keys
//! change (by name, never a value), and which secrets' parameters were rotated since the live
//! release's tasks started. (Which keys deckhand manages is marked on the revision itself:
//! [`crate::ecs::managed`].)

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::observe::{LastApplied, Parameter};
use crate::plan::backend::{Change, KeyChange, KeyKind, Rotation};
use crate::secrets::parameter_name;

fn container<'a>(td: &'a Value, name: &str) -> Option<&'a Value> {
    td["containerDefinitions"]
        .as_array()?
        .iter()
        .find(|c| c["name"].as_str() == Some(name))
}

/// `name` -> `field` of a list of `{name, <field>}` entries.
fn entries(list: &Value, field: &str) -> BTreeMap<String, String> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| {
            Some((
                i["name"].as_str()?.to_string(),
                i[field].as_str().unwrap_or_default().to_string(),
            ))
        })
        .collect()
}

/// The keys of the deployed `containers` that differ between the live and the new revision, by
/// name: added, changed (an environment value; a secret's parameter) or removed. A secret that
/// names the same parameter by name and by ARN is unchanged. Values only for the environment
/// variables `public` names (`backend.public-environment`).
pub(crate) fn changes(
    live: &Value,
    new: &Value,
    containers: &[String],
    public: &BTreeSet<String>,
) -> Vec<KeyChange> {
    let mut out = Vec::new();
    for name in containers {
        let (old, now) = (
            container(live, name).unwrap_or(&Value::Null),
            container(new, name).unwrap_or(&Value::Null),
        );
        for (kind, field) in [
            (KeyKind::Environment, "environment"),
            (KeyKind::Secret, "secrets"),
        ] {
            let value = if kind == KeyKind::Environment {
                "value"
            } else {
                "valueFrom"
            };
            let same = |a: &str, b: &str| match kind {
                KeyKind::Environment => a == b,
                KeyKind::Secret => parameter_name(a) == parameter_name(b),
            };
            let (a, b) = (entries(&old[field], value), entries(&now[field], value));
            let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for key in keys {
                let change = match (a.get(key), b.get(key)) {
                    (None, Some(_)) => Change::Added,
                    (Some(_), None) => Change::Removed,
                    (Some(x), Some(y)) if !same(x, y) => Change::Changed,
                    _ => continue,
                };
                let shown = |v: Option<&String>| {
                    v.filter(|_| kind == KeyKind::Environment && public.contains(key))
                        .cloned()
                };
                out.push(KeyChange {
                    container: name.clone(),
                    kind,
                    name: key.clone(),
                    change,
                    old: shown(a.get(key)),
                    new: shown(b.get(key)),
                });
            }
        }
    }
    out
}

/// The version of each SSM parameter the new revision names (what its tasks will read), and the
/// secrets whose parameter's version differs from the one the live release recorded. A
/// parameter the live release did not record (a new secret, an older deckhand's record) is no
/// rotation.
pub(crate) fn rotations(
    new: &Value,
    parameters: &BTreeMap<String, Parameter>,
    applied: &LastApplied,
) -> (Vec<Rotation>, BTreeMap<String, i64>) {
    let mut rotated = BTreeSet::new();
    let mut versions = BTreeMap::new();
    let secrets = new["containerDefinitions"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|c| c["secrets"].as_array().into_iter().flatten());
    for s in secrets {
        let (Some(variable), Some(from)) = (s["name"].as_str(), s["valueFrom"].as_str()) else {
            continue;
        };
        let Some(p) = parameters.get(from) else {
            continue;
        };
        versions.insert(p.name.clone(), p.version);
        if let Some(&old) = applied.parameter_versions.get(&p.name)
            && old != p.version
        {
            rotated.insert(Rotation {
                variable: variable.to_string(),
                parameter: p.name.clone(),
                from: old,
                to: p.version,
            });
        }
    }
    (rotated.into_iter().collect(), versions)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn td(env: Value, secrets: Value) -> Value {
        json!({"family": "api", "containerDefinitions": [
            {"name": "api", "environment": env, "secrets": secrets},
            {"name": "sidecar", "environment": [{"name": "X", "value": "1"}]}
        ]})
    }

    #[test]
    fn changes_are_named_never_valued_and_a_parameter_by_name_or_arn_is_the_same() {
        let live = td(
            json!([{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]),
            json!([{"name": "S", "valueFrom": "/app/s"}, {"name": "T", "valueFrom": "/app/t"}]),
        );
        let new = td(
            json!([{"name": "A", "value": "1"}, {"name": "C", "value": "3"}, {"name": "B", "value": "9"}]),
            json!([{"name": "S", "valueFrom": "arn:aws:ssm:us-east-1:1:parameter/app/s"}]),
        );
        let got = changes(&live, &new, &["api".to_string()], &BTreeSet::new());
        let line = |k: &KeyChange| k.to_string();
        assert_eq!(
            got.iter().map(line).collect::<Vec<_>>(),
            vec![
                "environment B: value changed (values hidden)",
                "environment C: added (value hidden)",
                "secret T: removed (deckhand set it; the configuration no longer does)",
            ]
        );
        let json = serde_json::to_string(&got).expect("json");
        assert!(
            !json.contains("\"9\"") && !json.contains("\"3\"") && !json.contains("/app"),
            "{json}"
        );
        // A public name keeps its values (backend.public-environment); a secret never has one.
        let public = BTreeSet::from(["B".to_string(), "T".to_string()]);
        let got = changes(&live, &new, &["api".to_string()], &public);
        assert_eq!(got[0].to_string(), "environment B: changed: 2 -> 9");
        assert_eq!((got[2].old.as_deref(), got[2].new.as_deref()), (None, None));
    }

    #[test]
    fn a_version_other_than_the_recorded_one_is_a_rotation_and_an_unrecorded_one_is_not() {
        let arn = "arn:aws:ssm:us-east-1:1:parameter/app/key";
        let new = td(
            json!([]),
            json!([{"name": "CLAUDE_API_KEY", "valueFrom": arn},
                   {"name": "NEW", "valueFrom": "/app/new"},
                   {"name": "ELSEWHERE", "valueFrom": "arn:aws:secretsmanager:us-east-1:1:secret:x"}]),
        );
        let parameters = BTreeMap::from([
            (
                arn.to_string(),
                Parameter {
                    name: "/app/key".into(),
                    version: 4,
                },
            ),
            (
                "/app/new".to_string(),
                Parameter {
                    name: "/app/new".into(),
                    version: 1,
                },
            ),
        ]);
        let applied = LastApplied {
            parameter_versions: BTreeMap::from([("/app/key".to_string(), 3)]),
        };
        let (rotated, versions) = rotations(&new, &parameters, &applied);
        assert_eq!(
            rotated.iter().map(ToString::to_string).collect::<Vec<_>>(),
            vec!["secret CLAUDE_API_KEY rotated (version 3 → 4)"]
        );
        assert_eq!(
            versions,
            BTreeMap::from([("/app/key".to_string(), 4), ("/app/new".to_string(), 1)])
        );
        // The recorded version: nothing rotated.
        let applied = LastApplied {
            parameter_versions: BTreeMap::from([("/app/key".to_string(), 4)]),
        };
        assert!(rotations(&new, &parameters, &applied).0.is_empty());
        // No version recorded (no record, or an older deckhand's): unknown, nothing rotated.
        assert!(
            rotations(&new, &parameters, &LastApplied::default())
                .0
                .is_empty()
        );
    }
}
