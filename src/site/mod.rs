//! The site: scan and hash the built directory, plan against the live bucket, upload in phases,
//! store mutable files for rollback, and garbage-collect what no kept release references.

mod error;
pub(crate) mod gc;
pub(crate) mod headers;
pub(crate) mod observe;
pub(crate) mod ownership;
pub(crate) mod plan;
mod progress;
pub(crate) mod scan;
pub(crate) mod upload;

use crate::aws::AwsContext;

pub(crate) use error::SiteError;

/// The S3 client for publishing: checksums only where S3 requires them (the content is
/// already sha256-hashed and recorded; streaming bodies stay plain).
pub(crate) fn client(ctx: &AwsContext) -> aws_sdk_s3::Client {
    let conf = ctx
        .s3
        .config()
        .to_builder()
        .request_checksum_calculation(aws_sdk_s3::config::RequestChecksumCalculation::WhenRequired)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}
