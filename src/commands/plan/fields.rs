//! The review's backend diff: per configured container, only the fields deckhand changes (the
//! image, environment entries by name — a value only for `backend.public-environment` — and
//! secrets by name and parameter), as a `similar` unified diff. The plan keeps the
//! diff of the whole normalised task definition (`task_definition.diff` in the JSON).

use std::collections::BTreeMap;

use serde_json::Value;

use crate::plan::backend::{BackendPlan, Change, ImagePlan, KeyKind};
use crate::secrets::parameter_name;

/// Lines of the old and new side of one container's changed fields.
#[derive(Default)]
struct Sides {
    old: Vec<String>,
    new: Vec<String>,
}

impl Sides {
    /// A field whose entries differ: its header on both sides, then the old and new entries.
    fn field(&mut self, header: &str, old: Vec<String>, new: Vec<String>) {
        if old.is_empty() && new.is_empty() {
            return;
        }
        self.old.push(format!("  {header}:"));
        self.new.push(format!("  {header}:"));
        self.old.extend(old.into_iter().map(|l| format!("    {l}")));
        self.new.extend(new.into_iter().map(|l| format!("    {l}")));
    }
}

fn container<'a>(td: &'a Value, name: &str) -> Option<&'a Value> {
    td["containerDefinitions"]
        .as_array()?
        .iter()
        .find(|c| c["name"].as_str() == Some(name))
}

/// `name` -> value of a list of `{name, <field>}` entries (`environment`, `secrets`).
fn named(list: &Value, field: &str) -> BTreeMap<String, String> {
    list.as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| {
                    Some((
                        i["name"].as_str()?.to_string(),
                        i[field].as_str().unwrap_or_default().to_string(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The entries that differ between two maps, rendered by `line`, each side sorted by name.
fn changed(
    old: &BTreeMap<String, String>,
    new: &BTreeMap<String, String>,
    line: impl Fn(&str, &str) -> String,
) -> (Vec<String>, Vec<String>) {
    let gone = old
        .iter()
        .filter(|(k, v)| new.get(*k) != Some(v))
        .map(|(k, v)| line(k, v))
        .collect();
    let came = new
        .iter()
        .filter(|(k, v)| old.get(*k) != Some(v))
        .map(|(k, v)| line(k, v))
        .collect();
    (gone, came)
}

/// The environment lines of one container: by name, a value only for a public name (the plan's
/// [`crate::plan::backend::KeyChange`]s, which hold no other value).
fn environment(b: &BackendPlan, container: &str) -> (Vec<String>, Vec<String>) {
    let (mut gone, mut came) = (Vec::new(), Vec::new());
    for c in b
        .keys
        .iter()
        .filter(|c| c.container == container && c.kind == KeyKind::Environment)
    {
        let old = c.old.as_ref().map_or_else(
            || format!("{} (value hidden)", c.name),
            |v| format!("{}={v}", c.name),
        );
        let new = c.new.as_ref().map_or_else(
            || match c.change {
                Change::Changed => format!("{} (new value, hidden)", c.name),
                _ => format!("{} (value hidden)", c.name),
            },
            |v| format!("{}={v}", c.name),
        );
        match c.change {
            Change::Added => came.push(new),
            Change::Removed => gone.push(old),
            Change::Changed => {
                gone.push(old);
                came.push(new);
            }
        }
    }
    (gone, came)
}

/// The configured secrets whose parameter does not exist and that the new revision would
/// reference once it does (the live revision does not, or names another parameter).
pub(crate) fn missing_additions(
    b: &BackendPlan,
    missing: &BTreeMap<String, String>,
) -> Vec<String> {
    missing
        .iter()
        .filter(|(var, param)| {
            b.task_definition.containers.iter().any(|c| {
                let live = container(&b.live.task_definition, c)
                    .map(|c| named(&c["secrets"], "valueFrom"))
                    .unwrap_or_default();
                live.get(*var).map(|v| parameter_name(v)) != Some(parameter_name(param))
            })
        })
        .map(|(var, _)| var.clone())
        .collect()
}

/// The unified diff of the configured containers' changed fields, `None` when none changed.
/// `missing`: variable -> configured parameter of the secrets whose parameter does not exist
/// (planned without them; shown as what the configuration adds).
pub(crate) fn diff(b: &BackendPlan, missing: &BTreeMap<String, String>) -> Option<String> {
    let mut old_text = String::new();
    let mut new_text = String::new();
    for name in &b.task_definition.containers {
        let live = container(&b.live.task_definition, name).unwrap_or(&Value::Null);
        let new = container(&b.task_definition.rendered, name).unwrap_or(&Value::Null);
        let mut sides = Sides::default();
        let live_image = live["image"].as_str().unwrap_or_default();
        let new_image = new["image"].as_str().unwrap_or_default();
        match &b.image {
            ImagePlan::Build { push_to, .. } => sides.field(
                "image",
                vec![live_image.to_string()],
                vec![format!(
                    "new image from this commit ({}), pushed to {push_to}",
                    b.source.tag
                )],
            ),
            ImagePlan::Reuse { .. } | ImagePlan::Copy { .. } if live_image != new_image => sides
                .field(
                    "image",
                    vec![live_image.to_string()],
                    vec![new_image.to_string()],
                ),
            ImagePlan::Reuse { .. } | ImagePlan::Copy { .. } => {}
        }
        let (gone, came) = environment(b, name);
        sides.field("environment", gone, came);
        let by_parameter = |list: &Value| -> BTreeMap<String, String> {
            named(list, "valueFrom")
                .into_iter()
                .map(|(k, v)| (k, parameter_name(&v)))
                .collect()
        };
        let live_secrets = by_parameter(&live["secrets"]);
        let mut new_secrets = by_parameter(&new["secrets"]);
        for (var, param) in missing {
            let param = parameter_name(param);
            if live_secrets.get(var) != Some(&param) {
                new_secrets.insert(var.clone(), format!("{param} (missing)"));
            }
        }
        let (gone, came) = changed(&live_secrets, &new_secrets, |k, v| format!("{k} <- {v}"));
        sides.field("secrets", gone, came);
        if sides.old.is_empty() {
            continue;
        }
        for (text, lines) in [(&mut old_text, sides.old), (&mut new_text, sides.new)] {
            text.push_str(&format!("container {name}:\n"));
            for l in lines {
                text.push_str(&l);
                text.push('\n');
            }
        }
    }
    if old_text == new_text {
        return None;
    }
    let live_name = crate::aws::short_td(&b.task_definition.live);
    // One hunk: every field header is context.
    let radius = old_text.lines().count() + new_text.lines().count();
    Some(
        similar::TextDiff::from_lines(&old_text, &new_text)
            .unified_diff()
            .context_radius(radius)
            .header(live_name, "new revision")
            .to_string(),
    )
}
