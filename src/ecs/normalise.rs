//! Normalise a task definition's JSON so that two definitions ECS treats alike compare equal:
//! empty and null values dropped, lists ECS treats as sets sorted, units and defaults spelled
//! one way (ecspresso's approach: normalise, then diff).

use serde_json::Value;

/// Normalises a (stripped) task definition.
pub(crate) fn normalise(td: &Value) -> Value {
    let mut out = td.clone();
    if let Some(obj) = out.as_object_mut() {
        for key in ["cpu", "memory"] {
            if let Some(Value::String(s)) = obj.get(key) {
                let v = if key == "cpu" {
                    cpu_units(s)
                } else {
                    memory_mib(s)
                };
                obj.insert(key.into(), Value::String(v));
            }
        }
        sort_by(obj.get_mut("volumes"), &["name"]);
        sort_by(obj.get_mut("requiresCompatibilities"), &[]);
        if let Some(defs) = obj
            .get_mut("containerDefinitions")
            .and_then(Value::as_array_mut)
        {
            for def in defs {
                container(def);
            }
        }
    }
    prune(&mut out);
    out
}

fn container(def: &mut Value) {
    let Some(obj) = def.as_object_mut() else {
        return;
    };
    if obj.get("cpu").and_then(Value::as_i64) == Some(0) {
        obj.remove("cpu");
    }
    if !obj.contains_key("essential") {
        obj.insert("essential".into(), Value::Bool(true));
    }
    sort_by(obj.get_mut("environment"), &["name"]);
    sort_by(obj.get_mut("secrets"), &["name"]);
    sort_by(obj.get_mut("ulimits"), &["name"]);
    sort_by(
        obj.get_mut("mountPoints"),
        &["sourceVolume", "containerPath"],
    );
    sort_by(obj.get_mut("extraHosts"), &["hostname"]);
    sort_by(obj.get_mut("systemControls"), &["namespace"]);
    if let Some(ports) = obj.get_mut("portMappings").and_then(Value::as_array_mut) {
        for p in ports.iter_mut() {
            if let Some(p) = p.as_object_mut() {
                p.entry("protocol")
                    .or_insert_with(|| Value::String("tcp".into()));
            }
        }
    }
    sort_by(
        obj.get_mut("portMappings"),
        &[
            "containerPort",
            "hostPort",
            "protocol",
            "containerPortRange",
        ],
    );
}

/// Sorts a list of objects by the given keys (or, with no keys, a list of scalars by value).
fn sort_by(list: Option<&mut Value>, keys: &[&str]) {
    let Some(Value::Array(items)) = list else {
        return;
    };
    let key_of = |v: &Value| -> Vec<String> {
        if keys.is_empty() {
            return vec![v.to_string()];
        }
        keys.iter()
            .map(|k| match v.get(*k) {
                Some(Value::Number(n)) => format!("{:>20}", n.to_string()),
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
                None => String::new(),
            })
            .collect()
    };
    items.sort_by_key(|a| key_of(a));
}

/// Drops nulls, empty lists and empty objects, recursively.
fn prune(v: &mut Value) -> bool {
    match v {
        Value::Null => false,
        Value::Array(items) => {
            items.retain_mut(prune);
            !items.is_empty()
        }
        Value::Object(map) => {
            map.retain(|_, v| prune(v));
            !map.is_empty()
        }
        _ => true,
    }
}

/// `1 vCPU` / `0.25 vcpu` -> CPU units (`1024`, `256`); numbers stay as they are.
fn cpu_units(s: &str) -> String {
    let t = s.trim().to_ascii_lowercase();
    match t
        .strip_suffix("vcpu")
        .map(str::trim)
        .and_then(|n| n.parse::<f64>().ok())
    {
        Some(n) => format!("{}", (n * 1024.0).round() as i64),
        None => t,
    }
}

/// `1 GB` / `0.5gb` -> MiB (`1024`, `512`); `512 MiB`/`512 MB` -> `512`.
fn memory_mib(s: &str) -> String {
    let t = s.trim().to_ascii_lowercase();
    if let Some(n) = t
        .strip_suffix("gb")
        .map(str::trim)
        .and_then(|n| n.parse::<f64>().ok())
    {
        return format!("{}", (n * 1024.0).round() as i64);
    }
    for unit in ["mib", "mb"] {
        if let Some(n) = t
            .strip_suffix(unit)
            .map(str::trim)
            .and_then(|n| n.parse::<f64>().ok())
        {
            return format!("{}", n.round() as i64);
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn sorts_sets_drops_empties_and_spells_units_one_way() {
        let a = json!({
            "family": "api", "cpu": "0.25 vCPU", "memory": "1 GB", "placementConstraints": [],
            "containerDefinitions": [{
                "name": "api", "cpu": 0, "links": [], "dockerLabels": {},
                "environment": [{"name": "B", "value": "2"}, {"name": "A", "value": "1"}],
                "secrets": [{"name": "Z", "valueFrom": "z"}, {"name": "Y", "valueFrom": "y"}],
                "portMappings": [{"containerPort": 8080}, {"containerPort": 443, "protocol": "tcp"}],
                "healthCheck": null
            }]
        });
        let b = json!({
            "family": "api", "cpu": "256", "memory": "1024",
            "containerDefinitions": [{
                "name": "api", "essential": true,
                "environment": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                "secrets": [{"name": "Y", "valueFrom": "y"}, {"name": "Z", "valueFrom": "z"}],
                "portMappings": [{"containerPort": 443, "protocol": "tcp"}, {"containerPort": 8080, "protocol": "tcp"}]
            }]
        });
        assert_eq!(normalise(&a), normalise(&b));
        assert_eq!(
            normalise(&b)["containerDefinitions"][0]["portMappings"][1]["containerPort"],
            8080
        );
    }

    #[test]
    fn a_real_difference_survives() {
        let a = json!({"containerDefinitions": [{"name": "api", "image": "a"}]});
        let b = json!({"containerDefinitions": [{"name": "api", "image": "b"}]});
        assert_ne!(normalise(&a), normalise(&b));
    }

    #[test]
    fn units() {
        assert_eq!(cpu_units("1 vCPU"), "1024");
        assert_eq!(cpu_units("512"), "512");
        assert_eq!(memory_mib("0.5GB"), "512");
        assert_eq!(memory_mib("2048 MiB"), "2048");
    }
}
