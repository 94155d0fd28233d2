//! Render the task definition to register from the service's live one (pure).
//!
//! Describe-only fields are stripped, the configured containers get the new image, the
//! configured environment and secrets are merged in, and the keys deckhand set before (its
//! managed keys, marked on the live container: [`super::managed`]) that the configuration no
//! longer sets are removed; every other key (the CDK stack's, a person's) and everything else
//! (other containers, volumes, roles, placement, logging …) is carried over untouched, and the
//! new revision is marked with the names the configuration sets. Like `kubectl apply`'s
//! last-applied configuration: only what deckhand itself set is deckhand's to remove.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::managed;
use crate::release::ManagedKeys;

/// Fields DescribeTaskDefinition returns that RegisterTaskDefinition does not accept.
pub(crate) const DESCRIBE_ONLY: &[&str] = &[
    "taskDefinitionArn",
    "revision",
    "status",
    "requiresAttributes",
    "compatibilities",
    "registeredAt",
    "registeredBy",
    "deregisteredAt",
    "deleteRequestedAt",
];

/// What deckhand sets on the configured containers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Changes<'a> {
    pub(crate) containers: &'a [String],
    /// `repo@sha256:…` (or, while the digest is not known yet, `repo:tag`).
    pub(crate) image: &'a str,
    pub(crate) environment: &'a BTreeMap<String, String>,
    /// Variable name -> SSM parameter ARN.
    pub(crate) secrets: &'a BTreeMap<String, String>,
    /// Secrets still configured but not set now (their parameter does not exist): kept.
    pub(crate) unresolved: &'a std::collections::BTreeSet<String>,
}

/// The live task definition with the describe-only fields removed.
pub(crate) fn strip(live: &Value) -> Value {
    let mut out = live.clone();
    if let Some(obj) = out.as_object_mut() {
        for key in DESCRIBE_ONLY {
            obj.remove(*key);
        }
    }
    out
}

/// Renders the new task definition. Fails naming the configured containers that the live task
/// definition does not have.
pub(crate) fn render(live: &Value, changes: &Changes<'_>) -> Result<Value, Vec<String>> {
    let mut out = strip(live);
    let defs = out
        .get_mut("containerDefinitions")
        .and_then(Value::as_array_mut);
    let mut found = Vec::new();
    if let Some(defs) = defs {
        for def in defs.iter_mut() {
            let Some(obj) = def.as_object_mut() else {
                continue;
            };
            let name = obj
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            if !changes.containers.contains(&name) {
                continue;
            }
            obj.insert("image".into(), Value::String(changes.image.to_string()));
            merge(obj, changes);
            found.push(name);
        }
    }
    let missing: Vec<String> = changes
        .containers
        .iter()
        .filter(|c| !found.contains(c))
        .cloned()
        .collect();
    if missing.is_empty() {
        Ok(out)
    } else {
        Err(missing)
    }
}

/// Sets `environment` and `secrets` entries by name (a name set in one list leaves the other),
/// removes the keys the live container's mark names that the configuration no longer sets, and
/// marks the container with the names the configuration sets (a configured secret whose
/// parameter is missing stays configured, so stays marked).
fn merge(container: &mut Map<String, Value>, changes: &Changes<'_>) {
    let mut env = named(container.get("environment"));
    let mut secrets = named(container.get("secrets"));
    let m = managed::of_labels(container.get("dockerLabels"));
    env.retain(|k, _| !m.environment.contains(k) || changes.environment.contains_key(k));
    secrets.retain(|k, _| {
        !m.secrets.contains(k) || changes.secrets.contains_key(k) || changes.unresolved.contains(k)
    });
    for (k, v) in changes.environment {
        secrets.remove(k);
        env.insert(k.clone(), json!({"name": k, "value": v}));
    }
    for (k, arn) in changes.secrets {
        env.remove(k);
        secrets.insert(k.clone(), json!({"name": k, "valueFrom": arn}));
    }
    container.insert(
        "environment".into(),
        Value::Array(env.into_values().collect()),
    );
    container.insert(
        "secrets".into(),
        Value::Array(secrets.into_values().collect()),
    );
    let now = ManagedKeys {
        environment: changes.environment.keys().cloned().collect(),
        secrets: changes
            .secrets
            .keys()
            .chain(changes.unresolved)
            .cloned()
            .collect(),
    };
    managed::mark(container, &now);
}

