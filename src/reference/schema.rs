//! The keys of `deckhand.yml`, walked from its JSON Schema (`config::schema()`).

use serde_json::Value;

/// One key of `deckhand.yml` that takes a value (a section is not one).
#[derive(Debug, Clone)]
pub(super) struct Leaf {
    /// Dotted path, e.g. `frontend.invalidation.wait`.
    pub(super) path: String,
    /// Its schema, `$ref`s and `Option`'s `null` resolved.
    pub(super) schema: Value,
    /// The property's own schema (description, default, extensions live here).
    pub(super) property: Value,
}

impl Leaf {
    pub(super) fn description(&self) -> String {
        let text = self.property["description"]
            .as_str()
            .or_else(|| self.schema["description"].as_str())
            .unwrap_or_default();
        // Doc comments wrap at 100 columns; a paragraph is one line in Markdown.
        text.split("\n\n")
            .map(|p| p.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect::<Vec<_>>()
            .join("\n\n")
    }
    pub(super) fn default(&self) -> Option<&Value> {
        self.property.get("default")
    }
    pub(super) fn stack_output(&self) -> Option<&str> {
        self.property.get("x-stack-output").and_then(Value::as_str)
    }
}

/// `$ref` followed, and `anyOf: [X, {type: null}]` (an `Option`) reduced to X.
pub(super) fn resolve<'a>(root: &'a Value, node: &'a Value) -> &'a Value {
    if let Some(r) = node.get("$ref").and_then(Value::as_str) {
        let name = r.trim_start_matches("#/$defs/");
        return resolve(root, &root["$defs"][name]);
    }
    if let Some(any) = node.get("anyOf").and_then(Value::as_array) {
        let some: Vec<&Value> = any.iter().filter(|v| v["type"] != "null").collect();
        if let [one] = some.as_slice() {
            return resolve(root, one);
        }
    }
    node
}

/// Whether a resolved schema is a section of the file (an object with named properties).
fn is_section(schema: &Value) -> bool {
    schema.get("properties").is_some()
}

/// Every key that takes a value, depth first, in the schema's (alphabetical) order.
pub(super) fn leaves(root: &Value) -> Vec<Leaf> {
    let mut out = Vec::new();
    walk(root, root, "", &mut out);
    out
}

fn walk(root: &Value, section: &Value, prefix: &str, out: &mut Vec<Leaf>) {
    let Some(props) = section.get("properties").and_then(Value::as_object) else {
        return;
    };
    for (name, property) in props {
        let path = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        let schema = resolve(root, property);
        if is_section(schema) && schema.get("type") == Some(&Value::from("object")) {
            walk(root, schema, &path, out);
        } else {
            out.push(Leaf {
                path,
                schema: schema.clone(),
                property: property.clone(),
            });
        }
    }
}

/// A short description of a value's type, for the reference.
pub(super) fn type_of(root: &Value, schema: &Value) -> String {
    let schema = resolve(root, schema);
    if let Some(variants) = schema.get("oneOf").and_then(Value::as_array) {
        let mut names: Vec<String> = Vec::new();
        for v in variants {
            if let Some(c) = v.get("const").and_then(Value::as_str) {
                names.push(format!("`{c}`"));
            }
            for e in v
                .get("enum")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                names.extend(e.as_str().map(|s| format!("`{s}`")));
            }
        }
        names.sort();
        return format!("one of {}", names.join(", "));
    }
    if let Some(any) = schema.get("anyOf").and_then(Value::as_array) {
        let kinds: Vec<String> = any.iter().map(|v| type_of(root, v)).collect();
        return kinds.join(" or ");
    }
    if schema.get("description").and_then(Value::as_str) == Some(DURATION) {
        return "duration (`90s`, `15m`, `1h 30m`)".into();
    }
    let kind = match &schema["type"] {
        Value::Array(types) => types
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("any")
            .to_string(),
        Value::String(t) => t.clone(),
        _ => "any".into(),
    };
    match kind.as_str() {
        "integer" => match schema.get("minimum").and_then(Value::as_u64) {
            Some(m) if m > 0 => format!("integer ≥ {m}"),
            _ => "integer".into(),
        },
        "array" => {
            let items = type_of(root, &schema["items"]);
            if items.starts_with("object") {
                "list of objects".into()
            } else {
                format!("list of {items}s")
            }
        }
        "object" => match schema.get("additionalProperties") {
            Some(v) if v.is_object() => format!("map of string to {}", type_of(root, v)),
            _ => "object".into(),
        },
        other => other.into(),
    }
}

/// The description `HumanDuration`'s schema carries (how a duration is recognised).
const DURATION: &str = "A duration such as `90s`, `15m` or `1h 30m`.";
