//! Copying an image by digest from one repository to another (a promotion to an environment whose
//! repository is another one): for an index, each child image first; for an image, every blob the
//! target lacks (config and layers) — mounted from the source repository when both are on one
//! registry host, else streamed from the source into an upload (transfer.rs: one PATCH as the bytes
//! arrive, then an empty `PUT <location>?digest=`, as docker and buildah push) — then its manifest,
//! PUT by its digest with its own bytes, so the digest is unchanged; last the top manifest under
//! `tag` too (ECR's lifecycle rules may expire untagged images). OCI distribution spec (spec.md):
//! "Mounting a blob from another repository" (`POST /v2/<name>/blobs/uploads/?mount=<digest>&from=
//! <other>`: 201 mounted, 202 an upload session instead), "Pushing a blob in chunks",
//! "Pushing Manifests" (`PUT /v2/<name>/manifests/<reference>`, the reference a tag or a digest),
//! "Checking if content exists in the registry" (HEAD: 200 or 404).
//!
//! A blob upload is `POST /v2/<name>/blobs/uploads/` (the caller's), then one `PATCH <location>`
//! whose body is the source's `GET /v2/<name>/blobs/<digest>` passed on as it arrives (chunked
//! transfer encoding, no `Content-Range`), then `PUT <location>?digest=<digest>` with no body (OCI
//! distribution spec, spec.md "Pushing a blob in chunks": "the final chunk MAY be of size 0";
//! the streamed PATCH without Content-Range is what the spec's conformance tests push,
//! opencontainers/distribution-spec#303, and what docker and containers/image send). Memory is a
//! few of hyper's buffers, not the blob; the digest is checked on the bytes as they pass, and a
//! blob whose bytes are not its digest is cancelled (`DELETE <location>`) before the PUT.
//!
//! Not several `PATCH`es with `Content-Range`: ECR's registry answers a ranged PATCH `201`
//! instead of `202` (openai/tart#273, kitops-ml/kitops#821), refuses parts under 5 MiB but the
//! last (LayerPartTooSmallException, dotnet/sdk-container-builds#424; ECR service quotas:
//! "Minimum layer part size 5 MiB", "Maximum layer part size 10 MiB", 4,200 parts, for its
//! UploadLayerPart API) and is reported to drop the bytes of every PATCH after the first
//! (aws/containers-roadmap#2831). One streamed PATCH is what every `docker push` to ECR does: ECR's
//! registry proxy cuts it into UploadLayerPart calls (ECR API Reference, UploadLayerPart: "used by
//! the Amazon ECR proxy"), so no part size is deckhand's to choose.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Method, header};
use http_body_util::{BodyExt as _, Empty};
use sha2::{Digest as _, Sha256};

use super::reference::Reference;
use super::registry::{
    MANIFEST_TYPES, MAX_BODY, Registry, RegistryError, TIMEOUT, collect, error_message, sha256,
};

