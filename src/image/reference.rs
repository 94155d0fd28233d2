//! Image references as docker normalises them (distribution/reference `normalize.go`): a first
//! component with a `.` or `:`, or `localhost`, is a registry host; anything else is Docker Hub
//! (`docker.io`, API host `registry-1.docker.io`), where a one-component name is under `library/`.

use std::fmt;

/// A parsed image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reference {
    /// The registry's name as written (`docker.io` for Docker Hub).
    pub(crate) domain: String,
    /// The repository path (`library/node`).
    pub(crate) repository: String,
    pub(crate) tag: Option<String>,
    pub(crate) digest: Option<String>,
}

impl Reference {
    pub(crate) fn parse(s: &str) -> Result<Self, String> {
        let bad = |why: &str| format!("`{s}` is not an image reference: {why}");
        let (name, digest) = match s.split_once('@') {
            Some((n, d)) => {
                if crate::image::build::valid_digest(d).is_none() {
                    return Err(bad("the digest is not sha256:<64 hex>"));
                }
                (n, Some(d.to_string()))
            }
            None => (s, None),
        };
        let (name, tag) = match name.rsplit_once(':') {
            Some((n, t)) if !t.contains('/') => (n, Some(t.to_string())),
            _ => (name, None),
        };
        if name.is_empty() {
            return Err(bad("no name"));
        }
        let (domain, path) = match name.split_once('/') {
            Some((first, rest))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_string(), rest.to_string())
            }
            _ => ("docker.io".to_string(), name.to_string()),
        };
        let domain = if domain == "index.docker.io" {
            "docker.io".to_string()
        } else {
            domain
        };
        let repository = if domain == "docker.io" && !path.contains('/') {
            format!("library/{path}")
        } else {
            path
        };
        if repository.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(bad("repository names are lower case"));
        }
        if repository.split('/').any(str::is_empty) {
            return Err(bad("an empty path component"));
        }
        if let Some(t) = &tag
            && (t.is_empty()
                || t.len() > 128
                || !t
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
        {
            return Err(bad("the tag has characters a tag cannot have"));
        }
        Ok(Self {
            domain,
            repository,
            tag,
            digest,
        })
    }

    /// The host the registry API answers on.
    pub(crate) fn api_host(&self) -> &str {
        if self.domain == "docker.io" {
            "registry-1.docker.io"
        } else {
            &self.domain
        }
    }

    /// What to ask the registry for: the digest, else the tag (default `latest`).
    pub(crate) fn reference(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or("latest")
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.domain, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(s: &str) -> (String, String, String, String) {
        let r = Reference::parse(s).expect("parse");
        (
            r.api_host().to_string(),
            r.repository.clone(),
            r.reference().to_string(),
            r.to_string(),
        )
    }

    #[test]
    fn docker_hub_and_other_registries() {
        assert_eq!(
            parts("node:22"),
            (
                "registry-1.docker.io".into(),
                "library/node".into(),
                "22".into(),
                "docker.io/library/node:22".into()
            )
        );
        assert_eq!(parts("bitnami/redis").2, "latest");
        assert_eq!(parts("bitnami/redis").1, "bitnami/redis");
        assert_eq!(parts("ghcr.io/o/app:1.0").0, "ghcr.io");
        assert_eq!(parts("127.0.0.1:5001/base:1").0, "127.0.0.1:5001");
        assert_eq!(parts("127.0.0.1:5001/base:1").1, "base");
        assert_eq!(parts("localhost/deckhand-node:20").0, "localhost");
        assert_eq!(parts("localhost:5000/x").2, "latest");
        let d = format!("sha256:{}", "a".repeat(64));
        assert_eq!(parts(&format!("node:22@{d}")).2, d);
        assert!(Reference::parse("Node:22").is_err());
        assert!(Reference::parse("node@sha256:abc").is_err());
        assert!(Reference::parse("a//b").is_err());
    }
}
