//! Frontend publish (issue 4): scan -> plan -> upload in phases -> (record) -> invalidate -> GC.
//! INTERFACE ONLY until the frontend-publish work lands; `deploy.rs` calls exactly these items.

use std::fmt;

use serde::Serialize;

use crate::aws::AwsContext;
use crate::config::Frontend;
use crate::deploy::DeployOptions;
use crate::error::Diagnose;
use crate::release::{ReleaseMeta, ReleaseRecord, ReleaseStore, SiteRelease};

#[derive(Debug, thiserror::Error)]
pub(crate) enum FrontendError {
    #[error("frontend deploys arrive with the frontend-publish work (issue 4)")]
    Unavailable,
}

impl Diagnose for FrontendError {}

/// What a frontend publish will do.
#[derive(Debug, Serialize)]
pub(crate) struct SitePlan {}

impl SitePlan {
    pub(crate) fn is_empty(&self) -> bool {
        true
    }
}

impl fmt::Display for SitePlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "frontend: no changes")
    }
}

/// Scans the directory, reads the live state (last release manifest + one ListObjectsV2 pass),
/// and plans. Never writes.
pub(crate) async fn plan(
    _ctx: &AwsContext,
    _cfg: &Frontend,
    _last: Option<&ReleaseRecord>,
    _opts: &DeployOptions,
) -> Result<SitePlan, FrontendError> {
    Err(FrontendError::Unavailable)
}

/// Phases 1-3 (immutable assets, other files, HTML last) and the objects store. Returns the
/// site part of the release record, which `deploy` writes before calling [`finish`].
pub(crate) async fn upload(
    _ctx: &AwsContext,
    _cfg: &Frontend,
    _plan: &SitePlan,
    _meta: &ReleaseMeta,
    _opts: &DeployOptions,
) -> Result<SiteRelease, FrontendError> {
    Err(FrontendError::Unavailable)
}

/// After the record is written: CloudFront invalidation, then garbage collection.
pub(crate) async fn finish(
    _ctx: &AwsContext,
    _cfg: &Frontend,
    _plan: &SitePlan,
    _store: &ReleaseStore<'_>,
    _opts: &DeployOptions,
) -> Result<(), FrontendError> {
    Err(FrontendError::Unavailable)
}
