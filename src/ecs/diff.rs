//! Unified diff of two normalised task definitions (pretty JSON, keys sorted).

use serde_json::Value;

pub(crate) fn pretty(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_default();
    s.push('\n');
    s
}

/// `None` when equal; otherwise a unified diff with 3 lines of context.
pub(crate) fn unified(old: &Value, new: &Value, old_name: &str, new_name: &str) -> Option<String> {
    if old == new {
        return None;
    }
    let (a, b) = (pretty(old), pretty(new));
    let diff = similar::TextDiff::from_lines(&a, &b);
    Some(
        diff.unified_diff()
            .context_radius(3)
            .header(old_name, new_name)
            .to_string(),
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn equal_is_none_and_a_change_is_a_unified_diff() {
        let a = json!({"containerDefinitions": [{"image": "repo@sha256:1", "name": "api"}], "family": "api"});
        assert_eq!(unified(&a, &a, "live", "new"), None);
        let b = json!({"containerDefinitions": [{"image": "repo@sha256:2", "name": "api"}], "family": "api"});
        let d = unified(&a, &b, "api:3", "api:new").expect("diff");
        assert!(d.starts_with("--- api:3\n+++ api:new\n@@"), "{d}");
        assert!(
            d.contains(
                "-      \"image\": \"repo@sha256:1\",\n+      \"image\": \"repo@sha256:2\",\n"
            ),
            "{d}"
        );
    }
}