/// What a copy did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Copied {
    /// Blobs the target had already.
    pub(crate) present: usize,
    /// Blobs mounted from the source repository (nothing transferred).
    pub(crate) mounted: usize,
    /// Blobs streamed from the source and uploaded, and their bytes.
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
            // A tag that already names this digest is not written again: ECR refuses any PUT onto
            // an existing immutable tag, the identical manifest included (moby/buildkit#3776,
            // aws/containers-roadmap#2380), so a promotion retried after its copy went up would
            // fail there.
            let path = format!("manifests/{t}");
            let held = match self
                .request_with(
                    Method::HEAD,
                    to,
                    &path,
                    Some(MANIFEST_TYPES),
                    None,
                    MAX_BODY,
                )
                .await
            {
                Ok((_, headers, _)) => headers
                    .get("docker-content-digest")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string),
                Err(RegistryError::NotFound { .. }) => None,
                Err(e) => return Err(e),
            };
            if held.as_deref() != Some(digest) {
                self.put_manifest(to, t, &top, &media).await?;
            }
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
        let len = self.stream_blob(from, to, digest, &location).await?;
        done.uploaded += 1;
        done.bytes += len;
        Ok(())
    }

    /// Streams the blob `digest` from `from`'s repository into the upload at `location` of `to`'s
    /// (started by the caller) and closes it: the bytes moved.
    async fn stream_blob(
        &self,
        from: &Reference,
        to: &Reference,
        digest: &str,
        location: &str,
    ) -> Result<u64, RegistryError> {
        let source = format!("/v2/{}/blobs/{digest}", from.repository);
        let (_, _, _, body) = self
            .request_open(Method::GET, from, &source, None, None)
            .await?;
        let hasher = Arc::new(Mutex::new(Sha256::new()));
        let moved = Arc::new(AtomicU64::new(0));
        let progress = Arc::new(tokio::sync::Notify::new());
        let body = body
            .map_frame({
                let (hasher, moved, progress) = (hasher.clone(), moved.clone(), progress.clone());
                move |frame| {
                    if let Some(data) = frame.data_ref() {
                        if let Ok(mut h) = hasher.lock() {
                            h.update(data);
                        }
                        moved.fetch_add(data.len() as u64, Ordering::Relaxed);
                        progress.notify_one();
                    }
                    frame
                }
            })
            .boxed();
        let url = absolute(to, location);
        let auth = self.authorization(to).await;
        let patch = self.send_raw(
            &Method::PATCH,
            &url,
            None,
            auth.as_deref(),
            Some("application/octet-stream"),
            body,
            None,
        );
        tokio::pin!(patch);
        // No deadline for the whole blob: TIMEOUT without a byte moving (either side stalled), or
        // after the last one without an answer.
        let (status, headers, answer) = loop {
            tokio::select! {
                r = &mut patch => break r?,
                waited = tokio::time::timeout(TIMEOUT, progress.notified()) => if waited.is_err() {
                    return Err(RegistryError::Transport {
                        url: url.clone(),
                        message: format!(
                            "no progress in {}s streaming {digest} from {from} ({} bytes sent)",
                            TIMEOUT.as_secs(),
                            moved.load(Ordering::Relaxed)
                        ),
                    });
                }
            }
        };
        if !status.is_success() {
            let message = error_message(&collect(&url, answer, MAX_BODY).await?);
            return Err(RegistryError::Status {
                url: url.clone(),
                status: status.as_u16(),
                message,
            });
        }
        // The latest Location names the upload from here on (distribution spec: "the Location
        // header ... MUST be used for subsequent requests").
        let location = headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map_or_else(|| url.clone(), |l| absolute(to, l));
        let got = hasher
            .lock()
            .map(|h| format!("sha256:{}", hex::encode(h.clone().finalize())))
            .unwrap_or_default();
        if got != digest {
            // "Canceling an upload": DELETE /v2/<name>/blobs/uploads/<reference>. Best effort: the
            // registry expires it anyway.
            let _ = self
                .send_raw(
                    &Method::DELETE,
                    &location,
                    None,
                    auth.as_deref(),
                    None,
                    Empty::new().map_err(|never| match never {}).boxed(),
                    Some(0),
                )
                .await;
            return Err(RegistryError::Invalid {
                url: format!("{}{source}", from.api_host()),
                message: format!("the content's digest is {got}, not {digest}"),
            });
        }
        let sep = if location.contains('?') { '&' } else { '?' };
        let close = format!("{location}{sep}digest={}", super::registry::encode(digest));
        self.request_url(
            Method::PUT,
            to,
            &close,
            None,
            Some((Bytes::new(), "application/octet-stream")),
            MAX_BODY,
        )
        .await?;
        Ok(moved.load(Ordering::Relaxed))
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

/// An upload's Location as a URL (registries may answer a path).
fn absolute(r: &Reference, location: &str) -> String {
    if location.starts_with('/') {
        format!("{}{location}", Registry::base_url(r.api_host()))
    } else {
        location.to_string()
    }
}