fn named(list: Option<&Value>) -> BTreeMap<String, Value> {
    list.and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .map(|item| {
                    let name = item
                        .get("name")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string();
                    (name, item.clone())
                })
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live() -> Value {
        json!({
            "taskDefinitionArn": "arn:aws:ecs:us-east-1:1:task-definition/api:3",
            "revision": 3,
            "status": "ACTIVE",
            "requiresAttributes": [{"name": "com.amazonaws.ecs.capability.ecr-auth"}],
            "compatibilities": ["EC2"],
            "registeredAt": 1.7e9,
            "registeredBy": "arn:aws:iam::1:role/x",
            "deregisteredAt": 1.7e9,
            "family": "api",
            "taskRoleArn": "arn:aws:iam::1:role/task",
            "executionRoleArn": "arn:aws:iam::1:role/exec",
            "volumes": [{"name": "data", "host": {"sourcePath": "/data"}}],
            "containerDefinitions": [
                {"name": "api", "image": "old", "essential": true,
                 "environment": [{"name": "KEEP", "value": "1"}, {"name": "NODE_ENV", "value": "dev"},
                                 {"name": "TOKEN", "value": "plain"}],
                 "secrets": [{"name": "OLD", "valueFrom": "arn:old"}]},
                {"name": "sidecar", "image": "envoy:1", "environment": [{"name": "X", "value": "y"}]}
            ]
        })
    }

    #[test]
    fn strips_describe_only_fields_and_keeps_the_rest() {
        let out = strip(&live());
        for key in DESCRIBE_ONLY {
            assert!(out.get(*key).is_none(), "{key} survived");
        }
        assert_eq!(out["taskRoleArn"], "arn:aws:iam::1:role/task");
        assert_eq!(out["volumes"][0]["name"], "data");
    }

    #[test]
    fn sets_image_and_merges_environment_and_secrets_on_configured_containers_only() {
        let env = BTreeMap::from([("NODE_ENV".to_string(), "production".to_string())]);
        let secrets = BTreeMap::from([("TOKEN".to_string(), "arn:aws:ssm:p".to_string())]);
        let containers = vec!["api".to_string()];
        let out = render(
            &live(),
            &Changes {
                containers: &containers,
                image: "repo@sha256:abc",
                environment: &env,
                secrets: &secrets,
                unresolved: &Default::default(),
            },
        )
        .expect("render");
        let api = &out["containerDefinitions"][0];
        assert_eq!(api["image"], "repo@sha256:abc");
        assert_eq!(
            api["environment"],
            json!([{"name": "KEEP", "value": "1"}, {"name": "NODE_ENV", "value": "production"}])
        );
        assert_eq!(
            api["secrets"],
            json!([{"name": "OLD", "valueFrom": "arn:old"}, {"name": "TOKEN", "valueFrom": "arn:aws:ssm:p"}])
        );
        // The new revision names what deckhand set in it (names, never a value).
        assert_eq!(
            api["dockerLabels"],
            json!({"deckhand.managed.environment": "[\"NODE_ENV\"]",
                   "deckhand.managed.secrets": "[\"TOKEN\"]"})
        );
        assert_eq!(
            out["containerDefinitions"][1],
            live()["containerDefinitions"][1]
        );
    }

    fn keys(env: &[&str], secrets: &[&str]) -> ManagedKeys {
        ManagedKeys {
            environment: env.iter().map(|s| s.to_string()).collect(),
            secrets: secrets.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// `live()` with each container's mark.
    fn marked(marks: &[(usize, ManagedKeys)]) -> Value {
        let mut td = live();
        for (i, keys) in marks {
            let c = td["containerDefinitions"][*i]
                .as_object_mut()
                .expect("container");
            c.insert("dockerLabels".into(), json!({"team": "web"}));
            managed::mark(c, keys);
        }
        td
    }

    #[test]
    fn keys_the_live_containers_mark_names_that_the_configuration_no_longer_sets_are_removed() {
        // deckhand set NODE_ENV, TOKEN (env) and OLD (secret) on `api`; the configuration now
        // sets only NODE_ENV (env) and TOKEN (as a secret). KEEP (the stack's) is never managed.
        let env = BTreeMap::from([("NODE_ENV".to_string(), "production".to_string())]);
        let secrets = BTreeMap::from([("TOKEN".to_string(), "arn:aws:ssm:p".to_string())]);
        let containers = vec!["api".to_string()];
        let changes = Changes {
            containers: &containers,
            image: "repo@sha256:abc",
            environment: &env,
            secrets: &secrets,
            unresolved: &Default::default(),
        };
        // The sidecar is not deployed: its keys are never touched, marked or not.
        let marked_live = marked(&[
            (0, keys(&["NODE_ENV", "TOKEN"], &["OLD"])),
            (1, keys(&["X"], &[])),
        ]);
        let out = render(&marked_live, &changes).expect("render");
        let api = &out["containerDefinitions"][0];
        assert_eq!(
            api["environment"],
            json!([{"name": "KEEP", "value": "1"}, {"name": "NODE_ENV", "value": "production"}])
        );
        assert_eq!(
            api["secrets"],
            json!([{"name": "TOKEN", "valueFrom": "arn:aws:ssm:p"}])
        );
        assert_eq!(managed::of_container(api), keys(&["NODE_ENV"], &["TOKEN"]));
        assert_eq!(api["dockerLabels"]["team"], "web", "other labels stay");
        assert_eq!(
            out["containerDefinitions"][1],
            marked_live["containerDefinitions"][1]
        );
        // Rendering again from what it registered removes nothing more: the mark moved with it.
        assert_eq!(render(&out, &changes).expect("render"), out);
        // No mark (CDK's revision, an older deckhand's, one written by hand): OLD is kept.
        let out = render(&live(), &changes).expect("render");
        assert_eq!(
            out["containerDefinitions"][0]["secrets"],
            json!([{"name": "OLD", "valueFrom": "arn:old"}, {"name": "TOKEN", "valueFrom": "arn:aws:ssm:p"}])
        );
        // A configured secret whose parameter is missing (deckhand plan) stays, and stays marked.
        let unresolved = ["OLD".to_string()].into();
        let out = render(
            &marked_live,
            &Changes {
                unresolved: &unresolved,
                ..changes
            },
        )
        .expect("render");
        let api = &out["containerDefinitions"][0];
        assert_eq!(api["secrets"][0]["name"], "OLD");
        assert_eq!(
            managed::of_container(api),
            keys(&["NODE_ENV"], &["OLD", "TOKEN"])
        );
    }

    #[test]
    fn names_configured_containers_the_live_definition_lacks() {
        let containers = vec!["api".to_string(), "worker".to_string()];
        let empty = BTreeMap::new();
        let err = render(
            &live(),
            &Changes {
                containers: &containers,
                image: "i",
                environment: &empty,
                secrets: &empty,
                unresolved: &Default::default(),
            },
        )
        .expect_err("worker is missing");
        assert_eq!(err, vec!["worker".to_string()]);
    }
}
