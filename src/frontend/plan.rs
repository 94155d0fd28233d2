//! The frontend planner (pure): the observed files and bucket against the last release.

use super::observe::Observed;
use crate::config::Frontend;
use crate::plan::site::SitePlan;
use crate::release::ReleaseRecord;
use crate::site::plan::{PlanInput, plan};

/// Plans the publish of `observed` with the settings of `cfg`.
pub(crate) fn plan_from(
    cfg: &Frontend,
    observed: Observed,
    last: Option<&ReleaseRecord>,
) -> SitePlan {
    plan(PlanInput {
        bucket: &cfg.bucket,
        dir: cfg.dir.display().to_string(),
        desired: observed.desired,
        last: last.and_then(|r| r.site.as_ref()),
        live: observed.live,
        distribution: cfg.distribution.as_deref(),
        spa_router: cfg.spa_router,
        keep_releases: cfg.keep_releases,
        grace_seconds: cfg.gc_grace.as_secs(),
        max_delete: cfg.max_delete,
    })
}
