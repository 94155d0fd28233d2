//! A registry HTTP API V2 client (OCI distribution spec): a manifest's digest by tag, an image's
//! platforms and labels (the manifest or index, then the config blob), with the auth docker uses
//! — none, `Basic` with the docker config's credentials, or a `Bearer` token from the realm a 401's
//! `WWW-Authenticate` names (distribution "Token Authentication Specification"; Docker Hub and
//! GHCR hand out anonymous pull tokens). Manifests are asked for with HEAD where only the digest
//! is needed: Docker Hub does not count HEAD requests against its pull rate limit (Docker docs,
//! "Usage and limits"). Blob downloads follow redirects (ECR and Docker Hub send them to S3 or a
//! CDN) without carrying the registry's Authorization to another host.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode, header};
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use sha2::{Digest as _, Sha256};

use super::creds::Credentials;
use super::reference::Reference;
use super::wire::{Body, HttpsClient};
use crate::plan::image::Platform;

/// Every manifest type deckhand reads: image indexes and image manifests, OCI and docker.
pub(super) const MANIFEST_TYPES: &str = "application/vnd.oci.image.index.v1+json, \
    application/vnd.docker.distribution.manifest.list.v2+json, \
    application/vnd.oci.image.manifest.v1+json, \
    application/vnd.docker.distribution.manifest.v2+json";
/// A manifest or config larger than this is not one.
pub(super) const MAX_BODY: usize = 16 << 20;
/// How long an answer (or, in a transfer, the next bytes) may take.
pub(super) const TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub(crate) enum RegistryError {
    #[error("cannot reach {url}: {message}")]
    Transport { url: String, message: String },
    #[error("{reference} does not exist in its registry ({message})")]
    NotFound { reference: String, message: String },
    #[error("{host} refused to let {} read {repository}: {message}", if *.with_credentials { "the docker config's credentials" } else { "an anonymous client" })]
    Unauthorized {
        host: String,
        repository: String,
        with_credentials: bool,
        message: String,
    },
    #[error("{url} answered {status}: {message}")]
    Status {
        url: String,
        status: u16,
        message: String,
    },
    #[error("{url}: {message}")]
    Invalid { url: String, message: String },
}

/// What an image (or index) is: its platforms, and the labels of the image for the platform
/// asked for (or of the only image).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ImageInfo {
    /// `os/architecture[/variant]` of every image it has (attestations left out).
    pub(crate) platforms: Vec<String>,
    /// Whether it has an image for the platform asked for.
    pub(crate) has_platform: bool,
    /// That image's config labels.
    pub(crate) labels: BTreeMap<String, String>,
}

/// A registry client for one run: credentials, and the Authorization that worked per repository.
pub(crate) struct Registry {
    client: HttpsClient,
    creds: Credentials,
    auth: tokio::sync::Mutex<HashMap<(String, String), String>>,
}

/// `scheme realm="…",service="…"` of a `WWW-Authenticate` header.
fn challenge(value: &str) -> (String, BTreeMap<String, String>) {
    let (scheme, rest) = value.trim().split_once(' ').unwrap_or((value.trim(), ""));
    let mut params = BTreeMap::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() {
            break;
        }
        let mut val = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => val.extend(chars.next()),
                    '"' => break,
                    c => val.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                val.push(c);
                chars.next();
            }
        }
        params.insert(key.trim().to_ascii_lowercase(), val.trim().to_string());
    }
    (scheme.to_ascii_lowercase(), params)
}

/// Percent-encoding of a query value.
pub(super) fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            b => format!("%{b:02X}"),
        })
        .collect()
}

/// The registry's error message (`{"errors": [{"code", "message"}]}`), or the body's start.
pub(super) fn error_message(body: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    match v["errors"].as_array().and_then(|e| e.first()) {
        Some(e) => format!(
            "{} {}",
            e["code"].as_str().unwrap_or_default(),
            e["message"].as_str().unwrap_or_default()
        )
        .trim()
        .to_string(),
        None => String::from_utf8_lossy(&body[..body.len().min(200)])
            .trim()
            .to_string(),
    }
}

