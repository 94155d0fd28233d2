//! The site executor: phases (1) immutable assets, (2) other non-HTML files and the objects
//! store, (3) HTML entry points last. Multipart above 8 MiB, bounded concurrency, and the SDK's
//! standard retry with the upload policy (`Tuning::upload_retry_config`: 503 SlowDown, resets,
//! timeouts); retries are counted per phase. A phase with a failed file stops the publish
//! before the next phase.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use aws_sdk_s3::Client;
use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::primitives::{ByteStream, Length};
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, MetadataDirective};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::retries::RequestAttempts;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::Response as HttpResponse;
use aws_smithy_types::config_bag::ConfigBag;
use futures::StreamExt as _;

use super::error::{FailedFile, SiteError};
use super::observe::unquote;
use super::progress::PhaseProgress;
use crate::aws::AwsContext;
use crate::cdn::paths::encode;
use crate::plan::site::{FileAction, FileSource, Phase, SitePlan, StoreObject};
use crate::release::OBJECTS_PREFIX;

/// Files above this size go up in parts of this size.
pub(crate) const PART_SIZE: u64 = 8 * 1024 * 1024;
/// Parts of one file in flight.
const PART_CONCURRENCY: usize = 4;

enum Job<'a> {
    Put(&'a FileAction),
    Copy(&'a FileAction),
    Store(&'a StoreObject),
}

impl Job<'_> {
    fn key(&self) -> String {
        match self {
            Job::Put(a) | Job::Copy(a) => a.key.clone(),
            Job::Store(o) => format!("{OBJECTS_PREFIX}{}", o.sha256),
        }
    }
    fn bytes(&self) -> u64 {
        match self {
            Job::Put(a) => a.size,
            Job::Copy(_) => 0,
            Job::Store(o) => o.size,
        }
    }
}

/// Counts the retries the SDK makes (every attempt after a call's first).
#[derive(Debug, Clone, Default)]
struct CountRetries(Arc<AtomicUsize>);

impl Intercept for CountRetries {
    fn name(&self) -> &'static str {
        "CountRetries"
    }

    fn read_before_attempt(
        &self,
        _: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if cfg
            .load::<RequestAttempts>()
            .is_some_and(|a| a.attempts() > 1)
        {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }
}

/// The error of a call whose retries ran out (or that is not worth retrying), for the report.
fn call_error<E>(ctx: &AwsContext, op: &'static str, err: SdkError<E, HttpResponse>) -> String
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let status = err.raw_response().map(|r| r.status().as_u16());
    let mut message = ctx.call_error("s3", op, err).to_string();
    if let Some(s) = status.filter(|s| !message.contains(&s.to_string())) {
        message = format!("{message} (HTTP {s})");
    }
    message
}

/// Files up to this size are read in one go (one blocking read instead of a streamed body).
const IN_MEMORY: u64 = 256 * 1024;

/// The bytes to send; both kinds can be replayed by the SDK's retries.
async fn body(path: &Path, offset: u64, len: u64) -> Result<ByteStream, String> {
    if offset == 0 && len <= IN_MEMORY {
        return tokio::fs::read(path)
            .await
            .map(ByteStream::from)
            .map_err(|e| format!("cannot read {}: {e}", path.display()));
    }
    ByteStream::read_from()
        .path(path)
        .offset(offset)
        .length(Length::Exact(len))
        .buffer_size(64 * 1024)
        .build()
        .await
        .map_err(|e| format!("cannot read {}: {e}", path.display()))
}

struct PutArgs<'a> {
    bucket: &'a str,
    key: &'a str,
    path: &'a Path,
    size: u64,
    content_type: &'a str,
    cache_control: &'a str,
    sha256: &'a str,
}

/// PutObject, or a multipart upload above [`PART_SIZE`]. Returns the ETag.
async fn put(
    ctx: &AwsContext,
    s3: &Client,
    a: &PutArgs<'_>,
    progress: &PhaseProgress,
) -> Result<String, String> {
    if a.size > PART_SIZE {
        return multipart(ctx, s3, a, progress).await;
    }
    let etag = {
        let out = s3
            .put_object()
            .bucket(a.bucket)
            .key(a.key)
            .content_type(a.content_type)
            .cache_control(a.cache_control)
            .metadata("sha256", a.sha256)
            .content_length(i64::try_from(a.size).unwrap_or(i64::MAX))
            .body(body(a.path, 0, a.size).await?)
            // The bytes are already sha256-hashed and recorded; like streamed bodies, small
            // in-memory ones go unsigned (UNSIGNED-PAYLOAD) instead of being hashed again.
            .customize()
            .disable_payload_signing()
            .send()
            .await
            .map_err(|e| call_error(ctx, "PutObject", e))?;
        out.e_tag().map(unquote).unwrap_or_default()
    };
    progress.advance(a.size);
    Ok(etag)
}

