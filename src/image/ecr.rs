//! ECR: is the source tag already there (DescribeImages), the repository URI, and registry
//! credentials in a temporary auth file (0600, removed when dropped; the token is never printed).

use std::io::Write as _;

use base64::Engine as _;

use crate::aws::{AwsContext, AwsError};

/// An image already in ECR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Found {
    pub(crate) digest: String,
    pub(crate) registry_id: Option<String>,
}

#[derive(Debug)]
pub(crate) enum Lookup {
    Found(Found),
    NotFound,
    NoRepository,
}

/// DescribeImages for one tag.
pub(crate) async fn find_tag(
    ctx: &AwsContext,
    repository: &str,
    tag: &str,
) -> Result<Lookup, AwsError> {
    let resp = ctx
        .ecr
        .describe_images()
        .repository_name(repository)
        .image_ids(
            aws_sdk_ecr::types::ImageIdentifier::builder()
                .image_tag(tag)
                .build(),
        )
        .send()
        .await;
    match resp {
        Ok(r) => Ok(r
            .image_details()
            .iter()
            .find(|d| d.image_tags().iter().any(|t| t == tag))
            .and_then(|d| {
                d.image_digest().map(|digest| Found {
                    digest: digest.to_string(),
                    registry_id: d.registry_id().map(str::to_string),
                })
            })
            .map_or(Lookup::NotFound, Lookup::Found)),
        Err(e) => {
            let err = ctx.call_error("ecr", "DescribeImages", e);
            match err.code() {
                Some("ImageNotFoundException") => Ok(Lookup::NotFound),
                Some("RepositoryNotFoundException") => Ok(Lookup::NoRepository),
                _ => Err(err),
            }
        }
    }
}

/// The tags ECR has on the image with this digest (None: no such image in the repository).
pub(crate) async fn tags_of(
    ctx: &AwsContext,
    repository: &str,
    digest: &str,
) -> Result<Option<Vec<String>>, AwsError> {
    Ok(image_detail(ctx, None, repository, digest)
        .await?
        .map(|d| d.image_tags().to_vec()))
}

/// DescribeImages by digest: None when `repository` does not hold the image (or does not exist),
/// else the registry id ECR gives for it (None when it gives none). `registry_id`: the account
/// whose registry holds `repository` (None: the caller's own).
pub(crate) async fn image_registry(
    ctx: &AwsContext,
    registry_id: Option<&str>,
    repository: &str,
    digest: &str,
) -> Result<Option<Option<String>>, AwsError> {
    Ok(image_detail(ctx, registry_id, repository, digest)
        .await?
        .map(|d| d.registry_id().map(str::to_string)))
}

/// DescribeImages of one digest: the image's details, or None when `repository` does not hold the
/// image or does not exist (ImageNotFoundException / RepositoryNotFoundException, ECR API reference).
async fn image_detail(
    ctx: &AwsContext,
    registry_id: Option<&str>,
    repository: &str,
    digest: &str,
) -> Result<Option<aws_sdk_ecr::types::ImageDetail>, AwsError> {
    let resp = ctx
        .ecr
        .describe_images()
        .set_registry_id(registry_id.map(str::to_string))
        .repository_name(repository)
        .image_ids(
            aws_sdk_ecr::types::ImageIdentifier::builder()
                .image_digest(digest)
                .build(),
        )
        .send()
        .await;
    match resp {
        Ok(r) => Ok(r
            .image_details()
            .iter()
            .find(|d| d.image_digest() == Some(digest))
            .cloned()),
        Err(e) => {
            let err = ctx.call_error("ecr", "DescribeImages", e);
            match err.code() {
                Some("ImageNotFoundException") | Some("RepositoryNotFoundException") => Ok(None),
                _ => Err(err),
            }
        }
    }
}

/// The repository URI (`<account>.dkr.ecr.<region>.amazonaws.com/<name>`), or None when the
/// repository does not exist.
pub(crate) async fn repository_uri(
    ctx: &AwsContext,
    repository: &str,
) -> Result<Option<String>, AwsError> {
    Ok(describe_repository(ctx, repository)
        .await?
        .and_then(|r| r.repository_uri().map(str::to_string)))
}

