//! Helpers for the frontend publish tests: a Vite-like fixture site, bucket + distribution setup,
//! and a fault-injecting HTTP proxy in front of the local S3.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest as _, Sha256};

pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";

fn short_hash(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))[..8].to_string()
}

/// Deterministic pseudo-random bytes (xorshift), so binary fixtures are stable.
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x & 0xff) as u8
        })
        .collect()
}

/// A built Vite-like site. `version` changes the app's entry chunk, its CSS and index.html;
/// the vendor chunk, fonts, wasm and public files stay the same across versions.
pub struct Site {
    pub dir: PathBuf,
    /// key -> expected (content-type, cache-control)
    pub expected: Vec<(String, &'static str, &'static str)>,
}

pub fn vite_site(dir: &Path, version: u32, big: bool) -> Site {
    let mut expected = Vec::new();
    let mut put = |key: String, bytes: &[u8], ct: &'static str, cc: &'static str| {
        let p = dir.join(&key);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, bytes).unwrap();
        expected.push((key, ct, cc));
    };
    let js = format!("import{{v}}from'./vendor.js';console.log('app v{version}',v);\n");
    let js_key = format!("assets/index-{}.js", short_hash(js.as_bytes()));
    let css = format!("body{{--v:{version};font-family:Inter}}\n");
    let css_key = format!("assets/index-{}.css", short_hash(css.as_bytes()));
    let vendor = "export const v='react';\n".repeat(40);
    let font = noise(1, 3000);
    let wasm = noise(2, 5000);
    let avif = noise(3, 700);
    let worker = "self.onmessage=e=>postMessage(e.data);\n";
    put(
        js_key.clone(),
        js.as_bytes(),
        "text/javascript; charset=utf-8",
        IMMUTABLE,
    );
    put(
        css_key.clone(),
        css.as_bytes(),
        "text/css; charset=utf-8",
        IMMUTABLE,
    );
    put(
        format!("assets/vendor-{}.js", short_hash(vendor.as_bytes())),
        vendor.as_bytes(),
        "text/javascript; charset=utf-8",
        IMMUTABLE,
    );
    put(
        format!("assets/inter-{}.woff2", short_hash(&font)),
        &font,
        "font/woff2",
        IMMUTABLE,
    );
    put(
        format!("assets/engine-{}.wasm", short_hash(&wasm)),
        &wasm,
        "application/wasm",
        IMMUTABLE,
    );
    put(
        format!("assets/hero-{}.avif", short_hash(&avif)),
        &avif,
        "image/avif",
        IMMUTABLE,
    );
    put(
        format!("assets/worker-{}.mjs", short_hash(worker.as_bytes())),
        worker.as_bytes(),
        "text/javascript; charset=utf-8",
        IMMUTABLE,
    );
    if big {
        let blob = noise(4, 9 * 1024 * 1024 + 123);
        put(
            format!("assets/model-{}.bin", short_hash(&blob)),
            &blob,
            "application/octet-stream",
            IMMUTABLE,
        );
    }
    put(
        "manifest.webmanifest".into(),
        br#"{"name":"deckhand demo","start_url":"/"}"#,
        "application/manifest+json; charset=utf-8",
        "no-cache",
    );
    put(
        "robots.txt".into(),
        b"User-agent: *\nAllow: /\n",
        "text/plain; charset=utf-8",
        "no-cache",
    );
    put(
        "favicon.svg".into(),
        b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>",
        "image/svg+xml; charset=utf-8",
        "no-cache",
    );
    let html = format!(
        "<!doctype html><html><head><link rel=\"stylesheet\" href=\"/{css_key}\"><link rel=\"manifest\" href=\"/manifest.webmanifest\"></head><body><div id=\"root\"></div><script type=\"module\" src=\"/{js_key}\"></script></body></html>\n"
    );
    put(
        "index.html".into(),
        html.as_bytes(),
        "text/html; charset=utf-8",
        "no-cache",
    );
    Site {
        dir: dir.to_path_buf(),
        expected,
    }
}

/// Copies a directory tree (fresh mtimes: a CI rebuild with the same bytes).
pub fn copy_tree(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.unwrap();
        let rel = entry.path().strip_prefix(from).unwrap();
        let dest = to.join(rel);
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
        } else {
            std::fs::write(&dest, std::fs::read(entry.path()).unwrap()).unwrap();
        }
    }
}

pub async fn cloudfront() -> aws_sdk_cloudfront::Client {
    aws_sdk_cloudfront::Client::new(&crate::common::sdk().await)
}

pub async fn create_bucket(bucket: &str) {
    crate::common::s3()
        .await
        .create_bucket()
        .bucket(bucket)
        .send()
        .await
        .unwrap();
}

