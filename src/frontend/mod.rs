//! Frontend publish (issue 4): scan -> plan -> upload in phases -> (record) -> invalidate -> GC.
//!
//! `deploy` calls [`plan`] (reads only: [`observe`], then the pure planner), [`upload`] (phases
//! 1-3 and the objects store; returns the site part of the release record), writes the record,
//! then calls [`finish`] (CloudFront invalidation, then garbage collection).

mod apply;
mod error;
mod observe;
mod plan;

pub(crate) use apply::{failed_site, finish, upload};
pub(crate) use error::FrontendError;

use crate::aws::AwsContext;
use crate::config::Frontend;
use crate::plan::DeployOptions;
use crate::plan::site::SitePlan;
use crate::release::ReleaseRecord;

/// Scans the directory, reads the live state (last release manifest + one ListObjectsV2 pass),
/// and plans. Never writes. `last` is the newest release whose site part was published.
pub(crate) async fn plan(
    ctx: &AwsContext,
    cfg: &Frontend,
    last: Option<&ReleaseRecord>,
    _opts: &DeployOptions,
) -> Result<SitePlan, FrontendError> {
    let observed = observe::observe(ctx, cfg, last).await?;
    Ok(plan::plan_from(cfg, observed, last))
}