/// DescribeRepositories of one repository (None: it does not exist).
pub(crate) async fn describe_repository(
    ctx: &AwsContext,
    repository: &str,
) -> Result<Option<aws_sdk_ecr::types::Repository>, AwsError> {
    let resp = ctx
        .ecr
        .describe_repositories()
        .repository_names(repository)
        .send()
        .await;
    match resp {
        Ok(r) => Ok(r.repositories().first().cloned()),
        Err(e) => {
            let err = ctx.call_error("ecr", "DescribeRepositories", e);
            if err.code() == Some("RepositoryNotFoundException") {
                Ok(None)
            } else {
                Err(err)
            }
        }
    }
}

/// Whether ECR refuses to move `tag` in `repository` to another image (PutImage answers
/// ImageTagAlreadyExistsException). ECR API Reference, `Repository.imageTagMutability` and
/// `ImageTagMutabilityExclusionFilter` (filterType WILDCARD, `*` any run of characters):
/// IMMUTABLE refuses every tag; IMMUTABLE_WITH_EXCLUSION every tag but those a filter matches;
/// MUTABLE_WITH_EXCLUSION only those a filter matches; MUTABLE none. A setting this SDK does not
/// know counts as immutable (refusing before any write beats a copy ECR stops half-way).
pub(crate) fn tag_immutable(repository: &aws_sdk_ecr::types::Repository, tag: &str) -> bool {
    use aws_sdk_ecr::types::ImageTagMutability as M;
    let excluded = || {
        repository
            .image_tag_mutability_exclusion_filters()
            .iter()
            .any(|f| wildcard(f.filter(), tag))
    };
    match repository.image_tag_mutability() {
        None | Some(M::Mutable) => false,
        Some(M::Immutable) => true,
        Some(M::ImmutableWithExclusion) => !excluded(),
        Some(M::MutableWithExclusion) => excluded(),
        Some(_) => true,
    }
}

/// `pattern` (`*`: any run of characters, anything else itself) matches all of `text`.
fn wildcard(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, rest) = (parts[0], &parts[1..]);
    let Some(mut left) = text.strip_prefix(first) else {
        return false;
    };
    let Some((last, middle)) = rest.split_last() else {
        return left.is_empty();
    };
    for part in middle {
        match left.find(part) {
            Some(i) => left = &left[i + part.len()..],
            None => return false,
        }
    }
    left.len() >= last.len() && left.ends_with(last)
}

/// The ECR registry host of an account in a region.
pub(crate) fn registry_host(registry_id: &str, region: &str) -> String {
    let suffix = if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    format!("{registry_id}.dkr.ecr.{region}.{suffix}")
}

/// A registry auth file in the containers-auth.json / docker config.json format, deleted on drop.
pub(crate) struct AuthFile {
    dir: tempfile::TempDir,
}

impl AuthFile {
    /// `<dir>/config.json` (docker's `--config <dir>` and buildah/podman's `--authfile <file>`).
    pub(crate) fn path(&self) -> std::path::PathBuf {
        self.dir.path().join("config.json")
    }
    pub(crate) fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Writes `config` (`{"auths": {host: {"auth": base64(user:password)}}}`) with mode 0600 in
    /// a 0700 dir.
    pub(crate) fn write(config: &serde_json::Value) -> std::io::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("deckhand-auth-")
            .tempdir()?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))?;
        }
        let path = dir.path().join("config.json");
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            opts.mode(0o600);
        }
        let mut f = opts.open(&path)?;
        f.write_all(config.to_string().as_bytes())?;
        f.sync_all()?;
        Ok(Self { dir })
    }
}

