//! The keys deckhand manages in a container, marked on the container definition itself (pure).
//!
//! Each revision deckhand renders carries, in every deployed container, two Docker labels that
//! name the environment variables and secrets deckhand set there (JSON lists of names, never a
//! value): [`ENVIRONMENT`] and [`SECRETS`]. The next render removes a marked key that left
//! deckhand.yml and keeps every unmarked one. The mark lives in the revision, not in a release
//! record, so it is true of whatever revision is live, however it became live:
//!
//! - RegisterTaskDefinition writes the revision and its mark in one call, so a deploy SIGKILLed
//!   at any write leaves no revision without its mark and no mark without its revision (the record
//!   is written after UpdateService; a mark there is lost with the kill);
//! - the revision the circuit breaker puts back, a `--no-wait` rollout's, a rollback's: each
//!   names its own keys, whatever the records say about them;
//! - a person's revision made with the console's "Create new revision" is "a copy of the current
//!   task definition with the new parameter values replacing the existing ones"
//!   (<https://docs.aws.amazon.com/AmazonECS/latest/developerguide/update-task-definition-console-v2.html>),
//!   and DescribeTaskDefinition -> RegisterTaskDefinition copies `containerDefinitions` whole,
//!   labels included; task definition tags would not survive that (they are a separate request
//!   member, returned only with `include=TAGS`,
//!   <https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DescribeTaskDefinition.html>);
//! - the mark is not a task definition tag (deckhand tags its revisions too, and DeployRole has
//!   `ecs:TagResource` with `ecs:CreateAction` = RegisterTaskDefinition for that): a tag value is
//!   at most 256 characters from letters, digits, spaces and `+ - = . _ : / @`, and a resource has
//!   at most 50 tags (<https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_Tag.html>),
//!   too little for a list of variable names (a name may hold any other character, and twenty
//!   names of fifteen characters already overflow one value);
//! - a definition deckhand never rendered (the CDK stack's, one written from scratch) has no
//!   mark: nothing in it is deckhand's, nothing is removed. A mark a person deletes or garbles
//!   (not a JSON list of strings) makes deckhand keep keys, never remove more: that label counts
//!   as naming nothing, the plan's reads warn about it ([`garbled`]), and the next revision
//!   deckhand registers is marked afresh. A mark may name a key the container no longer has (a
//!   person removed it, a configured secret whose parameter is missing): nothing to remove;
//! - anyone who may describe the task definition reads the mark, as they read the environment
//!   itself: names, never a value. Whoever may register a revision may also edit the mark, and a
//!   name they add to it is removed by the next deploy if deckhand.yml does not set it — the same
//!   person could have removed the key outright;
//! - size: ECS documents no limit for one label; a task definition is at most 64 KiB
//!   (<https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-quotas.html>, "Task
//!   definition size"). The mark holds each name deckhand.yml sets once, quoted, which the
//!   revision already holds in its `environment` or `secrets` (with a value): a revision grows by
//!   less than the names it has, and one that does not fit is refused by RegisterTaskDefinition
//!   (deckhand reports its error; nothing is half-applied).
//!
//! `dockerLabels` is a container definition's "key/value map of labels to add to the container"
//! (<https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ContainerDefinition.html>):
//! the names reach `docker inspect` of the task's container, which sees the variables themselves
//! anyway. The keys follow Docker's label-key format (lowercase, dot-separated, a tool's own
//! prefix: <https://docs.docker.com/engine/manage-resources/labels/>).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use crate::release::ManagedKeys;

/// The label naming the environment variables deckhand set in the container.
pub(crate) const ENVIRONMENT: &str = "deckhand.managed.environment";
/// The label naming the secrets deckhand set in the container.
pub(crate) const SECRETS: &str = "deckhand.managed.secrets";

/// The names a label holds: a JSON list of strings. Absent or not such a list: none (a garbled
/// mark keeps keys).
fn names(labels: &Value, key: &str) -> BTreeSet<String> {
    labels
        .get(key)
        .and_then(Value::as_str)
        .and_then(|s| serde_json::from_str::<Vec<String>>(s).ok())
        .map(|v| v.into_iter().collect())
        .unwrap_or_default()
}

/// The labels of the containers of `td` named in `containers` that are present but not a JSON
/// list of strings: `(container, label)`, for a warning (the label's text is a person's and is
/// not repeated).
pub(crate) fn garbled(td: &Value, containers: &[String]) -> Vec<(String, &'static str)> {
    let mut out = Vec::new();
    for def in td["containerDefinitions"].as_array().into_iter().flatten() {
        let Some(name) = def["name"]
            .as_str()
            .filter(|n| containers.iter().any(|c| c == n))
        else {
            continue;
        };
        for key in [ENVIRONMENT, SECRETS] {
            let Some(label) = def.get("dockerLabels").and_then(|l| l.get(key)) else {
                continue;
            };
            let ok = label
                .as_str()
                .is_some_and(|s| serde_json::from_str::<Vec<String>>(s).is_ok());
            if !ok {
                out.push((name.to_string(), key));
            }
        }
    }
    out
}

/// The keys a container definition's mark names (none without a mark).
pub(crate) fn of_container(def: &Value) -> ManagedKeys {
    of_labels(def.get("dockerLabels"))
}