/// A body read whole, up to `limit` bytes, within [`TIMEOUT`].
pub(super) async fn collect(url: &str, body: Body, limit: usize) -> Result<Bytes, RegistryError> {
    super::wire::collect(body, limit, TIMEOUT)
        .await
        .map_err(|message| RegistryError::Transport {
            url: url.to_string(),
            message,
        })
}

/// `sha256:<hex>` of bytes.
pub(super) fn sha256(body: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(body)))
}

impl Registry {
    pub(crate) fn new(creds: Credentials) -> Result<Self, String> {
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(rustls::crypto::ring::default_provider())
            .map_err(|e| format!("no root certificates: {e}"))?
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Self {
            client: Client::builder(TokioExecutor::new()).build(https),
            creds,
            auth: tokio::sync::Mutex::new(HashMap::new()),
        })
    }

    pub(super) fn base_url(host: &str) -> String {
        // Loopback registries (the local stack) speak plain HTTP, as docker treats them.
        let scheme = if super::build::insecure(host) {
            "http"
        } else {
            "https"
        };
        format!("{scheme}://{host}")
    }

    /// One request, no auth handling: (status, headers, body).
    async fn once(
        &self,
        method: &Method,
        url: &str,
        accept: Option<&str>,
        authorization: Option<&str>,
    ) -> Result<(StatusCode, HeaderMap, Bytes), RegistryError> {
        self.send(method, url, accept, authorization, None, MAX_BODY)
            .await
    }

    /// One request with a body (and its content type), no auth handling, its answer's body read
    /// up to `limit` bytes.
    async fn send(
        &self,
        method: &Method,
        url: &str,
        accept: Option<&str>,
        authorization: Option<&str>,
        body: Option<&(Bytes, &str)>,
        limit: usize,
    ) -> Result<(StatusCode, HeaderMap, Bytes), RegistryError> {
        let (status, headers, body) = self
            .send_whole(method, url, accept, authorization, body)
            .await?;
        Ok((status, headers, collect(url, body, limit).await?))
    }

    /// [`Registry::send`] with the answer's body unread.
    async fn send_whole(
        &self,
        method: &Method,
        url: &str,
        accept: Option<&str>,
        authorization: Option<&str>,
        body: Option<&(Bytes, &str)>,
    ) -> Result<(StatusCode, HeaderMap, Body), RegistryError> {
        let payload = body.map(|(b, _)| b.clone()).unwrap_or_default();
        let length = payload.len() as u64;
        let content_type = body.map(|(_, t)| *t).filter(|t| !t.is_empty());
        let payload = Full::new(payload).map_err(|never| match never {}).boxed();
        tokio::time::timeout(
            TIMEOUT,
            self.send_raw(
                method,
                url,
                accept,
                authorization,
                content_type,
                payload,
                Some(length),
            ),
        )
        .await
        .map_err(|_| RegistryError::Transport {
            url: url.to_string(),
            message: format!("no answer in {}s", TIMEOUT.as_secs()),
        })?
    }

    /// [`super::wire::send_raw`] with this client, its failure a transport error of `url`.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn send_raw(
        &self,
        method: &Method,
        url: &str,
        accept: Option<&str>,
        authorization: Option<&str>,
        content_type: Option<&str>,
        body: Body,
        length: Option<u64>,
    ) -> Result<(StatusCode, HeaderMap, Body), RegistryError> {
        super::wire::send_raw(
            &self.client,
            method,
            url,
            accept,
            authorization,
            content_type,
            body,
            length,
        )
        .await
        .map_err(|message| RegistryError::Transport {
            url: url.to_string(),
            message,
        })
    }

    /// The Authorization a 401's challenge asks for, from the docker config's credentials.
    async fn authorize(
        &self,
        r: &Reference,
        headers: &HeaderMap,
    ) -> Result<Option<String>, RegistryError> {
        let basic = self.creds.basic(&r.domain);
        let unauthorized = |message: String| RegistryError::Unauthorized {
            host: r.api_host().to_string(),
            repository: r.repository.clone(),
            with_credentials: basic.is_some(),
            message,
        };
        let Some(value) = headers
            .get(header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
        else {
            return Err(unauthorized(
                "401 without a WWW-Authenticate challenge".into(),
            ));
        };
        let (scheme, params) = challenge(value);
        match scheme.as_str() {
            "basic" => match basic {
                Some(b) => Ok(Some(format!("Basic {b}"))),
                None => Err(unauthorized(format!(
                    "it asks for a login (Basic realm {}) and the docker config has none for {}",
                    params.get("realm").map_or("", String::as_str),
                    r.domain
                ))),
            },
            "bearer" => {
                let realm = params.get("realm").ok_or_else(|| {
                    unauthorized(format!("a Bearer challenge without a realm: {value}"))
                })?;
                let scope = params
                    .get("scope")
                    .cloned()
                    .unwrap_or_else(|| format!("repository:{}:pull", r.repository));
                let mut url = format!("{realm}?scope={}", encode(&scope));
                if let Some(service) = params.get("service") {
                    url.push_str(&format!("&service={}", encode(service)));
                }
                let auth = basic.map(|b| format!("Basic {b}"));
                let (status, _, body) =
                    self.once(&Method::GET, &url, None, auth.as_deref()).await?;
                if !status.is_success() {
                    return Err(unauthorized(format!(
                        "its token server {realm} answered {status}: {}",
                        error_message(&body)
                    )));
                }
                let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                let token = v["token"]
                    .as_str()
                    .or(v["access_token"].as_str())
                    .filter(|t| !t.is_empty())
                    .ok_or_else(|| {
                        unauthorized(format!("its token server {realm} gave no token"))
                    })?;
                crate::github::mask(token);
                Ok(Some(format!("Bearer {token}")))
            }
            other => Err(unauthorized(format!("unsupported auth scheme {other}"))),
        }
    }

    /// A request to `r`'s repository (`path` after `/v2/<repository>/`), authorising on a 401
    /// and following redirects: (status, headers, body) of the last answer.
    async fn request(
        &self,
        method: Method,
        r: &Reference,
        path: &str,
        accept: Option<&str>,
    ) -> Result<(StatusCode, HeaderMap, Bytes), RegistryError> {
        self.request_with(method, r, path, accept, None, MAX_BODY)
            .await
    }

    /// [`Registry::request`] with a body, its answer read up to `limit` bytes.
    pub(super) async fn request_with(
        &self,
        method: Method,
        r: &Reference,
        path: &str,
        accept: Option<&str>,
        body: Option<(Bytes, &str)>,
        limit: usize,
    ) -> Result<(StatusCode, HeaderMap, Bytes), RegistryError> {
        let url = format!(
            "{}/v2/{}/{path}",
            Self::base_url(r.api_host()),
            r.repository
        );
        self.request_url(method, r, &url, accept, body, limit).await
    }

    /// A request to `url` (an upload's Location, absolute or a path) of `r`'s repository.
    pub(super) async fn request_url(
        &self,
        method: Method,
        r: &Reference,
        url: &str,
        accept: Option<&str>,
        body: Option<(Bytes, &str)>,
        limit: usize,
    ) -> Result<(StatusCode, HeaderMap, Bytes), RegistryError> {
        let (status, headers, at, body) = self.request_open(method, r, url, accept, body).await?;
        Ok((status, headers, collect(&at, body, limit).await?))
    }

    /// [`Registry::request_url`] with the answer's body unread (a blob streamed on): (status,
    /// headers, the URL that answered, body).
    pub(super) async fn request_open(
        &self,
        method: Method,
        r: &Reference,
        url: &str,
        accept: Option<&str>,
        body: Option<(Bytes, &str)>,
    ) -> Result<(StatusCode, HeaderMap, String, Body), RegistryError> {
        let key = (r.api_host().to_string(), r.repository.clone());
        let url = if url.starts_with('/') {
            format!("{}{url}", Self::base_url(r.api_host()))
        } else {
            url.to_string()
        };
        let body = body.as_ref();
        let mut auth = self.auth.lock().await.get(&key).cloned();
        let (mut status, mut headers, mut body_in) = self
            .send_whole(&method, &url, accept, auth.as_deref(), body)
            .await?;
        if status == StatusCode::UNAUTHORIZED {
            auth = self.authorize(r, &headers).await?;
            (status, headers, body_in) = self
                .send_whole(&method, &url, accept, auth.as_deref(), body)
                .await?;
            if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
                return Err(RegistryError::Unauthorized {
                    host: r.api_host().to_string(),
                    repository: r.repository.clone(),
                    with_credentials: self.creds.basic(&r.domain).is_some(),
                    message: error_message(&collect(&url, body_in, MAX_BODY).await?),
                });
            }
            if let Some(a) = &auth {
                self.auth.lock().await.insert(key, a.clone());
            }
        }
        let mut at = url;
        for _ in 0..5 {
            if !status.is_redirection() {
                break;
            }
            let Some(location) = headers.get(header::LOCATION).and_then(|l| l.to_str().ok()) else {
                break;
            };
            let next = if location.starts_with("http://") || location.starts_with("https://") {
                location.to_string()
            } else {
                format!("{}{location}", Self::base_url(r.api_host()))
            };
            let same_host = http::Uri::try_from(next.as_str())
                .ok()
                .and_then(|u| u.authority().map(|a| a.as_str().to_string()))
                .is_some_and(|a| a == r.api_host());
            // A redirect to storage (S3 presigned URLs) must not carry the registry's token.
            let a = if same_host { auth.as_deref() } else { None };
            (status, headers, body_in) = self.send_whole(&method, &next, accept, a, None).await?;
            at = next;
        }
        if status == StatusCode::NOT_FOUND {
            return Err(RegistryError::NotFound {
                reference: r.to_string(),
                message: error_message(&collect(&at, body_in, MAX_BODY).await?),
            });
        }
        if !status.is_success() {
            let message = error_message(&collect(&at, body_in, MAX_BODY).await?);
            return Err(RegistryError::Status {
                url: at,
                status: status.as_u16(),
                message,
            });
        }
        Ok((status, headers, at, body_in))
    }

    /// The Authorization this run uses for `r`'s repository, if one was needed.
    pub(super) async fn authorization(&self, r: &Reference) -> Option<String> {
        let key = (r.api_host().to_string(), r.repository.clone());
        self.auth.lock().await.get(&key).cloned()
    }

    /// The digest the registry serves for `r` (its tag, or its digest as given).
    pub(crate) async fn digest(&self, r: &Reference) -> Result<String, RegistryError> {
        if let Some(d) = &r.digest {
            return Ok(d.clone());
        }
        let path = format!("manifests/{}", r.reference());
        let (_, headers, _) = self
            .request(Method::HEAD, r, &path, Some(MANIFEST_TYPES))
            .await?;
        if let Some(d) = headers
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .and_then(super::build::valid_digest)
        {
            return Ok(d);
        }
        // No digest header: the digest is the manifest's own sha256.
        let (_, _, body) = self
            .request(Method::GET, r, &path, Some(MANIFEST_TYPES))
            .await?;
        Ok(sha256(&body))
    }

    /// A JSON document by digest (manifest or blob), its bytes checked against the digest.
    async fn json_by_digest(
        &self,
        r: &Reference,
        kind: &str,
        digest: &str,
    ) -> Result<serde_json::Value, RegistryError> {
        let accept = (kind == "manifests").then_some(MANIFEST_TYPES);
        let (_, _, body) = self
            .request(Method::GET, r, &format!("{kind}/{digest}"), accept)
            .await?;
        let url = format!("{}/{kind}/{digest}", r.repository);
        if sha256(&body) != digest {
            return Err(RegistryError::Invalid {
                url,
                message: format!("the content's digest is {}, not {digest}", sha256(&body)),
            });
        }
        serde_json::from_slice(&body).map_err(|e| RegistryError::Invalid {
            url,
            message: format!("not JSON: {e}"),
        })
    }

    /// The platforms of the image `r` names (by digest), and the labels of its image for `want`.
    pub(crate) async fn inspect(
        &self,
        r: &Reference,
        want: Platform,
    ) -> Result<ImageInfo, RegistryError> {
        let digest = self.digest(r).await?;
        let manifest = self.json_by_digest(r, "manifests", &digest).await?;
        let image = match manifest["manifests"].as_array() {
            Some(children) => {
                let mut info = ImageInfo::default();
                let mut chosen = None;
                for m in children {
                    let p = &m["platform"];
                    let (os, arch) = (
                        p["os"].as_str().unwrap_or_default(),
                        p["architecture"].as_str().unwrap_or_default(),
                    );
                    // BuildKit's attestation manifests are `unknown/unknown`.
                    if os.is_empty() || os == "unknown" {
                        continue;
                    }
                    let mut name = format!("{os}/{arch}");
                    if let Some(v) = p["variant"].as_str() {
                        name.push_str(&format!("/{v}"));
                    }
                    info.platforms.push(name);
                    if chosen.is_none() && Platform::of_oci(os, arch) == Some(want) {
                        chosen = m["digest"].as_str().map(str::to_string);
                    }
                }
                let Some(child) = chosen else {
                    return Ok(info);
                };
                info.has_platform = true;
                let m = self.json_by_digest(r, "manifests", &child).await?;
                let config = self.config(r, &m).await?;
                info.labels = labels(&config);
                return Ok(info);
            }
            None => manifest,
        };
        let config = self.config(r, &image).await?;
        let (os, arch) = (
            config["os"].as_str().unwrap_or_default(),
            config["architecture"].as_str().unwrap_or_default(),
        );
        let mut name = format!("{os}/{arch}");
        if let Some(v) = config["variant"].as_str() {
            name.push_str(&format!("/{v}"));
        }
        Ok(ImageInfo {
            platforms: vec![name],
            has_platform: Platform::of_oci(os, arch) == Some(want),
            labels: labels(&config),
        })
    }

    async fn config(
        &self,
        r: &Reference,
        manifest: &serde_json::Value,
    ) -> Result<serde_json::Value, RegistryError> {
        let digest = manifest["config"]["digest"]
            .as_str()
            .and_then(super::build::valid_digest)
            .ok_or_else(|| RegistryError::Invalid {
                url: r.to_string(),
                message: "the manifest names no config".into(),
            })?;
        self.json_by_digest(r, "blobs", &digest).await
    }
}

fn labels(config: &serde_json::Value) -> BTreeMap<String, String> {
    config["config"]["Labels"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_are_parsed_with_quoted_commas() {
        let (scheme, p) = challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/node:pull,push""#,
        );
        assert_eq!(scheme, "bearer");
        assert_eq!(p["realm"], "https://auth.docker.io/token");
        assert_eq!(p["service"], "registry.docker.io");
        assert_eq!(p["scope"], "repository:library/node:pull,push");
        let (scheme, p) = challenge(
            r#"Basic realm="https://1.dkr.ecr.us-east-1.amazonaws.com/",service="ecr.amazonaws.com""#,
        );
        assert_eq!(scheme, "basic");
        assert_eq!(p["service"], "ecr.amazonaws.com");
    }

    #[test]
    fn registry_errors_are_read() {
        assert_eq!(
            error_message(br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{}}]}"#),
            "MANIFEST_UNKNOWN manifest unknown"
        );
        assert_eq!(error_message(b"plain text"), "plain text");
        assert_eq!(encode("repository:a/b:pull"), "repository%3Aa%2Fb%3Apull");
    }
}
