//! Registry credentials the way docker keeps them: `$DOCKER_CONFIG/config.json`, else
//! `$HOME/.docker/config.json` (docker CLI `cli/config`), each `auths` entry keyed by a host
//! (`https://index.docker.io/v1/` for Docker Hub) with `auth` = base64(`user:password`).
//!
//! In a GitHub container action `HOME` is `/github/home`, not the runner's home where a login
//! step on the runner writes: credentials for private base images reach the action through a
//! `DOCKER_CONFIG` both steps share, e.g. `${{ runner.temp }}/docker-config` (the runner mounts
//! RUNNER_TEMP at `/github/runner_temp` and rewrites the path in env values, actions/runner
//! `ContainerActionHandler.cs`, since v2.329). Credential helpers (`credsStore`, `credHelpers`)
//! are programs on the runner, not in the action: they are not read, and a warning says so.

use std::collections::BTreeMap;
use std::path::PathBuf;

use base64::Engine as _;

/// `user:password` per registry domain (`docker.io` for Docker Hub).
#[derive(Debug, Clone, Default)]
pub(crate) struct Credentials {
    /// domain -> base64(`user:password`).
    auths: BTreeMap<String, String>,
    /// Where they were read from (for messages).
    pub(crate) source: Option<PathBuf>,
}

/// A config.json key (`https://index.docker.io/v1/`, `ghcr.io`, `https://host:5000`) as the
/// domain of an image reference.
fn domain_of_key(key: &str) -> String {
    let k = key
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let host = k.split('/').next().unwrap_or(k);
    match host {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
            "docker.io".to_string()
        }
        h => h.to_string(),
    }
}

impl Credentials {
    /// Reads the docker config of this process (none: empty).
    pub(crate) fn load() -> Result<Self, String> {
        let path = match std::env::var_os("DOCKER_CONFIG") {
            Some(dir) if !dir.is_empty() => PathBuf::from(dir).join("config.json"),
            _ => match std::env::var_os("HOME") {
                Some(home) => PathBuf::from(home).join(".docker/config.json"),
                None => return Ok(Self::default()),
            },
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => Self::parse(&text)
                .map(|mut c| {
                    c.source = Some(path.clone());
                    c
                })
                .map_err(|e| format!("{}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(format!("{}: {e}", path.display())),
        }
    }

    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let v: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        for helper in ["credsStore", "credHelpers"] {
            if v.get(helper).is_some_and(|h| !h.is_null()) {
                tracing::warn!(
                    "docker config: `{helper}` is ignored (credential helpers are programs on the runner, not in the action); use `auths`"
                );
            }
        }
        let mut auths = BTreeMap::new();
        if let Some(map) = v["auths"].as_object() {
            for (key, entry) in map {
                let b64 = match (
                    entry["auth"].as_str(),
                    entry["username"].as_str(),
                    entry["password"].as_str(),
                ) {
                    (Some(a), _, _) if !a.is_empty() => a.to_string(),
                    (_, Some(u), Some(p)) => {
                        base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
                    }
                    _ => continue,
                };
                crate::github::mask(&b64);
                auths.insert(domain_of_key(key), b64);
            }
        }
        Ok(Self {
            auths,
            source: None,
        })
    }

    /// base64(`user:password`) for a registry domain.
    pub(crate) fn basic(&self, domain: &str) -> Option<&str> {
        self.auths.get(domain).map(String::as_str)
    }

    /// Adds (or replaces) the credentials of one registry host.
    pub(crate) fn insert(&mut self, domain: &str, basic_b64: &str) {
        self.auths.insert(domain.to_string(), basic_b64.to_string());
    }

    /// `{"auths": {…}}` for the builder (docker `--config`, buildah `--authfile`); Docker Hub
    /// under the key docker expects.
    pub(crate) fn auth_json(&self) -> serde_json::Value {
        let auths: serde_json::Map<String, serde_json::Value> = self
            .auths
            .iter()
            .map(|(domain, b64)| {
                let key = if domain == "docker.io" {
                    "https://index.docker.io/v1/".to_string()
                } else {
                    domain.clone()
                };
                (key, serde_json::json!({ "auth": b64 }))
            })
            .collect();
        serde_json::json!({ "auths": auths })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_registry_domains() {
        let c = Credentials::parse(
            r#"{"auths": {
                "https://index.docker.io/v1/": {"auth": "dTpw"},
                "ghcr.io": {"username": "me", "password": "tok"},
                "https://127.0.0.1:5000/v2/": {"auth": "eDp5"},
                "empty.example": {}
            }, "credsStore": "desktop"}"#,
        )
        .expect("parse");
        assert_eq!(c.basic("docker.io"), Some("dTpw"));
        assert_eq!(c.basic("ghcr.io"), Some("bWU6dG9r"));
        assert_eq!(c.basic("127.0.0.1:5000"), Some("eDp5"));
        assert_eq!(c.basic("empty.example"), None);
        let json = c.auth_json();
        assert_eq!(json["auths"]["https://index.docker.io/v1/"]["auth"], "dTpw");
        assert_eq!(json["auths"]["ghcr.io"]["auth"], "bWU6dG9r");
    }
}