/// A distribution in front of the bucket; returns its id.
pub async fn create_distribution(bucket: &str) -> String {
    use aws_sdk_cloudfront::types::{
        DefaultCacheBehavior, DistributionConfig, Origin, Origins, S3OriginConfig,
        ViewerProtocolPolicy,
    };
    let origin = Origin::builder()
        .id("site")
        .domain_name(format!("{bucket}.s3.us-east-1.amazonaws.com"))
        .s3_origin_config(S3OriginConfig::builder().origin_access_identity("").build())
        .build()
        .unwrap();
    let behaviour = DefaultCacheBehavior::builder()
        .target_origin_id("site")
        .viewer_protocol_policy(ViewerProtocolPolicy::RedirectToHttps)
        .cache_policy_id("658327ea-f89d-4fab-a63d-7e88639e58f6")
        .build()
        .unwrap();
    let config = DistributionConfig::builder()
        .caller_reference(bucket)
        .origins(
            Origins::builder()
                .quantity(1)
                .items(origin)
                .build()
                .unwrap(),
        )
        .default_cache_behavior(behaviour)
        .comment("deckhand frontend test")
        .enabled(true)
        .build()
        .unwrap();
    cloudfront()
        .await
        .create_distribution()
        .distribution_config(config)
        .send()
        .await
        .unwrap()
        .distribution()
        .unwrap()
        .id()
        .to_string()
}

/// Every invalidation's paths on a distribution, oldest first (by CallerReference order of creation).
pub async fn invalidations(distribution: &str) -> Vec<Vec<String>> {
    let cf = cloudfront().await;
    let list = cf
        .list_invalidations()
        .distribution_id(distribution)
        .send()
        .await
        .unwrap();
    let mut out = Vec::new();
    let ids: Vec<String> = list
        .invalidation_list()
        .map(|l| l.items().iter().map(|i| i.id().to_string()).collect())
        .unwrap_or_default();
    for id in ids {
        let inv = cf
            .get_invalidation()
            .distribution_id(distribution)
            .id(&id)
            .send()
            .await
            .unwrap();
        let batch = inv.invalidation().unwrap().invalidation_batch().unwrap();
        let mut paths: Vec<String> = batch.paths().unwrap().items().to_vec();
        paths.sort();
        out.push((batch.caller_reference().to_string(), paths));
    }
    out.sort();
    out.into_iter().map(|(_, p)| p).collect()
}

/// All keys in the bucket.
pub async fn keys(bucket: &str) -> Vec<String> {
    let s3 = crate::common::s3().await;
    let mut out = Vec::new();
    let mut pages = s3.list_objects_v2().bucket(bucket).into_paginator().send();
    while let Some(page) = pages.next().await {
        out.extend(
            page.unwrap()
                .contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_string)),
        );
    }
    out.sort();
    out
}

pub async fn get(bucket: &str, key: &str) -> aws_sdk_s3::operation::get_object::GetObjectOutput {
    crate::common::s3()
        .await
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GetObject {key}: {e:?}"))
}

/// The config file for a site in `dir/dist`.
pub fn config(dir: &Path, bucket: &str, distribution: Option<&str>, extra: &str) -> PathBuf {
    let dist = distribution
        .map(|d| format!("  distribution: {d}\n"))
        .unwrap_or_default();
    let path = dir.join("deckhand.yml");
    std::fs::write(
        &path,
        format!("region: us-east-1\nfrontend:\n  dir: dist\n  bucket: {bucket}\n{dist}{extra}"),
    )
    .unwrap();
    path
}

/// What the proxy does with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Pass,
    /// 503 SlowDown.
    SlowDown,
    /// Close the connection without an answer.
    Reset,
    /// CloudFront's 400 TooManyInvalidationsInProgress.
    TooManyInvalidations,
    /// Forward, but report a completed invalidation as still in progress.
    StillInProgress,
    /// A JSON-protocol (ECS) 400 ThrottlingException.
    JsonThrottling,
    /// A JSON-protocol (ECS) 400 ExpiredTokenException.
    JsonExpiredToken,
    /// Forward (the request lands), then close the connection without the answer: the client
    /// never hears that its write succeeded, and its retry meets the write.
    Landed,
}

pub struct FaultProxy {
    pub url: String,
    pub faults: Arc<AtomicU64>,
}

/// A proxy on 127.0.0.1 in front of `upstream` that answers per `decide(n, method, path)` (n
/// counts requests from 0). Passed requests are forwarded one per upstream connection.
pub fn fault_proxy<F>(upstream: &str, decide: F) -> FaultProxy
where
    F: Fn(u64, &str, &str) -> Fault + Send + Sync + 'static,
{
    fault_proxy_head(upstream, move |n, method, path, _| decide(n, method, path))
}

