//! Copying an image by digest from one repository to another (a promotion to an environment whose
//! repository is another one): for an index, each child image first; for an image, every blob the
//! target lacks (config and layers) — mounted from the source repository when both are on one
//! registry host, else read and uploaded whole — then its manifest, PUT by its digest with its own
//! bytes, so the digest is unchanged; last the top manifest under `tag` too (ECR's lifecycle rules
//! may expire untagged images). OCI distribution spec (spec.md): "Mounting a blob from another
//! repository" (`POST /v2/<name>/blobs/uploads/?mount=<digest>&from=<other>`: 201 mounted, 202 an
//! upload session instead), "Pushing a blob monolithically" (POST, then `PUT <location>?digest=`),
//! "Pushing Manifests" (`PUT /v2/<name>/manifests/<reference>`, the reference a tag or a digest),
//! "Checking if content exists in the registry" (HEAD: 200 or 404).

use bytes::Bytes;
use http::{Method, header};

use super::reference::Reference;
use super::registry::{MANIFEST_TYPES, MAX_BODY, Registry, RegistryError, sha256};

/// The largest blob copied through memory (when the registry cannot mount it).
const MAX_BLOB: usize = 8 << 30;

/// What a copy did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Copied {
    /// Blobs the target had already.
    pub(crate) present: usize,
    /// Blobs mounted from the source repository (nothing transferred).
    pub(crate) mounted: usize,
    /// Blobs read from the source and uploaded, and their bytes.
    pub(crate) uploaded: usize,
    pub(crate) bytes: u64,
    /// Manifests written (an index's children and the index).
    pub(crate) manifests: usize,
}

impl Registry {
    /// Copies the image `digest` from `from`'s repository to `to`'s (their tags and digests are
    /// ignored), and tags it `tag` there. The manifests are written with the source's bytes: the
    /// digest in the target is `digest`.
    pub(crate) async fn copy(
        &self,
        from: &Reference,
        to: &Reference,
        digest: &str,
        tag: Option<&str>,
    ) -> Result<Copied, RegistryError> {
        let mut done = Copied::default();
        let (top, media) = self.manifest(from, digest).await?;
        let doc: serde_json::Value =
            serde_json::from_slice(&top).map_err(|e| RegistryError::Invalid {
                url: format!("{from}@{digest}"),
                message: format!("the manifest is not JSON: {e}"),
            })?;
        if let Some(children) = doc["manifests"].as_array() {
            for child in children {
                let Some(d) = child["digest"].as_str() else {
                    continue;
                };
                let (bytes, media) = self.manifest(from, d).await?;
                self.image_blobs(from, to, d, &bytes, &mut done).await?;
                self.put_manifest(to, d, &bytes, &media).await?;
                done.manifests += 1;
            }
        } else {
            self.image_blobs(from, to, digest, &top, &mut done).await?;
        }
        self.put_manifest(to, digest, &top, &media).await?;
        done.manifests += 1;
        if let Some(t) = tag {
            self.put_manifest(to, t, &top, &media).await?;
        }
        Ok(done)
    }

    /// A manifest's bytes (checked against its digest) and media type.
    async fn manifest(
        &self,
        r: &Reference,
        digest: &str,
    ) -> Result<(Bytes, String), RegistryError> {
        let path = format!("manifests/{digest}");
        let (_, headers, body) = self
            .request_with(Method::GET, r, &path, Some(MANIFEST_TYPES), None, MAX_BODY)
            .await?;
        if sha256(&body) != digest {
            return Err(RegistryError::Invalid {
                url: format!("{}/{path}", r.repository),
                message: format!("the content's digest is {}, not {digest}", sha256(&body)),
            });
        }
        let media = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["mediaType"].as_str().map(str::to_string))
            .or_else(|| {
                headers
                    .get(header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            })
            .unwrap_or_else(|| "application/vnd.oci.image.manifest.v1+json".into());
        Ok((body, media))
    }

    /// The config and layers of the image manifest `bytes` into `to`.
    async fn image_blobs(
        &self,
        from: &Reference,
        to: &Reference,
        digest: &str,
        bytes: &[u8],
        done: &mut Copied,
    ) -> Result<(), RegistryError> {
        let m: serde_json::Value = serde_json::from_slice(bytes).unwrap_or_default();
        let blobs: Vec<&str> = m["config"]["digest"]
            .as_str()
            .into_iter()
            .chain(
                m["layers"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|l| l["digest"].as_str()),
            )
            .collect();
        if blobs.is_empty() {
            return Err(RegistryError::Invalid {
                url: format!("{from}@{digest}"),
                message: "the manifest names no config and no layer".into(),
            });
        }
        for b in blobs {
            self.blob(from, to, b, done).await?;
        }
        Ok(())
    }

    async fn blob(
        &self,
        from: &Reference,
        to: &Reference,
        digest: &str,
        done: &mut Copied,
    ) -> Result<(), RegistryError> {
        let path = format!("blobs/{digest}");
        match self
            .request_with(Method::HEAD, to, &path, None, None, MAX_BODY)
            .await
        {
            Ok(_) => {
                done.present += 1;
                return Ok(());
            }
            Err(RegistryError::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
        let same_host = from.api_host() == to.api_host();
        let start = if same_host {
            format!(
                "blobs/uploads/?mount={digest}&from={}",
                super::registry::encode(&from.repository)
            )
        } else {
            "blobs/uploads/".to_string()
        };
        let (status, headers, _) = self
            .request_with(
                Method::POST,
                to,
                &start,
                None,
                Some((Bytes::new(), "")),
                MAX_BODY,
            )
            .await?;
        if status == http::StatusCode::CREATED && same_host {
            done.mounted += 1;
            return Ok(());
        }
        let location = headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| RegistryError::Invalid {
                url: format!("{to}/{start}"),
                message: format!("{status} without an upload Location"),
            })?
            .to_string();
        let (_, _, body) = self
            .request_with(Method::GET, from, &path, None, None, MAX_BLOB)
            .await?;
        if sha256(&body) != digest {
            return Err(RegistryError::Invalid {
                url: format!("{}/{path}", from.repository),
                message: format!("the content's digest is {}, not {digest}", sha256(&body)),
            });
        }
        let sep = if location.contains('?') { '&' } else { '?' };
        let url = format!("{location}{sep}digest={}", super::registry::encode(digest));
        let len = body.len() as u64;
        self.request_url(
            Method::PUT,
            to,
            &url,
            None,
            Some((body, "application/octet-stream")),
            MAX_BODY,
        )
        .await?;
        done.uploaded += 1;
        done.bytes += len;
        Ok(())
    }

    async fn put_manifest(
        &self,
        to: &Reference,
        reference: &str,
        bytes: &Bytes,
        media: &str,
    ) -> Result<(), RegistryError> {
        self.request_with(
            Method::PUT,
            to,
            &format!("manifests/{reference}"),
            None,
            Some((bytes.clone(), media)),
            MAX_BODY,
        )
        .await
        .map(|_| ())
    }
}