async fn multipart(
    ctx: &AwsContext,
    s3: &Client,
    a: &PutArgs<'_>,
    progress: &PhaseProgress,
) -> Result<String, String> {
    let upload_id = s3
        .create_multipart_upload()
        .bucket(a.bucket)
        .key(a.key)
        .content_type(a.content_type)
        .cache_control(a.cache_control)
        .metadata("sha256", a.sha256)
        .send()
        .await
        .map_err(|e| call_error(ctx, "CreateMultipartUpload", e))?
        .upload_id()
        .map(str::to_string)
        .ok_or_else(|| "CreateMultipartUpload returned no upload id".to_string())?;
    let count = a.size.div_ceil(PART_SIZE);
    let parts: Vec<Result<CompletedPart, String>> = futures::stream::iter(0..count)
        .map(|i| {
            let upload_id = &upload_id;
            async move {
                let offset = i * PART_SIZE;
                let len = PART_SIZE.min(a.size - offset);
                let number = i32::try_from(i + 1).unwrap_or(i32::MAX);
                let etag = s3
                    .upload_part()
                    .bucket(a.bucket)
                    .key(a.key)
                    .upload_id(upload_id)
                    .part_number(number)
                    .content_length(i64::try_from(len).unwrap_or(i64::MAX))
                    .body(body(a.path, offset, len).await?)
                    .send()
                    .await
                    .map_err(|e| call_error(ctx, "UploadPart", e))?
                    .e_tag()
                    .unwrap_or_default()
                    .to_string();
                progress.advance(len);
                Ok(CompletedPart::builder()
                    .part_number(number)
                    .e_tag(etag)
                    .build())
            }
        })
        .buffered(PART_CONCURRENCY)
        .collect()
        .await;
    let parts: Result<Vec<_>, String> = parts.into_iter().collect();
    let completed = match parts {
        Ok(parts) => s3
            .complete_multipart_upload()
            .bucket(a.bucket)
            .key(a.key)
            .upload_id(&upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await
            .map(|out| out.e_tag().map(unquote).unwrap_or_default())
            .map_err(|e| call_error(ctx, "CompleteMultipartUpload", e)),
        Err(e) => Err(e),
    };
    if completed.is_err() {
        // Cleaning up the parts is allowed after the write gate closed.
        let _ = crate::aws::gate::cleanup(
            s3.abort_multipart_upload()
                .bucket(a.bucket)
                .key(a.key)
                .upload_id(&upload_id)
                .send(),
        )
        .await;
    }
    completed
}

/// CopyObject from `from` (the key itself for new headers, or the stored copy of a rollback)
/// with the action's headers (MetadataDirective REPLACE). Returns the ETag.
async fn copy(
    ctx: &AwsContext,
    s3: &Client,
    bucket: &str,
    a: &FileAction,
    from: &str,
) -> Result<String, String> {
    let headers = Headers {
        key: &a.key,
        content_type: &a.content_type,
        cache_control: &a.cache_control,
        sha256: &a.sha256,
    };
    copy_from(ctx, s3, bucket, &headers, bucket, from).await
}

/// What a copy writes: the key and the headers it gets.
struct Headers<'a> {
    key: &'a str,
    content_type: &'a str,
    cache_control: &'a str,
    sha256: &'a str,
}

/// CopyObject from `from_bucket/from` to `bucket/<h.key>` with `h`'s headers (a promotion copies
/// from another environment's bucket: "x-amz-copy-source: /bucket/key", S3 API reference,
/// CopyObject; the key URL-encoded).
async fn copy_from(
    ctx: &AwsContext,
    s3: &Client,
    bucket: &str,
    h: &Headers<'_>,
    from_bucket: &str,
    from: &str,
) -> Result<String, String> {
    let source = format!("{from_bucket}/{}", encode(from, false));
    let out = s3
        .copy_object()
        .bucket(bucket)
        .key(h.key)
        .copy_source(&source)
        .metadata_directive(MetadataDirective::Replace)
        .content_type(h.content_type)
        .cache_control(h.cache_control)
        .metadata("sha256", h.sha256)
        .send()
        .await
        .map_err(|e| call_error(ctx, "CopyObject", e))?;
    Ok(out
        .copy_object_result()
        .and_then(|r| r.e_tag())
        .map(unquote)
        .unwrap_or_default())
}