/// [`fault_proxy`] whose `decide(n, method, path, head)` also sees the request's header lines
/// (e.g. `X-Amz-Target` names the operation of a JSON-protocol call such as ECS).
pub fn fault_proxy_head<F>(upstream: &str, decide: F) -> FaultProxy
where
    F: Fn(u64, &str, &str, &str) -> Fault + Send + Sync + 'static,
{
    let upstream: SocketAddr = upstream
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let decide = Arc::new(decide);
    let counter = Arc::new(AtomicU64::new(0));
    let faults = Arc::new(AtomicU64::new(0));
    let faults2 = faults.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            let decide = decide.clone();
            let counter = counter.clone();
            let faults = faults2.clone();
            std::thread::spawn(move || {
                let _ = serve(conn, upstream, &*decide, &counter, &faults);
            });
        }
    });
    FaultProxy { url, faults }
}

fn serve(
    client: TcpStream,
    upstream: SocketAddr,
    decide: &(dyn Fn(u64, &str, &str, &str) -> Fault + Send + Sync),
    counter: &AtomicU64,
    faults: &AtomicU64,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let mut client = client;
    {
        let mut head = Vec::new();
        let mut first = String::new();
        if reader.read_line(&mut first)? == 0 {
            return Ok(());
        }
        let mut length = 0usize;
        let mut expect = false;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line)?;
            if line == "\r\n" || line.is_empty() {
                break;
            }
            let lower = line.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            }
            if lower.starts_with("expect:") {
                expect = true;
                continue;
            }
            if lower.starts_with("connection:") {
                continue;
            }
            head.extend_from_slice(line.as_bytes());
        }
        let mut parts = first.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let path = parts.next().unwrap_or("").to_string();
        let n = counter.fetch_add(1, Ordering::SeqCst);
        let fault = decide(n, &method, &path, &String::from_utf8_lossy(&head));
        if fault == Fault::Reset {
            faults.fetch_add(1, Ordering::SeqCst);
            let _ = client.shutdown(std::net::Shutdown::Both);
            return Ok(());
        }
        let forwards = matches!(fault, Fault::Pass | Fault::Landed);
        if expect && forwards {
            client.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        }
        let mut body = vec![0u8; length];
        if !expect || forwards {
            reader.read_exact(&mut body)?;
        }
        let json = match fault {
            Fault::JsonThrottling => {
                Some(r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#)
            }
            Fault::JsonExpiredToken => Some(
                r#"{"__type":"ExpiredTokenException","message":"The security token included in the request is expired"}"#,
            ),
            _ => None,
        };
        if let Some(body) = json {
            faults.fetch_add(1, Ordering::SeqCst);
            write!(
                client,
                "HTTP/1.1 400 Bad Request\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )?;
            return Ok(());
        }
        let canned = match fault {
            Fault::SlowDown => Some((
                "503 Slow Down",
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>",
            )),
            Fault::TooManyInvalidations => Some((
                "400 Bad Request",
                "<?xml version=\"1.0\"?><ErrorResponse xmlns=\"http://cloudfront.amazonaws.com/doc/2020-05-31/\"><Error><Type>Sender</Type><Code>TooManyInvalidationsInProgress</Code><Message>Processing your request would cause the maximum number of in-progress wildcard invalidations to be exceeded.</Message></Error><RequestId>fault-proxy</RequestId></ErrorResponse>",
            )),
            Fault::Pass
            | Fault::Reset
            | Fault::Landed
            | Fault::StillInProgress
            | Fault::JsonThrottling
            | Fault::JsonExpiredToken => None,
        };
        if let Some((status, xml)) = canned {
            faults.fetch_add(1, Ordering::SeqCst);
            write!(
                client,
                "HTTP/1.1 {status}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{xml}",
                xml.len()
            )?;
            return Ok(());
        }
        let mut up = TcpStream::connect(upstream)?;
        up.write_all(first.as_bytes())?;
        up.write_all(&head)?;
        up.write_all(b"Connection: close\r\n\r\n")?;
        up.write_all(&body)?;
        // Response: rewrite the head to close (and the body when asked), then copy the rest.
        let mut upr = BufReader::new(up);
        let mut status = String::new();
        upr.read_line(&mut status)?;
        let mut headers = Vec::new();
        let mut chunked = false;
        loop {
            let mut line = String::new();
            upr.read_line(&mut line)?;
            if line == "\r\n" || line.is_empty() {
                break;
            }
            let lower = line.to_ascii_lowercase();
            chunked |= lower.starts_with("transfer-encoding:");
            if lower.starts_with("connection:")
                || (!chunked && lower.starts_with("content-length:"))
            {
                continue;
            }
            headers.push(line);
        }
        let mut body = Vec::new();
        upr.read_to_end(&mut body)?;
        if fault == Fault::Landed {
            faults.fetch_add(1, Ordering::SeqCst);
            let _ = client.shutdown(std::net::Shutdown::Both);
            return Ok(());
        }
        if fault == Fault::StillInProgress && !chunked {
            let text = String::from_utf8_lossy(&body)
                .replace("<Status>COMPLETED</Status>", "<Status>InProgress</Status>")
                .replace("<Status>Completed</Status>", "<Status>InProgress</Status>");
            body = text.into_bytes();
            faults.fetch_add(1, Ordering::SeqCst);
        }
        let mut out = status.into_bytes();
        for h in headers {
            out.extend_from_slice(h.as_bytes());
        }
        if !chunked {
            out.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
        }
        out.extend_from_slice(b"Connection: close\r\n\r\n");
        out.extend_from_slice(&body);
        client.write_all(&out)?;
        client.flush()?;
        let _ = client.shutdown(std::net::Shutdown::Both);
    }
    Ok(())
}

