//! `frontend.runtime-config`: the values a Vite build would bake in (the API base, flags) served
//! instead as `/config.json`, which deckhand writes per environment from `deckhand.yml` — mutable
//! (`no-cache`, stored for rollback like any mutable file, invalidated when it changes) — so the
//! build, `index.html` included, is byte-identical across environments and a promotion copies it
//! as it is. The JSON is written with its keys sorted, so the same configuration is the same bytes.

use std::collections::BTreeMap;

use sha2::Digest as _;

use super::error::FrontendError;
use crate::config::{Frontend, NO_CACHE};
use crate::plan::site::Headers;
use crate::site::plan::Desired;

/// The key deckhand publishes the runtime configuration under.
pub(crate) const KEY: &str = "config.json";

/// The runtime configuration as a file to publish: its bytes, written once under the temp dir
/// (named by their sha256: the same configuration is the same file), as a planned file. None
/// without `frontend.runtime-config`.
pub(crate) fn desired(cfg: &Frontend) -> Result<Option<Desired>, FrontendError> {
    let Some(values) = &cfg.runtime_config else {
        return Ok(None);
    };
    let mut bytes = serde_json::to_vec_pretty(values)
        .map_err(|e| FrontendError::RuntimeConfig(format!("cannot write it as JSON: {e}")))?;
    bytes.push(b'\n');
    let sha256 = hex::encode(sha2::Sha256::digest(&bytes));
    let path = std::env::temp_dir().join(format!("deckhand-config-{sha256}.json"));
    std::fs::write(&path, &bytes).map_err(|e| {
        FrontendError::RuntimeConfig(format!("cannot write {}: {e}", path.display()))
    })?;
    Ok(Some(Desired {
        key: KEY.to_string(),
        path,
        size: bytes.len() as u64,
        sha256,
        headers: Headers {
            content_type: "application/json".into(),
            cache_control: NO_CACHE.into(),
        },
        hashed: false,
    }))
}

/// Adds the runtime configuration to the scanned build; a build that has a `config.json` of
/// its own is refused (deckhand would overwrite it).
pub(crate) fn add(cfg: &Frontend, desired: &mut Vec<Desired>) -> Result<(), FrontendError> {
    let Some(own) = self::desired(cfg)? else {
        return Ok(());
    };
    if desired.iter().any(|d| d.key == KEY) {
        return Err(FrontendError::RuntimeConfig(format!(
            "{} has a {KEY} of its own, and frontend.runtime-config writes {KEY}: remove one of them",
            cfg.dir.display()
        )));
    }
    desired.push(own);
    Ok(())
}

/// The top-level keys whose values differ between two runtime configurations.
pub(crate) fn differs(
    a: Option<&BTreeMap<String, serde_json::Value>>,
    b: Option<&BTreeMap<String, serde_json::Value>>,
) -> Vec<String> {
    let empty = BTreeMap::new();
    let (a, b) = (a.unwrap_or(&empty), b.unwrap_or(&empty));
    let mut keys: Vec<String> = a
        .keys()
        .chain(b.keys())
        .filter(|k| a.get(*k) != b.get(*k))
        .cloned()
        .collect();
    keys.dedup();
    keys.sort();
    keys.dedup();
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(extra: &str) -> Frontend {
        crate::frontend::test_config(extra)
    }

    #[test]
    fn the_runtime_config_is_config_json_sorted_no_cache_and_refused_beside_a_built_one() {
        let f =
            cfg("  runtime-config:\n    flags: { beta: true }\n    apiBase: https://api.example\n");
        let mut built = Vec::new();
        add(&f, &mut built).expect("added");
        let d = &built[0];
        assert_eq!(d.key, "config.json");
        assert_eq!(d.headers.content_type, "application/json");
        assert_eq!(d.headers.cache_control, "no-cache");
        assert!(!d.hashed);
        let text = std::fs::read_to_string(&d.path).expect("written");
        assert_eq!(
            text,
            "{\n  \"apiBase\": \"https://api.example\",\n  \"flags\": {\n    \"beta\": true\n  }\n}\n"
        );
        assert_eq!(d.size, text.len() as u64);
        // A build with its own config.json is refused; without the key nothing is added.
        let err = add(&f, &mut built).expect_err("refused");
        assert!(
            err.to_string().contains("has a config.json of its own"),
            "{err}"
        );
        let mut none = Vec::new();
        add(&cfg(""), &mut none).expect("nothing");
        assert!(none.is_empty());
        let a = f.runtime_config.clone();
        let b =
            cfg("  runtime-config: { apiBase: 'https://staging', flags: { beta: true }, x: 1 }\n")
                .runtime_config;
        assert_eq!(differs(a.as_ref(), b.as_ref()), vec!["apiBase", "x"]);
    }
}