async fn run_job(
    ctx: &AwsContext,
    s3: &Client,
    bucket: &str,
    job: &Job<'_>,
    progress: &PhaseProgress,
) -> Result<Option<String>, String> {
    match job {
        Job::Put(a) => match &a.source {
            FileSource::Local { path } => put(
                ctx,
                s3,
                &PutArgs {
                    bucket,
                    key: &a.key,
                    path,
                    size: a.size,
                    content_type: &a.content_type,
                    cache_control: &a.cache_control,
                    sha256: &a.sha256,
                },
                progress,
            )
            .await
            .map(Some),
            FileSource::Stored => {
                let from = format!("{OBJECTS_PREFIX}{}", a.sha256);
                let etag = copy(ctx, s3, bucket, a, &from).await?;
                progress.advance(a.size);
                Ok(Some(etag))
            }
            FileSource::Promoted {
                bucket: from_bucket,
                key,
            } => {
                let headers = Headers {
                    key: &a.key,
                    content_type: &a.content_type,
                    cache_control: &a.cache_control,
                    sha256: &a.sha256,
                };
                let etag = copy_from(ctx, s3, bucket, &headers, from_bucket, key).await?;
                progress.advance(a.size);
                Ok(Some(etag))
            }
        },
        Job::Copy(a) => copy(ctx, s3, bucket, a, &a.key).await.map(Some),
        Job::Store(o) if o.from_bucket.is_some() => {
            let key = job.key();
            let headers = Headers {
                key: &key,
                content_type: "application/octet-stream",
                cache_control: "no-cache",
                sha256: &o.sha256,
            };
            let from_bucket = o.from_bucket.as_deref().unwrap_or_default();
            copy_from(ctx, s3, bucket, &headers, from_bucket, &key).await?;
            progress.advance(o.size);
            Ok(None)
        }
        Job::Store(o) => {
            let key = job.key();
            put(
                ctx,
                s3,
                &PutArgs {
                    bucket,
                    key: &key,
                    path: &o.path,
                    size: o.size,
                    content_type: "application/octet-stream",
                    cache_control: "no-cache",
                    sha256: &o.sha256,
                },
                progress,
            )
            .await
            .map(|_| None)
        }
    }
}

/// Which of a publish's writes [`run`] makes: all of them, or the two parts of a release whose
/// backend rolls out at the same time (the SPA switches after the API): `Early` writes what
/// nothing live names yet (content-hashed assets, the objects store's rollback copies), `Late`
/// what the site serves under a name it already has (other files, then the HTML entry points).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Part {
    All,
    Early,
    Late,
}

impl Part {
    /// Whether this part writes the files of `phase`.
    fn writes(self, phase: Phase) -> bool {
        match self {
            Part::All => true,
            Part::Early => phase == Phase::Immutable,
            Part::Late => phase != Phase::Immutable,
        }
    }
}

/// Publishes the plan's files (of `part`) phase by phase. Adds the ETag of every key it wrote to
/// `etags` (as it goes: after a failure, or after the write gate closed mid-phase, `etags` says
/// which keys are live with their new bytes).
pub(crate) async fn run(
    ctx: &AwsContext,
    plan: &SitePlan,
    concurrency: usize,
    etags: &mut BTreeMap<String, String>,
    part: Part,
) -> Result<(), SiteError> {
    let retries = CountRetries::default();
    let conf = super::client(ctx)
        .config()
        .to_builder()
        .retry_config(ctx.tuning.upload_retry_config())
        .interceptor(retries.clone())
        .build();
    let s3 = Client::from_conf(conf);
    for phase in Phase::ALL {
        let writes = part.writes(phase);
        let mut jobs: Vec<Job<'_>> = plan
            .uploads
            .iter()
            .filter(|a| writes && a.phase == phase)
            .map(Job::Put)
            .chain(
                plan.header_updates
                    .iter()
                    .filter(|a| writes && a.phase == phase)
                    .map(Job::Copy),
            )
            .collect();
        if phase == Phase::Other && part != Part::Late {
            // Rollback copies go up before any HTML that needs them is live.
            jobs.extend(plan.objects.iter().map(Job::Store));
        }
        if jobs.is_empty() {
            continue;
        }
        // Big files first so they do not trail at the end of the phase.
        jobs.sort_by_key(|j| std::cmp::Reverse(j.bytes()));
        let _timed = crate::timing::phase(match (part, phase) {
            (Part::Early, Phase::Other) => "publish: rollback copies".to_string(),
            _ => format!("publish: {}", phase.label()),
        });
        let retried_before = retries.0.load(Ordering::Relaxed);
        let progress = PhaseProgress::start(phase, jobs.len(), jobs.iter().map(Job::bytes).sum());
        let results: Vec<(String, Result<Option<String>, String>)> = futures::stream::iter(&jobs)
            .map(|job| {
                let progress = &progress;
                let s3 = &s3;
                async move {
                    (
                        job.key(),
                        run_job(ctx, s3, &plan.bucket, job, progress).await,
                    )
                }
            })
            .buffer_unordered(concurrency.max(1))
            .collect()
            .await;
        let mut failed = Vec::new();
        for (key, result) in results {
            match result {
                Ok(Some(etag)) => {
                    etags.insert(key, etag);
                }
                Ok(None) => {}
                Err(error) => failed.push(FailedFile { key, error }),
            }
        }
        progress.finish(
            retries.0.load(Ordering::Relaxed) - retried_before,
            failed.len(),
        );
        if !failed.is_empty() {
            failed.sort_by(|a, b| a.key.cmp(&b.key));
            return Err(SiteError::Upload {
                bucket: plan.bucket.clone(),
                phase: phase.label(),
                phase_number: phase.number(),
                failed,
            });
        }
    }
    Ok(())
}