/// A bucket (with a distribution, optionally) and a directory for a site build and its config.
pub struct Fixture {
    pub tmp: tempfile::TempDir,
    pub bucket: String,
    pub distribution: Option<String>,
}

impl Fixture {
    pub async fn new(with_distribution: bool) -> Self {
        let bucket = crate::common::unique("fe");
        create_bucket(&bucket).await;
        let distribution = if with_distribution {
            Some(create_distribution(&bucket).await)
        } else {
            None
        };
        Self {
            tmp: tempfile::tempdir().unwrap(),
            bucket,
            distribution,
        }
    }
    pub fn dist(&self) -> PathBuf {
        self.tmp.path().join("dist")
    }
    /// (Re)builds the site as `version`.
    pub fn build(&self, version: u32, big: bool) -> Site {
        let _ = std::fs::remove_dir_all(self.dist());
        vite_site(&self.dist(), version, big)
    }
    pub fn config(&self, extra: &str) -> PathBuf {
        config(
            self.tmp.path(),
            &self.bucket,
            self.distribution.as_deref(),
            extra,
        )
    }
    pub async fn release_ids(&self) -> Vec<String> {
        keys(&self.bucket)
            .await
            .into_iter()
            .filter_map(|k| {
                k.strip_prefix("_deckhand/releases/")
                    .and_then(|k| k.strip_suffix(".json"))
                    .map(str::to_string)
            })
            .collect()
    }
    /// The newest release record.
    pub async fn newest_record(&self) -> serde_json::Value {
        let id = self.release_ids().await.pop().expect("a release record");
        json(&self.bucket, &format!("_deckhand/releases/{id}.json")).await
    }
}

/// An object's JSON body.
pub async fn json(bucket: &str, key: &str) -> serde_json::Value {
    let bytes = body(bucket, key).await;
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{key}: {e}"))
}

/// An object's bytes.
pub async fn body(bucket: &str, key: &str) -> Vec<u8> {
    get(bucket, key)
        .await
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes()
        .to_vec()
}

/// Puts an object as another tool would (no deckhand metadata).
pub async fn put_foreign(bucket: &str, key: &str, bytes: &[u8]) {
    crate::common::s3()
        .await
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(bytes.to_vec().into())
        .send()
        .await
        .unwrap();
}

/// The keys of `_deckhand/ownership.json`.
pub async fn owned_keys(bucket: &str) -> std::collections::BTreeSet<String> {
    json(bucket, "_deckhand/ownership.json").await["keys"]
        .as_object()
        .expect("an ownership index")
        .keys()
        .cloned()
        .collect()
}

/// `deckhand <args>` in the background with the local stack's environment (and `env` last).
pub fn spawn_deckhand(args: &[&str], env: &[(&str, &str)]) -> std::process::Child {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_deckhand"));
    for k in [
        "AWS_CA_BUNDLE",
        "AWS_PROFILE",
        "GITHUB_ACTIONS",
        "GITHUB_OUTPUT",
        "GITHUB_STEP_SUMMARY",
        "DECKHAND_LOG",
    ] {
        cmd.env_remove(k);
    }
    for (k, v) in crate::common::stack_env() {
        cmd.env(k, v);
    }
    cmd.env("NO_COLOR", "1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("DECKHAND_RETRY_BACKOFF_MS", "20")
        .envs(env.iter().copied())
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    cmd.spawn().unwrap()
}

/// The key of the file in `site` whose key starts with `prefix` and ends with `suffix`.
pub fn key_of(site: &Site, prefix: &str, suffix: &str) -> String {
    site.expected
        .iter()
        .map(|(k, _, _)| k.clone())
        .find(|k| k.starts_with(prefix) && k.ends_with(suffix))
        .unwrap_or_else(|| panic!("no {prefix}…{suffix} in the build"))
}