/// The keys a container's `dockerLabels` mark names.
pub(crate) fn of_labels(labels: Option<&Value>) -> ManagedKeys {
    let labels = labels.unwrap_or(&Value::Null);
    ManagedKeys {
        environment: names(labels, ENVIRONMENT),
        secrets: names(labels, SECRETS),
    }
}

/// Per container of `td` named in `containers`, the keys its mark names; containers without a
/// mark are left out.
pub(crate) fn of(td: &Value, containers: &[String]) -> BTreeMap<String, ManagedKeys> {
    marks(td, |name| containers.iter().any(|c| c == name))
}

/// Per container of `td`, the keys its mark names (a revision restored or found live: whatever
/// it says); containers without a mark are left out.
pub(crate) fn of_every(td: &Value) -> BTreeMap<String, ManagedKeys> {
    marks(td, |_| true)
}

fn marks(td: &Value, wanted: impl Fn(&str) -> bool) -> BTreeMap<String, ManagedKeys> {
    td["containerDefinitions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|def| {
            let name = def["name"].as_str().filter(|n| wanted(n))?;
            let keys = of_container(def);
            (keys != ManagedKeys::default()).then(|| (name.to_string(), keys))
        })
        .collect()
}

/// Marks a container definition with `keys` (an empty set removes its label); every other label
/// stays.
pub(crate) fn mark(container: &mut Map<String, Value>, keys: &ManagedKeys) {
    let mut labels = container
        .get("dockerLabels")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    for (key, set) in [(ENVIRONMENT, &keys.environment), (SECRETS, &keys.secrets)] {
        if set.is_empty() {
            labels.remove(key);
        } else {
            let list: Vec<&String> = set.iter().collect();
            labels.insert(
                key.to_string(),
                Value::String(serde_json::to_string(&list).unwrap_or_default()),
            );
        }
    }
    if labels.is_empty() {
        container.remove("dockerLabels");
    } else {
        container.insert("dockerLabels".into(), Value::Object(labels));
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn keys(env: &[&str], secrets: &[&str]) -> ManagedKeys {
        ManagedKeys {
            environment: env.iter().map(|s| s.to_string()).collect(),
            secrets: secrets.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn a_mark_round_trips_beside_other_labels_and_an_empty_set_leaves_no_label() {
        let mut c = json!({"name": "api", "dockerLabels": {"team": "web"}});
        let obj = c.as_object_mut().expect("object");
        mark(obj, &keys(&["NODE_ENV", "A,B"], &["TOKEN"]));
        assert_eq!(
            c["dockerLabels"],
            json!({"team": "web",
                   "deckhand.managed.environment": "[\"A,B\",\"NODE_ENV\"]",
                   "deckhand.managed.secrets": "[\"TOKEN\"]"})
        );
        assert_eq!(of_container(&c), keys(&["A,B", "NODE_ENV"], &["TOKEN"]));
        let obj = c.as_object_mut().expect("object");
        mark(obj, &keys(&["NODE_ENV"], &[]));
        assert_eq!(
            c["dockerLabels"],
            json!({"team": "web", "deckhand.managed.environment": "[\"NODE_ENV\"]"})
        );
        let mut bare = json!({"name": "api"});
        mark(
            bare.as_object_mut().expect("object"),
            &ManagedKeys::default(),
        );
        assert_eq!(bare, json!({"name": "api"}), "no empty dockerLabels");
    }

    #[test]
    fn no_mark_or_a_garbled_one_manages_nothing_and_other_containers_are_not_read() {
        let td = json!({"containerDefinitions": [
            {"name": "api", "dockerLabels": {"deckhand.managed.environment": "NODE_ENV,LOG_LEVEL",
                                             "deckhand.managed.secrets": "[\"TOKEN\"]"}},
            {"name": "sidecar", "dockerLabels": {"deckhand.managed.environment": "[\"X\"]"}},
            {"name": "worker"}
        ]});
        let all = [
            "api".to_string(),
            "sidecar".to_string(),
            "worker".to_string(),
        ];
        assert_eq!(
            of(&td, &all),
            BTreeMap::from([
                ("api".to_string(), keys(&[], &["TOKEN"])),
                ("sidecar".to_string(), keys(&["X"], &[])),
            ])
        );
        assert_eq!(
            of(&td, &["api".to_string()]).keys().collect::<Vec<_>>(),
            vec!["api"]
        );
        assert_eq!(of_every(&td), of(&td, &all));
        // The garbled label is named for a warning; a well-formed one (even naming a key the
        // container does not have) and a container that is not deployed are not.
        assert_eq!(garbled(&td, &all), vec![("api".to_string(), ENVIRONMENT)]);
        assert!(garbled(&td, &["sidecar".to_string(), "worker".to_string()]).is_empty());
        let odd = json!({"containerDefinitions": [{"name": "api", "dockerLabels": {
            "deckhand.managed.environment": "[\"A\", 1]", "deckhand.managed.secrets": "{}"}}]});
        assert_eq!(
            garbled(&odd, &["api".to_string()]),
            vec![
                ("api".to_string(), ENVIRONMENT),
                ("api".to_string(), SECRETS)
            ]
        );
        assert_eq!(of(&odd, &["api".to_string()]), BTreeMap::new());
    }
}