/// GetAuthorizationToken: the ECR registry host and its `auth` (base64 of `AWS:<password>`). The
/// token is masked in GitHub Actions logs and never printed.
pub(crate) async fn token(ctx: &AwsContext) -> Result<(String, String), LoginError> {
    let resp = ctx
        .ecr
        .get_authorization_token()
        .send()
        .await
        .map_err(|e| {
            LoginError::Call(Box::new(ctx.call_error("ecr", "GetAuthorizationToken", e)))
        })?;
    let data = resp.authorization_data().first().ok_or(LoginError::Empty)?;
    let token = data.authorization_token().ok_or(LoginError::Empty)?;
    crate::github::mask(token);
    if let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(token)
        && let Some((_, password)) = String::from_utf8_lossy(&decoded).split_once(':')
    {
        crate::github::mask(password);
    }
    let host = data
        .proxy_endpoint()
        .map(|e| {
            e.trim_start_matches("https://")
                .trim_start_matches("http://")
                .trim_end_matches('/')
        })
        .unwrap_or_default()
        .to_string();
    Ok((host, token.to_string()))
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum LoginError {
    #[error(transparent)]
    Call(Box<AwsError>),
    #[error("ECR GetAuthorizationToken returned no token")]
    Empty,
    #[error("cannot write the temporary registry auth file: {0}")]
    File(std::io::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_file_is_private_and_removed_on_drop() {
        let f = AuthFile::write(&serde_json::json!({"auths": {
            "1.dkr.ecr.us-east-1.amazonaws.com": {"auth": "QVdTOnNlY3JldA=="}
        }}))
        .expect("write");
        let path = f.path();
        let body: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("json");
        assert_eq!(
            body["auths"]["1.dkr.ecr.us-east-1.amazonaws.com"]["auth"],
            "QVdTOnNlY3JldA=="
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(
                std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777,
                0o600
            );
            assert_eq!(
                std::fs::metadata(f.dir())
                    .expect("meta")
                    .permissions()
                    .mode()
                    & 0o777,
                0o700
            );
        }
        drop(f);
        assert!(!path.exists());
    }

    #[test]
    fn which_tags_a_repository_keeps_immutable() {
        use aws_sdk_ecr::types::{
            ImageTagMutability as M, ImageTagMutabilityExclusionFilter as F,
            ImageTagMutabilityExclusionFilterType as T,
        };
        let repo = |m: Option<M>, filters: &[&str]| {
            let mut b = aws_sdk_ecr::types::Repository::builder();
            if let Some(m) = m {
                b = b.image_tag_mutability(m);
            }
            for f in filters {
                b = b.image_tag_mutability_exclusion_filters(
                    F::builder()
                        .filter_type(T::Wildcard)
                        .filter(*f)
                        .build()
                        .expect("filter"),
                );
            }
            b.build()
        };
        assert!(!tag_immutable(&repo(None, &[]), "src-1"));
        assert!(!tag_immutable(&repo(Some(M::Mutable), &[]), "src-1"));
        assert!(tag_immutable(&repo(Some(M::Immutable), &[]), "src-1"));
        let dev = repo(Some(M::ImmutableWithExclusion), &["dev-*", "*-rc*"]);
        assert!(!tag_immutable(&dev, "dev-1"));
        assert!(!tag_immutable(&dev, "v2-rc1"));
        assert!(tag_immutable(&dev, "src-1"));
        let kept = repo(Some(M::MutableWithExclusion), &["src-*"]);
        assert!(tag_immutable(&kept, "src-abc"));
        assert!(!tag_immutable(&kept, "latest"));
        assert!(tag_immutable(&repo(Some(M::from("FUTURE")), &[]), "x"));
        assert!(wildcard("a*b*c", "abbc") && wildcard("*", "") && wildcard("a", "a"));
        assert!(!wildcard("a*b", "ab-") && !wildcard("ab*b", "ab") && !wildcard("a", "ab"));
    }

    #[test]
    fn registry_hosts() {
        assert_eq!(
            registry_host("1", "us-east-1"),
            "1.dkr.ecr.us-east-1.amazonaws.com"
        );
        assert_eq!(
            registry_host("1", "cn-north-1"),
            "1.dkr.ecr.cn-north-1.amazonaws.com.cn"
        );
    }
}
